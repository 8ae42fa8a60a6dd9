"""The calendar_feeds collection: each user's one calendar feed token, stored only as its SHA-256
digest (DESIGN 14). The document's id is the user id, so a new token replaces the old one."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, IndexModel
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

CALENDAR_FEED_INDEXES = [
    IndexModel([("token_hash", ASCENDING)], unique=True, name="token_hash_unique"),
]


class CalendarFeedRepository:
    def __init__(self, db: Database) -> None:
        self._feeds = db.calendar_feeds

    def put(self, user_id: str, token_hash: str, now: datetime) -> None:
        doc = {"token_hash": token_hash, "created_at": now}
        try:
            self._feeds.replace_one({"_id": user_id}, doc, upsert=True)
        except DuplicateKeyError:
            # Two first feeds of one user at once: the other upsert inserted; replace it.
            self._feeds.replace_one({"_id": user_id}, doc, upsert=True)

    def user_for(self, token_hash: str) -> str | None:
        doc = self._feeds.find_one({"token_hash": token_hash}, {"_id": 1})
        return str(doc["_id"]) if doc else None
