"""Per-project task counters: which counters a task write moves, and how the stored counters
add up to a summary. Pure code; the adapters store the counters and the services apply each
write's change in the transaction of the write (services/tasks.py).

A task counts in its project's counter of its status and, while it is open (not done) and has
a due date, in its project's counters of the UTC month, day and hour it is due,
`month.<YYYY-MM>`, `due.<YYYY-MM-DD>` and `hour.<YYYY-MM-DDTHH>`: its counter fields. A write
takes one from each field the task counted in before (none for a creation) and adds one to each
it counts in now (none for a deletion), so a write that changes neither the project, nor the
status, nor the due hour of an open task moves no counter at all.

The summary's overdue count is then the due-month counts of the months before this one (UTC),
plus the due-day counts of this month's days before today, plus the due-hour counts of today's
hours before the current one, plus the open tasks due earlier in the current hour: a count of
one hour's tasks at most (services/task_queries.py), and a read of counters that do not grow
with the tasks (the adapter reads only this month's days and today's hours)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from tasktracker.domain.tasks import Status, Task

K = TypeVar("K", date, datetime)

# project id -> counter field (a status, "month.<YYYY-MM>", "due.<YYYY-MM-DD>" or
# "hour.<YYYY-MM-DDTHH>") -> how much it changes (never a zero entry)
CountChange = dict[str, dict[str, int]]
# by status, plus "total": what the summary routes show
TaskCounts = dict[str, int]
# UTC day (or the first day of a UTC month) -> how many open tasks are due that day (month)
# (never a zero entry)
DueCounts = dict[date, int]
# UTC hour (its start) -> how many open tasks are due within it (never a zero entry)
HourCounts = dict[datetime, int]

# The due-day counters' fields are DUE + "." + the day; stored, they are one sub-document `due`
# with a number per day (MongoDB's dotted path), in counter documents of their own. Likewise
# the due-month counters (MONTH, "YYYY-MM") and the due-hour counters (HOUR, HOUR_FORMAT).
MONTH = "month"
DUE = "due"
HOUR = "hour"
HOUR_FORMAT = "%Y-%m-%dT%H"


def month_field(day: date) -> str:
    return f"{MONTH}.{day.isoformat()[:7]}"


def due_field(day: date) -> str:
    return f"{DUE}.{day.isoformat()}"


def hour_field(hour: datetime) -> str:
    return f"{HOUR}.{utc_hour(hour).strftime(HOUR_FORMAT)}"


def parse_month(text: str) -> date:
    """The month named "YYYY-MM", as its first day."""
    return date.fromisoformat(f"{text}-01")


def utc_hour(moment: datetime) -> datetime:
    """The start of `moment`'s UTC hour, in UTC (a naive one is taken as UTC)."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.replace(minute=0, second=0, microsecond=0)


def parse_hour(text: str) -> datetime:
    """The hour named "YYYY-MM-DDTHH" (HOUR_FORMAT), as its start in UTC."""
    return datetime.fromisoformat(f"{text}:00+00:00")


@dataclass(frozen=True, slots=True)
class Bucket:
    """Where a task counts: its project, its status, and the UTC hour it is due (None: no due
    date), which (with its day) counts only while the task is open."""

    project_id: str
    status: Status
    due_hour: datetime | None = None

    @classmethod
    def of(cls, project_id: str, status: Status | str, due_date: datetime | None) -> Bucket:
        return cls(project_id, Status(status), None if due_date is None else utc_hour(due_date))

    @property
    def due_day(self) -> date | None:
        return None if self.due_hour is None else self.due_hour.date()

    def fields(self) -> tuple[str, ...]:
        """The counter fields the task counts in."""
        if self.due_hour is None or self.status is Status.DONE:
            return (str(self.status),)
        day = self.due_hour.date()
        return (str(self.status), month_field(day), due_field(day), hour_field(self.due_hour))


def bucket(task: Task | None) -> Bucket | None:
    """The bucket `task` counts in (None for no task: before a creation, after a deletion)."""
    return None if task is None else Bucket.of(task.project_id, task.status, task.due_date)


def count_change(before: Bucket | None, after: Bucket | None) -> CountChange:
    """What moving one task from `before` to `after` does to the counters: one less in each
    field of `before`, one more in each of `after`; fields in both are left alone."""
    change: CountChange = {}
    if before is not None:
        for name in before.fields():
            _add(change, before.project_id, name, -1)
    if after is not None:
        for name in after.fields():
            _add(change, after.project_id, name, +1)
    return change


def combined(*changes: CountChange) -> CountChange:
    """Several changes as one (e.g. a completion and the next occurrence it creates)."""
    total: CountChange = {}
    for change in changes:
        for project_id, by_field in change.items():
            for name, n in by_field.items():
                _add(total, project_id, name, n)
    return total


def _add(change: CountChange, project_id: str, name: str, n: int) -> None:
    by_field = change.setdefault(project_id, {})
    by_field[name] = by_field.get(name, 0) + n
    if by_field[name] == 0:
        del by_field[name]
    if not by_field:
        del change[project_id]


def counts_of(buckets: Iterable[Bucket | None]) -> CountChange:
    """The counters of tasks counting in these buckets, built from nothing (a backfill, a bulk
    insert)."""
    total: CountChange = {}
    for where in buckets:
        if where is not None:
            for name in where.fields():
                _add(total, where.project_id, name, +1)
    return total


def empty_counts() -> TaskCounts:
    return {**{str(s): 0 for s in Status}, "total": 0}


def summed(rows: Iterable[Mapping[str, Any]]) -> TaskCounts:
    """Stored counter documents (any number per project, each with a number per status, a
    missing one being 0) added up into counts by status and the total."""
    counts = empty_counts()
    for row in rows:
        for status in Status:
            counts[str(status)] += int(row.get(str(status)) or 0)
    counts["total"] = sum(counts[str(s)] for s in Status)
    return counts


def _summed_by(
    rows: Iterable[Mapping[str, Any]], name: str, parse: Callable[[str], K]
) -> dict[K, int]:
    """Stored counter documents' sub-document `name` (a number per period, a missing one being
    0) added up by period (`parse`d); periods adding up to 0 are left out."""
    total: dict[K, int] = {}
    for row in rows:
        for text, n in (row.get(name) or {}).items():
            key = parse(text)
            total[key] = total.get(key, 0) + int(n or 0)
    return {key: n for key, n in total.items() if n}


def months_summed(rows: Iterable[Mapping[str, Any]]) -> DueCounts:
    """The due-month counters ("YYYY-MM") added up by month (its first day)."""
    return _summed_by(rows, MONTH, parse_month)


def due_summed(rows: Iterable[Mapping[str, Any]]) -> DueCounts:
    """The due-day counters ("YYYY-MM-DD") added up by day."""
    return _summed_by(rows, DUE, date.fromisoformat)


def hours_summed(rows: Iterable[Mapping[str, Any]]) -> HourCounts:
    """The due-hour counters ("YYYY-MM-DDTHH") added up by hour (its start)."""
    return _summed_by(rows, HOUR, parse_hour)


@dataclass(frozen=True, slots=True)
class CounterSums:
    """What a read of counter documents adds up to: counts by status (with the total), and
    open tasks by due month, by due day and by due hour (of those read: every month, this
    month's days, today's hours)."""

    counts: TaskCounts
    months: DueCounts
    due: DueCounts
    hours: HourCounts

    @classmethod
    def of(cls, rows: Iterable[Mapping[str, Any]]) -> CounterSums:
        rows = list(rows)
        return cls(summed(rows), months_summed(rows), due_summed(rows), hours_summed(rows))

    def overdue_before(self, hour: datetime) -> int:
        """Open tasks due before `hour` (the start of an hour): in the months before its month,
        in its month's days before its day, and in its day's hours before it."""
        start = utc_hour(hour)
        day = start.date()
        month = day.replace(day=1)
        return (
            sum(n for m, n in self.months.items() if m < month)
            + sum(n for d, n in self.due.items() if d.replace(day=1) == month and d < day)
            + sum(n for h, n in self.hours.items() if h.date() == day and h < start)
        )
