"""The comments collection: a task's comments, oldest first, deleted ones kept as tombstones.

The agent reads the newest live comment of a task from here for its letters (`task_id`,
`deleted_at`, `created_at`, `body`): keep those field names.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.client_session import ClientSession
from pymongo.database import Database

from tasktracker.adapters.mongo.cursors import TimeOrder, find_page
from tasktracker.adapters.mongo.ids import object_id_or_none
from tasktracker.domain.comments import Comment
from tasktracker.domain.queries import Page

COMMENT_INDEXES = [
    IndexModel(
        [("task_id", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)],
        name="task_created",
    ),
    IndexModel([("project_id", ASCENDING)], name="project"),
]

OLDEST_FIRST = TimeOrder("created_at", descending=False, scope="comments")


def comment_to_doc(comment: Comment) -> dict[str, Any]:
    return {
        "task_id": comment.task_id,
        "project_id": comment.project_id,
        "author": comment.author,
        "body": comment.body,
        "mentions": list(comment.mentions),
        "created_at": comment.created_at,
        "edited_at": comment.edited_at,
        "deleted_at": comment.deleted_at,
        "version": comment.version,
    }


def comment_from_doc(doc: dict[str, Any]) -> Comment:
    return Comment(
        id=str(doc["_id"]),
        task_id=doc["task_id"],
        project_id=doc["project_id"],
        author=doc["author"],
        body=doc.get("body"),
        created_at=doc["created_at"],
        mentions=list(doc.get("mentions", [])),
        edited_at=doc.get("edited_at"),
        deleted_at=doc.get("deleted_at"),
        version=doc.get("version", 1),
    )


def page_queries(task_id: str, cursor: str | None) -> list[dict[str, Any]]:
    """The queries of one page of a task's comments (exposed so tests can `explain()` them)."""
    return OLDEST_FIRST.page_filters({"task_id": task_id}, cursor)


class CommentRepository:
    """Comments, written inside the transaction of `session` when one is given."""

    def __init__(self, db: Database, session: ClientSession | None = None) -> None:
        self._comments = db.comments
        self._session = session

    def add(self, comment: Comment) -> Comment:
        oid = ObjectId()
        self._comments.insert_one({"_id": oid, **comment_to_doc(comment)}, session=self._session)
        comment.id = str(oid)
        return comment

    def get(self, comment_id: str) -> Comment | None:
        oid = object_id_or_none(comment_id)
        doc = self._comments.find_one({"_id": oid}, session=self._session) if oid else None
        return comment_from_doc(doc) if doc else None

    def replace_if_version(self, comment: Comment, expected_version: int) -> bool:
        oid = object_id_or_none(comment.id)
        if oid is None:
            return False
        result = self._comments.replace_one(
            {"_id": oid, "version": expected_version},
            comment_to_doc(comment),
            session=self._session,
        )
        return result.matched_count == 1

    def page(self, task_id: str, *, cursor: str | None, limit: int) -> Page[Comment]:
        docs, next_cursor = find_page(
            self._comments, OLDEST_FIRST, {"task_id": task_id}, cursor, limit, self._session
        )
        return Page([comment_from_doc(d) for d in docs], next_cursor)

    def move_task(self, task_id: str, project_id: str) -> None:
        self._comments.update_many(
            {"task_id": task_id}, {"$set": {"project_id": project_id}}, session=self._session
        )

    def delete_for_task(self, task_id: str) -> int:
        return self._comments.delete_many({"task_id": task_id}, session=self._session).deleted_count

    def delete_in_project(self, project_id: str) -> int:
        result = self._comments.delete_many({"project_id": project_id}, session=self._session)
        return result.deleted_count
