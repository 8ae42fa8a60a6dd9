"""Per-project task counters by status: which counter a task write moves, and how the stored
counters add up to a summary. Pure code; the adapters store the counters and the services
apply each write's change in the transaction of the write (services/tasks.py).

A task counts in one bucket: its project and its status. A write moves the task from the
bucket it was in (nothing for a creation) to the one it is in now (nothing for a deletion);
a write that changes neither the project nor the status moves no counter at all."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tasktracker.domain.tasks import Status, Task

# project id -> status -> how much its counter changes (never a zero entry)
CountChange = dict[str, dict[Status, int]]
# by status, plus "total": what the summary routes show
TaskCounts = dict[str, int]


@dataclass(frozen=True, slots=True)
class Bucket:
    """Where a task counts."""

    project_id: str
    status: Status


def bucket(task: Task | None) -> Bucket | None:
    """The bucket `task` counts in (None for no task: before a creation, after a deletion)."""
    return None if task is None else Bucket(task.project_id, Status(task.status))


def count_change(before: Bucket | None, after: Bucket | None) -> CountChange:
    """What moving one task from `before` to `after` does to the counters."""
    if before == after:
        return {}
    change: CountChange = {}
    if before is not None:
        _add(change, before, -1)
    if after is not None:
        _add(change, after, +1)
    return change


def combined(*changes: CountChange) -> CountChange:
    """Several changes as one (e.g. a completion and the next occurrence it creates)."""
    total: CountChange = {}
    for change in changes:
        for project_id, by_status in change.items():
            for status, n in by_status.items():
                _add(total, Bucket(project_id, status), n)
    return total


def _add(change: CountChange, where: Bucket, n: int) -> None:
    by_status = change.setdefault(where.project_id, {})
    by_status[where.status] = by_status.get(where.status, 0) + n
    if by_status[where.status] == 0:
        del by_status[where.status]
    if not by_status:
        del change[where.project_id]


def counts_of(tasks: Iterable[Task]) -> CountChange:
    """The counters of these tasks, built from nothing (a backfill, a bulk insert)."""
    return combined(*(count_change(None, bucket(t)) for t in tasks))


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
