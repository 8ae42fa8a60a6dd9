"""The webhook parts of event payloads (DESIGN 14) on the fakes: every event a webhook may
subscribe to carries the project, the actor, `data` (the object as the API shows it) and
`previous` (the old values of what changed), recorded in the change's own transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tasktracker.domain.errors import ConcurrentChange, Conflict, PreconditionFailed
from tasktracker.domain.events import WEBHOOK_EVENTS, Event, EventType
from tasktracker.domain.projects import Project, ProjectRole
from tasktracker.domain.tasks import Priority, Status, Task
from tasktracker.domain.users import User
from tasktracker.schemas.collaboration import CommentPublic
from tasktracker.schemas.tasks import TaskCreate, TaskPublic
from tasktracker.services.tasks import TASK_WRITE_ATTEMPTS
from tests.fakes import FakeSystem
from tests.support.times import iso

WEBHOOK_KEYS = {"project_id", "project_key", "actor", "actor_name", "data", "previous"}


@pytest.fixture
def ops(system: FakeSystem, alice: User, bob: User) -> Project:
    """OPS: alice owns it, bob is a member."""
    return system.make_project("OPS", owner=alice, members={bob.id: ProjectRole.MEMBER})


@pytest.fixture
def task(system: FakeSystem, ops: Project, bob: User) -> Task:
    data = TaskCreate(title="Deploy", project="OPS", due_date=system.clock() + timedelta(days=1))
    return system.services.tasks.create(system.actor(bob), data)


def recorded(system: FakeSystem, *types: EventType) -> list[Event]:
    return [e for e in system.fakes.outbox.events() if not types or e.type in types]


def shown(system: FakeSystem, task: Task) -> dict[str, Any]:
    """The stored task as GET /tasks/{id} answers it now."""
    stored = system.fakes.tasks.get(task.id)
    assert stored is not None
    return TaskPublic.of(stored, system.clock()).model_dump(mode="json")


def test_task_created_carries_the_task_as_the_api_shows_it(system, ops, task, bob):
    [event] = recorded(system)
    assert event.type is EventType.TASK_CREATED
    assert event.payload["data"] == shown(system, task)
    assert event.payload["data"]["key"] == "OPS-1" and event.payload["data"]["version"] == 1
    assert (event.payload["actor"], event.payload["actor_name"]) == (bob.id, "bob")
    assert (event.payload["project_id"], event.payload["project_key"]) == (ops.id, "OPS")
    assert event.payload["previous"] == {}
    # the keys letters and notifications read stay
    assert (event.payload["task_id"], event.payload["title"]) == (task.id, "Deploy")


def test_an_update_records_task_updated_with_the_old_values_of_exactly_what_changed(
    system, task, alice
):
    system.clock.advance(minutes=5)
    system.services.tasks.update(
        system.actor(alice), task.key, {"title": "Deploy v2", "priority": Priority.HIGH}
    )

    [event] = recorded(system, EventType.TASK_UPDATED)
    assert event.payload["previous"] == {"title": "Deploy", "priority": "medium"}
    assert event.payload["data"] == shown(system, task)
    assert (event.payload["data"]["title"], event.payload["data"]["version"]) == ("Deploy v2", 2)
    assert (event.payload["actor"], event.payload["actor_name"]) == (alice.id, "alice")
    assert event.occurred_at == system.clock()
    assert [e.type for e in recorded(system)] == [EventType.TASK_CREATED, EventType.TASK_UPDATED]


def test_a_status_change_gives_updated_and_status_changed_the_same_data_and_previous(
    system, task, bob
):
    tasks = system.services.tasks
    tasks.update(system.actor(bob), task.key, {"status": Status.IN_PROGRESS})
    system.clock.advance(hours=1)
    tasks.update(system.actor(bob), task.key, {"status": Status.DONE})

    updated, changed = recorded(system, EventType.TASK_UPDATED, EventType.TASK_STATUS_CHANGED)[-2:]
    assert (updated.type, changed.type) == (EventType.TASK_UPDATED, EventType.TASK_STATUS_CHANGED)
    # completed_at follows the status: the API shows it changed too
    previous = {"status": "in_progress", "completed_at": None}
    assert updated.payload["previous"] == changed.payload["previous"] == previous
    assert updated.payload["data"] == changed.payload["data"] == shown(system, task)
    assert changed.payload["data"]["completed_at"] == iso(system.clock())
    assert changed.payload["previous_status"] == "in_progress"  # as letters read it


def test_an_overdue_task_done_shows_overdue_in_previous(system, task, bob):
    tasks = system.services.tasks
    tasks.update(system.actor(bob), task.key, {"status": Status.IN_PROGRESS})
    system.clock.advance(days=2)  # past the due date
    tasks.update(system.actor(bob), task.key, {"status": Status.DONE})

    event = recorded(system, EventType.TASK_UPDATED)[-1]
    assert event.payload["previous"] == {
        "status": "in_progress",
        "completed_at": None,
        "overdue": True,
    }
    assert event.payload["data"]["overdue"] is False


def test_reassigning_records_assigned_with_the_old_assignee_in_previous(system, task, alice, bob):
    system.services.tasks.update(system.actor(alice), task.key, {"assignee": "bob"})
    system.services.tasks.update(system.actor(alice), task.key, {"assignee": "alice"})

    first, second = recorded(system, EventType.TASK_ASSIGNED)
    assert first.payload["previous"] == {"assignee": None}
    assert second.payload["previous"] == {"assignee": bob.id}
    assert second.payload["previous_assignee"] == bob.id
    assert second.payload["data"] == shown(system, task)
    assert second.payload["data"]["assignee"] == alice.id


def test_created_with_an_assignee_records_assigned_with_empty_previous(system, ops, bob):
    task = system.services.tasks.create(
        system.actor(bob), TaskCreate(title="t", project="OPS", assignee="bob")
    )
    [assigned] = recorded(system, EventType.TASK_ASSIGNED)
    assert assigned.payload["data"] == shown(system, task)
    assert assigned.payload["previous"] == {}
    assert assigned.payload["watchers"] == [bob.id]


def test_a_move_shows_the_old_project_and_key_in_previous(system, task, alice, ops):
    system.make_project("SEC", owner=alice)
    system.services.tasks.update(system.actor(alice), task.key, {"project": "SEC"})

    [event] = recorded(system, EventType.TASK_UPDATED)
    assert event.payload["previous"] == {"key": "OPS-1", "project_id": ops.id, "project_key": "OPS"}
    assert (event.payload["project_key"], event.payload["data"]["key"]) == ("SEC", "SEC-1")


def test_an_update_that_changes_nothing_records_nothing(system, task, bob):
    system.services.tasks.update(system.actor(bob), task.key, {"title": "Deploy"})
    assert [e.type for e in recorded(system)] == [EventType.TASK_CREATED]


def test_delete_records_task_deleted_with_the_task_as_it_was(system, task, alice):
    was = shown(system, task)
    system.clock.advance(minutes=1)

    system.services.tasks.delete(system.actor(alice), task.key)

    [event] = recorded(system, EventType.TASK_DELETED)
    assert event.payload["data"] == was
    assert event.payload["previous"] == {}
    assert (event.payload["actor"], event.payload["task_id"]) == (alice.id, task.id)
    assert event.occurred_at == system.clock()


@pytest.mark.parametrize("change", ["update", "delete"])
def test_a_refused_or_rolled_back_change_records_nothing(system, task, alice, change):
    tasks = system.services.tasks
    with pytest.raises(PreconditionFailed):
        if change == "update":
            tasks.update(system.actor(alice), task.key, {"title": "x"}, expected_version=7)
        else:
            tasks.delete(system.actor(alice), task.key, expected_version=7)
    system.fakes.uow.failing_commits = [ConcurrentChange("collided")] * TASK_WRITE_ATTEMPTS
    with pytest.raises(Conflict):
        if change == "update":
            tasks.update(system.actor(alice), task.key, {"title": "x"})
        else:
            tasks.delete(system.actor(alice), task.key)

    assert [e.type for e in recorded(system)] == [EventType.TASK_CREATED]


# --- comments ----------------------------------------------------------------------------------


def test_comment_events_carry_the_comment_as_the_api_shows_it(system, ops, task, alice, bob):
    comments = system.services.comments
    comment = comments.add(system.actor(bob), task.key, "first @alice")
    system.clock.advance(minutes=1)
    comments.edit(system.actor(bob), comment.id, "second")
    system.clock.advance(minutes=1)
    comments.delete(system.actor(alice), comment.id)  # the owner moderates

    created, updated, deleted = recorded(
        system, EventType.COMMENT_CREATED, EventType.COMMENT_UPDATED, EventType.COMMENT_DELETED
    )
    stored = system.fakes.comments.get(comment.id)
    assert stored is not None

    assert created.payload["data"]["body"] == "first @alice"
    assert created.payload["data"]["mentions"] == [alice.id]
    assert (created.payload["data"]["version"], created.payload["previous"]) == (1, {})
    assert created.payload["excerpt"] == "first @alice"  # as letters read it

    assert updated.type is EventType.COMMENT_UPDATED
    assert updated.payload["previous"] == {"body": "first @alice"}
    assert (updated.payload["data"]["body"], updated.payload["data"]["version"]) == ("second", 2)
    assert updated.payload["data"]["edited_at"] == iso(updated.occurred_at)
    assert (updated.payload["actor"], updated.payload["actor_name"]) == (bob.id, "bob")

    assert deleted.type is EventType.COMMENT_DELETED
    assert deleted.payload["data"] == CommentPublic.of(stored).model_dump(mode="json")
    assert (deleted.payload["data"]["body"], deleted.payload["data"]["deleted_at"]) == (
        None,
        iso(system.clock()),
    )
    assert deleted.payload["previous"] == {}
    assert (deleted.payload["actor"], deleted.payload["actor_name"]) == (alice.id, "alice")
    for event in (created, updated, deleted):
        assert (event.payload["project_key"], event.payload["comment_id"]) == ("OPS", comment.id)


def test_a_refused_comment_edit_records_nothing(system, task, bob):
    comment = system.services.comments.add(system.actor(bob), task.key, "draft")
    with pytest.raises(PreconditionFailed):
        system.services.comments.edit(system.actor(bob), comment.id, "x", expected_version=3)
    system.fakes.uow.fail_next_commit = ConcurrentChange("collided")
    with pytest.raises(Conflict):
        system.services.comments.delete(system.actor(bob), comment.id)
    assert recorded(system, EventType.COMMENT_UPDATED, EventType.COMMENT_DELETED) == []


# --- every webhook event -----------------------------------------------------------------------


def test_every_event_a_webhook_may_subscribe_to_carries_the_webhook_parts(
    system, ops, task, alice, bob
):
    carol = system.make_user("carol")
    actor = system.actor
    system.services.projects.set_member(actor(alice), "OPS", carol.id, ProjectRole.MEMBER)
    system.services.tasks.update(actor(bob), task.key, {"assignee": "carol"})
    system.services.tasks.update(actor(bob), task.key, {"status": Status.IN_PROGRESS})
    comment = system.services.comments.add(actor(bob), task.key, "hi")
    system.services.comments.edit(actor(bob), comment.id, "hello")
    system.services.comments.delete(actor(bob), comment.id)
    system.services.tasks.delete(actor(alice), task.key)
    system.services.projects.remove_member(actor(alice), "OPS", carol.id)

    webhook_events = [e for e in recorded(system) if e.type in WEBHOOK_EVENTS]
    assert {e.type for e in webhook_events} == set(WEBHOOK_EVENTS)
    for event in webhook_events:
        payload = event.payload
        assert set(payload) >= WEBHOOK_KEYS, event.type
        assert (payload["project_id"], payload["project_key"]) == (ops.id, "OPS"), event.type
        assert payload["actor_name"] == system.fakes.users.get(payload["actor"]).username
        assert isinstance(payload["data"], dict) and payload["data"], event.type
        assert isinstance(payload["previous"], dict), event.type


def test_member_events_carry_the_membership_and_the_old_role(system, ops, alice, bob):
    system.services.projects.set_member(system.actor(alice), "OPS", bob.id, ProjectRole.VIEWER)
    system.services.projects.remove_member(system.actor(alice), "OPS", bob.id)

    changed, removed = recorded(
        system, EventType.PROJECT_MEMBER_ADDED, EventType.PROJECT_MEMBER_REMOVED
    )
    assert changed.payload["previous"] == {"role": "member"}
    assert changed.payload["data"]["role"] == "viewer"
    assert (removed.type, removed.payload["previous"]) == (EventType.PROJECT_MEMBER_REMOVED, {})
    assert removed.payload["data"] == {
        "user_id": bob.id,
        "username": "bob",
        "role": "viewer",
        "joined_at": iso(system.clock()),
    }
    assert (removed.payload["actor"], removed.payload["actor_name"]) == (alice.id, "alice")
