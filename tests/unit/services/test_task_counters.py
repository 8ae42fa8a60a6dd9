"""The per-project task counters the summaries read: every task write that creates, deletes or
moves a task or changes its status changes them in its own transaction (and nothing else does);
a transaction that collides with a concurrent one (as two writes of one counter document do) is
run again, once more in full, and only a change of the same task loses the race."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tasktracker.domain.errors import ConcurrentChange, Conflict
from tasktracker.domain.events import EventType
from tasktracker.domain.projects import Actor, ProjectRole
from tasktracker.domain.task_counts import (
    due_summed,
    hour_field,
    hours_summed,
    months_summed,
    utc_hour,
)
from tasktracker.domain.tasks import Status, Task
from tasktracker.domain.users import User
from tasktracker.schemas.tasks import TaskCreate
from tasktracker.services.tasks import TASK_WRITE_ATTEMPTS
from tests.fakes import FakeSystem
from tests.support.task_counts import day_start, utc_day

DUE = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
WEEKLY = {"recurrence": "FREQ=WEEKLY;BYDAY=MO", "due_date": DUE}


def create(system: FakeSystem, who: User, project: str = "GEN", **fields: Any) -> Task:
    fields.setdefault("title", "a task")
    return system.services.tasks.create(system.actor(who), TaskCreate(project=project, **fields))


def update(system: FakeSystem, who: User, task: Task, **changes: Any) -> Task:
    return system.services.tasks.update(system.actor(who), task.id, changes)


def recount(system: FakeSystem) -> dict[str, dict[str, Any]]:
    """The counts by status of each project, and its open tasks by UTC due month, day and hour,
    counted from the tasks."""
    counts: dict[str, Counter[str]] = {}
    dated: dict[str, Counter[str]] = {}
    for task in system.fakes.tasks.all():
        counts.setdefault(task.project_id, Counter())[str(task.status)] += 1
        if task.due_date is not None and task.status is not Status.DONE:
            day, hour = utc_day(task.due_date), utc_hour(task.due_date)
            by_period = dated.setdefault(task.project_id, Counter())
            by_period.update([("month", day.replace(day=1)), ("due", day), ("hour", hour)])
    return {
        project_id: {
            **{str(s): c[str(s)] for s in Status},
            "total": sum(c.values()),
            **{
                unit: {when: n for (u, when), n in dated.get(project_id, {}).items() if u == unit}
                for unit in ("month", "due", "hour")
            },
        }
        for project_id, c in counts.items()
    }


def counted(system: FakeSystem) -> dict[str, dict[str, Any]]:
    """The counts by status of each project with tasks, and its open tasks by due month, day
    and hour, as stored; what the summary reads of them (this month's days, today's hours)
    checked against them."""
    reads, stored = system.fakes.task_reads, system.fakes.uow.task_counts
    today = system.clock().date()
    found = {}
    for p in stored.projects():
        sums, rows = reads.counter_sums((p,), today), stored.rows((p,))
        assert sums.counts == reads.counts((p,))  # the status summary's read agrees
        days, hours = due_summed(rows), hours_summed(rows)
        assert sums.months == months_summed(rows)
        assert sums.due == {
            d: n for d, n in days.items() if d.replace(day=1) == today.replace(day=1)
        }
        assert sums.hours == {h: n for h, n in hours.items() if h.date() == today}
        if sums.counts["total"] or sums.months:
            found[p] = {**sums.counts, "month": sums.months, "due": days, "hour": hours}
    return found


def brute_force_overdue(system: FakeSystem, actor: Actor) -> int:
    now = system.clock()
    return sum(
        1 for t in system.fakes.tasks.all() if actor.sees(t.project_id) and t.is_overdue(now)
    )


def assert_counts_follow_the_tasks(system: FakeSystem) -> None:
    """The counters match a recount, and the summary's overdue count (counters for the days
    before today, a count for today) matches the tasks, for every user that has tasks."""
    assert counted(system) == recount(system)
    for user in system.fakes.users.all():
        actor = system.actor(user)
        summary = system.services.task_queries.summary(actor)
        assert summary["overdue"] == brute_force_overdue(system, actor), user.username


@pytest.fixture
def ops(system: FakeSystem, alice: User, bob: User):
    return system.make_project("OPS", owner=alice, members={bob.id: ProjectRole.MEMBER})


def test_counts_follow_creation_status_changes_moves_and_deletion(system, alice, bob, ops):
    system.add_member(system.default_project(), alice, ProjectRole.MAINTAINER)  # she moves tasks
    first = create(system, alice)
    second = create(system, bob, assignee=bob.id)
    create(system, alice, "OPS", status=Status.IN_PROGRESS)
    assert_counts_follow_the_tasks(system)

    update(system, alice, first, status=Status.IN_PROGRESS)
    update(system, alice, first, status=Status.DONE)
    assert_counts_follow_the_tasks(system)
    update(system, alice, first, status=Status.OPEN)  # reopened
    update(system, alice, second, project="OPS", status=Status.IN_PROGRESS)  # both at once
    assert_counts_follow_the_tasks(system)

    system.services.tasks.delete(system.actor(alice), first.id)
    assert_counts_follow_the_tasks(system)
    assert system.services.task_queries.status_counts(system.actor(alice)) == {
        "open": 0,
        "in_progress": 2,
        "done": 0,
        "total": 2,
    }


def test_completing_a_recurring_task_counts_its_next_occurrence(system, alice):
    task = create(system, alice, **WEEKLY)
    update(system, alice, task, status=Status.IN_PROGRESS)
    update(system, alice, task, status=Status.DONE)
    assert len(system.fakes.tasks.all()) == 2
    assert_counts_follow_the_tasks(system)
    counts = system.services.task_queries.status_counts(system.actor(alice))
    assert (counts["open"], counts["done"]) == (1, 1)


def test_deleting_a_project_deletes_its_counters(system, alice, ops):
    create(system, alice, "OPS")
    create(system, alice, "GEN")
    system.services.projects.update(system.actor(alice), "OPS", {"archived": True})
    system.services.projects.delete(system.actor(alice), "OPS")
    assert ops.id not in system.fakes.uow.task_counts.projects()
    assert_counts_follow_the_tasks(system)


def test_a_change_of_neither_status_nor_project_writes_no_counter(system, alice, bob):
    task = create(system, alice)
    applied = len(system.fakes.uow.task_counts.applied)
    update(system, alice, task, title="renamed", assignee=bob.id, priority="high")
    assert system.fakes.uow.task_counts.applied[applied:] == [{}]
    assert_counts_follow_the_tasks(system)


def test_a_refused_change_moves_no_counter(system, alice):
    task = create(system, alice)
    system.fakes.tasks.change_after_next_read = True  # another writer gets in first
    with pytest.raises(Conflict):
        update(system, alice, task, status=Status.IN_PROGRESS)
    assert_counts_follow_the_tasks(system)


# --- collisions: the transaction runs again ----------------------------------------------------


def collide(system: FakeSystem, times: int) -> None:
    """The next `times` commits collide with a concurrent transaction and roll back."""
    system.fakes.uow.failing_commits = [ConcurrentChange("collided")] * times


def test_an_update_that_collides_once_is_run_again_and_recorded_once(system, alice):
    task = create(system, alice)
    outbox = len(system.fakes.outbox.events())
    collide(system, 1)

    updated = update(system, alice, task, status=Status.IN_PROGRESS)

    assert updated.version == 2
    assert system.fakes.tasks.get(task.id).status is Status.IN_PROGRESS
    types = [e.type for e in system.fakes.outbox.events()[outbox:]]
    assert types == [EventType.TASK_UPDATED, EventType.TASK_STATUS_CHANGED]
    assert system.fakes.uow.aborted >= 1
    assert_counts_follow_the_tasks(system)


def test_a_completion_that_collides_creates_one_next_occurrence_with_one_id(system, alice):
    task = create(system, alice, **WEEKLY)
    update(system, alice, task, status=Status.IN_PROGRESS)
    collide(system, TASK_WRITE_ATTEMPTS - 1)  # the last attempt commits

    done = update(system, alice, task, status=Status.DONE)

    [nxt] = [t for t in system.fakes.tasks.all() if t.id != task.id]
    assert done.next_occurrence == nxt.id
    assert system.fakes.tasks.get(task.id).next_occurrence == nxt.id
    created = [
        e for e in system.fakes.outbox.events() if e.type is EventType.TASK_CREATED
    ]  # the first task's and its next occurrence's, each once
    assert [e.payload["task_id"] for e in created] == [task.id, nxt.id]
    assert_counts_follow_the_tasks(system)


def test_a_creation_that_collides_is_run_again_with_the_same_id(system, alice):
    collide(system, 1)
    task = create(system, alice)
    assert [t.id for t in system.fakes.tasks.all()] == [task.id]
    created = [e for e in system.fakes.outbox.events() if e.type is EventType.TASK_CREATED]
    assert [e.payload["task_id"] for e in created] == [task.id]
    assert_counts_follow_the_tasks(system)


def test_a_deletion_that_collides_is_run_again(system, alice):
    task = create(system, alice)
    collide(system, 1)
    system.services.tasks.delete(system.actor(alice), task.id)
    assert system.fakes.tasks.all() == []
    assert_counts_follow_the_tasks(system)


def test_collisions_on_every_attempt_are_a_conflict_and_change_nothing(system, alice):
    task = create(system, alice)
    collide(system, TASK_WRITE_ATTEMPTS)
    with pytest.raises(Conflict):
        update(system, alice, task, status=Status.IN_PROGRESS)
    assert system.fakes.tasks.get(task.id).status is Status.OPEN
    assert system.fakes.uow.failing_commits == []
    assert_counts_follow_the_tasks(system)


# --- the reads -----------------------------------------------------------------------------------


def test_the_status_counts_count_no_overdue_tasks(system, alice, monkeypatch):
    """The legacy status summary: counts by status only, never the overdue count."""
    create(system, alice, due_date=system.clock())
    system.clock.advance(hours=1)

    def overdue(*args: Any) -> int:
        raise AssertionError("the overdue count was made")

    monkeypatch.setattr(system.fakes.task_reads, "overdue_since", overdue)
    counts = system.services.task_queries.status_counts(system.actor(alice))
    assert counts == {"open": 1, "in_progress": 0, "done": 0, "total": 1}


def test_the_summary_adds_the_overdue_count(system, alice):
    create(system, alice, due_date=system.clock())
    create(system, alice)
    system.clock.advance(hours=1)
    summary = system.services.task_queries.summary(system.actor(alice))
    assert summary == {"open": 2, "in_progress": 0, "done": 0, "total": 2, "overdue": 1}


# --- due days and the overdue count -------------------------------------------------------------

NOON = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def test_due_days_follow_every_kind_of_task_write(system, alice, ops):
    """Create (dated, undated), complete, reopen, a new due date on another day, on the same
    day, none, a move to another project, a deletion: the due-day counters always match the
    open dated tasks, and the summary's overdue count the overdue tasks."""
    system.clock.set(NOON)
    system.add_member(system.default_project(), alice, ProjectRole.MAINTAINER)  # she moves tasks
    yesterday = NOON - timedelta(days=1)
    dated = create(system, alice, due_date=yesterday)
    undated = create(system, alice)
    assert_counts_follow_the_tasks(system)
    assert system.services.task_queries.summary(system.actor(alice))["overdue"] == 1

    update(system, alice, dated, status=Status.IN_PROGRESS)
    update(system, alice, dated, status=Status.DONE)  # leaves its day
    assert_counts_follow_the_tasks(system)
    assert counted(system)[dated.project_id]["due"] == {}
    update(system, alice, dated, status=Status.OPEN)  # reopened: back in its day
    assert_counts_follow_the_tasks(system)

    update(system, alice, dated, due_date=NOON + timedelta(days=2))  # another day, not overdue
    assert_counts_follow_the_tasks(system)
    applied = len(system.fakes.uow.task_counts.applied)
    update(system, alice, dated, due_date=NOON + timedelta(days=2, minutes=40))  # the same hour
    update(system, alice, dated, due_date=NOON + timedelta(days=2, hours=3))  # the same day
    later = utc_hour(NOON + timedelta(days=2))
    assert system.fakes.uow.task_counts.applied[applied:] == [
        {},
        {dated.project_id: {hour_field(later): -1, hour_field(later + timedelta(hours=3)): 1}},
    ]
    update(system, alice, undated, due_date=yesterday)  # dated now
    update(system, alice, dated, due_date=None)  # undated now
    assert_counts_follow_the_tasks(system)
    assert system.services.task_queries.summary(system.actor(alice))["overdue"] == 1

    update(system, alice, undated, project="OPS")  # its day moves with it
    assert_counts_follow_the_tasks(system)
    assert counted(system)[ops.id]["due"] == {utc_day(yesterday): 1}
    system.services.tasks.delete(system.actor(alice), undated.id)
    assert_counts_follow_the_tasks(system)
    assert system.services.task_queries.summary(system.actor(alice))["overdue"] == 0


def test_a_done_tasks_new_due_date_moves_no_counter(system, alice):
    system.clock.set(NOON)
    task = create(system, alice, status=Status.DONE, due_date=NOON)
    applied = len(system.fakes.uow.task_counts.applied)
    update(system, alice, task, due_date=NOON - timedelta(days=3))
    update(system, alice, task, due_date=None)
    assert system.fakes.uow.task_counts.applied[applied:] == [{}, {}]
    assert_counts_follow_the_tasks(system)


def test_completing_a_recurring_task_moves_its_due_day_to_the_next_occurrence(system, alice):
    task = create(system, alice, **WEEKLY)
    update(system, alice, task, status=Status.IN_PROGRESS)
    system.clock.set(DUE + timedelta(days=1))  # overdue, then done
    assert system.services.task_queries.summary(system.actor(alice))["overdue"] == 1
    update(system, alice, task, status=Status.DONE)

    [nxt] = [t for t in system.fakes.tasks.all() if t.id != task.id]
    assert counted(system)[task.project_id]["due"] == {utc_day(nxt.due_date): 1}
    assert utc_day(nxt.due_date) != utc_day(DUE)
    assert_counts_follow_the_tasks(system)
    assert system.services.task_queries.summary(system.actor(alice))["overdue"] == 0


def test_the_overdue_count_around_now(system, alice):
    """Due yesterday, at midnight today, earlier today, later today, tomorrow: the days before
    today come from the counters, today's from the range count, and only what fell due before
    `now` is overdue, as `now` moves across the day and into the next."""
    system.clock.set(NOON)
    today = day_start(NOON)
    for title, due in {
        "yesterday": today - timedelta(hours=1),
        "midnight": today,
        "earlier today": NOON - timedelta(hours=4),
        "later today": NOON + timedelta(hours=3),
        "tomorrow": today + timedelta(days=1, hours=9),
    }.items():
        create(system, alice, title=title, due_date=due)
    create(
        system,
        alice,
        title="done yesterday",
        status=Status.DONE,
        due_date=today - timedelta(hours=2),
    )
    create(system, alice, title="no due date")

    def overdue() -> int:
        return system.services.task_queries.summary(system.actor(alice))["overdue"]

    assert overdue() == 3  # yesterday, midnight, earlier today
    assert_counts_follow_the_tasks(system)
    system.clock.set(NOON + timedelta(hours=3))  # exactly when "later today" falls due
    assert overdue() == 3
    system.clock.advance(milliseconds=1)
    assert overdue() == 4
    system.clock.set(today + timedelta(days=1))  # midnight: all of yesterday from the counters
    assert overdue() == 4
    system.clock.set(today + timedelta(days=1, hours=10))
    assert overdue() == 5
    assert_counts_follow_the_tasks(system)


def test_the_summary_reads_the_counters_once(system, alice, monkeypatch):
    system.clock.set(NOON)
    create(system, alice, due_date=NOON - timedelta(days=1))
    create(system, alice, due_date=NOON - timedelta(hours=1))
    reads = system.fakes.task_reads
    calls: list[str] = []
    for name in ("counts", "counter_sums", "overdue_since"):
        original = getattr(reads, name)

        def counting(*args: Any, _name: str = name, _original: Any = original) -> Any:
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(reads, name, counting)

    summary = system.services.task_queries.summary(system.actor(alice))
    assert summary == {"open": 2, "in_progress": 0, "done": 0, "total": 2, "overdue": 2}
    assert calls == ["counter_sums", "overdue_since"]


def test_the_overdue_count_takes_earlier_hours_from_the_counters_and_counts_this_hours_tasks(
    system, alice, monkeypatch
):
    """Tasks due earlier today count from the due-hour counters; only the tasks due earlier in
    the current hour are counted from the tasks (the range starts at the hour)."""
    system.clock.set(NOON + timedelta(minutes=30))
    for due in (
        NOON - timedelta(hours=5),
        NOON - timedelta(minutes=1),
        NOON + timedelta(minutes=10),
    ):
        create(system, alice, due_date=due)
    create(system, alice, due_date=NOON + timedelta(minutes=45))  # not yet
    reads = system.fakes.task_reads
    ranges: list[tuple[datetime, datetime]] = []
    original = reads.overdue_since

    def overdue_since(since: datetime, now: datetime, projects: Any) -> int:
        ranges.append((since, now))
        return original(since, now, projects)

    monkeypatch.setattr(reads, "overdue_since", overdue_since)
    assert system.services.task_queries.summary(system.actor(alice))["overdue"] == 3
    assert ranges == [(NOON, NOON + timedelta(minutes=30))]
    system.clock.set(NOON + timedelta(hours=1))  # the hour before is counters now
    assert system.services.task_queries.summary(system.actor(alice))["overdue"] == 4
    assert ranges[-1] == (NOON + timedelta(hours=1), NOON + timedelta(hours=1))
