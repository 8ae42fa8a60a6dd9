"""The sessions collection: the durable record behind every login (TTL-indexed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database

from tasktracker.domain.sessions import SessionRecord


def session_from_doc(doc: dict[str, Any]) -> SessionRecord:
    return SessionRecord(
        id=doc["_id"],
        user_id=doc["user_id"],
        refresh_id=doc["refresh_id"],
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        revoked_at=doc.get("revoked_at"),
    )


class SessionRepository:
    def __init__(self, db: Database) -> None:
        self._sessions = db.sessions

    def add(self, record: SessionRecord) -> None:
        self._sessions.insert_one(
            {
                "_id": record.id,
                "user_id": record.user_id,
                "refresh_id": record.refresh_id,
                "created_at": record.created_at,
                "expires_at": record.expires_at,
                "revoked_at": None,
            }
        )

    def get(self, session_id: str) -> SessionRecord | None:
        doc = self._sessions.find_one({"_id": session_id})
        return session_from_doc(doc) if doc else None

    def rotate(
        self,
        session_id: str,
        presented: str,
        replacement: str,
        now: datetime,
        expires_at: datetime,
    ) -> SessionRecord | None:
        """Swap the refresh id only if `presented` is the current one (one winner per token)."""
        doc = self._sessions.find_one_and_update(
            {
                "_id": session_id,
                "refresh_id": presented,
                "revoked_at": None,
                "expires_at": {"$gt": now},
            },
            {"$set": {"refresh_id": replacement, "expires_at": expires_at}},
            return_document=ReturnDocument.AFTER,
        )
        return session_from_doc(doc) if doc else None

    def revoke(self, session_id: str, now: datetime) -> None:
        self._sessions.update_one(
            {"_id": session_id, "revoked_at": None}, {"$set": {"revoked_at": now}}
        )

    def live_ids_for_user(self, user_id: str, now: datetime) -> list[str]:
        cursor = self._sessions.find(
            {"user_id": user_id, "revoked_at": None, "expires_at": {"$gt": now}}, {"_id": 1}
        )
        return [doc["_id"] for doc in cursor]

    def revoke_many(self, session_ids: list[str], now: datetime) -> None:
        if session_ids:
            self._sessions.update_many(
                {"_id": {"$in": session_ids}, "revoked_at": None}, {"$set": {"revoked_at": now}}
            )
