"""The `task_counts` collection: each project's task counters (domain/task_counts.py): by status,
and the open tasks by the UTC day they are due.

Every task write that creates or deletes a task, moves it, changes its status or an open task's
due day adds its change in its own transaction (`TaskCountRepository.apply`, through the unit of
work), so the summary routes read counts instead of counting tasks: one `find` of a few small
documents, whatever the number of tasks. The overdue count of `GET /api/v1/tasks/summary` is
the due-day counts of the days before today plus an index range count of the open tasks due
earlier today (task_queries.py `overdue_queries`): at most one day's tasks are counted.

A project's counters are documents of two kinds per slot: a status document `<project id>:<slot>`
with a number per status (`{"kind": "status", "open": 3, "done": 1}`), and a due document
`<project id>:<slot>:due` with a number per day (`{"kind": "due", "due": {"2024-05-06": 2}}`; a
task write's `$inc` of `due.2024-05-06` makes the day's field); the counts are their sums. The
due documents grow with the days (a field for every day a change touched), so they are kept
apart: the legacy status summary (`read_counts`) reads the status documents only, an index
lookup (`kind_project`) that never fetches a due document (SecantusDB decodes a whole document
before it projects); the task summary (`read_sums`) reads both kinds in one `find`. A day's
number may be 0, and in one slot negative; summed over a project's documents it is never
negative.

Slot 0, the base, holds the counts of the project's tasks, written once (migrations.build_counts)
as a status document with `v: COUNTS_VERSION` and a due document; slots 1 to SLOTS hold the
changes of the task writes since. A base without that `v` (v1: before the due-day counters; v2:
the due days inside the status documents) is built again at start-up. Two transactions that
write the same document collide (WriteConflict, then ConcurrentChange, and the service runs the
loser again); with one document per project every two concurrent status changes in a project
would collide. Each write picks a slot at random and writes the status document and/or the due
document of that one slot, so concurrent writes in one project mostly land on different
documents, and a retried one most likely on others.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.client_session import ClientSession
from pymongo.database import Database

from tasktracker.domain.task_counts import (
    DUE,
    CountChange,
    CounterSums,
    TaskCounts,
    due_field,
    summed,
)
from tasktracker.domain.tasks import Status

BASE_SLOT = 0
SLOTS = 16  # the slots task writes add their changes to: 1 to SLOTS
# The base of a project's counters is current when its status document has this `v`: 2 since the
# due-day counters, 3 since they are in documents of their own.
COUNTS_VERSION = 3
# The kinds of counter documents (their `kind`): numbers by status, numbers by due day.
STATUS_KIND = "status"
DUE_KIND = "due"
TASK_COUNT_INDEXES = [
    # a project's documents of both kinds (the task summary, a project's deletion, the build)
    IndexModel([("project_id", ASCENDING)], name="project"),
    # the status documents alone: of some projects (an equality prefix, or `$in` after it) or of
    # all (the legacy status summary)
    IndexModel([("kind", ASCENDING), ("project_id", ASCENDING)], name="kind_project"),
]
# What a counter document is read for: its numbers by status (the legacy status summary)...
NUMBERS = {"_id": 0, **{str(s): 1 for s in Status}}
# ... and with its due-day numbers (the summary with its overdue count).
NUMBERS_AND_DUE = {**NUMBERS, DUE: 1}
# The statuses of open tasks (those that count in a due day, and can be overdue).
OPEN_STATUSES = [str(s) for s in Status if s is not Status.DONE]
# Before every date. A range from it leaves out null (which sorts before every date in an
# index) and anything that is not a date.
EARLIEST_DATE = datetime(1, 1, 1, tzinfo=UTC)


def slot_id(project_id: str, slot: int, kind: str = STATUS_KIND) -> str:
    """The `_id` of a project's counter document of `kind` in `slot`."""
    return f"{project_id}:{slot}" if kind == STATUS_KIND else f"{project_id}:{slot}:{kind}"


def by_kind(by_field: dict[str, int]) -> dict[str, dict[str, int]]:
    """A project's counter fields by the kind of document that holds them (kinds with no field
    left out)."""
    prefix = DUE + "."
    split: dict[str, dict[str, int]] = {}
    for name, n in by_field.items():
        kind = DUE_KIND if name.startswith(prefix) else STATUS_KIND
        split.setdefault(kind, {})[name] = n
    return split


def random_slot() -> int:
    return random.randint(1, SLOTS)


class TaskCountRepository:
    """Counters, written inside the transaction of `session` when one is given."""

    def __init__(self, db: Database, session: ClientSession | None = None) -> None:
        self._counts = db.task_counts
        self._session = session

    def apply(self, change: CountChange) -> None:
        """Add each project's change to one slot picked at random: its status numbers to the
        slot's status document, its due-day numbers to the slot's due document (each written
        only when the change has numbers of its kind)."""
        for project_id, by_field in change.items():
            slot = random_slot()
            for kind, fields in by_kind(by_field).items():
                self._counts.update_one(
                    {"_id": slot_id(project_id, slot, kind)},
                    {"$inc": fields, "$setOnInsert": {"project_id": project_id, "kind": kind}},
                    upsert=True,
                    session=self._session,
                )

    def delete_project(self, project_id: str) -> None:
        """Delete the project's counter documents of both kinds."""
        self._counts.delete_many({"project_id": project_id}, session=self._session)


def in_projects(projects: tuple[str, ...] | None) -> dict[str, Any]:
    if projects is None:
        return {}
    if len(projects) == 1:
        return {"project_id": projects[0]}
    return {"project_id": {"$in": list(projects)}}


def status_query(projects: tuple[str, ...] | None) -> dict[str, Any]:
    """The status documents within `projects` (None: every project): served by `kind_project`,
    so no due document is fetched."""
    return {"kind": STATUS_KIND, **in_projects(projects)}


def read_counts(db: Database, projects: tuple[str, ...] | None) -> TaskCounts:
    """The counts by status and the total within `projects` (None: every project), from the
    status documents only."""
    return summed(db.task_counts.find(status_query(projects), NUMBERS))


def read_sums(db: Database, projects: tuple[str, ...] | None) -> CounterSums:
    """The counts by status and the open tasks by due day within `projects`: one `find` of the
    documents of both kinds (a status document has no `due`, a due document no status)."""
    return CounterSums.of(db.task_counts.find(in_projects(projects), NUMBERS_AND_DUE))


def base_documents(project_id: str, fields: dict[str, int]) -> list[dict[str, Any]]:
    """A project's base counter documents holding `fields` (counter field -> n): the status
    document (with `v: COUNTS_VERSION`) and the due document."""
    prefix = DUE + "."
    due = {name.removeprefix(prefix): n for name, n in fields.items() if name.startswith(prefix)}
    statuses = {str(s): fields.get(str(s), 0) for s in Status}
    return [
        {
            "_id": slot_id(project_id, BASE_SLOT),
            "project_id": project_id,
            "kind": STATUS_KIND,
            "v": COUNTS_VERSION,
            **statuses,
        },
        {
            "_id": slot_id(project_id, BASE_SLOT, DUE_KIND),
            "project_id": project_id,
            "kind": DUE_KIND,
            DUE: due,
        },
    ]


def group_counts(
    db: Database, project_id: str, session: ClientSession | None = None
) -> dict[str, int]:
    """A project's counter fields, from the tasks themselves: the tasks by status (one
    `$group`) and the open tasks with a due date by UTC day (another, on the same snapshot
    inside a transaction). Only date-typed due dates count, as in the range count
    (`overdue_queries`)."""
    by_status = [
        {"$match": {"project_id": project_id}},
        {"$group": {"_id": "$status", "n": {"$sum": 1}}},
    ]
    by_day = [
        {
            "$match": {
                "project_id": project_id,
                "status": {"$in": OPEN_STATUSES},
                "due_date": {"$gte": EARLIEST_DATE},
            }
        },
        {
            "$group": {
                "_id": {"$dateToString": {"format": "%Y-%m-%d", "date": "$due_date"}},
                "n": {"$sum": 1},
            }
        },
    ]
    fields = {row["_id"]: row["n"] for row in db.tasks.aggregate(by_status, session=session)}
    for row in db.tasks.aggregate(by_day, session=session):
        fields[due_field(date.fromisoformat(row["_id"]))] = row["n"]
    return fields
