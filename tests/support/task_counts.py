"""The task counters as stored (adapters/mongo/task_counts.py) against a recount of the tasks,
and the overdue count done the slow way: what the integration tests check the counters with."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from pymongo.database import Database

from tasktracker.domain.task_counts import parse_hour, utc_day, utc_hour

STATUSES = ("open", "in_progress", "done")


def recount(db: Database) -> dict[str, dict[str, Any]]:
    """Per project with tasks: counts by status, and its open tasks by UTC due day ("due") and
    by UTC due hour ("hour"), counted from the tasks."""
    counts: dict[str, Counter[str]] = {}
    due: dict[str, Counter[date]] = {}
    hours: dict[str, Counter[datetime]] = {}
    for doc in db.tasks.find({}, {"project_id": 1, "status": 1, "due_date": 1}):
        counts.setdefault(doc["project_id"], Counter())[doc["status"]] += 1
        if doc.get("due_date") is not None and doc["status"] != "done":
            due.setdefault(doc["project_id"], Counter())[utc_day(doc["due_date"])] += 1
            hours.setdefault(doc["project_id"], Counter())[utc_hour(doc["due_date"])] += 1
    return {
        p: {
            **{s: c[s] for s in STATUSES},
            "due": dict(due.get(p, {})),
            "hour": dict(hours.get(p, {})),
        }
        for p, c in counts.items()
    }


def assert_counter_layout(doc: dict[str, Any]) -> None:
    """A counter document is of one kind: a status document `<project>:<slot>` with numbers by
    status (and no due days), a due document `<project>:<slot>:due` with numbers by day, or an
    hour document `<project>:<slot>:hour:<day>` with numbers by hour of its day."""
    project, slot = doc["project_id"], doc["_id"].removeprefix(f"{doc['project_id']}:")
    assert doc["kind"] in ("status", "due", "hour"), doc
    if doc["kind"] == "status":
        assert slot.isdigit() and 0 <= int(slot) <= 16, doc
        assert "due" not in doc and "hour" not in doc, doc
    elif doc["kind"] == "due":
        assert slot.endswith(":due") and slot.removesuffix(":due").isdigit(), doc
        assert not any(s in doc for s in STATUSES) and "hour" not in doc, doc
    else:
        suffix = f":hour:{doc['day']}"
        assert slot.endswith(suffix) and slot.removesuffix(suffix).isdigit(), doc
        assert all(h.startswith(doc["day"] + "T") for h in doc["hour"]), doc
        assert not any(s in doc for s in STATUSES) and "due" not in doc, doc
    assert doc["_id"].startswith(f"{project}:"), doc


def counters(db: Database) -> dict[str, dict[str, Any]]:
    """Per project with counts: counts by status, open tasks by due day ("due") and by due hour
    ("hour"; days and hours adding up to 0 left out), added up from the counter documents (each
    checked to be of one kind)."""
    sums: dict[str, Counter[str]] = {}
    due: dict[str, Counter[date]] = {}
    hours: dict[str, Counter[datetime]] = {}
    for doc in db.task_counts.find():
        assert_counter_layout(doc)
        by_status = sums.setdefault(doc["project_id"], Counter())
        by_day = due.setdefault(doc["project_id"], Counter())
        by_hour = hours.setdefault(doc["project_id"], Counter())
        for status in STATUSES:
            by_status[status] += doc.get(status, 0)
        for day, n in (doc.get("due") or {}).items():
            by_day[date.fromisoformat(day)] += n
        for hour, n in (doc.get("hour") or {}).items():
            by_hour[parse_hour(hour)] += n
    found = {}
    for p, c in sums.items():
        days = {day: n for day, n in due[p].items() if n}
        in_hours = {hour: n for hour, n in hours[p].items() if n}
        if any(c.values()) or days or in_hours:
            found[p] = {**{s: c[s] for s in STATUSES}, "due": days, "hour": in_hours}
    return found


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
