"""The webhooks and webhook_deliveries collections.

A hook belongs to a project. A delivery is one event for one hook: its `_id` is the delivery id
(domain/webhooks.py `delivery_id`, stable per event and hook), so fanning an event out twice
writes nothing new. An attempt is claimed with a lease (`owner`, `lease_until`) and for one
attempt number, so two copies of a send message never post at the same time, and a copy that
arrives after its attempt was made is dropped.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from tasktracker.adapters.mongo.cursors import TimeOrder, find_page
from tasktracker.adapters.mongo.ids import object_id_or_none
from tasktracker.domain.queries import Page
from tasktracker.domain.webhooks import Delivery, DeliveryStatus, Secret, Webhook

DUPLICATE_KEY = 11000
LOG_RETENTION = timedelta(days=30)
NEWEST_FIRST = TimeOrder("created_at", descending=True, scope="webhook-deliveries")
# A delivery not leased has its lease in the past (never null), so a claim is one range match.
EPOCH = datetime(1970, 1, 1)

WEBHOOK_INDEXES = [IndexModel([("project_id", ASCENDING)], name="project")]
WEBHOOK_DELIVERY_INDEXES = [
    IndexModel(
        [("webhook_id", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)],
        name="webhook_created",
    ),
    IndexModel([("webhook_id", ASCENDING), ("lease_until", ASCENDING)], name="webhook_lease"),
    IndexModel([("project_id", ASCENDING)], name="project"),
    IndexModel([("expire_at", ASCENDING)], expireAfterSeconds=0, name="expire"),
]


def webhook_to_doc(hook: Webhook) -> dict[str, Any]:
    doc = asdict(hook)
    doc.pop("id")
    return doc


def webhook_from_doc(doc: dict[str, Any]) -> Webhook:
    fields = {k: doc[k] for k in Webhook.__dataclass_fields__ if k in doc and k != "id"}
    fields["secrets"] = [Secret(**s) for s in doc.get("secrets", [])]
    return Webhook(id=str(doc["_id"]), **fields)


def delivery_to_doc(delivery: Delivery) -> dict[str, Any]:
    doc = asdict(delivery)
    doc["_id"] = ObjectId(doc.pop("id"))
    doc["status"] = str(delivery.status)
    doc["lease_until"] = delivery.lease_until or EPOCH
    doc["expire_at"] = delivery.created_at + LOG_RETENTION
    return doc


def delivery_from_doc(doc: dict[str, Any]) -> Delivery:
    fields = {k: doc[k] for k in Delivery.__dataclass_fields__ if k in doc and k != "id"}
    fields["status"] = DeliveryStatus(doc["status"])
    return Delivery(id=str(doc["_id"]), **fields)


class WebhookRepository:
    """A project's hooks, written inside the transaction of `session` when one is given."""

    def __init__(self, db: Database, session: ClientSession | None = None) -> None:
        self._hooks = db.webhooks
        self._deliveries = db.webhook_deliveries
        self._session = session

    def add(self, hook: Webhook) -> Webhook:
        oid = ObjectId()
        self._hooks.insert_one({"_id": oid, **webhook_to_doc(hook)}, session=self._session)
        hook.id = str(oid)
        return hook

    def get(self, webhook_id: str) -> Webhook | None:
        oid = object_id_or_none(webhook_id)
        doc = self._hooks.find_one({"_id": oid}, session=self._session) if oid else None
        return webhook_from_doc(doc) if doc else None

    def for_project(self, project_id: str) -> list[Webhook]:
        docs = self._hooks.find({"project_id": project_id}, session=self._session)
        return [webhook_from_doc(d) for d in docs.sort("_id", ASCENDING)]

    def save(self, hook: Webhook) -> None:
        self._hooks.replace_one(
            {"_id": ObjectId(hook.id)}, webhook_to_doc(hook), session=self._session
        )

    def delete(self, webhook_id: str) -> None:
        oid = object_id_or_none(webhook_id)
        if oid is not None:
            self._hooks.delete_one({"_id": oid}, session=self._session)
            self._deliveries.delete_many({"webhook_id": webhook_id}, session=self._session)

    def delete_in_project(self, project_id: str) -> None:
        self._hooks.delete_many({"project_id": project_id}, session=self._session)
        self._deliveries.delete_many({"project_id": project_id}, session=self._session)

    # --- the dispatcher's bookkeeping ----------------------------------------------------------

    def count_failure(self, webhook_id: str, disable_after: int, reason: str) -> bool:
        """One more failed attempt in a row; True when this one disabled the hook (exactly one
        caller sees True, so its owner gets one letter)."""
        doc = self._hooks.find_one_and_update(
            {"_id": ObjectId(webhook_id)},
            {"$inc": {"failures_in_a_row": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if not doc or not doc["active"] or doc["failures_in_a_row"] < disable_after:
            return False
        return self.disable(webhook_id, reason)

    def count_success(self, webhook_id: str) -> None:
        self._hooks.update_one(
            {"_id": ObjectId(webhook_id), "failures_in_a_row": {"$gt": 0}},
            {"$set": {"failures_in_a_row": 0}},
        )

    def disable(self, webhook_id: str, reason: str) -> bool:
        """Switch an active hook off; True when this call did it."""
        result = self._hooks.update_one(
            {"_id": ObjectId(webhook_id), "active": True},
            {"$set": {"active": False, "disabled_reason": reason}},
        )
        return result.modified_count == 1


class WebhookDeliveryRepository:
    def __init__(self, db: Database) -> None:
        self._deliveries = db.webhook_deliveries

    def add_missing(self, deliveries: list[Delivery]) -> int:
        """Insert the deliveries not there yet (an event fanned out again writes nothing);
        answer how many were new."""
        if not deliveries:
            return 0
        try:
            done = self._deliveries.insert_many(
                [delivery_to_doc(d) for d in deliveries], ordered=False
            )
        except BulkWriteError as exc:
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise
            return int(exc.details.get("nInserted", 0))
        return len(done.inserted_ids)

    def get(self, delivery_id: str) -> Delivery | None:
        oid = object_id_or_none(delivery_id)
        doc = self._deliveries.find_one({"_id": oid}) if oid else None
        return delivery_from_doc(doc) if doc else None

    def page(self, webhook_id: str, cursor: str | None, limit: int) -> Page[Delivery]:
        docs, next_cursor = find_page(
            self._deliveries, NEWEST_FIRST, {"webhook_id": webhook_id}, cursor, limit
        )
        return Page([delivery_from_doc(d) for d in docs], next_cursor)

    def claim(
        self, delivery_id: str, attempt: int, owner: str, now: datetime, lease: timedelta
    ) -> Delivery | None:
        """Lease attempt number `attempt` of a pending delivery; None when it is not pending,
        that attempt was made already, or another sender holds it."""
        doc = self._deliveries.find_one_and_update(
            {
                "_id": ObjectId(delivery_id),
                "status": str(DeliveryStatus.PENDING),
                "attempts": attempt - 1,
                "lease_until": {"$lte": now},
            },
            {"$set": {"owner": owner, "lease_until": now + lease}},
            return_document=ReturnDocument.AFTER,
        )
        return delivery_from_doc(doc) if doc else None

    def in_flight(self, webhook_id: str, now: datetime) -> int:
        """Attempts of the hook being made right now (leased)."""
        return self._deliveries.count_documents(
            {"webhook_id": webhook_id, "lease_until": {"$gt": now}}
        )

    def release(self, delivery_id: str, owner: str) -> None:
        """Give a claim up without an attempt (the hook is busy): a later copy may take it."""
        self._deliveries.update_one(
            {"_id": ObjectId(delivery_id), "owner": owner},
            {"$set": {"lease_until": EPOCH, "owner": None}},
        )

    def record_attempt(self, delivery: Delivery, owner: str) -> None:
        """Store the outcome of the attempt `owner` made (status, attempts and the answer)."""
        fields = {
            "status": str(delivery.status),
            "attempts": delivery.attempts,
            "next_attempt_at": delivery.next_attempt_at,
            "response_status": delivery.response_status,
            "duration_ms": delivery.duration_ms,
            "response_excerpt": delivery.response_excerpt,
            "error": delivery.error,
            "lease_until": EPOCH,
            "owner": None,
        }
        self._deliveries.update_one(
            {"_id": ObjectId(delivery.id), "owner": owner}, {"$set": fields}
        )

    def fail(self, delivery_id: str, error: str) -> None:
        """End a pending delivery without an attempt (its hook was deleted or disabled)."""
        self._deliveries.update_one(
            {"_id": ObjectId(delivery_id), "status": str(DeliveryStatus.PENDING)},
            {"$set": {"status": str(DeliveryStatus.FAILED), "error": error}},
        )

    def restart(self, delivery_id: str, redelivery: str, now: datetime) -> bool:
        """Make a delivery pending again from its first attempt, once per redelivery request;
        False when that request was applied already or the delivery is gone."""
        result = self._deliveries.update_one(
            {"_id": ObjectId(delivery_id), "redelivery": {"$ne": redelivery}},
            {
                "$set": {
                    "status": str(DeliveryStatus.PENDING),
                    "attempts": 0,
                    "next_attempt_at": now,
                    "lease_until": EPOCH,
                    "owner": None,
                    "redelivery": redelivery,
                    "expire_at": now + LOG_RETENTION,
                }
            },
        )
        return result.modified_count == 1
