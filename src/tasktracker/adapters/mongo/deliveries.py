"""Letters the agent has sent, one document per event id (`_id`, unique), so a duplicate event
never sends a second letter. A delivery is claimed with a lease before the letter goes out and
marked sent only after the mail server accepted it."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum

from pymongo import ASCENDING, IndexModel
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

# Kept well beyond the outbox's retention, so any late duplicate still finds its record.
DELIVERY_INDEXES = [
    IndexModel([("sent_at", ASCENDING)], expireAfterSeconds=30 * 86_400, name="expire"),
]


class Claim(Enum):
    CLAIMED = "claimed"  # the caller may send now
    SENT = "sent"  # already delivered: acknowledge and move on
    BUSY = "busy"  # another agent holds a live lease: try again later


class DeliveryRepository:
    def __init__(self, db: Database) -> None:
        self._deliveries = db.deliveries

    def claim(self, event_id: str, kind: str, owner: str, now: datetime, lease: timedelta) -> Claim:
        fields = {"state": "sending", "kind": kind, "owner": owner, "lease_until": now + lease}
        try:
            self._deliveries.insert_one({"_id": event_id, **fields, "created_at": now})
            return Claim.CLAIMED
        except DuplicateKeyError:
            pass
        taken = self._deliveries.find_one_and_update(
            {"_id": event_id, "state": "sending", "lease_until": {"$lte": now}},
            {"$set": fields},
        )
        if taken:
            return Claim.CLAIMED
        doc = self._deliveries.find_one({"_id": event_id}, {"state": 1})
        return Claim.SENT if doc and doc["state"] == "sent" else Claim.BUSY

    def mark_sent(self, event_id: str, owner: str, now: datetime) -> None:
        self._deliveries.update_one(
            {"_id": event_id, "owner": owner},
            {"$set": {"state": "sent", "sent_at": now}, "$unset": {"lease_until": ""}},
        )

    def release(self, event_id: str, owner: str) -> None:
        """Give the claim up after a failed attempt, so a retry need not wait for the lease."""
        self._deliveries.delete_one({"_id": event_id, "owner": owner, "state": "sending"})

    def sent_count(self, kind: str | None = None) -> int:
        query = {"state": "sent", **({"kind": kind} if kind else {})}
        return self._deliveries.count_documents(query)
