"""Connecting to MongoDB and creating every index the API's queries rely on."""

from __future__ import annotations

import logging
from datetime import UTC

from bson import ObjectId
from bson.codec_options import CodecOptions
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient
from pymongo.database import Database

from tasktracker.adapters.mongo.deliveries import DELIVERY_INDEXES
from tasktracker.adapters.mongo.outbox import OUTBOX_INDEXES
from tasktracker.adapters.mongo.password_resets import RESET_INDEXES

log = logging.getLogger(__name__)

CODEC_OPTIONS: CodecOptions = CodecOptions(tz_aware=True, tzinfo=UTC)

USER_INDEXES = [
    IndexModel([("email", ASCENDING)], unique=True, name="email_unique"),
    IndexModel([("username_key", ASCENDING)], unique=True, name="username_unique"),
    IndexModel([("role", ASCENDING), ("active", ASCENDING)], name="role_active"),
]

# One index per list path: the default order, each filterable equality field with that order,
# and each other sort key. `status, due_date` serves the summary counts and the overdue filter.
TASK_INDEXES = [
    IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
    IndexModel(
        [("assignee", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
        name="assignee_created",
    ),
    IndexModel(
        [("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
        name="status_created",
    ),
    IndexModel(
        [("priority", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
        name="priority_created",
    ),
    IndexModel([("status", ASCENDING), ("due_date", ASCENDING)], name="status_due"),
    IndexModel([("due_date", ASCENDING), ("_id", ASCENDING)], name="due"),
    IndexModel([("updated_at", DESCENDING), ("_id", DESCENDING)], name="updated"),
    IndexModel([("priority_rank", DESCENDING), ("_id", DESCENDING)], name="priority_rank"),
    IndexModel([("reporter", ASCENDING), ("created_at", DESCENDING)], name="reporter_created"),
]


def connect(url: str, *, timeout_ms: int = 5000) -> MongoClient:
    return MongoClient(
        url,
        tz_aware=True,
        tzinfo=UTC,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        appname="tasktracker",
    )


def database(client: MongoClient, name: str) -> Database:
    return client.get_database(name, codec_options=CODEC_OPTIONS)


def ensure_indexes(db: Database) -> None:
    db.users.create_indexes(USER_INDEXES)
    db.tasks.create_indexes(TASK_INDEXES)
    db.outbox.create_indexes(OUTBOX_INDEXES)
    db.deliveries.create_indexes(DELIVERY_INDEXES)
    db.password_resets.create_indexes(RESET_INDEXES)


def warn_if_not_replica_set(client: MongoClient) -> bool:
    """Transactions (and so the outbox) need a replica set; say so in one line when absent."""
    hello = client.admin.command("hello")
    if hello.get("setName"):
        return True
    log.warning(
        "MongoDB is not running as a replica set: multi-document transactions are unavailable "
        "(start mongod with --replSet and run rs.initiate() for a single-node replica set)"
    )
    return False


def object_id_or_none(value: str) -> ObjectId | None:
    """Parse a 24-hex id; None when it is malformed (callers answer 'not found')."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None
