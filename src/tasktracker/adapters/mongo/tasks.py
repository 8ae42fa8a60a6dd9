"""The tasks collection: repository mapping documents to domain Tasks (writes go through here)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo.client_session import ClientSession
from pymongo.database import Database

from tasktracker.adapters.mongo.connection import object_id_or_none
from tasktracker.domain.tasks import Priority, Status, Task


def task_from_doc(doc: dict[str, Any]) -> Task:
    return Task(
        id=str(doc["_id"]),
        title=doc["title"],
        description=doc.get("description", ""),
        type=doc.get("type", "task"),
        status=Status(doc["status"]),
        priority=Priority(doc.get("priority", Priority.MEDIUM)),
        estimate_hours=doc.get("estimate_hours"),
        assignee=doc.get("assignee"),
        reporter=doc["reporter"],
        start_date=doc.get("start_date"),
        due_date=doc.get("due_date"),
        completed_at=doc.get("completed_at"),
        labels=list(doc.get("labels", [])),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        version=doc.get("version", 1),
    )


# Each list order has a unique, fixed-width string key: the sort value then the id. Keyset
# pagination is then a single range on one indexed field (`{sk_created: {$lt: last}}`), which
# every planner serves from the index, instead of an `$or` on (value, _id) pairs.
NULL_STAMP = "0" * 20  # sorts before every real date, as MongoDB sorts null before dates
SORT_KEY_PATTERN = re.compile(r"^[0-9]{1,20}[0-9a-f]{24}$")


def stamp(value: datetime | None) -> str:
    if value is None:
        return NULL_STAMP
    value = value.astimezone(UTC)
    return f"{value.year:04d}{value:%m%d%H%M%S%f}"


def sort_keys(task: Task) -> dict[str, str]:
    return {
        "sk_created": stamp(task.created_at) + task.id,
        "sk_updated": stamp(task.updated_at) + task.id,
        "sk_due": stamp(task.due_date) + task.id,
        "sk_priority": f"{task.priority.rank}{task.id}",
    }


def task_to_doc(task: Task) -> dict[str, Any]:
    return {
        **sort_keys(task),
        "title": task.title,
        "description": task.description,
        "type": task.type,
        "status": str(task.status),
        "priority": str(task.priority),
        "estimate_hours": task.estimate_hours,
        "assignee": task.assignee,
        "reporter": task.reporter,
        "start_date": task.start_date,
        "due_date": task.due_date,
        "completed_at": task.completed_at,
        "labels": task.labels,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "version": task.version,
    }


class TaskRepository:
    def __init__(self, db: Database) -> None:
        self._tasks = db.tasks

    def add(self, task: Task, session: ClientSession | None = None) -> Task:
        oid = ObjectId()
        task.id = str(oid)
        self._tasks.insert_one({"_id": oid, **task_to_doc(task)}, session=session)
        return task

    def get(self, task_id: str) -> Task | None:
        oid = object_id_or_none(task_id)
        doc = self._tasks.find_one({"_id": oid}) if oid else None
        return task_from_doc(doc) if doc else None

    def replace_if_version(
        self, task: Task, expected_version: int, session: ClientSession | None = None
    ) -> bool:
        """Store `task` only if nobody changed it since `expected_version` (optimistic lock)."""
        result = self._tasks.replace_one(
            {"_id": ObjectId(task.id), "version": expected_version},
            task_to_doc(task),
            session=session,
        )
        return result.modified_count == 1

    def delete_if_version(self, task_id: str, expected_version: int) -> bool:
        result = self._tasks.delete_one({"_id": ObjectId(task_id), "version": expected_version})
        return result.deleted_count == 1
