"""Alert use cases: manage schedules, and fire one: gather every member's pending tasks and
publish one `alerts.pending_tasks` event per member through the outbox, exactly once per run."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tasktracker.domain.errors import Conflict, NotFound
from tasktracker.domain.events import Event, EventType
from tasktracker.domain.schedules import (
    DEFAULT_DIGEST_ID,
    AlreadyFired,
    Schedule,
    ScheduleKind,
    alert_event_id,
    new_schedule,
)
from tasktracker.domain.users import User, require_admin
from tasktracker.services.clock import Clock
from tasktracker.services.ports import (
    AlertRunRepository,
    EventRecorder,
    PendingTaskDigests,
    ScheduleRepository,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DigestPolicy:
    due_soon: timedelta = timedelta(hours=48)
    max_tasks: int = 20


@dataclass(frozen=True, slots=True)
class RunResult:
    run_id: str
    members: int


class AlertService:
    def __init__(
        self,
        schedules: ScheduleRepository,
        runs: AlertRunRepository,
        digests: PendingTaskDigests,
        events: EventRecorder,
        clock: Clock,
        policy: DigestPolicy,
    ) -> None:
        self._schedules = schedules
        self._runs = runs
        self._digests = digests
        self._events = events
        self._clock = clock
        self._policy = policy

    # --- schedules --------------------------------------------------------------------------

    def create(
        self,
        actor: User,
        kind: ScheduleKind,
        *,
        run_at: datetime | None = None,
        time: str | None = None,
        timezone: str | None = None,
    ) -> Schedule:
        """Schedule a digest run (admins only)."""
        require_admin(actor)
        schedule = new_schedule(
            kind, self._clock(), run_at=run_at, time=time, timezone=timezone, created_by=actor.id
        )
        self._schedules.add(schedule)
        log.info("alert schedule %s (%s) created by %s", schedule.id, kind, actor.id)
        return schedule

    def create_legacy(
        self,
        actor: User,
        kind: ScheduleKind,
        run_at: datetime | None,
        *,
        digest_time: str,
        digest_timezone: str,
    ) -> Schedule:
        """The original's `{type, run_at}`: `once` at `run_at`; `daily` at `run_at`'s time of
        day (UTC), or at `digest_time` in `digest_timezone` without one; `now` at once."""
        if kind is ScheduleKind.ONCE:
            return self.create(actor, kind, run_at=run_at)
        if kind is ScheduleKind.DAILY and run_at is not None:
            return self.create(actor, kind, time=f"{run_at.astimezone(UTC):%H:%M}", timezone="UTC")
        if kind is ScheduleKind.DAILY:
            return self.create(actor, kind, time=digest_time, timezone=digest_timezone)
        return self.create(actor, kind)

    def list(self, actor: User) -> list[Schedule]:
        """Every pending schedule (admins only)."""
        require_admin(actor)
        return self._schedules.all()

    def pending(self) -> list[Schedule]:
        """Every pending schedule: what the active scheduler keeps its jobs in step with."""
        return self._schedules.all()

    def get(self, schedule_id: str) -> Schedule:
        schedule = self._schedules.get(schedule_id)
        if schedule is None:
            raise NotFound(f"no alert schedule with id '{schedule_id}'")
        return schedule

    def delete(self, actor: User, schedule_id: str) -> None:
        require_admin(actor)
        if schedule_id == DEFAULT_DIGEST_ID and self._schedules.get(schedule_id):
            raise Conflict(
                "the built-in daily digest follows ALERT_DIGEST_TIME and ALERT_DIGEST_TIMEZONE; "
                "set ALERT_DIGEST_TIME empty to turn it off"
            )
        if not self._schedules.delete(schedule_id):
            raise NotFound(f"no alert schedule with id '{schedule_id}'")
        log.info("alert schedule %s deleted by %s", schedule_id, actor.id)

    def ensure_default_digest(self, time: str | None, timezone: str) -> Schedule | None:
        """The built-in daily digest follows its settings; an empty time removes it."""
        current = self._schedules.get(DEFAULT_DIGEST_ID)
        if not time:
            if current:
                self._schedules.delete(DEFAULT_DIGEST_ID)
            return None
        wanted = new_schedule(
            ScheduleKind.DAILY,
            self._clock(),
            time=time,
            timezone=timezone,
            schedule_id=DEFAULT_DIGEST_ID,
            builtin=True,
        )
        if current and (current.time, current.timezone) == (wanted.time, wanted.timezone):
            return current
        self._schedules.put(wanted)
        return wanted

    # --- firing -----------------------------------------------------------------------------

    def fire(self, schedule_id: str) -> RunResult | None:
        """Fire the schedule's due run; None when there is nothing to do (deleted, not due,
        or this run already happened)."""
        now = self._clock()
        schedule = self._schedules.get(schedule_id)
        if schedule is None:
            log.info("alert schedule %s is gone; nothing fired", schedule_id)
            return None
        fire_time = schedule.due_fire_time(now)
        if fire_time is None:
            return None
        return self.run(schedule, schedule.run_id(fire_time), fire_time)

    def run(self, schedule: Schedule, run_id: str, fire_time: datetime) -> RunResult | None:
        if self._runs.exists(run_id):
            log.info("alert run %s already happened; duplicate dropped", run_id)
            return None
        now = self._clock()
        digests = self._digests.digests(now, now + self._policy.due_soon, self._policy.max_tasks)
        events = [
            Event(
                type=EventType.ALERTS_PENDING_TASKS,
                payload=d.to_payload(run_id),
                occurred_at=now,
                correlation_id=run_id,
                event_id=alert_event_id(run_id, d.user_id),
            )
            for d in digests
        ]

        try:
            with self._events.transaction() as uow:
                uow.alert_runs.record(run_id, schedule.id, fire_time, len(events), now)
                uow.schedules.finish_run(schedule, now)
                uow.record(*events)
        except AlreadyFired:
            log.info("alert run %s already happened; duplicate dropped", run_id)
            return None
        log.info("alert run %s: %d member digest(s)", run_id, len(events))
        return RunResult(run_id, len(events))
