"""Reminders: keep each task's schedule in step with the task (in the task change's
transaction), and fire the due ones, each exactly once, through the outbox.

Firing reads the due reminders once per round, then claims them a batch at a time (`fired_at`
set only where it is still unset) and writes each batch's `task.reminder` events in ONE
transaction: a scheduler killed before the commit leaves nothing behind, and a second scheduler
racing for the same batch collides with the first (its transaction is rolled back, and the
round reads the due set again and finds them fired). Event ids are deterministic too, so no
reminder can ever reach the outbox twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from tasktracker.domain.errors import ConcurrentChange
from tasktracker.domain.events import Event, EventType
from tasktracker.domain.reminders import (
    ScheduledReminder,
    recipient_of,
    reminder_event_id,
    reminder_payload,
    reschedule,
)
from tasktracker.domain.tasks import Status, Task, task_summary
from tasktracker.domain.users import User
from tasktracker.services.clock import Clock
from tasktracker.services.ports import EventRecorder, UnitOfWork

log = logging.getLogger(__name__)

BATCH_SIZE = 200
# A round reads at most this many due reminders at once (then reads again).
ROUND_LIMIT = 10_000
# A batch that collided with a concurrent firer makes the round read the due set again; after
# this many collisions in a row the round ends (the next poll tries again).
COLLISIONS_PER_ROUND = 5


def schedule_reminders(uow: UnitOfWork, task: Task, now: datetime) -> None:
    """Bring the task's scheduled reminders in step with the task, inside `uow`: call it in
    the transaction that creates a task (a recurring task's next occurrence included) or
    changes its reminders, due date, status or project."""
    current = uow.reminders.for_task(task.id)
    wanted = reschedule(
        task.id,
        task.project_id,
        task.reminders,
        task.due_date,
        done=task.status is Status.DONE,
        current=current,
        now=now,
    )
    if sorted(wanted, key=_position) != sorted(current, key=_position):
        uow.reminders.replace_for_task(task.id, wanted)


def _position(reminder: ScheduledReminder) -> int:
    return reminder.position


@dataclass(frozen=True, slots=True)
class FiringRound:
    fired: int  # events written
    claimed: int  # reminders marked fired (those of gone or done tasks fire nothing)


class ReminderService:
    def __init__(self, events: EventRecorder, clock: Clock, batch_size: int = BATCH_SIZE) -> None:
        self._events = events
        self._clock = clock
        self._batch_size = batch_size

    def fire_due(self) -> FiringRound:
        """Fire every reminder due now; answer how many fired.

        The due set is read once (the query is the costly part: it looks at every due
        reminder), then fired in batches by id, one transaction each."""
        fired = claimed = collisions = 0
        while collisions < COLLISIONS_PER_ROUND:
            now = self._clock()
            with self._events.transaction() as uow:
                due = [r.id for r in uow.reminders.due(now, ROUND_LIMIT)]
            try:
                for start in range(0, len(due), self._batch_size):
                    batch = self.fire_batch(due[start : start + self._batch_size], now)
                    fired, claimed = fired + batch.fired, claimed + batch.claimed
                    collisions = 0
            except ConcurrentChange:
                collisions += 1
                continue
            if len(due) < ROUND_LIMIT:
                break
        if claimed:
            log.info("reminders: %d fired (%d claimed)", fired, claimed)
        return FiringRound(fired, claimed)

    def fire_batch(self, reminder_ids: list[str], now: datetime) -> FiringRound:
        """One transaction: claim those of `reminder_ids` still due and record their events.
        The reminders are read again inside it, so the events are those of the reminders as
        they are claimed (one fired, removed or moved since the due set was read is skipped).
        ConcurrentChange when another firer claimed some of them first (nothing was written)."""
        with self._events.transaction() as uow:
            found = uow.reminders.unfired(reminder_ids)
            due = sorted((r for r in found if r.is_due(now)), key=_due_order)
            if not due:
                return FiringRound(0, 0)
            if uow.reminders.mark_fired([r.id for r in due], now) != len(due):
                raise ConcurrentChange("another scheduler fired some of these reminders")
            events = reminder_events(uow, due, now)
            uow.record(*events)
        return FiringRound(len(events), len(due))


def _due_order(reminder: ScheduledReminder) -> tuple[datetime, str]:
    return reminder.remind_at, reminder.id


def reminder_events(uow: UnitOfWork, due: list[ScheduledReminder], now: datetime) -> list[Event]:
    """A `task.reminder` event per due reminder whose task still exists, is not done, and whose
    recipient is an active user."""
    tasks = {t.id: t for t in uow.tasks.get_many({r.task_id for r in due})}
    live = [(r, tasks[r.task_id]) for r in due if _should_fire(tasks.get(r.task_id))]
    users = {
        u.id: u for u in uow.users.get_many({recipient_of(t.assignee, t.reporter) for _, t in live})
    }
    events = []
    for scheduled, task in live:
        user = users.get(recipient_of(task.assignee, task.reporter))
        if user is None or not user.active:
            log.info("reminder %s dropped: its recipient is gone or inactive", scheduled.id)
            continue
        events.append(reminder_event(scheduled, task, user, now))
    return events


def _should_fire(task: Task | None) -> bool:
    return task is not None and task.status is not Status.DONE


def reminder_event(scheduled: ScheduledReminder, task: Task, user: User, now: datetime) -> Event:
    recipient = {"user_id": user.id, "username": user.username, "email": user.email}
    return Event(
        type=EventType.TASK_REMINDER,
        payload=reminder_payload(scheduled, task_summary(task), recipient),
        occurred_at=now,
        correlation_id=scheduled.id,
        event_id=reminder_event_id(scheduled),
    )
