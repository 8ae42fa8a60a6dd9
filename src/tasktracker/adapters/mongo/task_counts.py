"""The `task_counts` collection: each project's task counters by status (domain/task_counts.py).

Every task write that creates or deletes a task, moves it or changes its status adds its change
in its own transaction (`TaskCountRepository.apply`, through the unit of work), so the summary
routes read counts instead of counting tasks: one `find` of a few small documents, whatever the
number of tasks.

A project's counters are documents `<project id>:<slot>` with a number per status; the counts
are their sums. Slot 0, the base, holds the counts of a `$group` of the project's tasks, written
once (migrations.build_counts); slots 1 to SLOTS hold the changes of the task writes since.
Two transactions that write the same document collide (WriteConflict, then ConcurrentChange, and
the service runs the loser again); with one document per project every two concurrent status
changes in a project would collide. Each write picks a slot at random, so concurrent writes in
one project mostly land on different documents, and a retried one most likely on another.
"""

from __future__ import annotations

import random
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.client_session import ClientSession
from pymongo.database import Database

from tasktracker.domain.task_counts import CountChange, TaskCounts, summed
from tasktracker.domain.tasks import Status

BASE_SLOT = 0
SLOTS = 16  # the slots task writes add their changes to: 1 to SLOTS
TASK_COUNT_INDEXES = [IndexModel([("project_id", ASCENDING)], name="project")]
# What a counter document is read for: its numbers.
NUMBERS = {"_id": 0, **{str(s): 1 for s in Status}}


def slot_id(project_id: str, slot: int) -> str:
    return f"{project_id}:{slot}"


def random_slot() -> int:
    return random.randint(1, SLOTS)


class TaskCountRepository:
    """Counters, written inside the transaction of `session` when one is given."""

    def __init__(self, db: Database, session: ClientSession | None = None) -> None:
        self._counts = db.task_counts
        self._session = session

    def apply(self, change: CountChange) -> None:
        for project_id, by_status in change.items():
            self._counts.update_one(
                {"_id": slot_id(project_id, random_slot())},
                {
                    "$inc": {str(status): n for status, n in by_status.items()},
                    "$setOnInsert": {"project_id": project_id},
                },
                upsert=True,
                session=self._session,
            )

    def delete_project(self, project_id: str) -> None:
        self._counts.delete_many({"project_id": project_id}, session=self._session)


def read_counts(db: Database, projects: tuple[str, ...] | None) -> TaskCounts:
    """The counts by status and the total within `projects` (None: every project)."""
    if projects is None:
        query: dict[str, Any] = {}
    elif len(projects) == 1:
        query = {"project_id": projects[0]}
    else:
        query = {"project_id": {"$in": list(projects)}}
    return summed(db.task_counts.find(query, NUMBERS))


def group_by_status(
    db: Database, project_id: str, session: ClientSession | None = None
) -> dict[str, int]:
    """A project's tasks counted by status, from the tasks themselves (one `$group`)."""
    pipeline = [
        {"$match": {"project_id": project_id}},
        {"$group": {"_id": "$status", "n": {"$sum": 1}}},
    ]
    return {row["_id"]: row["n"] for row in db.tasks.aggregate(pipeline, session=session)}
