"""The benchmark harness (bench/run.py, bench/scenario.lua) on a tiny local server: wrk runs the
Lua scenarios, the runner reads its result and the CPU time of processes from /proc."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from bench.run import (
    Processes,
    Row,
    WrkResult,
    errors,
    markdown,
    parse_args,
    run_wrk,
    targets,
    tree_cpu_seconds,
)

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


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    Recorder.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


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
        ("get", "GET", "/api/v1/tasks/task"),
        ("mine", "GET", "/api/v1/tasks/mine?limit=50"),
        ("status", "PATCH", "/api/v1/tasks/task"),
        ("create", "POST", "/api/v1/tasks"),
    ],
)
def test_wrk_runs_each_scenario(server: str, datafile: Path, scenario, method, path):
    result = run_wrk(wrk_args(), server, scenario, datafile)
    assert result.requests > 10 and result.status_errors == 0
    assert 0 < result.p50_ms <= result.p99_ms
    methods = {m for m, *_ in Recorder.seen}
    assert methods == {method}
    assert all(p.startswith(path) for _, p, _, _ in Recorder.seen)
    auths = {a for _, _, a, _ in Recorder.seen}
    if scenario == "login":
        bodies = {json.loads(b)["password"] for *_, b in Recorder.seen}
        assert bodies == {"pw one", "pw two"} and auths == {None}
    else:
        assert auths == {"Bearer tok1", "Bearer tok2"}
    if scenario == "status":
        targets_sent = {json.loads(b)["status"] for *_, b in Recorder.seen}
        assert targets_sent == {"open", "in_progress"}


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
    assert "get by id at 1,000 tasks: 0.60x the floor (≥ 0.6x)" in notes
    assert "my tasks p50 at 100,000 / at 1,000 tasks: 1.30x (≤ 1.5x)" in notes


def test_arguments():
    args = parse_args(["--mongo-url", "mongodb://db", "--datasets", "10,20", "--scenarios", "get"])
    assert args.datasets == [10, 20] and args.scenarios == ["get"]
    with pytest.raises(SystemExit):
        parse_args(["--mongo-url", "mongodb://db", "--scenarios", "nope"])


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
    assert "floor at 1,000 tasks: no response within the run" in notes
    assert "list my tasks (50) at 100,000 tasks: no response within the run" in notes
    assert not any(note.startswith(("get by id", "my tasks p50")) for note in notes)
