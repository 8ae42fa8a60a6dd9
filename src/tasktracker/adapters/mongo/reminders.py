"""The `reminders` collection: a task's reminders as the scheduler fires them, one document per
task and position (`_id` "<task id>:<position>"), written in the task change's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DeleteMany, IndexModel, ReplaceOne
from pymongo.client_session import ClientSession
from pymongo.database import Database

from tasktracker.adapters.mongo.ids import in_chunks
from tasktracker.domain.reminders import ScheduledReminder

REMINDER_INDEXES = [
    # the due query: unfired (`fired_at: null`) with `remind_at` up to now, earliest first
    IndexModel([("fired_at", ASCENDING), ("remind_at", ASCENDING)], name="due"),
    IndexModel([("task_id", ASCENDING)], name="task"),
    IndexModel([("project_id", ASCENDING)], name="project"),
]


def reminder_to_doc(reminder: ScheduledReminder) -> dict[str, Any]:
    return {
        "_id": reminder.id,
        "task_id": reminder.task_id,
        "project_id": reminder.project_id,
        "position": reminder.position,
        "remind_at": reminder.remind_at,
        "fired_at": reminder.fired_at,
    }


def reminder_from_doc(doc: dict[str, Any]) -> ScheduledReminder:
    return ScheduledReminder(
        task_id=doc["task_id"],
        project_id=doc["project_id"],
        position=doc["position"],
        remind_at=doc["remind_at"],
        fired_at=doc.get("fired_at"),
    )


class ReminderRepository:
    """Scheduled reminders, written inside the transaction of `session` when one is given."""

    def __init__(self, db: Database, session: ClientSession | None = None) -> None:
        self._reminders = db.reminders
        self._session = session

    def for_task(self, task_id: str) -> list[ScheduledReminder]:
        docs = self._reminders.find({"task_id": task_id}, session=self._session)
        return [reminder_from_doc(d) for d in docs]

    def replace_for_task(self, task_id: str, schedule: list[ScheduledReminder]) -> None:
        keep = [r.id for r in schedule]
        ops: list[Any] = [DeleteMany({"task_id": task_id, "_id": {"$nin": keep}})]
        ops += [ReplaceOne({"_id": r.id}, reminder_to_doc(r), upsert=True) for r in schedule]
        self._reminders.bulk_write(ops, ordered=True, session=self._session)

    def delete_for_task(self, task_id: str) -> int:
        return self._reminders.delete_many(
            {"task_id": task_id}, session=self._session
        ).deleted_count

    def delete_in_project(self, project_id: str) -> int:
        result = self._reminders.delete_many({"project_id": project_id}, session=self._session)
        return result.deleted_count

    def due(self, now: datetime, limit: int) -> list[ScheduledReminder]:
        docs = (
            self._reminders.find(
                {"fired_at": None, "remind_at": {"$lte": now}}, session=self._session
            )
            .sort("remind_at", ASCENDING)
            .limit(limit)
        )
        return [reminder_from_doc(d) for d in docs]

    def unfired(self, reminder_ids: list[str]) -> list[ScheduledReminder]:
        return [
            reminder_from_doc(doc)
            for chunk in in_chunks(reminder_ids)
            for doc in self._reminders.find(
                {"_id": {"$in": chunk}, "fired_at": None}, session=self._session
            )
        ]

    def mark_fired(self, reminder_ids: list[str], now: datetime) -> int:
        return sum(
            self._reminders.update_many(
                {"_id": {"$in": chunk}, "fired_at": None},
                {"$set": {"fired_at": now}},
                session=self._session,
            ).modified_count
            for chunk in in_chunks(reminder_ids)
        )
