"""Read-only task queries that shape lists and summaries for the API (no writes here).

Lists use keyset pagination over an index: the cursor carries the last item's sort value and id,
so page N costs the same as page 1 however many tasks there are.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from tasktracker.adapters.mongo import cursors
from tasktracker.adapters.mongo.task_counts import (
    EARLIEST_DATE,
    OPEN_STATUSES,
    read_counts,
    read_sums,
)
from tasktracker.adapters.mongo.tasks import SORT_KEY_PATTERN, stamp, task_from_doc
from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.queries import Page, Sort, TaskFilter
from tasktracker.domain.task_counts import CounterSums, empty_counts
from tasktracker.domain.tasks import Status, Task

# Sort key (domain/queries.py) -> stored sort-key field (see adapters/mongo/tasks.py sort_keys)
SORT_FIELDS = {
    "created_at": "sk_created",
    "updated_at": "sk_updated",
    "due_date": "sk_due",
    "priority": "sk_priority",
}
# The newest tasks are read in windows of creation time (`newest_windows`): the last minute,
# then 8 minutes, about an hour, 8.5 hours, 2.8 days, 23 days, 6 months, 4 years; then the rest.
NEWEST_FIRST_WINDOW = timedelta(minutes=1)
NEWEST_GROWTH = 8
NEWEST_LAST_WINDOW = timedelta(days=5 * 365)
LOWEST_ID = "0" * 24
# A list slower than this on the embedded server: time to move to MongoDB (README: "Embedded
# server limits").
EMBEDDED_SLOW_LIST = 1.0

log = logging.getLogger(__name__)


class SlowListWarning:
    """Logs one warning per process, the first time a list query takes longer than `after`
    seconds: the embedded server decodes every matching document before applying the limit."""

    def __init__(self, after: float = EMBEDDED_SLOW_LIST) -> None:
        self._after = after
        self._warned = threading.Event()

    @contextlib.contextmanager
    def timing(self) -> Iterator[None]:
        started = time.monotonic()
        yield
        took = time.monotonic() - started
        if took > self._after and not self._warned.is_set():
            self._warned.set()
            log.warning(
                "a task list took %.1f s on the embedded database server, whose lists slow down "
                "as the matching tasks grow; set MONGO_URL to a MongoDB server (README: "
                "Embedded server limits)",
                took,
            )


def sort_field(sort: Sort) -> str:
    return SORT_FIELDS[sort.key]


def sort_spec(sort: Sort) -> list[tuple[str, int]]:
    return [(sort_field(sort), DESCENDING if sort.descending else ASCENDING)]


# --- cursor encoding ---------------------------------------------------------------------------


def encode_cursor(sort: Sort, last_key: str) -> str:
    return cursors.encode(str(sort), last_key)


def decode_cursor(cursor: str, sort: Sort) -> str:
    """The sort key of the last item seen."""
    mismatch = "the cursor does not belong to this sort order"
    last_key = cursors.decode(cursor, str(sort), mismatch=mismatch)
    if not SORT_KEY_PATTERN.fullmatch(last_key):
        raise InvalidInput(cursors.MALFORMED)
    return last_key


def after_cursor(sort: Sort, last_key: str) -> dict[str, Any]:
    """The items after `last_key` in `sort` order: one range on a unique, indexed key."""
    return {sort_field(sort): {"$lt" if sort.descending else "$gt": last_key}}


# --- filters -----------------------------------------------------------------------------------


def filter_query(flt: TaskFilter, now: datetime) -> dict[str, Any]:
    """One flat document (no `$and`), so the planner sees every equality and range at once."""
    query: dict[str, Any] = {}
    statuses = set(flt.status) if flt.status else None
    due: dict[str, datetime] = {}
    if flt.overdue is True:
        statuses = (statuses if statuses is not None else set(Status)) & set(OPEN_STATUSES)
        due["$lt"] = now
    if statuses is not None:
        query["status"] = _one_or_in([str(s) for s in Status if s in statuses])
    if flt.priority:
        query["priority"] = _one_or_in([str(p) for p in flt.priority])
    if flt.assignee is not None:
        query["assignee"] = flt.assignee
    if flt.due_before:
        due["$lt"] = min(due.get("$lt", flt.due_before), flt.due_before)
    if flt.due_after:
        due["$gte"] = flt.due_after
    if due:
        query["due_date"] = due
    if flt.overdue is False:
        query["$or"] = [
            {"status": str(Status.DONE)},
            {"due_date": None},
            {"due_date": {"$gte": now}},
        ]
    if flt.q:
        query["title"] = {"$regex": re.escape(flt.q), "$options": "i"}
    query.update(project_scope(flt.projects))
    return query


def project_scope(projects: tuple[str, ...] | None) -> dict[str, Any]:
    """Only the tasks of `projects` (None: all). Last in the filter: SecantusDB serves a filter
    that no compound index covers through the index of its first indexed clause, and the other
    clauses (assignee, status, ...) are the more selective ones."""
    if projects is None:
        return {}
    return {"project_id": _one_or_in(list(projects))}


def _one_or_in(values: list[str]) -> Any:
    return values[0] if len(values) == 1 else {"$in": values}  # `$in: []` matches nothing


def list_query(flt: TaskFilter, sort: Sort, cursor: str | None, now: datetime) -> dict[str, Any]:
    """The MongoDB filter for one page (exposed so tests can `explain()` it)."""
    query = filter_query(flt, now)
    if cursor:
        query.update(after_cursor(sort, decode_cursor(cursor, sort)))
    return query


class TaskQueries:
    def __init__(self, db: Database, slow_list: SlowListWarning | None = None) -> None:
        """`slow_list`: on the embedded server, warns once when a list is slow."""
        self._db = db
        self._tasks = db.tasks
        self._slow_list = slow_list

    def _timed(self) -> contextlib.AbstractContextManager[None]:
        return self._slow_list.timing() if self._slow_list else contextlib.nullcontext()

    def page(
        self, flt: TaskFilter, sort: Sort, cursor: str | None, limit: int, now: datetime
    ) -> Page[Task]:
        query = list_query(flt, sort, cursor, now)
        with self._timed():
            docs = list(self._tasks.find(query).sort(sort_spec(sort)).limit(limit + 1))
        more = len(docs) > limit
        docs = docs[:limit]
        next_cursor = None
        if more and docs:
            last = docs[-1]
            next_cursor = encode_cursor(sort, last[sort_field(sort)])
        return Page([task_from_doc(d) for d in docs], next_cursor)

    def first(self, flt: TaskFilter, sort: Sort, limit: int, now: datetime) -> list[Task]:
        """The first tasks in `sort` order; the sort-key indexes serve either direction."""
        cursor = self._tasks.find(filter_query(flt, now)).sort(sort_spec(sort)).limit(limit)
        with self._timed():
            docs = list(cursor)
        return [task_from_doc(d) for d in docs]

    def newest(self, flt: TaskFilter, limit: int, now: datetime) -> list[Task]:
        """The `limit` newest tasks, newest first, read window by window (`newest_windows`):
        each read fetches only the tasks created within its window, so the embedded server,
        which decodes every task a query matches before it applies the limit, decodes about as
        many tasks as it returns instead of all that match `flt`."""
        base = filter_query(flt, now)
        found: list[dict[str, Any]] = []
        if limit <= 0:
            return []
        with self._timed():
            for window in newest_windows(now):
                query = {"sk_created": window, **base} if window else base
                want = limit - len(found)
                found += self._tasks.find(query).sort("sk_created", DESCENDING).limit(want)
                if len(found) >= limit:
                    break
        return [task_from_doc(d) for d in found]

    def counts(self, projects: tuple[str, ...] | None) -> dict[str, int]:
        """From the counters (adapters/mongo/task_counts.py): one read of the status documents
        only (no other kind is fetched)."""
        return read_counts(self._db, projects)

    def counter_sums(self, projects: tuple[str, ...] | None, day: date) -> CounterSums:
        """From the counters, with the due-month counts, the due-day counts of `day`'s month
        and the due-hour counts of `day` (`read_sums`)."""
        return read_sums(self._db, projects, day)

    def overdue_since(
        self, since: datetime, now: datetime, projects: tuple[str, ...] | None
    ) -> int:
        """One index range count per open status (`overdue_queries`)."""
        queries = overdue_queries(now, projects, since)
        return sum(self._tasks.count_documents(q) for q in queries)

    def counts_by_assignee(self, user_ids: list[str]) -> dict[str, dict[str, int]]:
        """Per-user task counts by status for the given users, in one aggregation."""
        if not user_ids:
            return {}
        pipeline = [
            {"$match": {"assignee": {"$in": user_ids}}},
            {"$group": {"_id": {"a": "$assignee", "s": "$status"}, "n": {"$sum": 1}}},
        ]
        counts: dict[str, dict[str, int]] = {uid: empty_counts() for uid in user_ids}
        for row in self._tasks.aggregate(pipeline):
            per_user = counts[row["_id"]["a"]]
            per_user[row["_id"]["s"]] = row["n"]
            per_user["total"] += row["n"]
        return counts


def overdue_queries(
    now: datetime, projects: tuple[str, ...] | None, since: datetime = EARLIEST_DATE
) -> list[dict[str, Any]]:
    """The tasks that fell due in [since, now) and are open, one query per open status: an
    equality on the status (and the project) and one due-date range, served by `status_due`
    or, within projects, `project_status_due` (exposed so tests can `explain()` them). Per
    status rather than one `status $in` because SecantusDB serves an equality prefix with ONE
    `$in`/range field from an index, and scans otherwise; MongoDB serves either from the same
    index. The summary starts the range at the start of today (the days before are counters);
    by default it starts at the earliest date: tasks without a due date (null, which sorts
    before every date in an index) are then outside it instead of being fetched only to be
    filtered out."""
    scope = project_scope(projects)
    due = {"$gte": since, "$lt": now}
    return [{"status": status, "due_date": due, **scope} for status in OPEN_STATUSES]


def newest_windows(now: datetime) -> Iterator[dict[str, str]]:
    """Ranges of `sk_created` (creation time, then id) that partition all time, newest first:
    from `now - NEWEST_FIRST_WINDOW` on (with the tasks created later than `now`), then each
    window NEWEST_GROWTH times as long as the one before, back to NEWEST_LAST_WINDOW; then
    everything older (an empty range: the whole filter).

    A bound is a whole sort key (the instant, then the lowest id), not the instant's stamp
    alone: SecantusDB compares a string with one it is a prefix of the wrong way round in a
    descending index (`{k: {$gte: "100"}}` misses "100ab"), and the sort keys are all one
    width."""
    span = NEWEST_FIRST_WINDOW
    upper: str | None = None
    while span <= NEWEST_LAST_WINDOW:
        lower = stamp(now - span) + LOWEST_ID
        yield {"$gte": lower, **({"$lt": upper} if upper else {})}
        upper = lower
        span *= NEWEST_GROWTH
    yield {"$lt": upper} if upper else {}
