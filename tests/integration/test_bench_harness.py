"""The benchmark harness (bench/run.py, bench/scenario.lua) on a tiny local server: wrk runs the
Lua scenarios, the runner reads its result and the CPU time of processes from /proc. The
activity scenario's task histories are written through the real API served over HTTP, and the
floor app (bench/floor_app.py) reads and writes what the API does."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from bench.run import (
    BENCH_DIR,
    HISTORY_ENTRIES,
    DataRow,
    Processes,
    Row,
    WrkResult,
    errors,
    markdown,
    parse_args,
    prepare_history,
    previous_figures,
    run_wrk,
    targets,
    tree_cpu_seconds,
    wait_for_quiet,
    write_datafile,
    write_history,
)
from flask import Flask
from werkzeug.serving import make_server

from tasktracker.settings import Settings
from tests.support.api import Account, Api, raw
from tests.support.services import unavailable


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, str, str]] = []
    status = 200

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        Recorder.seen.append((self.command, self.path, self.headers.get("Authorization"), body))
        payload = b'{"ok": true}'
        self.send_response(Recorder.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, *args):
        pass


@contextmanager
def serving(httpd: Any) -> Iterator[str]:
    """Serve `httpd` (an http.server or wsgiref server) from a thread; its base URL."""
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server() -> Iterator[str]:
    Recorder.seen = []
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Recorder)) as base:
        yield base


@pytest.fixture
def datafile(tmp_path: Path) -> Path:
    path = tmp_path / "data.tsv"
    path.write_text("tok1\ttask1\ta@x.test\tpw one\ntok2\ttask2\tb@x.test\tpw two\n")
    return path


def wrk_args() -> argparse.Namespace:
    if not shutil.which("wrk"):
        unavailable("wrk is not installed (scripts/ensure-services.sh installs it)")
    return argparse.Namespace(threads=1, connections=2, duration="1s", timeout="5s")


@pytest.mark.parametrize(
    ("scenario", "method", "path"),
    [
        ("login", "POST", "/api/v1/auth/login"),
        ("get", "GET", "/api/v1/tasks/{task}"),
        ("mine", "GET", "/api/v1/tasks/mine?limit=50"),
        ("activity", "GET", "/api/v1/tasks/{task}/activity?limit=50"),
        ("summary", "GET", "/tasks/status_summary"),
        ("summary_v1", "GET", "/api/v1/tasks/summary"),
        ("recent", "GET", "/tasks/recent"),
        ("status", "PATCH", "/api/v1/tasks/{task}"),
        ("comment", "POST", "/api/v1/tasks/{task}/comments"),
        ("create", "POST", "/api/v1/tasks"),
    ],
)
def test_wrk_runs_each_scenario(server: str, datafile: Path, scenario, method, path):
    result = run_wrk(wrk_args(), server, scenario, datafile)
    assert result.requests > 10 and result.status_errors == 0
    assert 0 < result.p50_ms <= result.p99_ms
    methods = {m for m, *_ in Recorder.seen}
    assert methods == {method}
    assert {p for _, p, _, _ in Recorder.seen} == {path.format(task=t) for t in ("task1", "task2")}
    auths = {a for _, _, a, _ in Recorder.seen}
    if scenario == "login":
        bodies = {json.loads(b)["password"] for *_, b in Recorder.seen}
        assert bodies == {"pw one", "pw two"} and auths == {None}
    elif path.startswith("/tasks/"):  # the legacy routes: the token without a scheme
        assert auths == {"tok1", "tok2"}
    else:
        assert auths == {"Bearer tok1", "Bearer tok2"}
    if scenario == "status":
        targets_sent = {json.loads(b)["status"] for *_, b in Recorder.seen}
        assert targets_sent == {"open", "in_progress"}
    if scenario == "comment":
        assert all(json.loads(b)["body"].strip() for *_, b in Recorder.seen)


def test_failed_requests_are_counted_by_status(server: str, tmp_path: Path):
    datafile = tmp_path / "data.tsv"
    datafile.write_text("tok\tmissing\ta@x.test\tpw\n")
    Recorder.status = 404
    try:
        result = run_wrk(wrk_args(), server, "get", datafile)
    finally:
        Recorder.status = 200
    assert result.requests > 0 and result.status_errors == result.requests
    assert result.failures == (("404", result.requests),)
    assert errors(result) == f"{result.requests} (404: {result.requests})"


def test_cpu_time_of_a_process_tree_grows_with_work():
    me = Processes(frozenset({os.getpid()}))
    before = me.cpu_seconds()
    sum(i * i for i in range(2_000_000))
    assert me.cpu_seconds() > before
    assert not Processes()
    assert tree_cpu_seconds(set(), "no-such-command-line-anywhere") == 0.0


def result(rps: float, p50: float) -> WrkResult:
    return WrkResult(int(rps * 5), 5.0, 0, 0, p50, p50 * 3)


def test_table_and_targets_compare_with_the_floor():
    rows = [
        Row(1000, "get", result(600, 10), 2.0),
        Row(1000, "mine", result(200, 20), 5.0),
        Row(1000, "get", result(1000, 5), 0.8, floor=True),
        Row(100_000, "mine", result(190, 26), 5.1),
    ]
    table = markdown(rows)
    assert table.splitlines()[0].startswith("| tasks | endpoint | req/s | p50 ms | p99 ms |")
    assert "| 1,000 | get task by id | 600 | 10.00 | 30.00 | 2.00 | n/a | 0 | 0.60x" in table
    assert "floor: bare Flask + find_one" in table
    notes = targets(rows)
    assert "get by id at 1,000 tasks: 0.60x the floor (≥ 0.7x)" in notes
    assert "my tasks p50 at 100,000 / at 1,000 tasks: 1.30x (≤ 1.5x)" in notes


README_FIGURES = """Results of `make bench`:

| tasks | endpoint | req/s | p50 ms | ours/floor |
|---:|---|---:|---:|---|
| 1,000 | login | 6 | 1,140.46 |  |
| 100,000 | get task by id | 1,250 | 13.98 | 0.49x req/s, 2.05x p50 |

| tasks | endpoint | req/s |
|---:|---|---:|
| 1,000 | get task by id | 9 |
"""


def test_the_table_shows_the_readme_figures_next_to_this_run():
    previous = previous_figures(README_FIGURES)
    assert previous == {(1000, "login"): 6.0, (100_000, "get task by id"): 1250.0}
    rows = [Row(1000, "login", result(24, 300), 50.0), Row(100_000, "get", result(1000, 8), 1.0)]
    table = markdown(rows, previous).splitlines()
    assert table[0].endswith("| README req/s (now/then) |")
    assert table[2].endswith("| 6 (4.00x) |")
    assert table[3].endswith("| 1,250 (0.80x) |")
    assert markdown(rows).splitlines()[2].endswith("|  |")


def test_new_scenarios_are_compared_with_their_own_floor():
    rows = [
        Row(1000, "activity", result(300, 20), 3.0),
        Row(1000, "activity", result(600, 10), 1.0, floor=True),
        Row(1000, "comment", result(100, 60), 6.0),
        Row(1000, "comment", result(400, 15), 1.5, floor=True),
        Row(1000, "get", result(1000, 5), 0.8, floor=True),
    ]
    table = markdown(rows)
    assert (
        "| 1,000 | task activity (50) | 300 | 20.00 | 60.00 | 3.00 | n/a | 0 | 0.50x req/s, "
        "2.00x p50 |" in table
    )
    assert (
        "| 1,000 | add comment | 100 | 60.00 | 180.00 | 6.00 | n/a | 0 | 0.25x req/s, "
        "4.00x p50 |" in table
    )
    assert "| 1,000 | floor: bare Flask + find (50 entries) | 600 |" in table
    assert "| 1,000 | floor: bare Flask + find_one + insert_one | 400 |" in table
    assert "| 1,000 | floor: bare Flask + find_one | 1,000 |" in table
    assert not any(note.startswith("get by id") for note in targets(rows))


def test_arguments():
    args = parse_args(["--mongo-url", "mongodb://db", "--datasets", "10,20", "--scenarios", "get"])
    assert args.datasets == [10, 20] and args.scenarios == ["get"]
    everything = parse_args(["--mongo-url", "mongodb://db"]).scenarios
    assert {"activity", "comment", "summary", "summary_v1", "recent"} <= set(everything)
    assert everything.index("comment") > everything.index("activity")  # writes last
    assert everything.index("status") > everything.index("recent")
    with pytest.raises(SystemExit):
        parse_args(["--mongo-url", "mongodb://db", "--scenarios", "nope"])


def test_the_summary_and_recent_targets_are_noted():
    rows = [
        Row(1000, "summary", result(40, 50), 3.0),
        Row(1000, "summary", result(10, 200), 1.0, floor=True),
        Row(10_000, "summary", result(36, 55), 3.0),
        Row(10_000, "recent", result(50, 40), 4.0),
    ]
    notes = targets(rows)
    assert (
        "status summary (legacy): 40 at 1,000, 36 at 10,000 tasks req/s (≥ 30 at 10,000, flat: "
        "0.90x from 1,000 to 10,000)" in notes
    )
    assert "recent tasks (legacy, 10): 50 at 10,000 tasks req/s (≥ 30 at 10,000)" in notes
    table = markdown(rows)
    assert "| floor: bare Flask + $group by status (the original's query) | 10 |" in table
    assert "| 1,000 | status summary (legacy) | 40 |" in table and "4.00x req/s" in table


def test_a_run_waits_until_the_database_answers_fast_a_few_times_in_a_row():
    latencies = iter([900.0, 400.0, 20.0, 30.0, 700.0, 10.0, 20.0, 40.0, 5.0])
    probes = []

    def probe() -> float:
        probes.append(next(latencies))
        return probes[-1]

    wait_for_quiet(probe, pause=0)
    assert probes == [900.0, 400.0, 20.0, 30.0, 700.0, 10.0, 20.0, 40.0]
    assert wait_for_quiet(lambda: 1000.0, timeout=0.05, pause=0) >= 0.05  # gives up


def test_a_run_without_responses_is_reported_not_compared():
    silent = WrkResult(0, 5.0, 0, 0, 0.0, 0.0)
    rows = [
        Row(1000, "get", result(600, 10), 2.0),
        Row(1000, "get", silent, None, floor=True),
        Row(1000, "mine", result(200, 20), 5.0),
        Row(100_000, "mine", silent, None),
    ]
    assert "| 1,000 | get task by id | 600 | 10.00 | 30.00 | 2.00 | n/a | 0 |  |" in markdown(rows)
    notes = targets(rows)
    assert "floor: bare Flask + find_one at 1,000 tasks: no response within the run" in notes
    assert "list my tasks (50) at 100,000 tasks: no response within the run" in notes
    assert not any(note.startswith(("get by id", "my tasks p50")) for note in notes)


# --- the activity scenario's histories, on the real API ----------------------------------------


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    """The test app over HTTP, as bench/run.py talks to the API."""
    with serving(make_server("127.0.0.1", 0, app, threaded=True)) as base:
        yield base


def activity(api: Api, who: Account, task_id: str) -> list[dict[str, Any]]:
    r = api.client.get(f"/api/v1/tasks/{task_id}/activity?limit=100", headers=who.headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()["items"]


def test_history_gives_one_task_per_user_its_entries_through_the_api(
    api: Api, served: str, tmp_path: Path
):
    alice, bob = api.member("alice"), api.member("bob")
    mine = {
        who.username: [api.create_task(who, title=f"task {n}", assignee=who.id) for n in range(2)]
        for who in (alice, bob)
    }
    row = {who.username: who for who in (alice, bob)}
    rows = [
        DataRow(row[name].token, t["id"], row[name].email, row[name].password)
        for name in ("alice", "bob")
        for t in mine[name]
    ]
    args = argparse.Namespace(api_url=served)

    chosen = prepare_history(args, rows)

    assert chosen == [rows[0], rows[2]]  # each user's first task
    for data, owner in zip(chosen, (alice, bob), strict=True):
        entries = activity(api, owner, data.task)
        assert len(entries) == HISTORY_ENTRIES  # the "created" entry counts too
        verbs = Counter(e["verb"] for e in entries)
        assert set(verbs) == {"created", "commented", "status_changed", "updated"}
        assert verbs["commented"] == (HISTORY_ENTRIES - 1) // 2  # every other one after "created"
        commenters = {e["actor"] for e in entries if e["verb"] == "commented"}
        assert commenters == {alice.id, bob.id}
        assert {e["actor"] for e in entries if e["verb"] != "commented"} == {owner.id}
        fields = {c["field"] for e in entries if e["verb"] == "updated" for c in e["changes"]}
        assert fields == {"description", "priority", "labels"}
        task = api.client.get(f"/api/v1/tasks/{data.task}", headers=owner.headers).get_json()
        assert task["status"] in {"open", "in_progress"}  # still on the users' open lists
    assert len(activity(api, alice, rows[1].task)) == 1  # untouched
    assert all(write_history(args, data, [alice.token]) == 0 for data in chosen)  # topped up

    datafile = write_datafile(tmp_path / "activity.tsv", chosen)
    assert datafile.read_text().splitlines() == [
        f"{alice.token}\t{rows[0].task}\t{alice.email}\t{alice.password}",
        f"{bob.token}\t{rows[2].task}\t{bob.email}\t{bob.password}",
    ]


def load_floor_app(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> ModuleType:
    monkeypatch.setenv("MONGO_URL", settings.mongo_url or "")
    monkeypatch.setenv("MONGO_DB", settings.mongo_db)
    spec = importlib.util.spec_from_file_location("floor_app", BENCH_DIR / "floor_app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_floor_reads_and_writes_what_the_api_does(
    api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    alice = api.member("alice")
    task = api.create_task(alice, title="history", assignee=alice.id)
    for n in range(55):
        body = {"description": f"revision {n}"}
        r = api.client.patch(f"/api/v1/tasks/{task['id']}", json=body, headers=alice.headers)
        assert r.status_code == 200
    floor = load_floor_app(monkeypatch, settings)
    try:
        client = floor.app.test_client()
        url = f"/api/v1/tasks/{task['id']}"
        assert client.get(url).get_json()["id"] == task["id"]

        ours = api.client.get(f"{url}/activity?limit=50", headers=alice.headers).get_json()
        theirs = client.get(f"{url}/activity?limit=50").get_json()
        assert [e["id"] for e in theirs["items"]] == [e["id"] for e in ours["items"]]
        assert len(theirs["items"]) == 50 and theirs["next_cursor"] and ours["next_cursor"]

        r = client.post(f"{url}/comments", json={"body": "floor comment"})
        assert r.status_code == 201
        listed = api.client.get(f"{url}/comments", headers=alice.headers).get_json()["items"]
        assert [(c["body"], c["author"]) for c in listed] == [("floor comment", alice.id)]

        for n, status in enumerate(["in_progress", "done", "open"] * 4):
            api.create_task(alice, title=f"more {n}", status=status)
        legacy = raw(alice.token)
        ours = api.client.get("/tasks/status_summary", headers=legacy).get_json()
        assert client.get("/tasks/status_summary").get_json() == ours
        recent = api.client.get("/tasks/recent", headers=legacy).get_json()["tasks"]
        theirs = client.get("/tasks/recent").get_json()["tasks"]
        assert [t["id"] for t in theirs] == [t["_id"] for t in recent] and len(recent) == 10

        missing = "/api/v1/tasks/000000000000000000000000"
        assert client.get(missing).status_code == 404
        assert client.post(f"{missing}/comments", json={"body": "x"}).status_code == 404
        assert client.get("/api/v1/tasks/nope").status_code == 404
    finally:
        floor.client.close()


def test_the_page_parts_bench_prints_each_part_of_both_requests(capsys, monkeypatch):
    from bench import page_parts_bench

    monkeypatch.setattr("sys.argv", ["page_parts_bench", "--rounds", "1", "--repeat", "1"])
    page_parts_bench.main()
    table = capsys.readouterr().out
    for part in ("database read and BSON decoding", "tasks from their documents",
                 "response model", "JSON", "the page's query for one document",
                 "TaskRepository.get, TaskQueries.page"):  # fmt: skip
        row = next(line for line in table.splitlines() if part in line)
        one, many, extra = (float(cell) for cell in row.split("|")[2:5])
        assert one > 0 and many > 0 and extra == pytest.approx(many - one, abs=0.002)
    assert "**all four parts**" in table and "A page costs get-by-id's API CPU plus" in table
