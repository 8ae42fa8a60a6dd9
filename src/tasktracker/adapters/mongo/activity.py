"""The activity collection: one entry per change to a task or its comments, read newest first per
task or per project. A deleted task's entries stay (the project feed keeps showing them)."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.client_session import ClientSession
from pymongo.database import Database

from tasktracker.adapters.mongo.cursors import TimeOrder, find_page
from tasktracker.domain.activity import ActivityEntry, FieldChange, Verb
from tasktracker.domain.queries import Page

ACTIVITY_INDEXES = [
    IndexModel([("task_id", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="task_at"),
    IndexModel(
        [("project_id", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="project_at"
    ),
    IndexModel([("comment_id", ASCENDING)], name="comment"),  # redact_comment
]

NEWEST_FIRST = TimeOrder("at", descending=True, scope="activity")


def entry_to_doc(entry: ActivityEntry) -> dict[str, Any]:
    return {
        "task_id": entry.task_id,
        "project_id": entry.project_id,
        "actor": entry.actor,
        "verb": str(entry.verb),
        "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in entry.changes],
        "at": entry.at,
        "request_id": entry.request_id,
        "comment_id": entry.comment_id,
    }


def entry_from_doc(doc: dict[str, Any]) -> ActivityEntry:
    return ActivityEntry(
        id=str(doc["_id"]),
        task_id=doc["task_id"],
        project_id=doc["project_id"],
        actor=doc["actor"],
        verb=Verb(doc["verb"]),
        at=doc["at"],
        changes=[FieldChange(c["field"], c.get("old"), c.get("new")) for c in doc["changes"]],
        request_id=doc.get("request_id"),
        comment_id=doc.get("comment_id"),
    )


def feed_scope(task_id: str | None, project_id: str | None) -> dict[str, str]:
    """The one task's or the one project's entries; exactly one of the two must be given."""
    if (task_id is None) == (project_id is None):
        raise ValueError("give exactly one of task_id and project_id")
    return {"task_id": task_id} if task_id is not None else {"project_id": str(project_id)}


def page_queries(
    cursor: str | None, *, task_id: str | None = None, project_id: str | None = None
) -> list[dict[str, Any]]:
    """The queries of one page of a feed (exposed so tests can `explain()` them)."""
    return NEWEST_FIRST.page_filters(feed_scope(task_id, project_id), cursor)


class ActivityRepository:
    """Activity entries, written inside the transaction of `session` when one is given."""

    def __init__(self, db: Database, session: ClientSession | None = None) -> None:
        self._activity = db.activity
        self._session = session

    def add(self, *entries: ActivityEntry) -> None:
        if not entries:
            return
        oids = [ObjectId() for _ in entries]
        docs = [{"_id": oid, **entry_to_doc(e)} for oid, e in zip(oids, entries, strict=True)]
        self._activity.insert_many(docs, session=self._session)
        for oid, entry in zip(oids, entries, strict=True):
            entry.id = str(oid)

    def page(
        self,
        *,
        task_id: str | None = None,
        project_id: str | None = None,
        cursor: str | None,
        limit: int,
    ) -> Page[ActivityEntry]:
        scope = feed_scope(task_id, project_id)
        docs, next_cursor = find_page(
            self._activity, NEWEST_FIRST, scope, cursor, limit, self._session
        )
        return Page([entry_from_doc(d) for d in docs], next_cursor)

    def redact_comment(self, comment_id: str) -> None:
        self._activity.update_many(
            {"comment_id": comment_id},
            {"$set": {"changes.$[].old": None, "changes.$[].new": None}},
            session=self._session,
        )

    def delete_in_project(self, project_id: str) -> int:
        result = self._activity.delete_many({"project_id": project_id}, session=self._session)
        return result.deleted_count
