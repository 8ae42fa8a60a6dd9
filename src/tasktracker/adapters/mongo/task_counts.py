"""The `task_counts` collection: each project's task counters (domain/task_counts.py): by status,
and the open tasks by the UTC month, day and hour they are due.

Every task write that creates or deletes a task, moves it, changes its status or an open task's
due hour adds its change in its own transaction (`TaskCountRepository.apply`, through the unit of
work), so the summary routes read counts instead of counting tasks: a few small documents,
whatever the number of tasks. The overdue count of `GET /api/v1/tasks/summary` is the due-month
counts of the months before this one, plus the due-day counts of this month's days before today,
plus the due-hour counts of today's hours before the current one, plus an index range count of
the open tasks due earlier in the current hour (task_queries.py `overdue_queries`): at most one
hour's tasks are counted.

A project's counters are documents of four kinds per slot: a status document
`<project id>:<slot>` with a number per status (`{"kind": "status", "open": 3, "done": 1}`), a
month document `<project id>:<slot>:month` with a number per month (`{"kind": "month", "month":
{"2024-05": 2}}`; a task write's `$inc` of `month.2024-05` makes the month's field), per month a
due document `<project id>:<slot>:due:<month>` with a number per day of that month (`{"kind":
"due", "period": "2024-05", "due": {"2024-05-06": 2}}`), and per day an hour document
`<project id>:<slot>:hour:<day>` with a number per hour of that day (`{"kind": "hour",
"period": "2024-05-06", "hour": {"2024-05-06T13": 2}}`); the counts are their sums. The month
documents grow by a field a month; the due and hour documents are many (a document per month
and per day), but the task summary (`read_sums`) reads only this month's and today's: four
index lookups, one per kind (`sums_queries`), each an equality on the kind (and period) and at
most one `$in` of projects, the shape SecantusDB serves from an index (it scans for a `$in` of
periods beside one of projects, and serves a hinted lookup in ~80 ms whatever its size, so one
lookup of all four kinds is slower there). The legacy status summary (`read_counts`) reads the
status documents only. SecantusDB decodes a whole document before it projects, so no read
fetches a document of another kind. A month's, day's or hour's number may be 0, and in one slot
negative; summed over a project's documents it is never negative.

Slot 0, the base, holds the counts of the project's tasks, written once (migrations.build_counts)
as a status document with `v: COUNTS_VERSION`, a month document, a due document per month and
an hour document per day; slots 1 to SLOTS hold the changes of the task writes since. A base
without that `v` (v1: before the due-day counters; v2: the due days inside the status
documents; v3: every due day in one document per slot) is built again at start-up. Two
transactions that write the same document collide (WriteConflict, then ConcurrentChange, and the
service runs the loser again); with one document per project every two concurrent status
changes in a project would collide. Each write picks a slot at random and writes the documents
of that one slot that its change has numbers for, so concurrent writes in one project mostly
land on different documents, and a retried one most likely on others.
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
    HOUR,
    HOUR_FORMAT,
    MONTH,
    CountChange,
    CounterSums,
    TaskCounts,
    due_field,
    hour_field,
    month_field,
    parse_hour,
    summed,
)
from tasktracker.domain.tasks import Status

BASE_SLOT = 0
SLOTS = 16  # the slots task writes add their changes to: 1 to SLOTS
# The base of a project's counters is current when its status document has this `v`: 2 since the
# due-day counters, 3 since they are in documents of their own, 4 since the due-month and
# due-hour counters (with the due days in a document per month).
COUNTS_VERSION = 4
# The kinds of counter documents (their `kind`): numbers by status, by due month, by due day (a
# document per month), by due hour (a document per day). The last two have a `period`: the
# month or the day their numbers are in.
STATUS_KIND = "status"
MONTH_KIND = "month"
DUE_KIND = "due"
HOUR_KIND = "hour"
# counter field -> the kind of document that holds it, and how much of its key names the period
# of that document ("2024-05" of "2024-05-06", "2024-05-06" of "2024-05-06T13")
PERIODS = {MONTH: (MONTH_KIND, 0), DUE: (DUE_KIND, 7), HOUR: (HOUR_KIND, 10)}
TASK_COUNT_INDEXES = [
    # a project's documents of every kind (a project's deletion, the build)
    IndexModel([("project_id", ASCENDING)], name="project"),
    # the status documents alone, or the month documents: of some projects (an equality prefix,
    # or `$in` after it) or of all (the legacy status summary, the task summary)
    IndexModel([("kind", ASCENDING), ("project_id", ASCENDING)], name="kind_project"),
    # one month's due documents or one day's hour documents, of some projects or of all (the
    # task summary's this month and today)
    IndexModel(
        [("kind", ASCENDING), ("period", ASCENDING), ("project_id", ASCENDING)],
        name="kind_period_project",
    ),
]
# What a counter document is read for: its numbers by status (the legacy status summary)...
NUMBERS = {"_id": 0, **{str(s): 1 for s in Status}}
# ... its numbers by due month, day or hour (the summary's overdue count).
MONTH_NUMBERS = {"_id": 0, MONTH: 1}
DUE_NUMBERS = {"_id": 0, DUE: 1}
HOUR_NUMBERS = {"_id": 0, HOUR: 1}
# The statuses of open tasks (those that count in a due day, and can be overdue).
OPEN_STATUSES = [str(s) for s in Status if s is not Status.DONE]
# Before every date. A range from it leaves out null (which sorts before every date in an
# index) and anything that is not a date.
EARLIEST_DATE = datetime(1, 1, 1, tzinfo=UTC)


def slot_id(project_id: str, slot: int, kind: str = STATUS_KIND) -> str:
    """The `_id` of a project's counter document of `kind` in `slot` (a due or hour document's
    kind being "due:<month>" or "hour:<day>", `document_kind`)."""
    return f"{project_id}:{slot}" if kind == STATUS_KIND else f"{project_id}:{slot}:{kind}"


def document_kind(name: str) -> str:
    """Which of a slot's documents holds the counter field `name`: "status", "month",
    "due:<YYYY-MM>" (the day's month) or "hour:<YYYY-MM-DD>" (the hour's day)."""
    prefix, _, key = name.partition(".")
    if prefix not in PERIODS:
        return STATUS_KIND
    kind, period = PERIODS[prefix]
    return f"{kind}:{key[:period]}" if period else kind


def by_kind(by_field: dict[str, int]) -> dict[str, dict[str, int]]:
    """A project's counter fields by the document that holds them (`document_kind`; documents
    with no field left out)."""
    split: dict[str, dict[str, int]] = {}
    for name, n in by_field.items():
        split.setdefault(document_kind(name), {})[name] = n
    return split


def identity(project_id: str, kind: str) -> dict[str, str]:
    """The fields a counter document of `kind` (`document_kind`) is found by: its project, its
    kind and, for a due or an hour document, its period."""
    kind, _, period = kind.partition(":")
    return {"project_id": project_id, "kind": kind, **({"period": period} if period else {})}


def random_slot() -> int:
    return random.randint(1, SLOTS)


class TaskCountRepository:
    """Counters, written inside the transaction of `session` when one is given."""

    def __init__(self, db: Database, session: ClientSession | None = None) -> None:
        self._counts = db.task_counts
        self._session = session

    def apply(self, change: CountChange) -> None:
        """Add each project's change to one slot picked at random: its status numbers to the
        slot's status document, its due-month numbers to the slot's month document, its due-day
        numbers to the slot's due document of their month, its due-hour numbers to the slot's
        hour document of their day (each written only when the change has numbers for it)."""
        for project_id, by_field in change.items():
            slot = random_slot()
            for kind, fields in by_kind(by_field).items():
                self._counts.update_one(
                    {"_id": slot_id(project_id, slot, kind)},
                    {"$inc": fields, "$setOnInsert": identity(project_id, kind)},
                    upsert=True,
                    session=self._session,
                )

    def delete_project(self, project_id: str) -> None:
        """Delete the project's counter documents of every kind."""
        self._counts.delete_many({"project_id": project_id}, session=self._session)


def in_projects(projects: tuple[str, ...] | None) -> dict[str, Any]:
    if projects is None:
        return {}
    if len(projects) == 1:
        return {"project_id": projects[0]}
    return {"project_id": {"$in": list(projects)}}


def status_query(projects: tuple[str, ...] | None) -> dict[str, Any]:
    """The status documents within `projects` (None: every project): served by `kind_project`,
    so no document of another kind is fetched."""
    return {"kind": STATUS_KIND, **in_projects(projects)}


def sums_queries(
    projects: tuple[str, ...] | None, day: date
) -> list[tuple[dict[str, Any], dict[str, int]]]:
    """What the task summary reads (`read_sums`) within `projects` on `day`, each with the
    numbers it reads: the status documents and the month documents (`kind_project`), `day`'s
    month's due documents and `day`'s hour documents (`kind_period_project`). Four index
    lookups of documents whose number does not grow with the tasks."""
    scope = in_projects(projects)
    return [
        (status_query(projects), NUMBERS),
        ({"kind": MONTH_KIND, **scope}, MONTH_NUMBERS),
        ({"kind": DUE_KIND, "period": day.isoformat()[:7], **scope}, DUE_NUMBERS),
        ({"kind": HOUR_KIND, "period": day.isoformat(), **scope}, HOUR_NUMBERS),
    ]


def read_counts(db: Database, projects: tuple[str, ...] | None) -> TaskCounts:
    """The counts by status and the total within `projects` (None: every project), from the
    status documents only."""
    return summed(db.task_counts.find(status_query(projects), NUMBERS))


def read_sums(db: Database, projects: tuple[str, ...] | None, day: date) -> CounterSums:
    """The counts by status and the open tasks by due month, by due day of `day`'s month and by
    due hour of `day`, within `projects` (`sums_queries`)."""
    queries = sums_queries(projects, day)
    return CounterSums.of(row for q, fields in queries for row in db.task_counts.find(q, fields))


def base_documents(project_id: str, fields: dict[str, int]) -> list[dict[str, Any]]:
    """A project's base counter documents holding `fields` (counter field -> n): the status
    document (with `v: COUNTS_VERSION`), the month document, a due document per month and an
    hour document per day."""
    by_document = by_kind(fields)
    by_document.pop(STATUS_KIND, None)
    by_document.setdefault(MONTH_KIND, {})
    statuses = {str(s): fields.get(str(s), 0) for s in Status}
    status = {"project_id": project_id, "kind": STATUS_KIND, "v": COUNTS_VERSION, **statuses}
    return [
        {"_id": slot_id(project_id, BASE_SLOT), **status},
        *(
            {"_id": slot_id(project_id, BASE_SLOT, kind), **identity(project_id, kind), **nested}
            for kind, nested in sorted(stored_numbers(by_document).items())
        ),
    ]


def stored_numbers(by_document: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    """Counter fields "<kind>.<key>" by document, as stored: each document's numbers in a
    sub-document named after its kind ("month", "due", "hour"), a number per key."""
    return {
        kind: {kind.partition(":")[0]: {n.partition(".")[2]: v for n, v in numbers.items()}}
        for kind, numbers in by_document.items()
    }


def group_counts(
    db: Database, project_id: str, session: ClientSession | None = None
) -> dict[str, int]:
    """A project's counter fields, from the tasks themselves: the tasks by status (one
    `$group`) and the open tasks with a due date by UTC hour (another, on the same snapshot
    inside a transaction), which add up to their days and months. Only date-typed due dates
    count, as in the range count (`overdue_queries`)."""
    by_status = [
        {"$match": {"project_id": project_id}},
        {"$group": {"_id": "$status", "n": {"$sum": 1}}},
    ]
    by_hour = [
        {
            "$match": {
                "project_id": project_id,
                "status": {"$in": OPEN_STATUSES},
                "due_date": {"$gte": EARLIEST_DATE},
            }
        },
        {
            "$group": {
                "_id": {"$dateToString": {"format": HOUR_FORMAT, "date": "$due_date"}},
                "n": {"$sum": 1},
            }
        },
    ]
    fields = {row["_id"]: row["n"] for row in db.tasks.aggregate(by_status, session=session)}
    for row in db.tasks.aggregate(by_hour, session=session):
        hour = parse_hour(row["_id"])
        for name in (month_field(hour.date()), due_field(hour.date()), hour_field(hour)):
            fields[name] = fields.get(name, 0) + row["n"]
    return fields
