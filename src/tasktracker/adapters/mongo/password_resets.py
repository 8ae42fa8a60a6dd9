"""Password-reset tokens, stored only as SHA-256 hashes, with an expiry; each works once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.client_session import ClientSession
from pymongo.database import Database

RESET_INDEXES = [
    IndexModel([("token_hash", ASCENDING)], unique=True, name="token_hash_unique"),
    IndexModel([("user_id", ASCENDING)], name="user"),
    # Keep a spent or expired token a day for audit, then let MongoDB drop it.
    IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=86_400, name="expire"),
]


class PasswordResetRepository:
    def __init__(self, db: Database, session: ClientSession | None = None) -> None:
        self._resets = db.password_resets
        self._session = session

    def add(self, user_id: str, token_hash: str, now: datetime, expires_at: datetime) -> None:
        self._resets.insert_one(
            {
                "token_hash": token_hash,
                "user_id": user_id,
                "created_at": now,
                "expires_at": expires_at,
                "used_at": None,
            },
            session=self._session,
        )

    def use(self, token_hash: str, now: datetime) -> str | None:
        """Spend a live token; answer its user id, or None when unknown, used or expired."""
        doc: dict[str, Any] | None = self._resets.find_one_and_update(
            {"token_hash": token_hash, "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
            session=self._session,
        )
        return doc["user_id"] if doc else None

    def void_others(self, user_id: str, now: datetime) -> None:
        """After a reset, the user's other outstanding tokens stop working too."""
        self._resets.update_many(
            {"user_id": user_id, "used_at": None}, {"$set": {"used_at": now}}, session=self._session
        )
