"""Read-only task queries that shape lists and summaries for the API (no writes here).

Lists use keyset pagination over an index: the cursor carries the last item's sort value and id,
so page N costs the same as page 1 however many tasks there are.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from tasktracker.adapters.mongo.connection import object_id_or_none
from tasktracker.adapters.mongo.tasks import task_from_doc
from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.tasks import Priority, Status, Task

# API sort key -> stored field
SORT_FIELDS = {
    "created_at": "created_at",
    "updated_at": "updated_at",
    "due_date": "due_date",
    "priority": "priority_rank",
}
OPEN_STATUSES = [str(Status.OPEN), str(Status.IN_PROGRESS)]


@dataclass(frozen=True, slots=True)
class TaskFilter:
    status: tuple[Status, ...] = ()
    priority: tuple[Priority, ...] = ()
    assignee: str | None = None
    overdue: bool | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    q: str | None = None


@dataclass(frozen=True, slots=True)
class Sort:
    key: str = "created_at"
    descending: bool = True

    @classmethod
    def parse(cls, text: str) -> Sort:
        descending = text.startswith("-")
        key = text.removeprefix("-")
        if key not in SORT_FIELDS:
            raise InvalidInput(f"cannot sort by '{key}'; use one of: {', '.join(SORT_FIELDS)}")
        return cls(key, descending)

    @property
    def field(self) -> str:
        return SORT_FIELDS[self.key]

    def spec(self) -> list[tuple[str, int]]:
        direction = DESCENDING if self.descending else ASCENDING
        return [(self.field, direction), ("_id", direction)]

    def __str__(self) -> str:
        return f"-{self.key}" if self.descending else self.key


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Task]
    next_cursor: str | None


# --- cursor encoding ---------------------------------------------------------------------------


def encode_cursor(sort: Sort, value: Any, last_id: ObjectId) -> str:
    if isinstance(value, datetime):
        tagged: Any = {"d": value.isoformat()}
    else:
        tagged = value
    raw = json.dumps({"s": str(sort), "v": tagged, "id": str(last_id)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: Sort) -> tuple[Any, ObjectId]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        value = data["v"]
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["d"])
        oid = object_id_or_none(data["id"]) if isinstance(data["id"], str) else None
        same_sort = data["s"] == str(sort)
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("the cursor is malformed; start again without it") from None
    if oid is None or not same_sort:
        raise InvalidInput("the cursor does not belong to this sort order") from None
    return value, oid


def after_cursor(sort: Sort, value: Any, last_id: ObjectId) -> dict[str, Any]:
    """Keyset condition for the items after (value, last_id) in `sort` order.

    MongoDB orders null before any value, so ascending pages start with tasks without the field
    and descending pages end with them.
    """
    field = sort.field
    if not sort.descending:
        if value is None:
            return {"$or": [{field: None, "_id": {"$gt": last_id}}, {field: {"$ne": None}}]}
        return {"$or": [{field: {"$gt": value}}, {field: value, "_id": {"$gt": last_id}}]}
    if value is None:
        return {field: None, "_id": {"$lt": last_id}}
    return {
        "$or": [{field: {"$lt": value}}, {field: value, "_id": {"$lt": last_id}}, {field: None}]
    }


# --- filters -----------------------------------------------------------------------------------


def filter_query(flt: TaskFilter, now: datetime) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = []
    if flt.status:
        clauses.append({"status": _one_or_in([str(s) for s in flt.status])})
    if flt.priority:
        clauses.append({"priority": _one_or_in([str(p) for p in flt.priority])})
    if flt.assignee is not None:
        clauses.append({"assignee": flt.assignee})
    if flt.overdue is True:
        clauses.append({"status": {"$in": OPEN_STATUSES}, "due_date": {"$lt": now}})
    elif flt.overdue is False:
        clauses.append(
            {"$or": [{"status": str(Status.DONE)}, {"due_date": None}, {"due_date": {"$gte": now}}]}
        )
    due: dict[str, datetime] = {}
    if flt.due_before:
        due["$lt"] = flt.due_before
    if flt.due_after:
        due["$gte"] = flt.due_after
    if due:
        clauses.append({"due_date": due})
    if flt.q:
        clauses.append({"title": {"$regex": re.escape(flt.q), "$options": "i"}})
    return _and(clauses)


def _one_or_in(values: list[str]) -> Any:
    return values[0] if len(values) == 1 else {"$in": values}


def _and(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    if not clauses:
        return {}
    if len(clauses) == 1:
        return clauses[0]
    return {"$and": clauses}


def list_query(flt: TaskFilter, sort: Sort, cursor: str | None, now: datetime) -> dict[str, Any]:
    """The MongoDB filter for one page (exposed so tests can `explain()` it)."""
    query = filter_query(flt, now)
    if cursor:
        value, last_id = decode_cursor(cursor, sort)
        query = _and([c for c in (query, after_cursor(sort, value, last_id)) if c])
    return query


class TaskQueries:
    def __init__(self, db: Database) -> None:
        self._tasks = db.tasks

    def page(
        self, flt: TaskFilter, sort: Sort, cursor: str | None, limit: int, now: datetime
    ) -> Page:
        query = list_query(flt, sort, cursor, now)
        docs = list(self._tasks.find(query).sort(sort.spec()).limit(limit + 1))
        more = len(docs) > limit
        docs = docs[:limit]
        next_cursor = None
        if more and docs:
            last = docs[-1]
            next_cursor = encode_cursor(sort, last.get(sort.field), last["_id"])
        return Page([task_from_doc(d) for d in docs], next_cursor)

    def newest(self, limit: int, assignee: str | None = None) -> list[Task]:
        query = {"assignee": assignee} if assignee else {}
        cursor = self._tasks.find(query).sort(Sort().spec()).limit(limit)
        return [task_from_doc(d) for d in cursor]

    def summary(self, now: datetime) -> dict[str, int]:
        """Counts by status plus overdue; each count is served by the `status_due` index."""
        counts = {str(s): self._tasks.count_documents({"status": str(s)}) for s in Status}
        counts["total"] = sum(counts.values())
        counts["overdue"] = self._tasks.count_documents(summary_overdue_query(now))
        return counts

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


def summary_overdue_query(now: datetime) -> dict[str, Any]:
    return {"status": {"$in": OPEN_STATUSES}, "due_date": {"$lt": now}}


def empty_counts() -> dict[str, int]:
    return {**{str(s): 0 for s in Status}, "total": 0}
