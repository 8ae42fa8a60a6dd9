"""Alert collections: schedules, the runs that fired, the scheduler lease, and the one
aggregation that gathers every member's pending tasks."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from tasktracker.domain.schedules import (
    AlreadyFired,
    DigestTask,
    MemberDigest,
    Schedule,
    ScheduleKind,
)
from tasktracker.domain.tasks import Status

SCHEDULE_INDEXES = [IndexModel([("created_at", ASCENDING)], name="created")]
RUN_INDEXES = [IndexModel([("expire_at", ASCENDING)], expireAfterSeconds=0, name="expire")]
PENDING_STATUSES = [str(Status.OPEN), str(Status.IN_PROGRESS)]
PENDING_INDEX = "status_due"


def schedule_to_doc(s: Schedule) -> dict[str, Any]:
    return {
        "_id": s.id,
        "kind": str(s.kind),
        "created_at": s.created_at,
        "run_at": s.run_at,
        "time": s.time,
        "timezone": s.timezone,
        "created_by": s.created_by,
        "builtin": s.builtin,
        "last_run_at": s.last_run_at,
    }


def schedule_from_doc(doc: dict[str, Any]) -> Schedule:
    return Schedule(
        id=doc["_id"],
        kind=ScheduleKind(doc["kind"]),
        created_at=doc["created_at"],
        run_at=doc.get("run_at"),
        time=doc.get("time"),
        timezone=doc.get("timezone"),
        created_by=doc.get("created_by"),
        builtin=doc.get("builtin", False),
        last_run_at=doc.get("last_run_at"),
    )


class ScheduleRepository:
    def __init__(self, db: Database, session: ClientSession | None = None) -> None:
        self._schedules = db.alert_schedules
        self._session = session

    def add(self, schedule: Schedule) -> None:
        self._schedules.insert_one(schedule_to_doc(schedule), session=self._session)

    def put(self, schedule: Schedule) -> None:
        """Create or replace (the built-in digest follows its settings)."""
        doc = schedule_to_doc(schedule)
        self._schedules.replace_one({"_id": schedule.id}, doc, upsert=True, session=self._session)

    def get(self, schedule_id: str) -> Schedule | None:
        doc = self._schedules.find_one({"_id": schedule_id}, session=self._session)
        return schedule_from_doc(doc) if doc else None

    def all(self, limit: int = 1000) -> list[Schedule]:
        docs = self._schedules.find(session=self._session).sort("created_at", ASCENDING)
        docs = docs.limit(limit)
        return [schedule_from_doc(d) for d in docs]

    def delete(self, schedule_id: str) -> bool:
        result = self._schedules.delete_one({"_id": schedule_id}, session=self._session)
        return result.deleted_count == 1

    def finish_run(self, schedule: Schedule, now: datetime) -> None:
        """A one-off schedule is done once it fired; a daily one remembers when it last ran."""
        if schedule.one_off:
            self._schedules.delete_one({"_id": schedule.id}, session=self._session)
        else:
            self._schedules.update_one(
                {"_id": schedule.id}, {"$set": {"last_run_at": now}}, session=self._session
            )


class AlertRunRepository:
    """One document per firing, keyed by its deterministic run id."""

    def __init__(
        self,
        db: Database,
        session: ClientSession | None = None,
        retention: timedelta = timedelta(days=30),
    ) -> None:
        self._runs = db.alert_runs
        self._session = session
        self._retention = retention

    def exists(self, run_id: str) -> bool:
        return self._runs.count_documents({"_id": run_id}, limit=1, session=self._session) == 1

    def record(
        self,
        run_id: str,
        schedule_id: str,
        fire_time: datetime,
        members: int,
        now: datetime,
    ) -> None:
        doc = {
            "_id": run_id,
            "schedule_id": schedule_id,
            "fire_time": fire_time,
            "members": members,
            "recorded_at": now,
            "expire_at": now + self._retention,
        }
        try:
            self._runs.insert_one(doc, session=self._session)
        except DuplicateKeyError:
            raise AlreadyFired(run_id) from None


class LeaseRepository:
    """A renewable lease: one document per name, held by one owner until `expires_at`."""

    def __init__(self, db: Database) -> None:
        self._leases = db.scheduler_leases

    def acquire(self, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the lease; False while another owner holds it."""
        try:
            doc = self._leases.find_one_and_update(
                {"_id": name, "$or": [{"owner": owner}, {"expires_at": {"$lte": now}}]},
                {"$set": {"owner": owner, "expires_at": now + ttl, "renewed_at": now}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False  # the document exists and someone else holds it
        return doc is not None and doc.get("owner") == owner

    def release(self, name: str, owner: str) -> None:
        self._leases.delete_one({"_id": name, "owner": owner})

    def holder(self, name: str) -> dict[str, Any] | None:
        return self._leases.find_one({"_id": name})


def pending_digest_pipeline(now: datetime, soon_until: datetime, cap: int) -> list[dict]:
    """Open and in-progress tasks grouped by assignee, joined with active users.

    Due-date order is digest order (overdue, then due soon, then later), except that undated
    tasks must come last: the first $group splits each member's tasks into dated and undated,
    keeping counts and the first `cap` of each by due date then age ($topN: bounded memory
    per member); the second merges the two, dated first. Expressions run in accumulators only,
    never once per task in a stage of their own."""
    dated = {"$gt": ["$due_date", None]}
    before = {
        name: {"$sum": {"$cond": [{"$lt": ["$due_date", when]}, 1, 0]}}
        for name, when in (("before_now", now), ("before_soon", soon_until))
    }
    task = {
        "id": "$_id",
        "title": "$title",
        "status": "$status",
        "priority": "$priority",
        "due_date": "$due_date",
    }
    first_part = {"$arrayElemAt": ["$parts", 0]}
    second_part = {"$ifNull": [{"$arrayElemAt": ["$parts", 1]}, []]}
    return [
        {"$match": {"status": {"$in": PENDING_STATUSES}}},
        {
            "$group": {
                "_id": {"a": "$assignee", "dated": dated},
                "total": {"$sum": 1},
                **before,
                "tasks": {
                    "$topN": {"n": cap, "sortBy": {"due_date": 1, "sk_created": 1}, "output": task}
                },
            }
        },
        {"$sort": {"_id.a": 1, "_id.dated": -1}},
        {
            "$group": {
                "_id": "$_id.a",
                "total": {"$sum": "$total"},
                "overdue": {"$sum": {"$cond": ["$_id.dated", "$before_now", 0]}},
                "due_soon": {
                    "$sum": {
                        "$cond": ["$_id.dated", {"$subtract": ["$before_soon", "$before_now"]}, 0]
                    }
                },
                "parts": {"$push": "$tasks"},
            }
        },
        {
            "$addFields": {
                "tasks": {"$slice": [{"$concatArrays": [first_part, second_part]}, cap]},
                "user_oid": {
                    "$convert": {"input": "$_id", "to": "objectId", "onError": None, "onNull": None}
                },
            }
        },
        {
            "$lookup": {
                "from": "users",
                "localField": "user_oid",
                "foreignField": "_id",
                "as": "user",
            }
        },
        {"$unwind": "$user"},
        {"$match": {"user.active": True}},
        {
            "$project": {
                "total": 1,
                "overdue": 1,
                "due_soon": 1,
                "tasks": 1,
                "username": "$user.username",
                "email": "$user.email",
            }
        },
        {"$sort": {"_id": 1}},
    ]


def digest_from_doc(doc: dict[str, Any], now: datetime, soon_until: datetime) -> MemberDigest:
    tasks = [
        DigestTask(
            id=str(t["id"]),
            title=t["title"],
            status=t["status"],
            priority=t.get("priority") or "medium",
            due_date=(due := t.get("due_date")),
            overdue=due is not None and due < now,
            due_soon=due is not None and now <= due < soon_until,
        )
        for t in doc["tasks"]
    ]
    return MemberDigest(
        user_id=doc["_id"],
        username=doc["username"],
        email=doc["email"],
        total=doc["total"],
        overdue=doc["overdue"],
        due_soon=doc["due_soon"],
        tasks=tasks,
    )


class PendingTaskDigests:
    def __init__(self, db: Database) -> None:
        self._tasks = db.tasks

    def digests(self, now: datetime, soon_until: datetime, cap: int) -> list[MemberDigest]:
        """Every active member with pending tasks, in one aggregation read through the
        `status_due` index (status is its prefix)."""
        pipeline = pending_digest_pipeline(now, soon_until, cap)
        cursor = self._tasks.aggregate(pipeline, hint=PENDING_INDEX, allowDiskUse=True)
        return [digest_from_doc(doc, now, soon_until) for doc in cursor]
