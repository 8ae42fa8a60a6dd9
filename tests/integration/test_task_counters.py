"""The per-project task counters behind `GET /api/v1/tasks/summary` and the legacy
`GET /tasks/status_summary`, on the real server: they follow every kind of task write, two
transactions that write one counter document collide and the loser runs again (no 409 for
changes of different tasks), a database written before the counters gets them at start-up, and
a start-up build beside a writer counts every task once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from tasktracker.adapters.mongo import migrations, task_counts
from tasktracker.adapters.mongo.task_counts import (
    TaskCountRepository,
    read_counts,
    read_sums,
    sums_queries,
)
from tasktracker.adapters.mongo.tasks import TaskRepository
from tasktracker.api.app import create_app
from tasktracker.bootstrap import Container
from tasktracker.settings import Settings
from tests.support.api import Account, Api, make_team, raw
from tests.support.task_counts import assert_counts_follow_the_tasks

TASKS = "/api/v1/tasks"


def summaries(api: Api, who: Account) -> tuple[dict[str, int], dict[str, int]]:
    """(the resource summary, the legacy status summary) as `who` sees them."""
    r = api.client.get(f"{TASKS}/summary", headers=who.headers)
    assert r.status_code == 200, r.get_json()
    legacy = api.client.get("/tasks/status_summary", headers=raw(who.token))
    assert legacy.status_code == 200, legacy.get_json()
    return r.get_json(), legacy.get_json()


def patch(api: Api, who: Account, task: dict[str, Any], **body: Any) -> dict[str, Any]:
    r = api.client.patch(f"{TASKS}/{task['id']}", json=body, headers=who.headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_the_summaries_follow_every_kind_of_task_write(api: Api):
    db = api.container.adapters.db
    team = make_team(api)
    owner, memb = team["owner"], team["memb"]
    a = api.create_task(memb, project="OPS", title="a")
    b = api.create_task(memb, project="OPS", title="b", status="in_progress")
    gen = api.create_task(memb, title="in GEN")
    weekly = api.create_task(
        memb, project="OPS", recurrence="FREQ=WEEKLY", due_date="2030-01-07T09:00:00Z"
    )
    assert_counts_follow_the_tasks(db)

    patch(api, memb, a, status="in_progress")
    patch(api, memb, b, status="done")
    patch(api, memb, b, status="open")  # reopened
    api.finish_task(memb, weekly)  # done, and its next occurrence is created, open
    patch(api, memb, a, title="renamed")  # no counter moves
    assert_counts_follow_the_tasks(db)
    resource, legacy = summaries(api, memb)
    assert legacy == {"open": 3, "in_progress": 1, "done": 1}
    assert resource == {**legacy, "total": 5, "overdue": 0}

    r = api.client.patch(
        f"{TASKS}/{gen['id']}", json={"project": "OPS", "status": "in_progress"},
        headers=api.admin().headers,
    )  # fmt: skip
    assert r.status_code == 200, r.get_json()  # moved into OPS and started, by an admin
    r = api.client.delete(f"{TASKS}/{a['id']}", headers=owner.headers)
    assert r.status_code == 204
    assert_counts_follow_the_tasks(db)
    assert summaries(api, memb)[1] == {"open": 2, "in_progress": 1, "done": 1}

    ops = api.client.get("/api/v1/projects/OPS", headers=owner.headers).get_json()
    r = api.client.patch("/api/v1/projects/OPS", json={"archived": True}, headers=owner.headers)
    assert r.status_code == 200, r.get_json()
    assert api.client.delete("/api/v1/projects/OPS", headers=owner.headers).status_code == 204
    assert db.task_counts.count_documents({"project_id": ops["id"]}) == 0
    assert_counts_follow_the_tasks(db)
    assert summaries(api, memb)[1] == {"open": 0, "in_progress": 0, "done": 0}


def plan_stages(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The stages of an explained plan, outermost first."""
    stages = [plan]
    while "inputStage" in plan:
        plan = plan["inputStage"]
        stages.append(plan)
    return stages


def test_each_counter_read_fetches_documents_of_its_kind_only(api: Api):
    """The due-day and due-hour numbers are in documents of their own: the legacy status
    summary's read is an index lookup of the status documents (`kind_project`), which examines
    no other document, for one project, several, or all; the task summary reads the status and
    month documents, one month's due documents and one day's hour documents, each an index
    lookup of its kind (and period) only."""
    db = api.container.adapters.db
    team = make_team(api)
    for n, status in enumerate(["open", "in_progress", "done", "open", "in_progress"]):
        where = {"project": "OPS"} if n % 2 else {}
        api.create_task(
            team["memb"], status=status, due_date=f"2030-01-{n + 1:02d}T09:00:00Z", **where
        )
    gen = str(db.projects.find_one({"key": "GEN"})["_id"])
    ops = str(db.projects.find_one({"key": "OPS"})["_id"])
    assert db.task_counts.count_documents({"project_id": gen, "kind": "due"}) >= 1
    assert db.task_counts.count_documents({"project_id": ops, "kind": "due"}) >= 1

    assert read_counts(db, (gen,)) == {"open": 1, "in_progress": 1, "done": 1, "total": 3}
    assert read_counts(db, (ops,)) == {"open": 1, "in_progress": 1, "done": 0, "total": 2}
    assert read_counts(db, None) == {"open": 2, "in_progress": 2, "done": 1, "total": 5}
    sums = read_sums(db, (gen,), date(2030, 1, 1))
    assert sums.counts == read_counts(db, (gen,))
    assert sum(sums.due.values()) == 2
    assert sums.hours == {datetime(2030, 1, 1, 9, tzinfo=UTC): 1}  # of that day only

    for projects in ((gen,), (gen, ops), None):
        for query, fields in sums_queries(projects, date(2030, 1, 1)):
            explained = db.command(
                "explain",
                {"find": "task_counts", "filter": query, "projection": fields},
                verbosity="executionStats",
            )
            stages = plan_stages(explained["queryPlanner"]["winningPlan"])
            scans = [(st["stage"], st.get("indexName")) for st in stages if "SCAN" in st["stage"]]
            index = "kind_period_project" if "period" in query else "kind_project"
            assert scans == [("IXSCAN", index)], query
            wanted = db.task_counts.count_documents(query)
            assert wanted >= 1
            stats = explained["executionStats"]
            assert stats["nReturned"] == wanted
            assert stats["totalDocsExamined"] == wanted, query  # no other kind fetched


def test_the_overdue_count_is_read_at_the_time_of_the_request(api: Api, clock):
    alice = api.member()
    due = clock() + timedelta(minutes=5)
    api.create_task(alice, title="due soon", due_date=due.isoformat())
    api.create_task(alice, title="no due date")
    assert summaries(api, alice)[0]["overdue"] == 0
    clock.advance(minutes=10)
    resource, legacy = summaries(api, alice)
    assert resource == {"open": 2, "in_progress": 0, "done": 0, "total": 2, "overdue": 1}
    assert legacy == {"open": 2, "in_progress": 0, "done": 0}


# --- concurrent writers -------------------------------------------------------------------------


@contextmanager
def one_slot(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every task write adds its change to the same counter document, so any two collide."""
    monkeypatch.setattr(task_counts, "random_slot", lambda: 1)
    yield


def in_another_request(app: Flask, call: Callable[[Any], Any]) -> Any:
    """Run `call(client)` in another thread, as a concurrent request, and wait for it."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(call(app.test_client())))
    thread.start()
    thread.join()
    return result[0]


def test_a_counter_collision_between_changes_of_two_tasks_is_retried_not_refused(
    api: Api, app: Flask, monkeypatch: pytest.MonkeyPatch
):
    """While one status change is inside its transaction, the status change of another task of
    the project commits the counter document it is about to write: its write collides
    (WriteConflict), its transaction rolls back, and it runs again and succeeds."""
    db = api.container.adapters.db
    alice = api.member()
    first, second = api.create_task(alice, title="first"), api.create_task(alice, title="second")
    original = TaskCountRepository.apply
    interfered = threading.Event()
    other: list[int] = []
    calls = []

    def apply_after_another_change(self: TaskCountRepository, change: Any) -> None:
        calls.append(change)
        if not interfered.is_set():
            interfered.set()
            url, body = f"{TASKS}/{second['id']}", {"status": "in_progress"}
            other.append(
                in_another_request(
                    app, lambda c: c.patch(url, json=body, headers=alice.headers).status_code
                )
            )
        original(self, change)

    with one_slot(monkeypatch):
        monkeypatch.setattr(TaskCountRepository, "apply", apply_after_another_change)
        r = api.client.patch(
            f"{TASKS}/{first['id']}", json={"status": "in_progress"}, headers=alice.headers
        )

    assert (r.status_code, other) == (200, [200]), r.get_json()
    assert len(calls) == 3  # this change, the other one, and this one again after colliding
    assert r.get_json()["version"] == 2
    stored = {d["title"]: d["status"] for d in db.tasks.find()}
    assert stored == {"first": "in_progress", "second": "in_progress"}
    assert_counts_follow_the_tasks(db)
    activity = db.activity.count_documents({"task_id": first["id"], "verb": {"$ne": "created"}})
    assert activity == 1  # the rolled-back attempt left nothing


def test_a_change_of_the_same_task_still_loses_the_race(
    api: Api, app: Flask, monkeypatch: pytest.MonkeyPatch
):
    """Completing a recurring task (its transaction first inserts the next occurrence) while
    another change of the same task commits: the task write collides, the transaction runs
    again, and its version check finds the other change: a 409, with no next occurrence."""
    db = api.container.adapters.db
    alice = api.member()
    task = api.create_task(alice, recurrence="FREQ=WEEKLY", due_date="2030-01-07T09:00:00Z")
    patch(api, alice, task, status="in_progress")
    original = TaskRepository.replace_if_version
    interfered = threading.Event()
    calls = []

    def replace_after_another_change(self: TaskRepository, *args: Any) -> bool:
        calls.append(args[0].title)
        if not interfered.is_set():
            interfered.set()
            url = f"{TASKS}/{task['id']}"
            in_another_request(
                app, lambda c: c.patch(url, json={"title": "theirs"}, headers=alice.headers)
            )
        return original(self, *args)

    monkeypatch.setattr(TaskRepository, "replace_if_version", replace_after_another_change)
    r = api.client.patch(f"{TASKS}/{task['id']}", json={"status": "done"}, headers=alice.headers)

    assert r.status_code == 409, r.get_json()
    assert calls == [task["title"], "theirs", task["title"]]  # collided, then ran again
    [stored] = db.tasks.find()
    assert (stored["title"], stored["status"], stored["version"]) == ("theirs", "in_progress", 3)
    assert stored["next_occurrence"] is None
    assert_counts_follow_the_tasks(db)


def test_concurrent_status_changes_in_one_project_keep_the_counts_right(
    api: Api, app: Flask, monkeypatch: pytest.MonkeyPatch
):
    db = api.container.adapters.db
    alice = api.member()
    tasks = [api.create_task(alice, title=f"t{n}") for n in range(6)]
    start = threading.Barrier(len(tasks))

    def walk(task: dict[str, Any]) -> list[int]:
        start.wait()
        codes = []
        with app.test_client() as client:
            for status in ("in_progress", "done", "open", "in_progress"):
                url = f"{TASKS}/{task['id']}"
                r = client.patch(url, json={"status": status}, headers=alice.headers)
                codes.append(r.status_code)
        return codes

    with one_slot(monkeypatch), ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        results = list(pool.map(walk, tasks))

    assert_counts_follow_the_tasks(db)
    # Each change was retried until it committed or its retries ran out (a 409, with nothing
    # changed); whichever it was, the counters match the tasks.
    assert {code for codes in results for code in codes} <= {200, 409}


# --- building the counters at start-up ----------------------------------------------------------


def restart(make_container: Callable[[Settings], Container], settings: Settings) -> Api:
    container = make_container(settings)
    return Api(create_app(container.services).test_client(), container)


def test_a_database_from_before_the_counters_gets_them_at_start_up(
    api: Api, make_container, settings: Settings
):
    db = api.container.adapters.db
    team = make_team(api)
    for n, status in enumerate(["open", "in_progress", "done", "open"]):
        where = {"project": "OPS"} if n % 2 else {}
        api.create_task(team["memb"], status=status, **where)
    db.task_counts.delete_many({})  # as written by the code from before the counters

    again = restart(make_container, settings)

    assert_counts_follow_the_tasks(db)
    resource, legacy = summaries(again, team["memb"])
    assert legacy == {"open": 2, "in_progress": 1, "done": 1}
    assert resource == {**legacy, "total": 4, "overdue": 0}
    before = list(db.task_counts.find().sort("_id"))
    restart(make_container, settings)  # a second start changes nothing
    assert list(db.task_counts.find().sort("_id")) == before


def test_tasks_written_around_the_counters_are_counted_by_the_next_build(
    api: Api, make_container, settings: Settings
):
    """A project whose base counts were never built (created since the last start, or by a
    replica of the previous version) has them built from its tasks at the next start-up, its
    task writes' changes folded in."""
    db = api.container.adapters.db
    alice = api.member()
    api.create_task(alice, status="in_progress")
    api.create_task(alice)
    gen = db.projects.find_one({"key": "GEN"})
    db.task_counts.delete_one({"_id": f"{gen['_id']}:0"})  # no base: never built
    db.tasks.insert_one({"project_id": str(gen["_id"]), "status": "done"})  # not counted

    restart(make_container, settings)

    assert_counts_follow_the_tasks(db)
    bases = db.task_counts.find({"project_id": str(gen["_id"])}, {"kind": 1}).sort("_id")
    assert [(d["_id"], d["kind"]) for d in bases] == [
        (f"{gen['_id']}:0", "status"),
        (f"{gen['_id']}:0:month", "month"),
    ]  # no task has a due date: no due or hour document


# What the build sees of the slot the writer writes (its status and due-date documents), and
# whether the two transactions then collide.
BUILD_SEES = {
    "both documents of the slot": True,
    "the slot's status document only": True,
    "the slot's due document only": True,
    "a new slot": False,
}


@pytest.mark.parametrize("slot", list(BUILD_SEES))
def test_a_build_beside_a_writer_counts_every_task_once(
    api: Api, app: Flask, monkeypatch: pytest.MonkeyPatch, slot: str
):
    """A task write commits while the build is between its count and its write: either the
    build deletes a counter document the writer wrote, its status or its due document (one of
    the two rolls back and runs again), or the writer's change sits in documents the build
    never saw. The counter documents deleted beforehand are what a build recounts anyway."""
    db, client = api.container.adapters.db, api.container.adapters.client
    alice = api.member()
    for day, status in enumerate(("open", "in_progress", "open"), start=7):
        api.create_task(alice, status=status, due_date=f"2030-01-{day:02d}T09:00:00Z")
    gen = str(db.projects.find_one({"key": "GEN"})["_id"])
    seen = db.task_counts.find_one(
        {"project_id": gen, "kind": "status", "_id": {"$ne": f"{gen}:0"}}
    )
    target = 7 if slot == "a new slot" else int(seen["_id"].rsplit(":", 1)[1])
    due_doc = f"{gen}:{target}:due:2030-01"  # the writer's due document: January 2030's
    assert db.task_counts.find_one({"_id": due_doc}) or slot == "a new slot"
    if slot == "a new slot":
        db.task_counts.delete_many({"project_id": gen})  # the build sees no document at all
    else:
        db.task_counts.delete_many({"_id": {"$regex": f"^{gen}:0(:|$)"}})  # the base's
    if slot == "the slot's status document only":  # none of its due-date documents
        db.task_counts.delete_many({"_id": {"$regex": f"^{gen}:{target}:"}})
    if slot == "the slot's due document only":
        db.task_counts.delete_many({"_id": {"$regex": f"^{gen}:{target}(:month|:hour:|$)"}})
    monkeypatch.setattr(task_counts, "random_slot", lambda: target)
    original = migrations.group_counts
    calls = []
    meanwhile = {"title": "meanwhile", "due_date": "2030-01-07T09:00:00Z"}

    def count_then_let_a_writer_in(*args: Any, **kwargs: Any) -> dict[str, int]:
        counted = original(*args, **kwargs)
        if not calls:
            in_another_request(app, lambda c: c.post(TASKS, json=meanwhile, headers=alice.headers))
        calls.append(counted)
        return counted

    monkeypatch.setattr(migrations, "group_counts", count_then_let_a_writer_in)
    assert migrations.build_counts(client, db, gen) is True

    assert db.tasks.count_documents({"title": "meanwhile"}) == 1
    assert_counts_follow_the_tasks(db)
    assert len(calls) == (2 if BUILD_SEES[slot] else 1)
    # after a collision the build ran again and folded the writer's documents into the base
    writers_due = db.task_counts.find_one({"_id": due_doc})
    assert (writers_due is None) == BUILD_SEES[slot]


def test_replicas_starting_together_all_start_and_build_the_counters_once(
    api: Api, monkeypatch: pytest.MonkeyPatch
):
    """Every process of a deployment builds what is missing at start-up, so after an upgrade
    that changes the counter layout they all rebuild the same project at once. The first to
    delete the old documents holds them until it commits, and the others collide with it:
    they must wait for it (each retries after a growing random pause) instead of spending
    their attempts at once and failing the start-up. Here the first one commits only after
    each of the others has tried five times (or given up)."""
    db, client = api.container.adapters.db, api.container.adapters.client
    alice = api.member()
    for day, status in enumerate(("open", "in_progress", "done", "open"), start=7):
        api.create_task(alice, status=status, due_date=f"2030-01-{day:02d}T09:00:00Z")
    db.task_counts.update_many({}, {"$unset": {"v": ""}})  # every base of an earlier layout
    replicas, tries = 4, 5  # five: as many as a build once had in all
    attempts: Counter[int] = Counter()
    finished: set[int] = set()
    changed = threading.Condition()
    together = threading.Barrier(replicas)
    count, write = migrations.group_counts, migrations.base_documents

    def count_together(*args: Any, **kwargs: Any) -> dict[str, int]:
        with changed:
            attempts[threading.get_ident()] += 1
            first = attempts[threading.get_ident()] == 1
            changed.notify_all()
        if first:
            together.wait(timeout=30)  # all count before any of them deletes
        return count(*args, **kwargs)

    def others_tried_or_gave_up(me: int) -> bool:
        others = [t for t in attempts if t != me]
        return len(others) == replicas - 1 and all(
            attempts[t] >= tries or t in finished for t in others
        )

    def write_once_the_others_tried(*args: Any, **kwargs: Any) -> Any:
        me = threading.get_ident()
        with changed:
            assert changed.wait_for(lambda: others_tried_or_gave_up(me), timeout=30)
        return write(*args, **kwargs)

    def start_up() -> int:
        try:
            return migrations.build_missing_counts(client, db)
        finally:
            with changed:
                finished.add(threading.get_ident())
                changed.notify_all()

    monkeypatch.setattr(migrations, "group_counts", count_together)
    monkeypatch.setattr(migrations, "base_documents", write_once_the_others_tried)
    with ThreadPoolExecutor(replicas) as pool:
        built = [start.result() for start in [pool.submit(start_up) for _ in range(replicas)]]

    assert sorted(built) == [0] * (replicas - 1) + [1]  # one built it; the others found it built
    assert_counts_follow_the_tasks(db)
