"""The watchers collection: who chose to watch a task or not. A choice's `_id` is
`<task id>:<user id>`: one per person and task by construction (as a membership's is).

Who watches without choosing (the reporter, the assignee) is worked out in
domain/notifications.effective_watchers; this collection only holds choices.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.client_session import ClientSession
from pymongo.database import Database

WATCHER_INDEXES = [
    IndexModel([("task_id", ASCENDING)], name="task"),
    IndexModel([("project_id", ASCENDING)], name="project"),
]


def watcher_id(task_id: str, user_id: str) -> str:
    return f"{task_id}:{user_id}"


class WatcherRepository:
    """Watch choices, written inside the transaction of `session` when one is given."""

    def __init__(self, db: Database, session: ClientSession | None = None) -> None:
        self._watchers = db.watchers
        self._session = session

    def choose(
        self, task_id: str, project_id: str, user_id: str, watching: bool, now: datetime
    ) -> None:
        fields = {"task_id": task_id, "project_id": project_id, "user_id": user_id}
        self._watchers.update_one(
            {"_id": watcher_id(task_id, user_id)},
            {"$set": {**fields, "watching": watching, "at": now}},
            upsert=True,
            session=self._session,
        )

    def add_if_new(
        self, task_id: str, project_id: str, user_ids: Iterable[str], now: datetime
    ) -> None:
        """One upsert per new user that only inserts: an earlier choice, even not to watch,
        stays as it was."""
        writes = [
            UpdateOne(
                {"_id": watcher_id(task_id, user_id)},
                {
                    "$setOnInsert": {
                        "task_id": task_id,
                        "project_id": project_id,
                        "user_id": user_id,
                        "watching": True,
                        "at": now,
                    }
                },
                upsert=True,
            )
            for user_id in dict.fromkeys(user_ids)
        ]
        if writes:
            self._watchers.bulk_write(writes, ordered=False, session=self._session)

    def choices(self, task_id: str) -> dict[str, bool]:
        docs = self._watchers.find(
            {"task_id": task_id}, {"user_id": 1, "watching": 1}, session=self._session
        )
        return {d["user_id"]: bool(d["watching"]) for d in docs}

    def move_task(self, task_id: str, project_id: str) -> None:
        self._watchers.update_many(
            {"task_id": task_id}, {"$set": {"project_id": project_id}}, session=self._session
        )

    def delete_for_task(self, task_id: str) -> int:
        return self._watchers.delete_many({"task_id": task_id}, session=self._session).deleted_count

    def delete_in_project(self, project_id: str) -> int:
        result = self._watchers.delete_many({"project_id": project_id}, session=self._session)
        return result.deleted_count
