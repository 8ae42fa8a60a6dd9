"""The outbox collection: events written in the same transaction as the change they describe.

An entry is `pending` until a broker confirmed it; then it is marked sent and expires later
(TTL index). Relays in several processes claim entries atomically with a lease.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.client_session import ClientSession
from pymongo.database import Database

from tasktracker.adapters.mongo.ids import in_chunks
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
        self._outbox.update_one({"_id": event_id}, self._sent(now))

    def mark_sent_many(self, event_ids: Sequence[str], now: datetime) -> None:
        """Mark entries sent with one update per `in_chunks` of ids."""
        for chunk in in_chunks(event_ids):
            self._outbox.update_many({"_id": {"$in": chunk}}, self._sent(now))

    def _sent(self, now: datetime) -> dict[str, Any]:
        return {"$set": {"sent_at": now, "expire_at": now + self._retention}}

    def claim_pending(self, now: datetime, lease: timedelta, limit: int) -> list[Event]:
        """Take up to `limit` unsent entries whose lease has run out, and lease them to the
        caller. Relays may race for the same candidates: the update takes an entry only while
        its lease is still out, and marks it with a claim of this call's own, so each entry
        goes to exactly one of them."""
        candidates = [
            doc["_id"]
            for doc in self._outbox.find(
                {"sent_at": None, "lease_until": {"$lte": now}}, {"_id": 1}
            )
            .sort("lease_until", ASCENDING)
            .limit(limit)
        ]
        claim = uuid.uuid4().hex
        claimed: list[Event] = []
        for chunk in in_chunks(candidates):
            self._outbox.update_many(
                {"_id": {"$in": chunk}, "sent_at": None, "lease_until": {"$lte": now}},
                {"$set": {"lease_until": now + lease, "claim": claim}, "$inc": {"attempts": 1}},
            )
            won = self._outbox.find({"_id": {"$in": chunk}, "claim": claim})
            claimed += [event_from_doc(doc) for doc in won]
        return sorted(claimed, key=lambda e: e.occurred_at)

    def release(self, event_ids: Sequence[str], now: datetime) -> None:
        """Give claims up (the publish failed) so the next round may try again at once."""
        for chunk in in_chunks(event_ids):
            self._outbox.update_many(
                {"_id": {"$in": chunk}, "sent_at": None}, {"$set": {"lease_until": now}}
            )

    def pending_count(self) -> int:
        return self._outbox.count_documents({"sent_at": None})
