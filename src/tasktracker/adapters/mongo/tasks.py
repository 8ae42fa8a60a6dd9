"""The tasks collection: repository mapping documents to domain Tasks (writes go through here)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.client_session import ClientSession
from pymongo.database import Database

from tasktracker.adapters.mongo.ids import in_chunks, object_id_or_none
from tasktracker.domain.reminders import Reminder
from tasktracker.domain.tasks import Task


def task_from_doc(doc: dict[str, Any]) -> Task:
    """The task a document stores (`Task.restore` drops `_id` and the sort keys)."""
    reminders = [reminder_from_doc(r) for r in doc.get("reminders") or ()]
    return Task.restore({**doc, "id": str(doc["_id"]), "reminders": reminders})


def reminder_to_doc(reminder: Reminder) -> dict[str, Any]:
    if reminder.before_due is not None:
        return {"before_due_seconds": reminder.before_due.total_seconds()}
    return {"at": reminder.at}


def reminder_from_doc(doc: dict[str, Any]) -> Reminder:
    if "before_due_seconds" in doc:
        return Reminder(before_due=timedelta(seconds=doc["before_due_seconds"]))
    return Reminder(at=doc["at"])


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
    values = task.values()
    del values["id"]
    values["reminders"] = [reminder_to_doc(r) for r in task.reminders]
    return {**sort_keys(task), **values}


class TaskRepository:
    """Tasks, written inside the transaction of `session` when one is given."""

    def __init__(self, db: Database, session: ClientSession | None = None) -> None:
        self._tasks = db.tasks
        self._session = session

    def add(self, task: Task) -> Task:
        """Insert `task`, giving it an id unless it has one (a retried transaction inserts the
        task the first attempt rolled back, with the same id)."""
        oid = ObjectId(task.id) if task.id else ObjectId()
        task.id = str(oid)
        self._tasks.insert_one({"_id": oid, **task_to_doc(task)}, session=self._session)
        return task

    def get(self, task_id: str) -> Task | None:
        oid = object_id_or_none(task_id)
        doc = self._tasks.find_one({"_id": oid}, session=self._session) if oid else None
        return task_from_doc(doc) if doc else None

    def get_many(self, task_ids: Iterable[str]) -> list[Task]:
        oids = [oid for oid in map(object_id_or_none, task_ids) if oid is not None]
        return [
            task_from_doc(doc)
            for chunk in in_chunks(oids)
            for doc in self._tasks.find({"_id": {"$in": chunk}}, session=self._session)
        ]

    def by_key(self, key: str) -> Task | None:
        doc = self._tasks.find_one({"key": key}, session=self._session) or self._tasks.find_one(
            {"former_keys": key}, session=self._session
        )
        return task_from_doc(doc) if doc else None

    def replace_if_version(self, task: Task, expected_version: int) -> bool:
        """Store `task` only if nobody changed it since `expected_version` (optimistic lock)."""
        result = self._tasks.replace_one(
            {"_id": ObjectId(task.id), "version": expected_version},
            task_to_doc(task),
            session=self._session,
        )
        return result.modified_count == 1

    def delete_if_version(self, task_id: str, expected_version: int) -> bool:
        result = self._tasks.delete_one(
            {"_id": ObjectId(task_id), "version": expected_version}, session=self._session
        )
        return result.deleted_count == 1

    def delete_in_project(self, project_id: str) -> int:
        result = self._tasks.delete_many({"project_id": project_id}, session=self._session)
        return result.deleted_count
