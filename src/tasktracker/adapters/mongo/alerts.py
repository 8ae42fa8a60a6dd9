"""Alert collections: schedules, the runs that fired, the scheduler lease, and the digest read
(one aggregation over the pending tasks, then a look-up each of memberships, users, projects),
plus the newest comment of each task a digest letter lists."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from tasktracker.adapters.mongo.ids import object_id_or_none
from tasktracker.adapters.mongo.projects import membership_id
from tasktracker.domain.comments import excerpt
from tasktracker.domain.schedules import (
    AlreadyFired,
    DigestGroup,
    DigestTask,
    MemberDigest,
    Recipient,
    Schedule,
    ScheduleKind,
    merge_digests,
)
from tasktracker.domain.tasks import Status

SCHEDULE_INDEXES = [IndexModel([("created_at", ASCENDING)], name="created")]
RUN_INDEXES = [IndexModel([("expire_at", ASCENDING)], expireAfterSeconds=0, name="expire")]
PENDING_STATUSES = [str(Status.OPEN), str(Status.IN_PROGRESS)]
PENDING_INDEX = "status_due"
# How many ids one `$in` lookup of the digest carries.
IN_BATCH = 1000
# How much of a task's newest comment a digest shows.
COMMENT_EXCERPT_LENGTH = 120


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
    """Open and in-progress tasks grouped by (assignee, project, dated or not).

    Each group keeps its counts and its first `cap` tasks by due date then age ($topN:
    bounded memory per group); expressions run in accumulators only, never once per task in a
    stage of their own. Which groups a member may see (their memberships), who is active, and
    the merge into one digest per member happen in `PendingTaskDigests.digests`: a handful of
    `_id` lookups over the groups rather than one join per task."""
    dated = {"$gt": ["$due_date", None]}
    before = {
        name: {"$sum": {"$cond": [{"$lt": ["$due_date", when]}, 1, 0]}}
        for name, when in (("before_now", now), ("before_soon", soon_until))
    }
    task = {
        "id": "$_id",
        "key": "$key",
        "title": "$title",
        "status": "$status",
        "priority": "$priority",
        "due_date": "$due_date",
        "created_key": "$sk_created",
    }
    return [
        {"$match": {"status": {"$in": PENDING_STATUSES}}},
        {
            "$group": {
                "_id": {"a": "$assignee", "p": "$project_id", "dated": dated},
                "total": {"$sum": 1},
                **before,
                "tasks": {
                    "$topN": {"n": cap, "sortBy": {"due_date": 1, "sk_created": 1}, "output": task}
                },
            }
        },
    ]


def digest_task_from_doc(
    t: dict[str, Any], project: dict[str, Any] | None, now: datetime, soon_until: datetime
) -> DigestTask:
    key = t.get("key") or ""
    return DigestTask(
        id=str(t["id"]),
        title=t["title"],
        status=t["status"],
        priority=t.get("priority") or "medium",
        due_date=(due := t.get("due_date")),
        overdue=due is not None and due < now,
        due_soon=due is not None and now <= due < soon_until,
        key=key,
        project_id=str(project["_id"]) if project else "",
        # A project deleted meanwhile: its key as the task's key still shows it.
        project_key=project["key"] if project else key.rpartition("-")[0],
        project_name=project.get("name", "") if project else "",
        created_key=t.get("created_key") or "",
    )


def digest_group_from_doc(
    doc: dict[str, Any], project: dict[str, Any] | None, now: datetime, soon_until: datetime
) -> DigestGroup:
    dated = doc["_id"]["dated"]
    return DigestGroup(
        user_id=doc["_id"]["a"],
        project_id=doc["_id"]["p"],
        total=doc["total"],
        overdue=doc["before_now"] if dated else 0,
        due_soon=doc["before_soon"] - doc["before_now"] if dated else 0,
        tasks=[digest_task_from_doc(t, project, now, soon_until) for t in doc["tasks"]],
    )


def _ids(values: Iterable[str]) -> list[ObjectId]:
    return [oid for v in values if (oid := object_id_or_none(v)) is not None]


def _batches(values: Iterable[Any], size: int = IN_BATCH) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class PendingTaskDigests:
    def __init__(self, db: Database) -> None:
        self._tasks = db.tasks
        self._memberships = db.memberships
        self._users = db.users
        self._projects = db.projects

    def digests(self, now: datetime, soon_until: datetime, cap: int) -> list[MemberDigest]:
        """Every active member with pending tasks in projects they belong to.

        One aggregation read through the `status_due` index (status is its prefix) groups the
        pending tasks by (assignee, project, dated); then one `_id $in` read each (in batches)
        finds which of those (project, assignee) memberships exist, which assignees are active
        and what the projects are called; `merge_digests` drops the groups of projects a
        member left and merges the rest."""
        pipeline = pending_digest_pipeline(now, soon_until, cap)
        cursor = self._tasks.aggregate(pipeline, hint=PENDING_INDEX, allowDiskUse=True)
        rows = [
            doc
            for doc in cursor
            if isinstance(doc["_id"].get("a"), str) and isinstance(doc["_id"].get("p"), str)
        ]
        pairs = {(doc["_id"]["p"], doc["_id"]["a"]) for doc in rows}
        memberships = self._existing_memberships(pairs)
        rows = [doc for doc in rows if (doc["_id"]["p"], doc["_id"]["a"]) in memberships]
        recipients = self._active_recipients({doc["_id"]["a"] for doc in rows})
        projects = self._projects_by_id({doc["_id"]["p"] for doc in rows})
        groups = [
            digest_group_from_doc(doc, projects.get(doc["_id"]["p"]), now, soon_until)
            for doc in rows
        ]
        return merge_digests(groups, recipients, memberships, cap)

    def _existing_memberships(self, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for batch in _batches(sorted(pairs)):
            by_id = {
                membership_id(project_id, user_id): (project_id, user_id)
                for project_id, user_id in batch
            }
            docs = self._memberships.find({"_id": {"$in": list(by_id)}}, {"_id": 1})
            found.update(by_id[d["_id"]] for d in docs)
        return found

    def _active_recipients(self, user_ids: set[str]) -> dict[str, Recipient]:
        recipients: dict[str, Recipient] = {}
        for batch in _batches(_ids(sorted(user_ids))):
            docs = self._users.find(
                # Missing preferences mean "on": only an explicit `false` turns the digest off.
                {"_id": {"$in": batch}, "active": True, "notifications.digest": {"$ne": False}},
                {"username": 1, "email": 1},
            )
            for d in docs:
                recipients[str(d["_id"])] = Recipient(d["username"], d["email"])
        return recipients

    def _projects_by_id(self, project_ids: set[str]) -> dict[str, dict[str, Any]]:
        projects: dict[str, dict[str, Any]] = {}
        for batch in _batches(_ids(sorted(project_ids))):
            for d in self._projects.find({"_id": {"$in": batch}}, {"key": 1, "name": 1}):
                projects[str(d["_id"])] = d
        return projects


class NewestCommentReader:
    """A digest line's newest live comment: one read per task through the comments'
    `task_created` index (backwards, so it stops at the first live one), then the authors'
    usernames in one look-up."""

    def __init__(self, db: Database, excerpt_length: int = COMMENT_EXCERPT_LENGTH) -> None:
        self._comments = db.comments
        self._users = db.users
        self._length = excerpt_length

    def newest(self, task_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        found: dict[str, dict[str, Any]] = {}
        for task_id in dict.fromkeys(task_ids):
            doc = self._comments.find_one(
                {"task_id": task_id, "deleted_at": None, "body": {"$type": "string"}},
                {"author": 1, "body": 1},
                sort=[("created_at", DESCENDING), ("_id", DESCENDING)],
            )
            if doc:
                found[task_id] = doc
        names = self._usernames({d.get("author") for d in found.values()})
        return {
            task_id: (names.get(d.get("author"), "someone"), short_excerpt(d["body"], self._length))
            for task_id, d in found.items()
        }

    def _usernames(self, user_ids: set[Any]) -> dict[str, str]:
        ids = _ids(sorted(u for u in user_ids if isinstance(u, str)))
        docs = self._users.find({"_id": {"$in": ids}}, {"username": 1}) if ids else []
        return {str(d["_id"]): d["username"] for d in docs}


def short_excerpt(body: str, length: int) -> str:
    """A comment's start on one line, for a digest: whitespace collapsed, cut at `length`."""
    return excerpt(" ".join(body.split()), length)
