"""Start-up data migrations, each recorded in the `migrations` collection once it finished.

Each one is idempotent and works in batches: running it again (or on two replicas starting at
once) changes nothing that is already done. A migration interrupted half-way simply runs again
on the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import TypeVar

from pymongo import UpdateOne
from pymongo.database import Database

from tasktracker.adapters.mongo.projects import MembershipRepository, ProjectRepository
from tasktracker.domain.projects import Membership, Project, ProjectRole, task_key

log = logging.getLogger(__name__)
T = TypeVar("T")

TASKS_INTO_DEFAULT_PROJECT = "0001_tasks_into_default_project"
USERS_JOIN_DEFAULT_PROJECT = "0002_users_join_default_project"


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
