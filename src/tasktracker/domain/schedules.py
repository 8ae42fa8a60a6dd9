"""Alert schedules and digests: what fires when, and what a member's digest holds.

A schedule is `once` (at `run_at`), `now` (at creation) or `daily` (a local wall-clock time in an
IANA zone). Every firing has a deterministic run id, so a firing repeated by a second scheduler,
a takeover or a retry is recognised and dropped; each member's event id derives from the run id.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from tasktracker.domain.errors import InvalidInput

DAILY_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
ALERT_EVENT_NAMESPACE = uuid.UUID("5b0f1f4e-6f57-4d7a-9a53-3f1c2a0d7e21")
# How far back `due_fire_time` looks for a daily firing that a scheduler is catching up on.
DAILY_LOOKBACK = timedelta(days=2)
# A job may start a moment before the clock the service reads (millisecond rounding).
FIRE_TOLERANCE = timedelta(seconds=1)
DEFAULT_DIGEST_ID = "daily-digest"


class AlreadyFired(Exception):
    """This run id was recorded before: the firing is a duplicate."""


class ScheduleKind(StrEnum):
    ONCE = "once"
    DAILY = "daily"
    NOW = "now"


class DailyTrigger(CronTrigger):
    """A CronTrigger at one local time a day that fires once a day across DST changes.

    On the spring-forward day a time in the gap fires once, just after the jump (APScheduler's
    behaviour). On the fall-back day CronTrigger would fire at both occurrences of a repeated
    wall-clock time; the second one is skipped.
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        nxt = super().get_next_fire_time(previous_fire_time, now)
        while nxt is not None and self._repeat(nxt, previous_fire_time):
            nxt = super().get_next_fire_time(nxt, nxt)
        return nxt

    def _repeat(self, fire: datetime, previous: datetime | None) -> bool:
        local = fire.astimezone(self.timezone)
        if previous is not None and previous.astimezone(self.timezone).date() == local.date():
            return True
        first = local.replace(fold=0)
        return first.utcoffset() != local.utcoffset() and first.astimezone(UTC) < fire


def parse_daily_time(text: str) -> tuple[int, int]:
    match = DAILY_TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        raise InvalidInput("time must be a wall-clock time 'HH:MM' between 00:00 and 23:59")
    return int(match.group(1)), int(match.group(2))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone '{name}'; use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from None


@dataclass(frozen=True, slots=True)
class Schedule:
    id: str
    kind: ScheduleKind
    created_at: datetime
    run_at: datetime | None = None  # once / now, in UTC
    time: str | None = None  # daily: "HH:MM"
    timezone: str | None = None  # daily: an IANA zone
    created_by: str | None = None
    builtin: bool = False
    last_run_at: datetime | None = None

    @property
    def one_off(self) -> bool:
        return self.kind is not ScheduleKind.DAILY

    def trigger(self) -> BaseTrigger:
        if self.kind is ScheduleKind.DAILY:
            hour, minute = parse_daily_time(self.time or "")
            return DailyTrigger(hour=hour, minute=minute, timezone=zone(self.timezone or "UTC"))
        return DateTrigger(run_date=self.run_at, timezone=UTC)

    def next_run_time(self, now: datetime) -> datetime | None:
        if self.one_off:
            return self.run_at
        return self.trigger().get_next_fire_time(None, now)

    def due_fire_time(self, now: datetime) -> datetime | None:
        """The latest fire time at or before `now` (the firing a job that runs now is for)."""
        now = now + FIRE_TOLERANCE
        if self.one_off:
            return self.run_at if self.run_at and self.run_at <= now else None
        trigger = self.trigger()
        latest = None
        fire = trigger.get_next_fire_time(None, max(now - DAILY_LOOKBACK, self.created_at))
        while fire is not None and fire <= now:
            latest = fire
            fire = trigger.get_next_fire_time(fire, fire)
        return latest

    def run_id(self, fire_time: datetime) -> str:
        """One id per firing: a daily schedule fires at most once per local date."""
        if self.kind is ScheduleKind.DAILY:
            local = fire_time.astimezone(zone(self.timezone or "UTC"))
            return f"{self.id}@{local.date().isoformat()}"
        return f"{self.id}@{fire_time.astimezone(UTC).isoformat(timespec='milliseconds')}"

    def describe_trigger(self) -> str:
        """The legacy `trigger` text: APScheduler's, plus the zone of a daily schedule."""
        if self.kind is ScheduleKind.DAILY:
            return f"{self.trigger()} {self.timezone}"
        return str(self.trigger())


def new_schedule(
    kind: ScheduleKind,
    now: datetime,
    *,
    run_at: datetime | None = None,
    time: str | None = None,
    timezone: str | None = None,
    created_by: str | None = None,
    schedule_id: str | None = None,
    builtin: bool = False,
) -> Schedule:
    """A validated schedule; InvalidInput names what is wrong."""
    sid = schedule_id or uuid.uuid4().hex
    if kind is ScheduleKind.DAILY:
        if run_at is not None:
            raise InvalidInput("a daily schedule takes 'time' and 'timezone', not 'run_at'")
        if time is None:
            raise InvalidInput("a daily schedule needs 'time' ('HH:MM')")
        hour, minute = parse_daily_time(time)
        tz_name = "UTC" if timezone is None else timezone
        zone(tz_name)
        return Schedule(
            sid,
            kind,
            now,
            time=f"{hour:02d}:{minute:02d}",
            timezone=tz_name,
            created_by=created_by,
            builtin=builtin,
        )
    if time is not None or timezone is not None:
        raise InvalidInput(f"a '{kind}' schedule takes no 'time' or 'timezone'")
    if kind is ScheduleKind.NOW:
        if run_at is not None:
            raise InvalidInput("a 'now' schedule takes no 'run_at'")
        return Schedule(sid, kind, now, run_at=now, created_by=created_by)
    if run_at is None:
        raise InvalidInput("a 'once' schedule needs 'run_at'")
    if run_at <= now:
        raise InvalidInput("run_at must be in the future")
    return Schedule(sid, kind, now, run_at=run_at, created_by=created_by)


def alert_event_id(run_id: str, user_id: str) -> str:
    """The same (run, member) always yields the same event id: a duplicate is dropped by the
    agent's per-event idempotency."""
    return uuid.uuid5(ALERT_EVENT_NAMESPACE, f"{run_id}/{user_id}").hex


# --- digests -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestTask:
    id: str
    title: str
    status: str
    priority: str
    due_date: datetime | None
    overdue: bool
    due_soon: bool

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "priority": self.priority,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "overdue": self.overdue,
            "due_soon": self.due_soon,
        }


@dataclass(frozen=True, slots=True)
class MemberDigest:
    """One member's pending tasks: counts over all of them, the first `cap` listed (overdue
    first, then due soon, then the rest)."""

    user_id: str
    username: str
    email: str
    total: int
    overdue: int
    due_soon: int
    tasks: list[DigestTask] = field(default_factory=list)

    def to_payload(self, run_id: str) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "username": self.username,
            "email": self.email,
            "run_id": run_id,
            "counts": {"total": self.total, "overdue": self.overdue, "due_soon": self.due_soon},
            "tasks": [t.to_payload() for t in self.tasks],
            "more": max(self.total - len(self.tasks), 0),
        }
