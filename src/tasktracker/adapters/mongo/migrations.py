"""Start-up data migrations, each recorded in the `migrations` collection once it finished.

Each one is idempotent and works in batches: running it again (or on two replicas starting at
once) changes nothing that is already done. A migration interrupted half-way simply runs again
on the next start.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import TypeVar

from pymongo import ASCENDING, MongoClient, UpdateOne
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from tasktracker.adapters.mongo.ids import in_chunks
from tasktracker.adapters.mongo.projects import MembershipRepository, ProjectRepository
from tasktracker.adapters.mongo.task_counts import (
    BASE_SLOT,
    COUNTS_VERSION,
    base_documents,
    group_counts,
    slot_id,
)
from tasktracker.adapters.mongo.unit_of_work import commit, raise_for_transient
from tasktracker.domain.errors import ConcurrentChange
from tasktracker.domain.projects import Membership, Project, ProjectRole, task_key

log = logging.getLogger(__name__)
T = TypeVar("T")

TASKS_INTO_DEFAULT_PROJECT = "0001_tasks_into_default_project"
USERS_JOIN_DEFAULT_PROJECT = "0002_users_join_default_project"
# A build that collides with another (every process builds at start-up) retries after a random
# pause of up to COUNT_BUILD_PAUSE, doubling to COUNT_BUILD_PAUSE_MAX, for COUNT_BUILD_PATIENCE
# seconds: the other build holds the documents it replaced until it commits.
COUNT_BUILD_PAUSE = 0.05
COUNT_BUILD_PAUSE_MAX = 2.0
COUNT_BUILD_PATIENCE = 120.0


def migrate(
    db: Database, default_project: Project, batch_size: int, now: datetime
) -> dict[str, int]:
    """Run every migration not recorded as finished; answers how many records each changed."""
    steps: dict[str, Callable[[], int]] = {
        TASKS_INTO_DEFAULT_PROJECT: lambda: move_tasks_into(db, default_project, batch_size),
        USERS_JOIN_DEFAULT_PROJECT: lambda: join_everyone(db, default_project, batch_size, now),
    }
    done: dict[str, int] = {}
    for name, step in steps.items():
        if db.migrations.find_one({"_id": name, "finished_at": {"$ne": None}}):
            continue
        db.migrations.update_one(
            {"_id": name}, {"$set": {"started_at": now, "finished_at": None}}, upsert=True
        )
        done[name] = step()
        db.migrations.update_one(
            {"_id": name}, {"$set": {"finished_at": now, "changed": done[name]}}
        )
        log.info("migration %s finished: %d records changed", name, done[name])
    return done


def move_tasks_into(db: Database, project: Project, batch_size: int) -> int:
    """Tasks written before projects existed join `project`, each with the next key."""
    projects = ProjectRepository(db)
    project_less = db.tasks.find({"project_id": {"$exists": False}}, {"_id": 1}).sort("_id", 1)
    moved = 0
    for batch in batches((doc["_id"] for doc in project_less), batch_size):
        first = projects.reserve_task_numbers(project.id, len(batch))
        updates = [
            UpdateOne(
                {"_id": oid, "project_id": {"$exists": False}},
                {
                    "$set": {
                        "project_id": project.id,
                        "key": task_key(project.key, first + offset),
                        "former_keys": [],
                    }
                },
            )
            for offset, oid in enumerate(batch)
        ]
        moved += db.tasks.bulk_write(updates, ordered=False).modified_count
    return moved


def join_everyone(db: Database, project: Project, batch_size: int, now: datetime) -> int:
    """Every existing user becomes a member of `project` (existing memberships are kept)."""
    memberships = MembershipRepository(db)
    user_ids = (str(doc["_id"]) for doc in db.users.find({}, {"_id": 1}).sort("_id", 1))
    joined = 0
    for batch in batches(user_ids, batch_size):
        joined += memberships.add_many(
            [Membership(project.id, uid, ProjectRole.MEMBER, now) for uid in batch]
        )
    return joined


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


# --- task counters (adapters/mongo/task_counts.py) ---------------------------------------------


def build_missing_counts(client: MongoClient, db: Database) -> int:
    """Build the base counts of every project that has no current one: every project of a
    database from before the counters, projects created since the last start-up, and projects
    whose base is of an earlier layout (no `v: COUNTS_VERSION`: from before the due-day
    counters, with the due days inside the status documents, or before the due-month and
    due-hour counters). Not recorded as done: every
    start-up looks (a read of the project ids and of their base status documents), after the
    migrations above, so the tasks they moved are counted. Answers how many it built."""
    project_ids = [str(d["_id"]) for d in db.projects.find({}, {"_id": 1}).sort("_id", ASCENDING)]
    based = {
        doc["project_id"]
        for chunk in in_chunks(project_ids)
        for doc in db.task_counts.find(
            {"_id": {"$in": [slot_id(p, BASE_SLOT) for p in chunk]}}, {"project_id": 1, "v": 1}
        )
        if doc.get("v") == COUNTS_VERSION
    }
    built = sum(build_counts(client, db, p) for p in project_ids if p not in based)
    if built:
        log.info("task counters built for %d project(s)", built)
    return built


def build_counts(client: MongoClient, db: Database, project_id: str) -> bool:
    """Give a project its base counts, from a `$group` of its tasks by status and one of its
    open tasks by due day, unless it has a current base (then nothing is written: False). A
    base of an earlier layout (without `v: COUNTS_VERSION`) is not current: it is replaced like
    any other counter document the build sees, and so are the old slot documents (with their
    due days inside).

    One transaction, which reads one snapshot and is run again when it collides with a writer:
    it counts the tasks, replaces the counter documents it sees, of every kind (whose changes
    are all in its count: each was committed with its task write, and an old base counted tasks
    the snapshot holds), by the base documents with the count, and commits. A task write the
    snapshot does not see is not in the count; it adds its change to the status and/or the
    due-date documents of one slot. When the build saw any of them (and deletes it), one of the
    two transactions rolls back and runs again; when it saw neither, they are
    documents it never saw, which then hold just that change. Either way every task is counted
    once. Tasks written without being counted (by a bulk load around the counters), or counted
    in an earlier layout (by a replica of a previous version during an upgrade: a slot document
    without `kind` is not read by the legacy status summary) are counted by the next build of
    their project (delete its base to have one). A build that collides with another build
    waits for it: it tries again after a growing random pause, until the other's base is
    there (COUNT_BUILD_PATIENCE)."""
    give_up_at = time.monotonic() + COUNT_BUILD_PATIENCE
    pause = COUNT_BUILD_PAUSE
    while True:
        try:
            return _build_counts_once(client, db, project_id)
        except ConcurrentChange:
            if time.monotonic() >= give_up_at:
                raise
        # A random pause, so builds that collided do not collide again in step.
        time.sleep(random.uniform(0, pause))
        pause = min(pause * 2, COUNT_BUILD_PAUSE_MAX)


def _build_counts_once(client: MongoClient, db: Database, project_id: str) -> bool:
    base = slot_id(project_id, BASE_SLOT)
    with client.start_session() as session:
        try:
            session.start_transaction()
            current = {"_id": base, "v": COUNTS_VERSION}
            if db.task_counts.find_one(current, {"_id": 1}, session=session):
                session.abort_transaction()
                return False
            fields = group_counts(db, project_id, session)
            db.task_counts.delete_many({"project_id": project_id}, session=session)
            for doc in base_documents(project_id, fields):  # one by one: a duplicate base
                db.task_counts.insert_one(doc, session=session)  # raises DuplicateKeyError
            commit(session)
        except PyMongoError as error:
            if session.in_transaction:
                session.abort_transaction()
            if isinstance(error, DuplicateKeyError):  # another build's base got there first
                raise ConcurrentChange("counters built meanwhile") from error
            raise_for_transient(error)
            raise
    return True
