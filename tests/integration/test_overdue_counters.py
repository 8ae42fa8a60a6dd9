"""The overdue count of `GET /api/v1/tasks/summary` on the real server: the due-day counters
(open tasks by the UTC day they are due, in the task counter documents) for the days before
today, the due-hour counters for today's hours before the current one, plus an index range
count of the open tasks due earlier in the current hour. The counters follow every kind of task
write, a base from before them is built again at start-up, and the count always equals the
overdue tasks counted one by one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tasktracker.adapters.mongo import task_queries
from tasktracker.adapters.mongo.task_counts import COUNTS_VERSION
from tasktracker.api.app import create_app
from tasktracker.bootstrap import Container
from tasktracker.settings import Settings
from tests.support.api import Account, Api, make_team
from tests.support.clock import Clock
from tests.support.task_counts import (
    STATUSES,
    assert_counts_follow_the_tasks,
    brute_force_overdue,
    counters,
    day_start,
)

TASKS = "/api/v1/tasks"
NOON = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
TODAY = day_start(NOON)


@pytest.fixture
def clock() -> Clock:
    """Frozen at NOON, moved only by the test: 'now' is exact around the day's boundaries."""
    return Clock(NOON)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def summary(api: Api, who: Account) -> dict[str, int]:
    r = api.client.get(f"{TASKS}/summary", headers=who.headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def visible(api: Api, who: Account) -> tuple[str, ...] | None:
    services = api.container.services
    return services.projects.actor(services.accounts.get(who.id)).visible_projects()


def overdue(api: Api, who: Account, clock: Clock) -> int:
    """The summary's overdue count, checked against the tasks counted one by one, and the
    counters against a recount."""
    db = api.container.adapters.db
    assert_counts_follow_the_tasks(db)
    found = summary(api, who)["overdue"]
    assert found == brute_force_overdue(db, clock(), visible(api, who))
    return found


def patch(api: Api, who: Account, task: dict[str, Any], **body: Any) -> dict[str, Any]:
    r = api.client.patch(f"{TASKS}/{task['id']}", json=body, headers=who.headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def due_days(api: Api, project_id: str) -> dict[date, int]:
    return counters(api.container.adapters.db).get(project_id, {}).get("due", {})


def test_due_days_follow_every_kind_of_task_write(api: Api, clock: Clock):
    team = make_team(api)
    memb, owner = team["memb"], team["owner"]
    yesterday = NOON - timedelta(days=1)
    dated = api.create_task(memb, project="OPS", title="dated", due_date=iso(yesterday))
    undated = api.create_task(memb, project="OPS", title="undated")
    ops = dated["project_id"]
    assert overdue(api, memb, clock) == 1
    assert due_days(api, ops) == {yesterday.date(): 1}

    patch(api, memb, dated, status="in_progress")  # still open: still counted
    assert overdue(api, memb, clock) == 1
    patch(api, memb, dated, status="done")  # leaves its day
    assert overdue(api, memb, clock) == 0
    assert due_days(api, ops) == {}
    patch(api, memb, dated, status="open")  # reopened
    assert overdue(api, memb, clock) == 1

    later = NOON + timedelta(days=2)
    patch(api, memb, dated, due_date=iso(later))  # another day: not overdue
    assert overdue(api, memb, clock) == 0
    assert due_days(api, ops) == {later.date(): 1}
    patch(api, memb, dated, due_date=iso(later + timedelta(hours=5)))  # the same day
    patch(api, memb, undated, due_date=iso(yesterday))
    patch(api, memb, dated, due_date=None)  # its day is left
    assert overdue(api, memb, clock) == 1
    assert due_days(api, ops) == {yesterday.date(): 1}

    gen = api.create_task(memb, title="in GEN", due_date=iso(NOON - timedelta(days=3)))
    r = api.client.patch(
        f"{TASKS}/{gen['id']}", json={"project": "OPS"}, headers=api.admin().headers
    )
    assert r.status_code == 200, r.get_json()  # moved into OPS: its day goes with it
    assert overdue(api, memb, clock) == 2
    assert overdue(api, team["outsider"], clock) == 0  # sees GEN only
    assert due_days(api, gen["project_id"]) == {}

    r = api.client.delete(f"{TASKS}/{undated['id']}", headers=owner.headers)
    assert r.status_code == 204
    assert overdue(api, memb, clock) == 1


def test_a_recurring_completion_moves_the_due_day_to_the_next_occurrence(api: Api, clock: Clock):
    alice = api.member()
    due = NOON - timedelta(days=2)
    weekly = api.create_task(alice, recurrence="FREQ=WEEKLY", due_date=iso(due))
    assert overdue(api, alice, clock) == 1
    api.finish_task(alice, weekly)  # done, and its next occurrence is created, open

    [nxt] = list(api.container.adapters.db.tasks.find({"status": "open"}))
    assert nxt["due_date"] > due
    assert due_days(api, weekly["project_id"]) == {nxt["due_date"].date(): 1}
    assert overdue(api, alice, clock) == (1 if nxt["due_date"] < NOON else 0)


def test_the_overdue_count_around_now(api: Api, clock: Clock):
    """Due yesterday, at midnight, earlier today, later today, tomorrow: the days before today
    and today's hours before the current one come from the counters, the current hour's from
    the range count, and what fell due before `now` is overdue as `now` crosses the day's due
    times, the hours and midnight."""
    alice = api.member()
    for title, due in {
        "yesterday": TODAY - timedelta(hours=1),
        "midnight": TODAY,
        "earlier today": NOON - timedelta(hours=4),
        "later today": NOON + timedelta(hours=3),
        "tomorrow": TODAY + timedelta(days=1, hours=9),
    }.items():
        api.create_task(alice, title=title, due_date=iso(due))
    api.create_task(alice, title="done", status="done", due_date=iso(TODAY - timedelta(days=1)))
    api.create_task(alice, title="in progress", status="in_progress", due_date=iso(TODAY))
    api.create_task(alice, title="no due date")

    assert overdue(api, alice, clock) == 4  # yesterday, midnight (two), earlier today
    clock.set(NOON + timedelta(hours=3))  # "later today" falls due now: not yet overdue
    assert overdue(api, alice, clock) == 4
    clock.advance(milliseconds=1)
    assert overdue(api, alice, clock) == 5
    clock.set(TODAY + timedelta(days=1))  # midnight: all of today is in the counters now
    assert overdue(api, alice, clock) == 5
    clock.set(TODAY + timedelta(days=1, hours=10))
    assert overdue(api, alice, clock) == 6


def test_the_summary_reads_the_counters_once_and_counts_this_hour_only(
    api: Api, clock: Clock, monkeypatch: pytest.MonkeyPatch
):
    alice = api.member()
    clock.set(NOON + timedelta(minutes=30))
    api.create_task(alice, due_date=iso(NOON - timedelta(days=5)))
    api.create_task(alice, due_date=iso(NOON - timedelta(hours=1)))
    api.create_task(alice, due_date=iso(NOON + timedelta(minutes=10)))
    api.create_task(alice, due_date=iso(NOON + timedelta(minutes=50)))  # not yet
    reads: list[str] = []
    ranges: list[datetime] = []
    read_sums, read_counts = task_queries.read_sums, task_queries.read_counts
    queries = task_queries.overdue_queries

    def overdue_queries(now: datetime, projects: Any, since: datetime = NOON) -> Any:
        ranges.append(since)
        return queries(now, projects, since)

    monkeypatch.setattr(task_queries, "read_sums", lambda *a: reads.append("sums") or read_sums(*a))
    monkeypatch.setattr(
        task_queries, "read_counts", lambda *a: reads.append("counts") or read_counts(*a)
    )
    monkeypatch.setattr(task_queries, "overdue_queries", overdue_queries)

    assert summary(api, alice) == {
        "open": 4, "in_progress": 0, "done": 0, "total": 4, "overdue": 3
    }  # fmt: skip
    assert (reads, ranges) == (["sums"], [NOON])  # the range starts at the current hour


# --- a base from before the due-day counters ------------------------------------------------


def restart(make_container: Callable[[Settings], Container], settings: Settings) -> Api:
    container = make_container(settings)
    return Api(create_app(container.services).test_client(), container)


def as_written_by(db: Any, version: int) -> None:
    """Turn the counter documents into those an earlier version wrote: v1 (before the due-day
    counters) had numbers by status only and no `v`; v2 kept each slot's due days in its status
    document (`due`), with `v: 2` on the base; neither had a `kind`. v3 had a status document
    and one due document (`<slot>:due`, every day) per slot, with `v: 3` on the base, and no
    month or hour documents."""
    docs = list(db.task_counts.find())
    db.task_counts.delete_many({})
    merged: dict[str, dict[str, Any]] = {}
    for doc in docs:
        status_id = ":".join(doc["_id"].split(":")[:2])
        old = merged.setdefault(status_id, {"_id": status_id, "project_id": doc["project_id"]})
        old.update({s: doc[s] for s in STATUSES if s in doc})
        old.setdefault("due", {}).update(doc.get("due", {}))
        if status_id.endswith(":0") and version > 1:
            old["v"] = version
    for old in merged.values():
        due = old.pop("due")
        if version == 2:
            old["due"] = due
        if version == 3:
            old["kind"] = "status"
            db.task_counts.insert_one(
                {"_id": f"{old['_id']}:due", "project_id": old["project_id"], "kind": "due"}
                | {"due": due}
            )
        db.task_counts.insert_one(old)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_base_of_an_earlier_layout_is_built_again_at_start_up(
    api: Api, clock: Clock, make_container, settings: Settings, version: int
):
    """A database whose counters were written by an earlier version: v1, before the due-day
    counters (a base with counts by status only, no `v`, and slots with status changes only),
    or v2, with each slot's due days inside its status document, or v3, with every due day in
    one document per slot and no due-month or due-hour counters. The next start-up builds the
    base again, as a status document, a month document, a due document per month and an hour
    document per day, and deletes the old slots; the one after changes nothing."""
    db = api.container.adapters.db
    team = make_team(api)
    memb = team["memb"]
    for n, (status, days) in enumerate(
        [
            ("open", -3),
            ("in_progress", -1),
            ("done", -2),
            ("open", 1),
            ("open", None),
            ("open", -0.25),  # earlier today: a due-hour counter
        ]
    ):
        where = {"project": "OPS"} if n % 2 else {}
        due = {} if days is None else {"due_date": iso(NOON + timedelta(days=days))}
        api.create_task(memb, status=status, **where, **due)
    expected = summary(api, memb)
    assert expected["overdue"] == 3
    as_written_by(db, version)
    # no counters of the current layout: only this hour's range count, which is empty
    assert summary(api, memb)["overdue"] == 0
    if version < 3:
        assert db.task_counts.count_documents({"kind": {"$exists": True}}) == 0

    again = restart(make_container, settings)

    assert overdue(again, memb, clock) == 3
    assert summary(again, memb) == expected
    bases = list(db.task_counts.find({"_id": {"$regex": ":0$"}}))
    assert bases and all(b["v"] == COUNTS_VERSION and b["kind"] == "status" for b in bases)
    month_bases = {d["_id"] for d in db.task_counts.find({"kind": "month"})}
    assert month_bases == {f"{b['_id']}:month" for b in bases}
    for kind in ("due", "hour"):  # a base document per month or day
        found = list(db.task_counts.find({"kind": kind}))
        assert found and all(d["_id"] == f"{d['project_id']}:0:{kind}:{d['period']}" for d in found)
    assert all(d["_id"].split(":")[1] == "0" for d in db.task_counts.find())  # old slots folded in
    assert_counts_follow_the_tasks(db)
    before = list(db.task_counts.find().sort("_id"))
    restart(make_container, settings)  # a second start changes nothing
    assert list(db.task_counts.find().sort("_id")) == before
