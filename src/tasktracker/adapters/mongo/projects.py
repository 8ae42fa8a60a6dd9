"""The projects and memberships collections: repositories mapping documents to domain objects.

A membership's `_id` is `<project id>:<user id>`: one per person and project by construction,
and reading one is a primary-key lookup.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from tasktracker.adapters.mongo.ids import object_id_or_none
from tasktracker.domain.errors import Conflict, InvalidInput
from tasktracker.domain.projects import Membership, Project, ProjectRole


def project_from_doc(doc: dict[str, Any]) -> Project:
    return Project(
        id=str(doc["_id"]),
        key=doc["key"],
        name=doc["name"],
        description=doc.get("description", ""),
        archived=doc.get("archived", False),
        created_at=doc["created_at"],
        updated_at=doc.get("updated_at", doc["created_at"]),
    )


class ProjectRepository:
    """Projects, written inside the transaction of `session` when one is given."""

    def __init__(self, db: Database, session: ClientSession | None = None) -> None:
        self._projects = db.projects
        self._session = session

    def add(self, project: Project) -> Project:
        oid = ObjectId()
        doc = {
            "_id": oid,
            "key": project.key,
            "name": project.name,
            "description": project.description,
            "archived": project.archived,
            "created_at": project.created_at,
            "updated_at": project.updated_at,
            "task_counter": 0,
        }
        try:
            self._projects.insert_one(doc, session=self._session)
        except DuplicateKeyError:
            raise Conflict(f"the project key '{project.key}' is taken") from None
        project.id = str(oid)
        return project

    def get(self, project_id: str) -> Project | None:
        oid = object_id_or_none(project_id)
        doc = self._projects.find_one({"_id": oid}, session=self._session) if oid else None
        return project_from_doc(doc) if doc else None

    def by_key(self, key: str) -> Project | None:
        doc = self._projects.find_one({"key": key}, session=self._session)
        return project_from_doc(doc) if doc else None

    def page(self, ids: tuple[str, ...] | None, *, after: str | None, limit: int) -> list[Project]:
        query: dict[str, Any] = {}
        if ids is not None:
            query["_id"] = {"$in": [ObjectId(i) for i in ids if object_id_or_none(i)]}
        if after is not None:
            after_oid = object_id_or_none(after)
            if after_oid is None:
                raise InvalidInput("the cursor is malformed; start again without it")
            query.setdefault("_id", {})["$gt"] = after_oid
        docs = self._projects.find(query, session=self._session).sort("_id", 1).limit(limit)
        return [project_from_doc(d) for d in docs]

    def save(self, project: Project) -> None:
        self._projects.update_one(
            {"_id": ObjectId(project.id)},
            {
                "$set": {
                    "name": project.name,
                    "description": project.description,
                    "archived": project.archived,
                    "updated_at": project.updated_at,
                }
            },
            session=self._session,
        )

    def delete(self, project_id: str) -> bool:
        oid = object_id_or_none(project_id)
        if oid is None:
            return False
        return self._projects.delete_one({"_id": oid}, session=self._session).deleted_count == 1

    def next_task_number(self, project_id: str) -> int | None:
        doc = self._projects.find_one_and_update(
            {"_id": ObjectId(project_id), "archived": False},
            {"$inc": {"task_counter": 1}},
            projection={"task_counter": 1},
            return_document=ReturnDocument.AFTER,
            session=self._session,
        )
        return int(doc["task_counter"]) if doc else None

    def reserve_task_numbers(self, project_id: str, count: int) -> int:
        """Take `count` numbers at once (the migration); answers the first."""
        doc = self._projects.find_one_and_update(
            {"_id": ObjectId(project_id)},
            {"$inc": {"task_counter": count}},
            projection={"task_counter": 1},
            return_document=ReturnDocument.AFTER,
            session=self._session,
        )
        return int(doc["task_counter"]) - count + 1

    def touch(self, project_id: str) -> None:
        self._projects.update_one(
            {"_id": ObjectId(project_id)}, {"$inc": {"member_changes": 1}}, session=self._session
        )


def membership_id(project_id: str, user_id: str) -> str:
    return f"{project_id}:{user_id}"


def membership_from_doc(doc: dict[str, Any]) -> Membership:
    return Membership(
        project_id=doc["project_id"],
        user_id=doc["user_id"],
        role=ProjectRole(doc["role"]),
        joined_at=doc["joined_at"],
    )


def membership_doc(membership: Membership) -> dict[str, Any]:
    return {
        "_id": membership_id(membership.project_id, membership.user_id),
        "project_id": membership.project_id,
        "user_id": membership.user_id,
        "role": str(membership.role),
        "joined_at": membership.joined_at,
    }


class MembershipRepository:
    """Who belongs to which project in which role."""

    def __init__(self, db: Database, session: ClientSession | None = None) -> None:
        self._members = db.memberships
        self._session = session

    def put(self, membership: Membership) -> bool:
        doc = membership_doc(membership)
        result = self._members.update_one(
            {"_id": doc["_id"]},
            {"$set": {"role": doc["role"]}, "$setOnInsert": without(doc, "_id", "role")},
            upsert=True,
            session=self._session,
        )
        return result.upserted_id is not None

    def add_many(self, memberships: list[Membership]) -> int:
        """Insert the memberships that do not exist yet, keeping existing roles (migration)."""
        if not memberships:
            return 0
        existing = {
            d["_id"]
            for d in self._members.find(
                {"_id": {"$in": [membership_doc(m)["_id"] for m in memberships]}},
                {"_id": 1},
                session=self._session,
            )
        }
        new = [membership_doc(m) for m in memberships]
        new = [d for d in new if d["_id"] not in existing]
        for doc in new:
            try:
                self._members.insert_one(doc, session=self._session)
            except DuplicateKeyError:
                continue  # added concurrently (another replica migrating)
        return len(new)

    def get(self, project_id: str, user_id: str) -> Membership | None:
        doc = self._members.find_one(
            {"_id": membership_id(project_id, user_id)}, session=self._session
        )
        return membership_from_doc(doc) if doc else None

    def remove(self, project_id: str, user_id: str) -> bool:
        result = self._members.delete_one(
            {"_id": membership_id(project_id, user_id)}, session=self._session
        )
        return result.deleted_count == 1

    def roles_of(self, user_id: str) -> dict[str, ProjectRole]:
        docs = self._members.find(
            {"user_id": user_id}, {"project_id": 1, "role": 1}, session=self._session
        )
        return {d["project_id"]: ProjectRole(d["role"]) for d in docs}

    def page(self, project_id: str, *, after: str | None, limit: int) -> list[Membership]:
        query: dict[str, Any] = {"project_id": project_id}
        if after is not None:
            if not isinstance(after, str) or not object_id_or_none(after):
                raise InvalidInput("the cursor is malformed; start again without it")
            query["user_id"] = {"$gt": after}
        docs = self._members.find(query, session=self._session).sort("user_id", 1).limit(limit)
        return [membership_from_doc(d) for d in docs]

    def count_role(self, project_id: str, role: ProjectRole) -> int:
        return self._members.count_documents(
            {"project_id": project_id, "role": str(role)}, session=self._session
        )

    def user_ids(self, project_id: str) -> list[str]:
        docs = self._members.find({"project_id": project_id}, {"user_id": 1}, session=self._session)
        return [d["user_id"] for d in docs]

    def remove_project(self, project_id: str) -> int:
        result = self._members.delete_many({"project_id": project_id}, session=self._session)
        return result.deleted_count


def without(doc: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in names}
