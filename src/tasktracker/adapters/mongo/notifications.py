"""Notification batches: what each person is to hear about each task, coalesced into one letter.

Two collections:
- `notification_events` — one marker per event fanned out (`_id` = event id). The marker and the
  items it pushes commit in one transaction, so a redelivered or republished event finds its
  marker (DuplicateKey) and adds nothing: each event reaches each recipient's batch once.
- `notifications` — one document per (recipient, task), `_id` = "<user id>:<task id>":
  `items` (changes waiting, in arrival order) with `due_at` (the first waiting item's time plus
  the coalescing window, kept by `$min`), and, while a letter is going out, `sending` =
  {letter_id, owner, lease_until, attempts, items}.

Claiming a due batch is ONE single-document update (an aggregation-pipeline update): it moves
`items` into `sending.items` and drops `due_at` atomically. A fan-out `$push` to the same
document therefore lands either before the claim (and is in the letter) or after it (and starts
a new `items` list with a new `due_at`); it cannot be lost between a read and a write because the
claim reads nothing first. A second flusher's claim matches only while `sending` is absent, so at
most one letter per batch is in flight; a letter whose lease ran out (its agent died) is taken
over with the same letter id, so it goes out again with the same Message-ID.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, MongoClient, ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from tasktracker.adapters.mongo.ids import object_id_or_none
from tasktracker.adapters.mongo.projects import membership_id
from tasktracker.adapters.mongo.unit_of_work import TRANSIENT, commit
from tasktracker.domain.notifications import NotificationPreferences
from tasktracker.domain.schedules import Recipient

# Batches need no TTL (one would drop waiting items): a document is deleted when its letter is
# done and nothing new waits. Markers outlive any republish of their event by far.
NOTIFICATION_INDEXES: dict[str, list[IndexModel]] = {
    "notifications": [
        IndexModel([("due_at", ASCENDING)], name="due", sparse=True),
        IndexModel([("sending.lease_until", ASCENDING)], name="sending_lease", sparse=True),
    ],
    "notification_events": [
        IndexModel([("at", ASCENDING)], expireAfterSeconds=30 * 86_400, name="expire"),
    ],
}
# Attempts of a fan-out transaction that collided with a concurrent one before giving up (the
# consumer then retries the message with backoff).
FAN_OUT_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Push:
    """One item for one recipient's batch of one task."""

    user_id: str
    task_id: str
    item: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch claimed for sending: its letter id stays the same however often it is retried."""

    id: str
    user_id: str
    task_id: str
    letter_id: str
    owner: str
    attempts: int
    items: list[dict[str, Any]]

    @property
    def project_id(self) -> str | None:
        """The task's project as of the latest item (a task may move)."""
        project = self.items[-1].get("project_id") if self.items else None
        return project if isinstance(project, str) else None


def batch_id(user_id: str, task_id: str) -> str:
    return f"{user_id}:{task_id}"


def batch_from_doc(doc: dict[str, Any]) -> Batch:
    sending = doc["sending"]
    return Batch(
        id=doc["_id"],
        user_id=doc["user_id"],
        task_id=doc["task_id"],
        letter_id=sending["letter_id"],
        owner=sending["owner"],
        attempts=sending.get("attempts", 0),
        items=list(sending.get("items") or []),
    )


class NotificationStore:
    def __init__(self, client: MongoClient, db: Database) -> None:
        self._client = client
        self._batches = db.notifications
        self._events = db.notification_events
        self._users = db.users
        self._memberships = db.memberships

    # --- who may hear ------------------------------------------------------------------------

    def eligible(
        self, project_id: str, user_ids: Iterable[str]
    ) -> dict[str, NotificationPreferences]:
        """Those of `user_ids` who are active members of the project, with their preferences."""
        wanted = {membership_id(project_id, user): user for user in user_ids}
        if not wanted:
            return {}
        found = self._memberships.find({"_id": {"$in": list(wanted)}}, {"_id": 1})
        members = [oid for d in found if (oid := object_id_or_none(wanted[d["_id"]])) is not None]
        users = self._users.find({"_id": {"$in": members}, "active": True}, {"notifications": 1})
        return {str(d["_id"]): NotificationPreferences.of(d.get("notifications")) for d in users}

    def recipient(self, user_id: str, project_id: str | None) -> Recipient | None:
        """Where the letter goes: None once the user is inactive or left the project."""
        oid = object_id_or_none(user_id)
        doc = self._users.find_one({"_id": oid, "active": True}, {"username": 1, "email": 1})
        if doc is None or project_id is None:
            return None
        if self._memberships.count_documents({"_id": membership_id(project_id, user_id)}) == 0:
            return None
        return Recipient(doc["username"], doc["email"])

    # --- fan-out -----------------------------------------------------------------------------

    def fan_out(
        self, event_id: str, pushes: Sequence[Push], now: datetime, window: timedelta
    ) -> bool:
        """Record the event and push its items, in one transaction; False when the event was
        fanned out before (nothing is written then). A collision with a concurrent transaction
        is retried a few times, then raised (the caller retries the message later)."""
        for _ in range(FAN_OUT_ATTEMPTS - 1):
            try:
                return self._fan_out_once(event_id, pushes, now, window)
            except PyMongoError as error:
                if not error.has_error_label(TRANSIENT):
                    raise
        return self._fan_out_once(event_id, pushes, now, window)

    def _fan_out_once(
        self, event_id: str, pushes: Sequence[Push], now: datetime, window: timedelta
    ) -> bool:
        with self._client.start_session() as session:
            session.start_transaction()
            try:
                if not self._mark(event_id, now, session):
                    return False
                for push in pushes:
                    self._push(push, now + window, now, session)
                commit(session)
            finally:
                if session.in_transaction:
                    session.abort_transaction()
        return True

    def _mark(self, event_id: str, now: datetime, session: ClientSession) -> bool:
        try:
            self._events.insert_one({"_id": event_id, "at": now}, session=session)
        except DuplicateKeyError:
            return False
        return True

    def _push(self, push: Push, due: datetime, now: datetime, session: ClientSession) -> None:
        self._batches.update_one(
            {"_id": batch_id(push.user_id, push.task_id)},
            {
                "$push": {"items": push.item},
                "$min": {"due_at": due},
                "$set": {"user_id": push.user_id, "task_id": push.task_id, "updated_at": now},
            },
            upsert=True,
            session=session,
        )

    # --- flushing ----------------------------------------------------------------------------

    def claim_due(self, owner: str, now: datetime, lease: timedelta) -> Batch | None:
        """Claim the batch due longest ago (see the module docstring for why this is atomic)."""
        sending = {
            "letter_id": {"$literal": uuid.uuid4().hex},
            "owner": {"$literal": owner},
            "lease_until": {"$literal": now + lease},
            "attempts": 0,
            "items": "$items",
        }
        doc = self._batches.find_one_and_update(
            {"due_at": {"$lte": now}, "sending": {"$exists": False}},
            [{"$set": {"sending": sending}}, {"$unset": ["items", "due_at"]}],
            sort=[("due_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        return batch_from_doc(doc) if doc else None

    def take_over(self, owner: str, now: datetime, lease: timedelta) -> Batch | None:
        """Claim a letter whose lease ran out (its agent died, or a failed send is due again);
        it keeps its letter id and items."""
        doc = self._batches.find_one_and_update(
            {"sending.lease_until": {"$lte": now}},
            {"$set": {"sending.owner": owner, "sending.lease_until": now + lease}},
            sort=[("sending.lease_until", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        return batch_from_doc(doc) if doc else None

    def postpone(self, batch: Batch, until: datetime) -> None:
        """A send failed: try the same letter again from `until` (as a take-over)."""
        self._batches.update_one(
            {"_id": batch.id, "sending.letter_id": batch.letter_id, "sending.owner": batch.owner},
            {"$set": {"sending.lease_until": until}, "$inc": {"sending.attempts": 1}},
        )

    def finish(self, batch: Batch) -> None:
        """The letter is out (or dropped): forget it; the document goes when nothing waits."""
        mine = {"_id": batch.id, "sending.letter_id": batch.letter_id}
        if self._batches.delete_one({**mine, "items": {"$exists": False}}).deleted_count:
            return
        # Items arrived meanwhile (they stay until their own due_at); only a claim removes
        # items, and none can happen while `sending` is set, so this cannot race the delete.
        self._batches.update_one(mine, {"$unset": {"sending": ""}})

    # --- for tests and operators -------------------------------------------------------------

    def waiting(self) -> int:
        """Batch documents not finished yet (items waiting or a letter going out)."""
        return self._batches.count_documents({})
