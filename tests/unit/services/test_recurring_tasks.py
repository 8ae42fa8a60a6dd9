"""TaskService with recurring tasks (DESIGN 15): setting one to done creates its next occurrence
in the same transaction, with its own key, activity entry and events; a finished series, a
second completion or a lost race create none; a rule that cannot be followed is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tasktracker.domain.activity import Verb
from tasktracker.domain.errors import Conflict, InvalidInput
from tasktracker.domain.events import EventType
from tasktracker.domain.projects import ProjectRole
from tasktracker.domain.recurrence import RecurrenceFrom
from tasktracker.domain.tasks import Status, Task
from tasktracker.domain.users import User
from tasktracker.schemas.tasks import TaskCreate
from tests.fakes import FakeSystem

DUE = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)  # Monday 09:00 in Berlin (CEST)
WEEKLY = {"recurrence": "FREQ=WEEKLY;BYDAY=MO,TH", "timezone": "Europe/Berlin", "due_date": DUE}


def create(system: FakeSystem, reporter: User, **fields: Any) -> Task:
    return system.services.tasks.create(
        system.actor(reporter), TaskCreate(title="Water the plants", **fields)
    )


def finish(system: FakeSystem, who: User, task: Task) -> Task:
    tasks = system.services.tasks
    tasks.update(system.actor(who), task.id, {"status": Status.IN_PROGRESS})
    system.clock.advance(hours=1)
    return tasks.update(system.actor(who), task.id, {"status": Status.DONE})


def others(system: FakeSystem, *known: Task) -> list[Task]:
    ids = {t.id for t in known}
    return [t for t in system.fakes.tasks.all() if t.id not in ids]


def test_done_creates_the_next_occurrence_in_the_same_transaction(
    system: FakeSystem, alice: User, bob: User
):
    task = create(system, alice, assignee=bob.id, labels=["garden"], **WEEKLY)
    commits = system.fakes.uow.committed

    done = finish(system, bob, task)

    [nxt] = others(system, task)
    assert system.fakes.uow.committed == commits + 2  # in progress, then done + next together
    assert (done.status, done.next_occurrence) == (Status.DONE, nxt.id)
    assert (nxt.status, nxt.key, nxt.previous_occurrence, nxt.occurrence) == (
        Status.OPEN, "GEN-2", task.id, 2,
    )  # fmt: skip
    assert nxt.due_date == datetime(2024, 5, 9, 7, 0, tzinfo=UTC)  # Thursday 09:00 Berlin
    assert (nxt.title, nxt.assignee, nxt.reporter, nxt.labels) == (
        "Water the plants", bob.id, alice.id, ["garden"],
    )  # fmt: skip
    assert (nxt.recurrence, nxt.timezone, nxt.version) == (task.recurrence, "Europe/Berlin", 1)


def test_the_next_occurrence_has_a_created_entry_and_events_by_the_one_who_finished(
    system: FakeSystem, alice: User, bob: User
):
    task = create(system, alice, assignee=bob.id, **WEEKLY)
    finish(system, alice, task)
    [nxt] = others(system, task)

    [entry] = [e for e in system.fakes.activity.all() if e.task_id == nxt.id]
    assert (entry.verb, entry.actor) == (Verb.CREATED, alice.id)
    events = [e for e in system.fakes.outbox.events() if e.payload.get("task_id") == nxt.id]
    assert [e.type for e in events] == [EventType.TASK_CREATED, EventType.TASK_ASSIGNED]
    assert events[0].payload["actor"] == alice.id
    assert events[0].payload["data"]["previous_occurrence"] == task.id
    last_of_done = [e for e in system.fakes.outbox.events() if e.payload["task_id"] == task.id]
    assert last_of_done[-1].type is EventType.TASK_STATUS_CHANGED


def test_from_completion_counts_from_the_day_it_was_done(system: FakeSystem, alice: User):
    task = create(
        system, alice, recurrence="FREQ=DAILY;INTERVAL=3",
        recurrence_from=RecurrenceFrom.COMPLETION, due_date=DUE,
    )  # fmt: skip
    system.clock.set(DUE + timedelta(days=10))
    finish(system, alice, task)
    [nxt] = others(system, task)
    assert nxt.due_date == DUE + timedelta(days=13)


def test_a_finished_series_creates_nothing(system: FakeSystem, alice: User):
    task = create(system, alice, recurrence="FREQ=DAILY;COUNT=2", due_date=DUE)
    finish(system, alice, task)
    [second] = others(system, task)
    finish(system, alice, second)
    assert len(system.fakes.tasks.all()) == 2
    assert system.fakes.tasks.get(second.id).next_occurrence is None  # type: ignore[union-attr]


def test_done_again_after_a_reopen_creates_no_second_occurrence(system: FakeSystem, alice: User):
    task = create(system, alice, **WEEKLY)
    finish(system, alice, task)
    system.services.tasks.update(system.actor(alice), task.id, {"status": Status.OPEN})
    finish(system, alice, task)
    assert len(others(system, task)) == 1


def test_a_lost_race_on_done_leaves_no_next_occurrence(system: FakeSystem, alice: User):
    task = create(system, alice, **WEEKLY)
    system.services.tasks.update(system.actor(alice), task.id, {"status": Status.IN_PROGRESS})
    events = len(system.fakes.outbox.events())
    system.fakes.tasks.change_after_next_read = True

    with pytest.raises(Conflict):
        system.services.tasks.update(system.actor(alice), task.id, {"status": Status.DONE})

    assert others(system, task) == []
    assert len(system.fakes.outbox.events()) == events


def test_an_assignee_who_left_the_project_is_not_kept(system: FakeSystem, alice: User, bob: User):
    task = create(system, alice, assignee=bob.id, **WEEKLY)
    system.add_member(system.default_project(), bob, ProjectRole.VIEWER)
    finish(system, alice, task)
    [nxt] = others(system, task)
    assert nxt.assignee is None


def test_a_task_without_recurrence_creates_nothing_when_done(system: FakeSystem, alice: User):
    task = create(system, alice, due_date=DUE)
    finish(system, alice, task)
    assert others(system, task) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"recurrence": "FREQ=DAILY"}, "needs a due_date"),
        ({"recurrence": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31", "due_date": DUE}, "never matches"),
    ],
)
def test_create_refuses_a_rule_it_cannot_follow(
    system: FakeSystem, alice: User, fields: dict[str, Any], message: str
):
    with pytest.raises(InvalidInput, match=message):
        create(system, alice, **fields)
    assert system.fakes.tasks.all() == []


@pytest.mark.parametrize(
    "changes",
    [
        {"due_date": None},
        {"recurrence_from": None},
        {"timezone": None},
        {"recurrence": "FREQ=MINUTELY"},
        {"timezone": "Mars/Olympus"},
    ],
    ids=["due date removed", "null recurrence_from", "null timezone", "minutely", "no such zone"],
)
def test_an_update_that_breaks_the_rule_is_refused(
    system: FakeSystem, alice: User, changes: dict[str, Any]
):
    task = create(system, alice, **WEEKLY)
    with pytest.raises(InvalidInput):
        system.services.tasks.update(system.actor(alice), task.id, changes)
    assert system.fakes.tasks.get(task.id) == task


def test_an_update_stores_the_rule_in_its_canonical_spelling(system: FakeSystem, alice: User):
    task = create(system, alice, due_date=DUE)
    system.services.tasks.update(
        system.actor(alice), task.id, {"recurrence": "rrule:freq=monthly;bymonthday=-1"}
    )
    assert system.fakes.tasks.get(task.id).recurrence == "FREQ=MONTHLY;BYMONTHDAY=-1"  # type: ignore[union-attr]


def test_the_next_occurrence_keeps_the_relative_reminders_and_schedules_them(
    system: FakeSystem, alice: User, bob: User
):
    at = DUE - timedelta(hours=3)
    task = create(
        system, alice, assignee=bob.id,
        reminders=[{"before_due": "PT1H"}, {"at": at.isoformat()}], **WEEKLY,
    )  # fmt: skip
    finish(system, bob, task)
    [nxt] = others(system, task)

    assert [r.before_due for r in nxt.reminders] == [timedelta(hours=1)]
    scheduled = {r.task_id: r.remind_at for r in system.fakes.uow.reminders.all()}
    assert scheduled == {nxt.id: nxt.due_date - timedelta(hours=1)}  # the done task has none
