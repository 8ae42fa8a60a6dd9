"""Reminders on the fakes with a fixed clock: a task's reminders are scheduled with it, move
with its due date, stop when it is done or deleted, and each fires once, as one `task.reminder`
event to the assignee (else the reporter)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.events import Event, EventType
from tasktracker.domain.reminders import (
    Reminder,
    iso_duration,
    recipient_of,
    relative_reminders,
    reminder_event_id,
)
from tasktracker.domain.tasks import Task
from tasktracker.domain.users import User
from tasktracker.schemas.tasks import TaskCreate, TaskPatch, patch_changes
from tasktracker.services.reminders import ReminderService, schedule_reminders
from tests.fakes import FakeSystem

HOUR = timedelta(hours=1)


def create(system: FakeSystem, reporter: User, **fields: Any) -> Task:
    data = TaskCreate.model_validate({"title": "water the plants", **fields})
    return system.services.tasks.create(system.actor(reporter), data)


def patch(system: FakeSystem, user: User, task: Task, **fields: Any) -> Task:
    changes = patch_changes(TaskPatch.model_validate(fields))
    return system.services.tasks.update(system.actor(user), task.id, changes)


def iso(value: datetime) -> str:
    return value.isoformat()


def scheduled(system: FakeSystem) -> list[tuple[str, datetime, datetime | None]]:
    return [(r.id, r.remind_at, r.fired_at) for r in system.fakes.uow.reminders.all()]


def reminder_events(system: FakeSystem) -> list[Event]:
    return [e for e in system.fakes.outbox.events() if e.type is EventType.TASK_REMINDER]


def fire(system: FakeSystem) -> int:
    return system.services.reminders.fire_due().fired


# --- the rules ---------------------------------------------------------------------------------


def test_a_reminder_has_exactly_one_of_before_due_and_at():
    with pytest.raises(InvalidInput):
        Reminder()
    with pytest.raises(InvalidInput):
        Reminder(before_due=HOUR, at=datetime(2030, 1, 1).astimezone())
    with pytest.raises(InvalidInput, match="positive"):
        Reminder(before_due=timedelta(0))
    with pytest.raises(InvalidInput, match="365 days"):
        Reminder(before_due=timedelta(days=366))


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (HOUR, "PT1H"),
        (timedelta(days=2, minutes=30), "P2DT30M"),
        (timedelta(days=7), "P7D"),
        (timedelta(seconds=90.5), "PT1M30.5S"),
    ],
)
def test_durations_are_written_in_iso_8601(duration: timedelta, text: str):
    assert iso_duration(duration) == text


def test_the_recipient_is_the_assignee_else_the_reporter():
    assert recipient_of("assignee-id", "reporter-id") == "assignee-id"
    assert recipient_of(None, "reporter-id") == "reporter-id"


def test_a_next_occurrence_takes_over_only_relative_reminders():
    at = Reminder(at=datetime(2030, 1, 1).astimezone())
    assert relative_reminders([Reminder(before_due=HOUR), at]) == [Reminder(before_due=HOUR)]


# --- scheduling with the task ------------------------------------------------------------------


def test_creating_a_task_schedules_its_reminders(system: FakeSystem, alice: User):
    due = system.clock() + timedelta(days=1)
    at = system.clock() + 2 * HOUR
    task = create(
        system, alice, due_date=iso(due), reminders=[{"before_due": "PT1H"}, {"at": iso(at)}]
    )

    assert task.reminders == [Reminder(before_due=HOUR), Reminder(at=at)]
    assert scheduled(system) == [(f"{task.id}:1", at, None), (f"{task.id}:0", due - HOUR, None)]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"reminders": [{"before_due": "PT1H"}]}, "needs a due_date"),
        ({"due_date": "2024-05-01T09:30:00Z", "reminders": [{"before_due": "PT1H"}]}, "passed"),
        ({"reminders": [{"at": "2024-05-01T08:00:00Z"}]}, "already passed"),
    ],
)
def test_creating_refuses_reminders_it_cannot_keep(
    system: FakeSystem, alice: User, fields: dict, problem: str
):
    with pytest.raises(InvalidInput, match=problem):
        create(system, alice, **fields)
    assert system.fakes.tasks.all() == []
    assert scheduled(system) == []


def test_at_most_ten_reminders(system: FakeSystem, alice: User):
    due = iso(system.clock() + timedelta(days=30))
    ten = [{"before_due": f"PT{n}H"} for n in range(1, 11)]
    task = create(system, alice, due_date=due, reminders=ten)
    assert len(scheduled(system)) == 10

    with pytest.raises(InvalidInput, match="at most 10"):
        system.services.tasks.update(
            system.actor(alice), task.id, {"reminders": [Reminder(before_due=HOUR)] * 11}
        )


def test_moving_the_due_date_moves_relative_reminders_only(system: FakeSystem, alice: User):
    due = system.clock() + timedelta(days=1)
    at = system.clock() + 2 * HOUR
    task = create(
        system, alice, due_date=iso(due), reminders=[{"before_due": "PT1H"}, {"at": iso(at)}]
    )

    later = due + timedelta(days=1)
    patch(system, alice, task, due_date=iso(later))

    assert scheduled(system) == [(f"{task.id}:1", at, None), (f"{task.id}:0", later - HOUR, None)]


def test_a_fired_reminder_fires_again_only_when_its_time_moves(system: FakeSystem, alice: User):
    due = system.clock() + 3 * HOUR
    task = create(system, alice, due_date=iso(due), reminders=[{"before_due": "PT1H"}])
    system.clock.advance(hours=2)
    assert fire(system) == 1

    patch(system, alice, task, title="water the plants today")  # the time stays
    assert fire(system) == 0
    patch(system, alice, task, due_date=iso(due + HOUR))
    assert scheduled(system) == [(f"{task.id}:0", due, None)]
    system.clock.advance(hours=1)
    assert fire(system) == 1
    assert len(reminder_events(system)) == 2


def test_clearing_the_due_date_of_a_task_with_relative_reminders_is_refused(
    system: FakeSystem, alice: User
):
    due = iso(system.clock() + timedelta(days=1))
    task = create(system, alice, due_date=due, reminders=[{"before_due": "PT1H"}])
    with pytest.raises(InvalidInput, match="before_due needs a due_date"):
        patch(system, alice, task, due_date=None)
    with pytest.raises(InvalidInput, match="already passed"):
        patch(system, alice, task, due_date=iso(system.clock() + timedelta(minutes=30)))


def test_an_unchanged_fired_reminder_may_be_sent_back(system: FakeSystem, alice: User):
    at = system.clock() + HOUR
    task = create(system, alice, reminders=[{"at": iso(at)}])
    system.clock.advance(hours=2)
    fire(system)

    new = iso(system.clock() + HOUR)
    patch(system, alice, task, reminders=[{"at": iso(at)}, {"at": new}])
    assert fire(system) == 0  # the old one stays fired
    assert [r[2] is not None for r in scheduled(system)] == [True, False]


def test_a_patch_replaces_the_reminders(system: FakeSystem, alice: User):
    due = system.clock() + timedelta(days=1)
    task = create(
        system, alice, due_date=iso(due), reminders=[{"before_due": "PT1H"}, {"before_due": "PT2H"}]
    )
    patch(system, alice, task, reminders=[{"before_due": "PT30M"}])
    assert scheduled(system) == [(f"{task.id}:0", due - timedelta(minutes=30), None)]
    patch(system, alice, task, reminders=None)
    assert scheduled(system) == []


def test_an_old_task_without_reminders_reads_as_none(system: FakeSystem, alice: User):
    task = create(system, alice)
    assert task.reminders == [] and scheduled(system) == []


# --- firing ------------------------------------------------------------------------------------


def test_a_due_reminder_fires_once_to_the_assignee(system: FakeSystem, alice: User, bob: User):
    due = system.clock() + timedelta(days=1)
    task = create(
        system, alice, assignee=bob.id, due_date=iso(due), reminders=[{"before_due": "PT2H"}]
    )
    assert fire(system) == 0  # not yet

    system.clock.set(due - 2 * HOUR)
    assert fire(system) == 1
    assert fire(system) == 0

    (event,) = reminder_events(system)
    p = event.payload
    assert (p["recipient"], p["email"], p["username"]) == (bob.id, bob.email, bob.username)
    assert (p["key"], p["title"], p["project_key"]) == (task.key, task.title, "GEN")
    assert p["due_date"] == due.isoformat()
    assert p["remind_at"] == (due - 2 * HOUR).isoformat()
    assert event.event_id == reminder_event_id(system.fakes.uow.reminders.all()[0])
    assert scheduled(system)[0][2] == system.clock()


def test_an_unassigned_task_reminds_its_reporter(system: FakeSystem, alice: User):
    create(system, alice, reminders=[{"at": iso(system.clock() + HOUR)}])
    system.clock.advance(hours=1)
    fire(system)
    assert [e.payload["email"] for e in reminder_events(system)] == [alice.email]


def test_a_done_task_fires_nothing_and_reopening_brings_back_future_reminders(
    system: FakeSystem, alice: User
):
    now = system.clock()
    task = create(
        system,
        alice,
        status="in_progress",
        reminders=[{"at": iso(now + HOUR)}, {"at": iso(now + 3 * HOUR)}],
    )
    patch(system, alice, task, status="done")
    assert scheduled(system) == []
    system.clock.advance(hours=2)
    assert fire(system) == 0

    patch(system, alice, task, status="open")
    assert scheduled(system) == [(f"{task.id}:1", now + 3 * HOUR, None)]  # the past one stays off
    system.clock.advance(hours=1)
    assert fire(system) == 1


def test_a_deleted_task_fires_nothing(system: FakeSystem, alice: User):
    task = create(system, alice, reminders=[{"at": iso(system.clock() + HOUR)}])
    system.services.tasks.delete(system.actor(alice), task.id)
    assert scheduled(system) == []
    system.clock.advance(hours=2)
    assert fire(system) == 0


def test_deleting_a_project_deletes_its_reminders(system: FakeSystem, alice: User):
    project = system.make_project("OPS", owner=alice)
    create(system, alice, project="OPS", reminders=[{"at": iso(system.clock() + HOUR)}])
    system.services.projects.update(system.actor(alice), project.id, {"archived": True})
    system.services.projects.delete(system.actor(alice), project.id)
    assert scheduled(system) == []


def test_a_reminder_whose_task_vanished_is_claimed_without_an_event(
    system: FakeSystem, alice: User
):
    task = create(system, alice, reminders=[{"at": iso(system.clock() + HOUR)}])
    system.fakes.tasks.delete_if_version(task.id, task.version)  # gone without the service
    system.clock.advance(hours=1)
    round_ = system.services.reminders.fire_due()
    assert (round_.fired, round_.claimed) == (0, 1)
    assert reminder_events(system) == []


def test_many_due_reminders_fire_in_batches_each_once(system: FakeSystem, alice: User):
    at = iso(system.clock() + HOUR)
    for _ in range(25):
        create(system, alice, reminders=[{"at": at}, {"at": at}])
    system.clock.advance(hours=1)
    firer = ReminderService(system.recorder, system.clock, batch_size=7)
    assert firer.fire_due().fired == 50
    assert firer.fire_due().fired == 0
    assert len({e.event_id for e in reminder_events(system)}) == 50
    assert system.fakes.uow.committed >= 8  # 50 / 7: one transaction per batch


def test_a_batch_that_lost_the_race_writes_nothing(system: FakeSystem, alice: User):
    """A second firer that claims a reminder the first one already claimed aborts its whole
    transaction: no event, no `fired_at` of its own."""
    create(system, alice, reminders=[{"at": iso(system.clock() + HOUR)}])
    system.clock.advance(hours=1)
    reminders = system.fakes.uow.reminders
    due = reminders.due(system.clock(), 10)
    reminders.mark_fired([r.id for r in due], system.clock())  # the other firer, just before
    # ...our stale reads: the due set, and the batch's read in its transaction's snapshot
    reminders.due = lambda now, limit: due  # type: ignore[method-assign]
    reminders.unfired = lambda ids: [r for r in due if r.id in ids]  # type: ignore[method-assign]

    assert system.services.reminders.fire_due().fired == 0
    assert reminder_events(system) == []
    assert system.fakes.uow.aborted >= 1


def test_schedule_reminders_serves_a_new_occurrence(system: FakeSystem, alice: User):
    """What the recurrence code calls for the next occurrence it creates."""
    task = create(system, alice)
    due = system.clock() + timedelta(days=7)
    task.due_date, task.reminders = due, [Reminder(before_due=HOUR)]
    with system.fakes.uow as uow:
        schedule_reminders(uow, task, system.clock())
    assert scheduled(system) == [(f"{task.id}:0", due - HOUR, None)]
