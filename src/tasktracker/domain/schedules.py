"""Alert schedules and digests: what fires when, and what a member's digest holds.

A schedule is `once` (at `run_at`), `now` (at creation) or `daily` (a local wall-clock time in an
IANA zone). Every firing has a deterministic run id, so a firing repeated by a second scheduler,
a takeover or a retry is recognised and dropped; each member's event id derives from the run id.
"""

from __future__ import annotations

import heapq
import re
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from operator import attrgetter
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.time_zones import time_zone

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
            return DailyTrigger(
                hour=hour, minute=minute, timezone=time_zone(self.timezone or "UTC")
            )
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
            local = fire_time.astimezone(time_zone(self.timezone or "UTC"))
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
        time_zone(tz_name)
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


# The due date that stands in for "none" in a digest sort key (undated tasks sort last anyway).
NO_DUE_DATE = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DigestTask:
    id: str
    title: str
    status: str
    priority: str
    due_date: datetime | None
    overdue: bool
    due_soon: bool
    key: str = ""  # "OPS-42"
    project_id: str = ""
    project_key: str = ""
    project_name: str = ""
    # Breaks ties between equal due dates (the task's creation sort key); not in the payload.
    created_key: str = field(default="", compare=False, repr=False)

    @property
    def sort_key(self) -> tuple[bool, datetime, str]:
        """Digest order: by due date (overdue and due-soon tasks come first by nature), then
        age; undated tasks last."""
        return (self.due_date is None, self.due_date or NO_DUE_DATE, self.created_key)

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "title": self.title,
            "status": self.status,
            "priority": self.priority,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "overdue": self.overdue,
            "due_soon": self.due_soon,
            "project_id": self.project_id,
            "project_key": self.project_key,
            "project_name": self.project_name,
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


@dataclass(frozen=True, slots=True)
class DigestGroup:
    """Part of one member's pending tasks: those of one project, dated or undated (a row of
    the digest aggregation). Counts cover every task of the part; `tasks` holds its first
    `cap` in digest order, which is enough to list the first `cap` of any merge of parts."""

    user_id: str
    project_id: str
    total: int
    overdue: int
    due_soon: int
    tasks: list[DigestTask] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Recipient:
    """An active member a digest may be mailed to."""

    username: str
    email: str


def merge_digests(
    groups: Iterable[DigestGroup],
    recipients: Mapping[str, Recipient],
    memberships: Collection[tuple[str, str]],
    cap: int,
) -> list[MemberDigest]:
    """One digest per active member (in user id order) from the parts of their pending tasks.

    A part of a project the member does not belong to (`memberships` holds the (project id,
    user id) pairs that exist) is dropped whole: its tasks are neither listed nor counted. So
    is every part of a member who is not among `recipients` (unknown or inactive). The rest
    are summed, and their tasks merged in digest order and cut at `cap`."""
    parts: dict[str, list[DigestGroup]] = {}
    for group in groups:
        if group.user_id in recipients and (group.project_id, group.user_id) in memberships:
            parts.setdefault(group.user_id, []).append(group)
    digests = []
    for user_id in sorted(parts):
        mine = parts[user_id]
        tasks = heapq.nsmallest(
            max(cap, 0), (t for g in mine for t in g.tasks), key=attrgetter("sort_key")
        )
        recipient = recipients[user_id]
        digests.append(
            MemberDigest(
                user_id=user_id,
                username=recipient.username,
                email=recipient.email,
                total=sum(g.total for g in mine),
                overdue=sum(g.overdue for g in mine),
                due_soon=sum(g.due_soon for g in mine),
                tasks=tasks,
            )
        )
    return digests
