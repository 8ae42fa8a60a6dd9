"""TaskService: create and change tasks with their events, the status workflow, who may do
what, and optimistic locking; a refused change leaves neither a change nor an event. Everyone
here is a `member` of the default project, where the tasks go (projects, keys, moves and the
other roles: test_projects.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tasktracker.domain.errors import (
    ConcurrentChange,
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
    PreconditionFailed,
)
from tasktracker.domain.events import EventType
from tasktracker.domain.tasks import Priority, Status, Task
from tasktracker.domain.users import Role, User
from tasktracker.schemas.tasks import TaskCreate
from tasktracker.services.tasks import TASK_WRITE_ATTEMPTS
from tests.fakes import FakeSystem


def create(system: FakeSystem, reporter: User, **fields: Any) -> Task:
    return system.services.tasks.create(
        system.actor(reporter), TaskCreate(title="a task", **fields)
    )


def stored(system: FakeSystem, task_id: str) -> Task:
    task = system.fakes.tasks.get(task_id)
    assert task is not None
    return task


def event_types(system: FakeSystem) -> list[EventType]:
    return [e.type for e in system.fakes.outbox.events()]


# --- create ------------------------------------------------------------------------------------


def test_create_stores_the_task_and_a_created_event(system: FakeSystem, alice: User):
    task = create(system, alice, priority=Priority.HIGH, labels=["x"])

    assert task.id
    saved = stored(system, task.id)
    assert (saved.title, saved.reporter, saved.priority, saved.labels) == (
        "a task",
        alice.id,
        Priority.HIGH,
        ["x"],
    )
    assert (saved.status, saved.version, saved.assignee) == (Status.OPEN, 1, None)
    assert saved.created_at == saved.updated_at == system.clock()
    default = system.default_project()
    assert (saved.project_id, saved.key, saved.project_key) == (default.id, "GEN-1", "GEN")
    [event] = system.fakes.outbox.events()
    assert event.type is EventType.TASK_CREATED
    assert event.payload["task_id"] == task.id
    assert (event.payload["key"], event.payload["project_id"], event.payload["project_key"]) == (
        "GEN-1",
        default.id,
        "GEN",
    )
    assert system.fakes.uow.committed == 1
    assert system.fakes.publisher.published == [event]


@pytest.mark.parametrize("by", ["id", "username"])
def test_create_with_an_assignee_records_created_and_assigned(
    system: FakeSystem, alice: User, bob: User, by: str
):
    task = create(system, alice, assignee=bob.id if by == "id" else "BOB")

    assert stored(system, task.id).assignee == bob.id
    assert event_types(system) == [EventType.TASK_CREATED, EventType.TASK_ASSIGNED]
    assert all(e.payload["assignee"] == bob.id for e in system.fakes.outbox.events())
    assert system.fakes.uow.committed == 1


def test_create_with_an_unknown_assignee_stores_nothing(system: FakeSystem, alice: User):
    with pytest.raises(InvalidInput):
        create(system, alice, assignee="nobody")
    assert system.fakes.tasks.all() == []
    assert system.fakes.outbox.events() == []


def test_create_refuses_a_due_date_before_the_start(system: FakeSystem, alice: User):
    now = system.clock()
    with pytest.raises(InvalidInput):
        create(system, alice, start_date=now, due_date=now - timedelta(days=1))
    assert system.fakes.tasks.all() == []


def test_a_task_created_done_is_completed_now(system: FakeSystem, alice: User):
    task = create(system, alice, status=Status.DONE)
    assert stored(system, task.id).completed_at == system.clock()


# --- update: the status workflow ---------------------------------------------------------------


def test_the_status_workflow_records_each_change(system: FakeSystem, alice: User):
    tasks = system.services.tasks
    task = create(system, alice)

    system.clock.advance(minutes=1)
    tasks.update(system.actor(alice), task.id, {"status": Status.IN_PROGRESS})
    system.clock.advance(minutes=1)
    done = tasks.update(system.actor(alice), task.id, {"status": Status.DONE})

    saved = stored(system, task.id)
    assert (saved.status, saved.version, saved.completed_at) == (Status.DONE, 3, system.clock())
    assert saved.updated_at == system.clock()
    assert done.version == 3
    changes = [e for e in system.fakes.outbox.events() if e.type is EventType.TASK_STATUS_CHANGED]
    assert [(e.payload["previous_status"], e.payload["status"]) for e in changes] == [
        ("open", "in_progress"),
        ("in_progress", "done"),
    ]

    tasks.update(system.actor(alice), task.id, {"status": Status.OPEN})  # reopen
    assert stored(system, task.id).completed_at is None


def test_an_invalid_transition_changes_nothing_and_records_nothing(system: FakeSystem, alice: User):
    task = create(system, alice)
    before = stored(system, task.id)
    system.clock.advance(minutes=1)

    with pytest.raises(InvalidTransition):
        system.services.tasks.update(
            system.actor(alice), task.id, {"title": "renamed", "status": Status.DONE}
        )

    assert stored(system, task.id) == before
    assert event_types(system) == [EventType.TASK_CREATED]
    assert system.fakes.uow.committed == 1


def test_an_update_without_a_status_or_assignee_change_records_only_task_updated(
    system: FakeSystem, alice: User
):
    task = create(system, alice)

    updated = system.services.tasks.update(
        system.actor(alice),
        task.id,
        {"title": "renamed", "status": Status.OPEN, "description": None},
    )

    assert (updated.title, updated.description, updated.version) == ("renamed", "", 2)
    assert stored(system, task.id).title == "renamed"
    assert event_types(system) == [EventType.TASK_CREATED, EventType.TASK_UPDATED]


def test_reassigning_records_an_assigned_event_with_the_previous_assignee(
    system: FakeSystem, alice: User, bob: User
):
    task = create(system, alice, assignee=alice.id)

    system.services.tasks.update(system.actor(alice), task.id, {"assignee": "bob"})

    assert stored(system, task.id).assignee == bob.id
    last = system.fakes.outbox.events()[-1]
    assert last.type is EventType.TASK_ASSIGNED
    assert (last.payload["assignee"], last.payload["previous_assignee"]) == (bob.id, alice.id)


def test_unassigning_records_no_assigned_event(system: FakeSystem, alice: User, bob: User):
    task = create(system, alice, assignee=bob.id)
    system.services.tasks.update(system.actor(alice), task.id, {"assignee": None})
    assert stored(system, task.id).assignee is None
    assert event_types(system) == [
        EventType.TASK_CREATED,
        EventType.TASK_ASSIGNED,
        EventType.TASK_UPDATED,
    ]


@pytest.mark.parametrize(
    "changes",
    [{"reporter": "someone"}, {"version": 9}, {"title": None}, {"assignee": "nobody"}],
    ids=["reporter", "version", "null title", "unknown assignee"],
)
def test_a_refused_change_leaves_the_task_as_it_was(
    system: FakeSystem, alice: User, changes: dict[str, Any]
):
    task = create(system, alice)
    before = stored(system, task.id)

    with pytest.raises(InvalidInput):
        system.services.tasks.update(system.actor(alice), task.id, changes)

    assert stored(system, task.id) == before


def test_dates_are_checked_against_each_other_after_the_change(system: FakeSystem, alice: User):
    now = system.clock()
    task = create(system, alice, start_date=now, due_date=now + timedelta(days=2))
    with pytest.raises(InvalidInput):
        system.services.tasks.update(
            system.actor(alice), task.id, {"due_date": now - timedelta(days=1)}
        )
    assert stored(system, task.id).due_date == now + timedelta(days=2)


def test_updating_an_unknown_task_is_not_found(system: FakeSystem, alice: User):
    with pytest.raises(NotFound):
        system.services.tasks.update(system.actor(alice), "f" * 24, {"title": "x"})


# --- permissions -------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["reporter", "assignee", "admin"])
def test_reporter_assignee_and_admin_may_change_a_task(
    system: FakeSystem, alice: User, bob: User, who: str
):
    root = system.make_user("root", role=Role.ADMIN)
    task = create(system, alice, assignee=bob.id)
    actor = {"reporter": alice, "assignee": bob, "admin": root}[who]

    system.services.tasks.update(system.actor(actor), task.id, {"title": f"by {who}"})

    assert stored(system, task.id).title == f"by {who}"


def test_anyone_else_may_not_change_a_task(system: FakeSystem, alice: User, bob: User):
    carol = system.make_user("carol")
    task = create(system, alice, assignee=bob.id)

    with pytest.raises(Forbidden):
        system.services.tasks.update(system.actor(carol), task.id, {"title": "hijacked"})

    assert stored(system, task.id).title == "a task"
    assert len(system.fakes.outbox.events()) == 2


@pytest.mark.parametrize("who", ["reporter", "admin"])
def test_reporter_and_admin_may_delete_a_task(system: FakeSystem, alice: User, who: str):
    root = system.make_user("root", role=Role.ADMIN)
    task = create(system, alice)

    system.services.tasks.delete(system.actor(root if who == "admin" else alice), task.id)

    assert system.fakes.tasks.get(task.id) is None
    with pytest.raises(NotFound):
        system.services.tasks.get(system.actor(alice), task.id)


def test_the_assignee_may_not_delete_a_task(system: FakeSystem, alice: User, bob: User):
    task = create(system, alice, assignee=bob.id)
    with pytest.raises(Forbidden):
        system.services.tasks.delete(system.actor(bob), task.id)
    assert system.fakes.tasks.get(task.id) is not None


# --- optimistic locking ------------------------------------------------------------------------


def test_if_match_with_the_current_version_applies(system: FakeSystem, alice: User):
    task = create(system, alice)
    updated = system.services.tasks.update(
        system.actor(alice), task.id, {"title": "v2"}, expected_version=1
    )
    assert updated.version == 2


def test_if_match_with_a_stale_version_is_a_failed_precondition(system: FakeSystem, alice: User):
    task = create(system, alice)
    system.services.tasks.update(system.actor(alice), task.id, {"title": "v2"})

    with pytest.raises(PreconditionFailed):
        system.services.tasks.update(
            system.actor(alice), task.id, {"title": "v3"}, expected_version=1
        )
    with pytest.raises(PreconditionFailed):
        system.services.tasks.delete(system.actor(alice), task.id, expected_version=1)

    assert (stored(system, task.id).title, stored(system, task.id).version) == ("v2", 2)


@pytest.mark.parametrize(("expected_version", "error"), [(None, Conflict), (1, PreconditionFailed)])
def test_losing_a_race_changes_nothing_and_records_nothing(
    system: FakeSystem, alice: User, expected_version: int | None, error: type[Exception]
):
    task = create(system, alice)
    system.fakes.tasks.change_after_next_read = True  # another writer gets in first

    with pytest.raises(error):
        system.services.tasks.update(
            system.actor(alice), task.id, {"status": Status.IN_PROGRESS}, expected_version
        )

    saved = stored(system, task.id)
    assert (saved.status, saved.version) == (Status.OPEN, 2)  # the other writer's version
    assert event_types(system) == [EventType.TASK_CREATED]
    assert system.fakes.publisher.published == system.fakes.outbox.events()


@pytest.mark.parametrize(("expected_version", "error"), [(None, Conflict), (1, PreconditionFailed)])
def test_a_delete_that_loses_a_race_keeps_the_task(
    system: FakeSystem, alice: User, expected_version: int | None, error: type[Exception]
):
    task = create(system, alice)
    system.fakes.tasks.change_after_next_read = True

    with pytest.raises(error):
        system.services.tasks.delete(system.actor(alice), task.id, expected_version)

    assert system.fakes.tasks.get(task.id) is not None


@pytest.mark.parametrize(("expected_version", "error"), [(None, Conflict), (1, PreconditionFailed)])
def test_a_transaction_that_collides_every_time_leaves_no_change_and_no_event(
    system: FakeSystem, alice: User, expected_version: int | None, error: type[Exception]
):
    task = create(system, alice)
    collision = ConcurrentChange("a concurrent change got in the way")
    system.fakes.uow.failing_commits = [collision] * TASK_WRITE_ATTEMPTS

    with pytest.raises(error):
        system.services.tasks.update(
            system.actor(alice), task.id, {"status": Status.IN_PROGRESS}, expected_version
        )

    assert stored(system, task.id).status is Status.OPEN
    assert event_types(system) == [EventType.TASK_CREATED]
    assert [e.type for e in system.fakes.publisher.published] == [EventType.TASK_CREATED]
