"""Connecting to MongoDB and creating every index the API's queries rely on."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bson.codec_options import CodecOptions
from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient
from pymongo.database import Database
from pymongo.errors import PyMongoError

from tasktracker.adapters.mongo.activity import ACTIVITY_INDEXES
from tasktracker.adapters.mongo.alerts import RUN_INDEXES, SCHEDULE_INDEXES
from tasktracker.adapters.mongo.calendar import CALENDAR_FEED_INDEXES
from tasktracker.adapters.mongo.comments import COMMENT_INDEXES
from tasktracker.adapters.mongo.deliveries import DELIVERY_INDEXES
from tasktracker.adapters.mongo.notifications import NOTIFICATION_INDEXES
from tasktracker.adapters.mongo.outbox import OUTBOX_INDEXES
from tasktracker.adapters.mongo.password_resets import RESET_INDEXES
from tasktracker.adapters.mongo.reminders import REMINDER_INDEXES
from tasktracker.adapters.mongo.task_counts import TASK_COUNT_INDEXES
from tasktracker.adapters.mongo.tokens import TOKEN_INDEXES
from tasktracker.adapters.mongo.watchers import WATCHER_INDEXES
from tasktracker.adapters.mongo.webhooks import WEBHOOK_DELIVERY_INDEXES, WEBHOOK_INDEXES

log = logging.getLogger(__name__)

CODEC_OPTIONS: CodecOptions = CodecOptions(tz_aware=True, tzinfo=UTC)

USER_INDEXES = [
    IndexModel([("email", ASCENDING)], unique=True, name="email_unique"),
    IndexModel([("username_key", ASCENDING)], unique=True, name="username_unique"),
    IndexModel([("role", ASCENDING), ("active", ASCENDING)], name="role_active"),
]

LATEST_DUE_DATE = datetime(9999, 12, 31, tzinfo=UTC)

# One index per list path: each list order's sort key (adapters/mongo/tasks.py sort_keys), and
# the default order behind each equality filter. `status, due_date` serves the summary counts.
TASK_INDEXES = [
    IndexModel([("sk_created", DESCENDING)], name="created"),
    IndexModel([("sk_updated", DESCENDING)], name="updated"),
    IndexModel([("sk_due", ASCENDING)], name="due"),
    IndexModel([("sk_priority", DESCENDING)], name="priority_order"),
    IndexModel([("assignee", ASCENDING), ("sk_created", DESCENDING)], name="assignee_created"),
    IndexModel(
        [("assignee", ASCENDING), ("status", ASCENDING), ("sk_created", DESCENDING)],
        name="assignee_status_created",
    ),
    IndexModel([("status", ASCENDING), ("sk_created", DESCENDING)], name="status_created"),
    IndexModel([("priority", ASCENDING), ("sk_created", DESCENDING)], name="priority_created"),
    IndexModel([("reporter", ASCENDING), ("sk_created", DESCENDING)], name="reporter_created"),
    IndexModel([("status", ASCENDING), ("due_date", ASCENDING)], name="status_due"),
    # Projects: a task by key (or a key it had before a move); each list order within a
    # project; the per-project summary counts.
    IndexModel([("key", ASCENDING)], name="key"),
    IndexModel([("former_keys", ASCENDING)], name="former_keys"),
    IndexModel([("project_id", ASCENDING), ("sk_created", DESCENDING)], name="project_created"),
    IndexModel([("project_id", ASCENDING), ("sk_updated", DESCENDING)], name="project_updated"),
    IndexModel([("project_id", ASCENDING), ("sk_due", ASCENDING)], name="project_due"),
    IndexModel(
        [("project_id", ASCENDING), ("sk_priority", DESCENDING)], name="project_priority_order"
    ),
    IndexModel(
        [("project_id", ASCENDING), ("status", ASCENDING), ("due_date", ASCENDING)],
        name="project_status_due",
    ),
    IndexModel(
        [("status", ASCENDING), ("project_id", ASCENDING), ("sk_created", DESCENDING)],
        name="status_project_created",
    ),
    # An assignee's tasks within the caller's projects ("mine", `assignee=` filters).
    IndexModel(
        [("assignee", ASCENDING), ("project_id", ASCENDING), ("sk_created", DESCENDING)],
        name="assignee_project_created",
    ),
    IndexModel(
        [
            ("assignee", ASCENDING),
            ("status", ASCENDING),
            ("project_id", ASCENDING),
            ("sk_created", DESCENDING),
        ],
        name="assignee_status_project_created",
    ),
    # Overdue / due-soon (`status $in [...]` plus a due_date range): the status of tasks that
    # have a due date. MongoDB can use `status_due` for that shape, but SecantusDB's planner
    # only serves `$in` + a range through a partial index that absorbs the range clause
    # (otherwise it scans the collection); `$lt` stands in for `$type: date`, which it cannot
    # reason about.
    IndexModel(
        [("status", ASCENDING)],
        name="status_dated",
        partialFilterExpression={"due_date": {"$lt": LATEST_DUE_DATE}},
    ),
]


PROJECT_INDEXES = [IndexModel([("key", ASCENDING)], unique=True, name="key_unique")]

MEMBERSHIP_INDEXES = [
    IndexModel([("user_id", ASCENDING)], name="user"),
    IndexModel([("project_id", ASCENDING), ("user_id", ASCENDING)], name="project_user"),
    IndexModel([("project_id", ASCENDING), ("role", ASCENDING)], name="project_role"),
]

SESSION_INDEXES = [
    IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
    IndexModel([("user_id", ASCENDING), ("revoked_at", ASCENDING)], name="user_live"),
]


def connect(url: str, *, timeout_ms: int = 5000, embedded: bool = False) -> MongoClient:
    """A client for `url`. For the embedded server, retryable writes are off: SecantusDB keeps
    a record per retryable write that makes every later write dearer (≈ 1 ms a write fresh,
    ≈ 12 ms after 10 000), and an in-process server has no failover for them to survive;
    transactions still retry their commit (unit_of_work.commit). A MONGO_URL keeps the driver's
    default or what the URL says."""
    options = {"retryWrites": False} if embedded else {}
    return MongoClient(
        url,
        tz_aware=True,
        tzinfo=UTC,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        appname="tasktracker",
        **options,
    )


def database(client: MongoClient, name: str) -> Database:
    return client.get_database(name, codec_options=CODEC_OPTIONS)


def ensure_indexes(db: Database) -> None:
    db.users.create_indexes(USER_INDEXES)
    db.tasks.create_indexes(TASK_INDEXES)
    db.task_counts.create_indexes(TASK_COUNT_INDEXES)
    db.projects.create_indexes(PROJECT_INDEXES)
    db.memberships.create_indexes(MEMBERSHIP_INDEXES)
    db.comments.create_indexes(COMMENT_INDEXES)
    db.activity.create_indexes(ACTIVITY_INDEXES)
    db.watchers.create_indexes(WATCHER_INDEXES)
    db.sessions.create_indexes(SESSION_INDEXES)
    db.access_tokens.create_indexes(TOKEN_INDEXES)
    db.outbox.create_indexes(OUTBOX_INDEXES)
    db.deliveries.create_indexes(DELIVERY_INDEXES)
    db.password_resets.create_indexes(RESET_INDEXES)
    db.alert_schedules.create_indexes(SCHEDULE_INDEXES)
    db.alert_runs.create_indexes(RUN_INDEXES)
    db.calendar_feeds.create_indexes(CALENDAR_FEED_INDEXES)
    db.webhooks.create_indexes(WEBHOOK_INDEXES)
    db.webhook_deliveries.create_indexes(WEBHOOK_DELIVERY_INDEXES)
    db.reminders.create_indexes(REMINDER_INDEXES)
    for collection, indexes in NOTIFICATION_INDEXES.items():
        db[collection].create_indexes(indexes)


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


class DatabaseProbe:
    """Readiness: MongoDB answers a ping."""

    def __init__(self, client: MongoClient) -> None:
        self._client = client

    def ping(self) -> bool:
        try:
            self._client.admin.command("ping")
        except PyMongoError as exc:
            log.warning("readiness: MongoDB ping failed: %s", type(exc).__name__)
            return False
        return True
