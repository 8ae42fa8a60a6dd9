"""The users collection: repository mapping documents to domain Users."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from tasktracker.adapters.mongo.ids import in_chunks, object_id_or_none
from tasktracker.domain.errors import Conflict, InvalidInput
from tasktracker.domain.notifications import NotificationPreferences
from tasktracker.domain.users import Role, User, normalize_email, username_key


def user_from_doc(doc: dict[str, Any]) -> User:
    return User(
        id=str(doc["_id"]),
        username=doc["username"],
        email=doc["email"],
        password_hash=doc["password_hash"],
        role=Role(doc.get("role", Role.MEMBER)),
        active=doc.get("active", True),
        created_at=doc["created_at"],
        updated_at=doc.get("updated_at", doc["created_at"]),
        notifications=NotificationPreferences.of(doc.get("notifications")),
    )


class UserRepository:
    """Users, written inside the transaction of `session` when one is given."""

    def __init__(self, db: Database, session: ClientSession | None = None) -> None:
        self._users = db.users
        self._session = session

    def add(
        self,
        *,
        username: str,
        email: str,
        password_hash: str,
        role: Role,
        active: bool,
        now: datetime,
    ) -> User:
        doc = {
            "username": username,
            "username_key": username_key(username),
            "email": normalize_email(email),
            "password_hash": password_hash,
            "role": str(role),
            "active": active,
            "created_at": now,
            "updated_at": now,
        }
        try:
            result = self._users.insert_one(doc, session=self._session)
        except DuplicateKeyError as exc:
            field = "username" if "username" in str(exc) else "email"
            raise Conflict(f"a user with this {field} already exists") from None
        doc["_id"] = result.inserted_id
        return user_from_doc(doc)

    def get(self, user_id: str) -> User | None:
        oid = object_id_or_none(user_id)
        doc = self._users.find_one({"_id": oid}) if oid else None
        return user_from_doc(doc) if doc else None

    def get_many(self, user_ids: Iterable[str]) -> list[User]:
        oids = [oid for uid in set(user_ids) if (oid := object_id_or_none(uid))]
        return [
            user_from_doc(doc)
            for chunk in in_chunks(oids)
            for doc in self._users.find({"_id": {"$in": chunk}})
        ]

    def by_email(self, email: str) -> User | None:
        doc = self._users.find_one({"email": normalize_email(email)})
        return user_from_doc(doc) if doc else None

    def by_username(self, username: str) -> User | None:
        doc = self._users.find_one({"username_key": username_key(username)})
        return user_from_doc(doc) if doc else None

    def usernames(self, user_ids: Iterable[str]) -> dict[str, str]:
        oids = [oid for uid in set(user_ids) if (oid := object_id_or_none(uid))]
        if not oids:
            return {}
        cursor = self._users.find({"_id": {"$in": oids}}, {"username": 1})
        return {str(doc["_id"]): doc["username"] for doc in cursor}

    def set_password_hash(self, user_id: str, password_hash: str, now: datetime) -> None:
        self._users.update_one(
            {"_id": ObjectId(user_id)},
            {"$set": {"password_hash": password_hash, "updated_at": now}},
            session=self._session,
        )

    def set_role_and_active(self, user_id: str, role: Role, active: bool, now: datetime) -> None:
        self._users.update_one(
            {"_id": ObjectId(user_id)},
            {"$set": {"role": str(role), "active": active, "updated_at": now}},
            session=self._session,
        )

    def set_notifications(
        self, user_id: str, preferences: NotificationPreferences, now: datetime
    ) -> None:
        self._users.update_one(
            {"_id": ObjectId(user_id)},
            {"$set": {"notifications": preferences.values(), "updated_at": now}},
            session=self._session,
        )

    def count_active_admins(self, *, excluding: str | None = None) -> int:
        query: dict[str, Any] = {"role": str(Role.ADMIN), "active": True}
        if excluding and (oid := object_id_or_none(excluding)):
            query["_id"] = {"$ne": oid}
        return self._users.count_documents(query)

    def page(self, *, after: str | None, limit: int) -> list[User]:
        query: dict[str, Any] = {}
        if after:
            oid = object_id_or_none(after)
            if oid is None:
                raise InvalidInput("the cursor is malformed; start again without it")
            query["_id"] = {"$gt": oid}
        cursor = self._users.find(query).sort("_id", 1).limit(limit)
        return [user_from_doc(doc) for doc in cursor]
