"""The task counters as stored (adapters/mongo/task_counts.py) against a recount of the tasks,
and the overdue count done the slow way: what the integration tests check the counters with."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from pymongo.database import Database

from tasktracker.domain.task_counts import parse_hour, parse_month, utc_hour

STATUSES = ("open", "in_progress", "done")
# the due-date counters: their sub-document in a counter document, and how a key is read
UNITS: dict[str, Callable[[str], Any]] = {
    "month": parse_month,
    "due": date.fromisoformat,
    "hour": parse_hour,
}


def utc_day(moment: datetime) -> date:
    """The UTC day of `moment` (a naive one is taken as UTC, as stored dates are)."""
    return utc_hour(moment).date()


def day_start(moment: datetime) -> datetime:
    """Midnight UTC at the start of `moment`'s UTC day."""
    return utc_hour(moment).replace(hour=0)


def recount(db: Database) -> dict[str, dict[str, Any]]:
    """Per project with tasks: counts by status, and its open tasks by UTC due month ("month",
    by its first day), day ("due") and hour ("hour"), counted from the tasks."""
    counts: dict[str, Counter[str]] = {}
    dated: dict[str, dict[str, Counter[Any]]] = {}
    for doc in db.tasks.find({}, {"project_id": 1, "status": 1, "due_date": 1}):
        counts.setdefault(doc["project_id"], Counter())[doc["status"]] += 1
        if doc.get("due_date") is not None and doc["status"] != "done":
            day = utc_day(doc["due_date"])
            found = dated.setdefault(doc["project_id"], {u: Counter() for u in UNITS})
            found["month"][day.replace(day=1)] += 1
            found["due"][day] += 1
            found["hour"][utc_hour(doc["due_date"])] += 1
    return {
        p: {
            **{s: c[s] for s in STATUSES},
            **{u: dict(dated.get(p, {}).get(u, {})) for u in UNITS},
        }
        for p, c in counts.items()
    }


def assert_counter_layout(doc: dict[str, Any]) -> None:
    """A counter document is of one kind: a status document `<project>:<slot>` with numbers by
    status, a month document `<project>:<slot>:month` with numbers by month, a due document
    `<project>:<slot>:due:<month>` with numbers by day of its month, or an hour document
    `<project>:<slot>:hour:<day>` with numbers by hour of its day."""
    project, slot = doc["project_id"], doc["_id"].removeprefix(f"{doc['project_id']}:")
    kind = doc["kind"]
    assert kind in ("status", *UNITS), doc
    others = {*STATUSES, *UNITS} - ({kind} if kind != "status" else set(STATUSES))
    assert not any(name in doc for name in others), doc
    if kind == "status":
        assert slot.isdigit() and 0 <= int(slot) <= 16, doc
    elif kind == "month":
        assert slot.endswith(":month") and slot.removesuffix(":month").isdigit(), doc
    else:
        suffix = f":{kind}:{doc['period']}"
        assert slot.endswith(suffix) and slot.removesuffix(suffix).isdigit(), doc
        assert all(key.startswith(doc["period"]) for key in doc[kind]), doc
    assert doc["_id"].startswith(f"{project}:"), doc


def counters(db: Database) -> dict[str, dict[str, Any]]:
    """Per project with counts: counts by status, open tasks by due month, day and hour (keys
    adding up to 0 left out), added up from the counter documents (each checked to be of one
    kind)."""
    sums: dict[str, Counter[str]] = {}
    dated: dict[str, dict[str, Counter[Any]]] = {}
    for doc in db.task_counts.find():
        assert_counter_layout(doc)
        by_status = sums.setdefault(doc["project_id"], Counter())
        found = dated.setdefault(doc["project_id"], {u: Counter() for u in UNITS})
        for status in STATUSES:
            by_status[status] += doc.get(status, 0)
        for unit, parse in UNITS.items():
            for key, n in (doc.get(unit) or {}).items():
                found[unit][parse(key)] += n
    result = {}
    for p, c in sums.items():
        nonzero = {u: {k: n for k, n in dated[p][u].items() if n} for u in UNITS}
        if any(c.values()) or any(nonzero.values()):
            result[p] = {**{s: c[s] for s in STATUSES}, **nonzero}
    return result


def assert_counts_follow_the_tasks(db: Database) -> None:
    assert counters(db) == recount(db)


def brute_force_overdue(db: Database, now: datetime, projects: tuple[str, ...] | None) -> int:
    """Open tasks due before `now` within `projects` (None: all), each task looked at."""
    found = 0
    for doc in db.tasks.find({}, {"project_id": 1, "status": 1, "due_date": 1}):
        due = doc.get("due_date")
        if projects is not None and doc["project_id"] not in projects:
            continue
        if due is not None and doc["status"] != "done" and due.astimezone(UTC) < now:
            found += 1
    return found
