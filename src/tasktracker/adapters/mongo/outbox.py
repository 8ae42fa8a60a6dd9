"""The outbox collection: events written in the same transaction as the change they describe.

An entry is `pending` until a broker confirmed it; then it is marked sent and expires later
(TTL index). Relays in several processes claim entries atomically with a lease.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.database import Database

from tasktracker.domain.events import Event, EventType

OUTBOX_INDEXES = [
    IndexModel([("sent_at", ASCENDING), ("lease_until", ASCENDING)], name="pending"),
    IndexModel([("expire_at", ASCENDING)], expireAfterSeconds=0, name="expire"),
]


def event_to_doc(event: Event, grace: timedelta) -> dict[str, Any]:
    return {
        "_id": event.event_id,
        "type": str(event.type),
        "occurred_at": event.occurred_at,
        "correlation_id": event.correlation_id,
        "payload": event.payload,
        "sent_at": None,
        # The writer publishes right after commit; the relay waits `grace` before stepping in.
        "lease_until": event.occurred_at + grace,
        "attempts": 0,
    }


def event_from_doc(doc: dict[str, Any]) -> Event:
    return Event(
        event_id=doc["_id"],
        type=EventType(doc["type"]),
        occurred_at=doc["occurred_at"],
        correlation_id=doc.get("correlation_id"),
        payload=doc["payload"],
    )


class OutboxRepository:
    def __init__(
        self,
        db: Database,
        retention: timedelta = timedelta(days=7),
        grace: timedelta = timedelta(seconds=10),
        session: ClientSession | None = None,
    ) -> None:
        self._outbox = db.outbox
        self._retention = retention
        self._grace = grace
        self._session = session

    def add(self, events: list[Event]) -> None:
        """Write entries (inside the unit of work's transaction: see unit_of_work.py)."""
        if events:
            docs = [event_to_doc(e, self._grace) for e in events]
            self._outbox.insert_many(docs, session=self._session)

    def mark_sent(self, event_id: str, now: datetime) -> None:
        self._outbox.update_one(
            {"_id": event_id},
            {"$set": {"sent_at": now, "expire_at": now + self._retention}},
        )

    def claim_pending(self, now: datetime, lease: timedelta) -> Event | None:
        """Take one unsent entry whose lease has run out, and lease it to the caller."""
        doc = self._outbox.find_one_and_update(
            {"sent_at": None, "lease_until": {"$lte": now}},
            {"$set": {"lease_until": now + lease}, "$inc": {"attempts": 1}},
            sort=[("lease_until", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        return event_from_doc(doc) if doc else None

    def release(self, event_id: str, now: datetime) -> None:
        """Give a claim up (the publish failed) so the next round may try again at once."""
        self._outbox.update_one({"_id": event_id, "sent_at": None}, {"$set": {"lease_until": now}})

    def pending_count(self) -> int:
        return self._outbox.count_documents({"sent_at": None})
