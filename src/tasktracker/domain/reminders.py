"""Task reminders (DESIGN 15): `before_due` a duration or `at` a time, at most ten per task.

A task keeps its reminders as it was given them; each one is also scheduled as a
`ScheduledReminder` (one per task and position) that the active scheduler fires once when its
`remind_at` has come. What is due, who hears of it, and when a schedule moves live here.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from tasktracker.domain.errors import InvalidInput

MAX_REMINDERS = 10
MAX_BEFORE_DUE = timedelta(days=365)
REMINDER_EVENT_NAMESPACE = uuid.UUID("0f6c2f7e-52a5-4d0b-9a43-6f1d5cf1b8a1")


@dataclass(frozen=True, slots=True)
class Reminder:
    """Exactly one of `before_due` (a positive duration before the due date) and `at`."""

    before_due: timedelta | None = None
    at: datetime | None = None

    def __post_init__(self) -> None:
        if (self.before_due is None) == (self.at is None):
            raise InvalidInput("a reminder has exactly one of 'before_due' and 'at'")
        if self.before_due is not None and not timedelta(0) < self.before_due <= MAX_BEFORE_DUE:
            raise InvalidInput("before_due must be a positive duration of at most 365 days")

    @property
    def relative(self) -> bool:
        return self.before_due is not None

    def remind_at(self, due_date: datetime | None) -> datetime | None:
        """When it fires; None for a relative reminder of a task without a due date."""
        if self.at is not None:
            return self.at
        assert self.before_due is not None
        return due_date - self.before_due if due_date is not None else None

    def plain(self) -> dict[str, str]:
        """As the API writes it (an activity entry's value): `{"before_due": "PT1H"}`."""
        if self.before_due is not None:
            return {"before_due": iso_duration(self.before_due)}
        assert self.at is not None
        return {"at": self.at.isoformat()}


def iso_duration(value: timedelta) -> str:
    """`PT1H30M`, `P2DT12H`: days, hours, minutes and seconds (no months or years)."""
    days, rest = value.days, value.seconds
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    fraction = f"{seconds + value.microseconds / 1e6:g}" if value.microseconds else f"{seconds}"
    time = "".join(
        f"{amount}{unit}"
        for amount, unit in ((hours, "H"), (minutes, "M"), (fraction, "S"))
        if amount not in (0, "0")
    )
    date = f"{days}D" if days else ""
    if time:
        return f"P{date}T{time}"
    return f"P{date}" if date else "PT0S"


def check_reminders(reminders: Sequence[Reminder], due_date: datetime | None) -> None:
    """At most ten, and a relative one needs a due date."""
    if len(reminders) > MAX_REMINDERS:
        raise InvalidInput(f"a task has at most {MAX_REMINDERS} reminders")
    for position, reminder in enumerate(reminders):
        if reminder.relative and due_date is None:
            raise InvalidInput(
                f"reminders[{position}]: before_due needs a due_date; set one or use 'at'"
            )


def check_not_past(
    reminders: Sequence[Reminder],
    due_date: datetime | None,
    now: datetime,
    *,
    kept: Collection[Reminder] = (),
) -> None:
    """No reminder is saved for a time already gone, but those in `kept`: a change leaves them
    as they were (the same reminder, at the same time), fired or not."""
    for position, reminder in enumerate(reminders):
        when = reminder.remind_at(due_date)
        if reminder not in kept and when is not None and when <= now:
            raise InvalidInput(
                f"reminders[{position}]: its time {when.isoformat()} has already passed"
            )


def unchanged_reminders(
    before: Iterable[Reminder], due_before: datetime | None, due_after: datetime | None
) -> set[Reminder]:
    """The reminders a change leaves at their time: all but the relative ones when the due
    date moved."""
    moved = due_before != due_after
    return {r for r in before if not (moved and r.relative)}


def relative_reminders(reminders: Iterable[Reminder]) -> list[Reminder]:
    """What a task's next occurrence takes over: the reminders relative to its due date."""
    return [r for r in reminders if r.relative]


@dataclass(frozen=True, slots=True)
class ScheduledReminder:
    """One reminder of one task as the scheduler sees it (the `reminders` collection)."""

    task_id: str
    project_id: str
    position: int
    remind_at: datetime
    fired_at: datetime | None = None

    @property
    def id(self) -> str:
        return reminder_id(self.task_id, self.position)

    def is_due(self, now: datetime) -> bool:
        return self.fired_at is None and self.remind_at <= now


def reminder_id(task_id: str, position: int) -> str:
    return f"{task_id}:{position}"


def reminder_event_id(scheduled: ScheduledReminder) -> str:
    """The same for every firing of this reminder at this time: a second scheduler (racing,
    or taking over) writes the same event id, which the outbox and the agent refuse twice."""
    name = f"{scheduled.id}@{scheduled.remind_at.isoformat()}"
    return uuid.uuid5(REMINDER_EVENT_NAMESPACE, name).hex


def reschedule(
    task_id: str,
    project_id: str,
    reminders: Sequence[Reminder],
    due_date: datetime | None,
    *,
    done: bool,
    current: Iterable[ScheduledReminder],
    now: datetime,
) -> list[ScheduledReminder]:
    """A task's schedule after a change. A done task has none. A reminder whose time stays
    keeps its `fired_at` (it never fires twice); one whose time moved fires anew. One that is
    not scheduled now (new, or the task was done) is scheduled only for a time still to come,
    so reopening a task reinstates its future reminders without firing past ones."""
    if done:
        return []
    before = {s.position: s for s in current}
    schedule = []
    for position, reminder in enumerate(reminders):
        when = reminder.remind_at(due_date)
        if when is None:
            continue
        kept = before.get(position)
        if kept is not None and kept.remind_at == when:
            schedule.append(replace(kept, project_id=project_id))
        elif kept is not None or when > now:
            schedule.append(ScheduledReminder(task_id, project_id, position, when))
    return schedule


def recipient_of(assignee: str | None, reporter: str) -> str:
    """Who a reminder is for: the assignee, else the reporter."""
    return assignee or reporter


def reminder_payload(
    scheduled: ScheduledReminder,
    task: dict[str, Any],
    recipient: dict[str, str],
) -> dict[str, Any]:
    """A `task.reminder` event's payload: the task as the other task events carry it
    (`task`: key, title, due date, project), the reminder, and who is to hear of it."""
    return {
        **task,
        "reminder_id": scheduled.id,
        "remind_at": scheduled.remind_at.isoformat(),
        "recipient": recipient["user_id"],
        "username": recipient["username"],
        "email": recipient["email"],
    }
