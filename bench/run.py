"""`make bench`: wrk against the API (through nginx) and, in the same run, against the floor app
(bench/floor_app.py: one MongoDB read, bare Flask, same server); prints one Markdown table.

    python bench/run.py --api-url http://127.0.0.1:8080 [--mongo-url … --mongo-db …]

For each data set (default 1 000 and 100 000 tasks, seeded with `tasktracker seed` into the
database the API uses) it logs the seeded users in and runs login, get task by id, list my tasks
(page of 50), a task's activity (first page of 50), the legacy status summary, the task summary
with its overdue count, the legacy ten most recent tasks, update status, add comment and create
task, recording req/s, p50, p99 and the API's CPU milliseconds per request: the user+system CPU
time of the API processes (those whose command line contains --api-cmdline, or --api-pids, and
their children) from /proc before and after. Get by id, activity and add comment are each
followed by the floor app doing the same database work (FLOORS), and the table shows
ours/floor; the status summary and the recent tasks by the floor app running the query the
route ran before (the original's `$group` by status; one `find` of the ten newest), so the
table shows what the counters and the windows bought.

Before each run it waits `--settle` seconds, then until the database answers the floor's get by
id fast a few times in a row: a run whose requests outlast it (wrk gives up on them after
`--timeout`, the server does not) leaves them queued on the embedded server, which runs one
command at a time, and they would slow the next run.

The activity scenario reads tasks with a history: the seed writes no activity, so before it runs
`prepare_history` gives one open task of each seeded user HISTORY_ENTRIES entries through the
API (comments by the seeded users in turn, status changes and field edits by the assignee).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from urllib.error import HTTPError, URLError

from pymongo import MongoClient

from tasktracker.deploy.processes import free_port, stop_process

BENCH_DIR = Path(__file__).resolve().parent
SCRIPT = BENCH_DIR / "scenario.lua"
SEED_PREFIX = "seed"
SEED_PASSWORD = "seed-password-123"
SEED_DOMAIN = "seed.tasktracker.local"
# The default order; writes that grow the data set (comments, tasks) run last.
SCENARIOS = {
    "login": "login",
    "get": "get task by id",
    "mine": "list my tasks (50)",
    "activity": "task activity (50)",
    "summary": "status summary (legacy)",
    "summary_v1": "task summary with overdue",
    "recent": "recent tasks (legacy, 10)",
    "status": "update status",
    "comment": "add comment",
    "create": "create task",
}
# Scenarios with a floor: bench/floor_app.py doing the same database work in a bare handler.
FLOORS = {
    "get": "floor: bare Flask + find_one",
    "activity": "floor: bare Flask + find (50 entries)",
    "comment": "floor: bare Flask + find_one + insert_one",
    "summary": "floor: bare Flask + $group by status (the original's query)",
    "recent": "floor: bare Flask + one find of the 10 newest (the query before)",
}
# Read scenarios with a target (issue 14): at least this many req/s at 10 000 tasks, and flat
# from the smallest data set to the largest.
READ_TARGETS = {"summary": 30.0, "recent": 30.0}
# Activity entries the activity scenario's tasks have at least: more than its page of 50.
HISTORY_ENTRIES = 64
HISTORY_THREADS = 4
PRIORITIES = ["low", "medium", "high", "critical"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    status_errors: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    failures: tuple[tuple[str, int], ...] = ()  # (HTTP status >= 400, count)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def answered(self) -> bool:
        """Latencies mean something only when responses came back within the run."""
        return self.requests > 0 and self.p50_ms > 0


@dataclass(frozen=True, slots=True)
class Row:
    tasks: int
    scenario: str
    result: WrkResult
    cpu_ms: float | None
    db_cpu_ms: float | None = None
    floor: bool = False


# --- arguments ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--api-url", default=os.environ.get("BENCH_API_URL", "http://127.0.0.1:8080"))
    p.add_argument("--floor-url", help="a floor app already running (default: start one)")
    p.add_argument("--mongo-url", default=os.environ.get("MONGO_URL"))
    p.add_argument("--mongo-db", default=os.environ.get("MONGO_DB", "tasktracker"))
    p.add_argument("--datasets", default="1000,100000", help="task counts, comma-separated")
    p.add_argument("--users", type=int, default=10, help="seeded users (each gets ~90%%/N tasks)")
    p.add_argument("--fresh", action="store_true", help="drop --mongo-db before seeding")
    p.add_argument("--duration", default="5s")
    p.add_argument("--timeout", default="10s", help="wrk: a slower response counts as an error")
    p.add_argument("--settle", type=float, default=2.0, help="seconds of quiet between runs")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--api-cmdline", default="tasktracker api", help="finds the API processes")
    p.add_argument("--api-pids", default="", help="API process ids, comma-separated")
    p.add_argument(
        "--db-cmdline", default="", help="also report the CPU of the database (e.g. secantusd)"
    )
    p.add_argument(
        "--previous",
        type=Path,
        default=BENCH_DIR.parent / "README.md",
        help="a README whose first results table is shown next to this run (now/then)",
    )
    p.add_argument("--floor-workers", type=int, default=2)
    p.add_argument("--floor-threads", type=int, default=8)
    args = p.parse_args(argv)
    if not args.mongo_url:
        args.mongo_url, args.mongo_db = stack_database(args.mongo_db)
    if not args.mongo_url:
        p.error("--mongo-url (or MONGO_URL, or a running `make stack`) names the API's database")
    args.datasets = [int(n) for n in args.datasets.split(",") if n]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


# --- CPU time from /proc -----------------------------------------------------------------------


def read_processes() -> dict[int, tuple[int, float, str]]:
    """pid -> (parent pid, CPU seconds used, command line)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        table[int(entry.name)] = (int(fields[1]), cpu, cmdline)
    return table


def ancestors(table: dict[int, tuple[int, float, str]], pid: int) -> set[int]:
    seen = set()
    while pid in table and pid not in seen:
        seen.add(pid)
        pid = table[pid][0]
    return seen


def tree_cpu_seconds(roots: set[int], pattern: str | None = None) -> float:
    """CPU seconds of `roots`, of processes whose command line contains `pattern` (not this
    runner or its parents), and of all their descendants."""
    table = read_processes()
    roots = set(roots)
    if pattern:
        mine = ancestors(table, os.getpid())
        roots |= {pid for pid, (_, _, cmd) in table.items() if pattern in cmd and pid not in mine}
    members = {pid for pid in table if ancestors(table, pid) & roots}
    return sum(table[pid][1] for pid in members)


# --- HTTP, seeding, data files -----------------------------------------------------------------


def http_json(
    url: str, body: dict | None = None, token: str | None = None, method: str | None = None
) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def seed_email(index: int) -> str:
    return f"{SEED_PREFIX}{index:05d}@{SEED_DOMAIN}"


def stack_database(default_db: str) -> tuple[str | None, str]:
    """The database of a running `make stack` (var/stack/endpoints.json), if there is one."""
    endpoints = Path(os.environ.get("STACK_DIR") or "var/stack") / "endpoints.json"
    if not endpoints.exists():
        return None, default_db
    data = json.loads(endpoints.read_text())
    return data["mongo_url"], data.get("mongo_db") or default_db


def prepare_dataset(args: argparse.Namespace, size: int) -> int:
    """Top the API's database up to `size` tasks with `tasktracker seed`; return the count."""
    with MongoClient(args.mongo_url) as client:
        count = client[args.mongo_db].tasks.count_documents({})
    if count < size:
        env = {**os.environ, "MONGO_URL": args.mongo_url, "MONGO_DB": args.mongo_db}
        env.setdefault("JWT_SECRET", "bench-seeding-only-" + "x" * 32)
        command = [sys.executable, "-m", "tasktracker", "seed", "--users", str(args.users)]
        command += ["--tasks", str(size - count), "--prefix", SEED_PREFIX]
        subprocess.run(command, env=env, check=True, timeout=1800)
        count = size
    return count


def drop_database(args: argparse.Namespace) -> None:
    with MongoClient(args.mongo_url) as client:
        client.drop_database(args.mongo_db)


@dataclass(frozen=True, slots=True)
class DataRow:
    """One line of a wrk data file (bench/scenario.lua reads them)."""

    token: str
    task: str
    email: str
    password: str


def login_rows(args: argparse.Namespace) -> list[DataRow]:
    """Log every seeded user in; one row per (user, open or in-progress task assigned to them),
    a user's newest first."""
    rows = []
    for i in range(args.users):
        email = seed_email(i)
        token = http_json(
            f"{args.api_url}/api/v1/auth/login", {"email": email, "password": SEED_PASSWORD}
        )["access_token"]
        page = http_json(
            f"{args.api_url}/api/v1/tasks/mine?limit=50&status=open,in_progress", token=token
        )
        rows += [DataRow(token, t["id"], email, SEED_PASSWORD) for t in page["items"]]
    if not rows:
        raise SystemExit("bench: the seeded users have no open tasks; is the API on --mongo-db?")
    return rows


def write_datafile(path: Path, rows: list[DataRow]) -> Path:
    path.write_text("".join(f"{r.token}\t{r.task}\t{r.email}\t{r.password}\n" for r in rows))
    return path


# --- the activity scenario's task histories ----------------------------------------------------


def prepare_history(args: argparse.Namespace, rows: list[DataRow]) -> list[DataRow]:
    """The first row of each user, its task topped up to HISTORY_ENTRIES activity entries
    through the API (`tasktracker seed` writes no activity); a task that has them already is
    left alone, so a second data set or run adds nothing to it."""
    firsts: dict[str, DataRow] = {}
    for row in rows:
        firsts.setdefault(row.email, row)
    chosen = list(firsts.values())
    commenters = [row.token for row in chosen]
    with ThreadPoolExecutor(max_workers=HISTORY_THREADS) as pool:
        list(pool.map(lambda row: write_history(args, row, commenters), chosen))
    return chosen


def write_history(args: argparse.Namespace, row: DataRow, commenters: list[str]) -> int:
    """Give `row.task` at least HISTORY_ENTRIES activity entries, each written by one request,
    in a repeating pattern of four: a comment (the seeded users in turn), a status change
    (open <-> in progress, by the assignee), another comment, and a field edit by the assignee
    (description, priority or labels in turn). Returns the number of requests made."""
    url = f"{args.api_url}/api/v1/tasks/{row.task}"
    have = len(http_json(f"{url}/activity?limit=100", token=row.token)["items"])
    if have >= HISTORY_ENTRIES:
        return 0
    task = http_json(url, token=row.token)
    for step in range(have, HISTORY_ENTRIES):
        if step % 2 == 0:
            author = commenters[(step // 2) % len(commenters)]
            http_json(f"{url}/comments", {"body": history_comment(step)}, author)
        elif step % 4 == 1:
            status = "in_progress" if task["status"] == "open" else "open"
            task = http_json(url, {"status": status}, row.token, method="PATCH")
        else:
            task = http_json(url, history_edit(step, task), row.token, method="PATCH")
    return HISTORY_ENTRIES - have


def history_comment(step: int) -> str:
    return (
        f"Update {step}: reproduced it on staging, the logs are attached to the ticket. "
        "I will look at the failing request next; shout if you see it elsewhere."
    )


def history_edit(step: int, task: dict) -> dict:
    """A PATCH body that changes one field of `task` (so the API records an entry)."""
    kind = (step // 4) % 3
    if kind == 0:
        return {"description": f"Revision {step}: steps to reproduce, expected and actual result."}
    if kind == 1:
        nxt = PRIORITIES[(PRIORITIES.index(task["priority"]) + 1) % len(PRIORITIES)]
        return {"priority": nxt}
    labels = [label for label in task["labels"] if label != "triaged"]
    if len(labels) == len(task["labels"]):
        labels.append("triaged")
    return {"labels": labels}


# --- wrk ---------------------------------------------------------------------------------------


def run_wrk(args: argparse.Namespace, url: str, scenario: str, datafile: Path) -> WrkResult:
    command = [shutil.which("wrk") or "wrk", f"-t{args.threads}", f"-c{args.connections}"]
    command += [f"-d{args.duration}", f"--timeout={args.timeout}", "--latency"]
    command += ["-s", str(SCRIPT), url, "--"]
    command += [scenario, str(datafile)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result for {scenario}:\n{out}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        status_errors=data["status_errors"],
        socket_errors=data["socket_errors"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        failures=tuple(sorted(data.get("failures", {}).items())),
    )


@dataclass(frozen=True, slots=True)
class Processes:
    """Processes whose CPU is measured: `roots`, command lines containing `pattern`, and all
    their descendants. Empty: not measured."""

    roots: frozenset[int] = frozenset()
    pattern: str = ""

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(set(self.roots), self.pattern or None) if self else 0.0

    def __bool__(self) -> bool:
        return bool(self.roots or self.pattern)


def per_request_ms(used: float, result: WrkResult, processes: Processes) -> float | None:
    return used * 1000 / result.requests if processes and result.requests and used > 0 else None


def measured(
    args: argparse.Namespace, url: str, scenario: str, datafile: Path, server: Processes
) -> Row:
    db = Processes(pattern=args.db_cmdline)
    before = server.cpu_seconds(), db.cpu_seconds()
    result = run_wrk(args, url, scenario, datafile)
    used = server.cpu_seconds() - before[0], db.cpu_seconds() - before[1]
    return Row(
        tasks=0,
        scenario=scenario,
        result=result,
        cpu_ms=per_request_ms(used[0], result, server),
        db_cpu_ms=per_request_ms(used[1], result, db),
    )


# --- waiting for a quiet database --------------------------------------------------------------

# A run leaves work behind when its requests outlast it: wrk gives up on a request after
# --timeout, but the server goes on with it, and the embedded server runs one command at a time.
# Before each run the database must answer a cheap read (the floor's get by id) this fast, a few
# times in a row.
QUIET_MS = 50.0
QUIET_IN_A_ROW = 3


def wait_for_quiet(probe: Callable[[], float], timeout: float = 180.0, pause: float = 0.2) -> float:
    """Call `probe` (it answers a cheap request's latency in ms) until QUIET_IN_A_ROW answers
    in a row take at most QUIET_MS, or `timeout` seconds passed; answers the seconds waited."""
    started = time.monotonic()
    quiet = 0
    while quiet < QUIET_IN_A_ROW and time.monotonic() - started < timeout:
        latency = probe()
        quiet = quiet + 1 if latency <= QUIET_MS else 0
        if quiet == 0:
            time.sleep(pause)
    return time.monotonic() - started


def get_latency_ms(url: str) -> float:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
    except (HTTPError, URLError, TimeoutError):
        pass
    return (time.perf_counter() - started) * 1000


# --- the floor app -----------------------------------------------------------------------------


def wait_healthy(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except (URLError, HTTPError, OSError):
            time.sleep(0.2)
    raise RuntimeError(f"{url}/healthz did not answer within {timeout}s")


@contextmanager
def floor_app(args: argparse.Namespace) -> Iterator[tuple[str, int | None]]:
    """(URL, pid) of the floor app: --floor-url, or one started here with granian."""
    if args.floor_url:
        yield args.floor_url, None
        return
    port = free_port()
    granian = shutil.which("granian", path=str(Path(sys.executable).parent)) or "granian"
    command = [granian, "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(args.floor_workers)]
    command += ["--blocking-threads", str(args.floor_threads), "--no-access-log"]
    command += ["--working-dir", str(BENCH_DIR), "floor_app:app"]
    env = {**os.environ, "MONGO_URL": args.mongo_url, "MONGO_DB": args.mongo_db}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        yield url, proc.pid
    finally:
        stop_process(proc, timeout=15)


# --- one run -----------------------------------------------------------------------------------


def bench_dataset(
    args: argparse.Namespace, size: int, floor: tuple[str, int | None], workdir: Path
) -> list[Row]:
    tasks = prepare_dataset(args, size)
    data = login_rows(args)
    datafile = write_datafile(workdir / f"data-{size}.tsv", data)
    datafiles = {}
    if "activity" in args.scenarios:
        history = prepare_history(args, data)
        datafiles["activity"] = write_datafile(workdir / f"activity-{size}.tsv", history)
    api = Processes(frozenset(int(p) for p in args.api_pids.split(",") if p), args.api_cmdline)
    rows = []
    quiet = partial(settle, args, f"{floor[0]}/api/v1/tasks/{data[0].task}")
    run_wrk(args_with(args, duration="1s"), args.api_url, "get", datafile)  # warm-up
    for scenario in args.scenarios:
        data_for = datafiles.get(scenario, datafile)
        quiet()
        rows.append(replace(measured(args, args.api_url, scenario, data_for, api), tasks=tasks))
        if scenario in FLOORS:  # the floor right after ours, under the same conditions
            rows.append(replace(bench_floor(args, floor, scenario, data_for, quiet), tasks=tasks))
    if "get" not in args.scenarios:
        rows.append(replace(bench_floor(args, floor, "get", datafile, quiet), tasks=tasks))
    return rows


def settle(args: argparse.Namespace, probe_url: str) -> None:
    """--settle seconds, then until the database is quiet (`wait_for_quiet`)."""
    time.sleep(args.settle)
    waited = wait_for_quiet(lambda: get_latency_ms(probe_url))
    if waited > 1.0:
        print(f"bench: waited {waited:.0f}s for the database to finish earlier requests")


def bench_floor(
    args: argparse.Namespace,
    floor: tuple[str, int | None],
    scenario: str,
    datafile: Path,
    quiet: Callable[[], None],
) -> Row:
    floor_url, floor_pid = floor
    run_wrk(args_with(args, duration="1s"), floor_url, scenario, datafile)  # warm-up
    quiet()
    processes = Processes(frozenset({floor_pid}) if floor_pid else frozenset())
    return replace(measured(args, floor_url, scenario, datafile, processes), floor=True)


def args_with(args: argparse.Namespace, **changes: object) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), **changes})


# --- the table ---------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def floor_of(rows: list[Row], tasks: int, scenario: str) -> Row | None:
    return next((r for r in rows if r.floor and r.tasks == tasks and r.scenario == scenario), None)


def floor_ratio(rows: list[Row], row: Row) -> tuple[float, float] | None:
    """(ours/floor req/s, ours/floor p50) for a scenario with a floor when both answered."""
    if row.floor:
        return None
    floor = floor_of(rows, row.tasks, row.scenario)
    if not floor:
        return None
    if not (row.result.answered and floor.result.answered):
        return None
    return row.result.rps / floor.result.rps, row.result.p50_ms / floor.result.p50_ms


def errors(result: WrkResult) -> str:
    """Failed requests, with their HTTP statuses: `12 (409: 10, 412: 2)`."""
    total = result.status_errors + result.socket_errors
    codes = ", ".join(f"{code}: {n}" for code, n in result.failures)
    return f"{total} ({codes})" if codes else str(total)


def latency(result: WrkResult, value: float) -> str:
    return fmt(value, 2) if result.answered else "no response"


RESULTS_HEADER = "| tasks | endpoint | req/s |"
Previous = dict[tuple[int, str], float]


def previous_figures(readme: str) -> Previous:
    """req/s by (tasks, endpoint) from the first results table of the README (the figures the
    last recorded `make bench` run wrote there), so a run shows what moved since."""
    figures: Previous = {}
    lines = readme.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(RESULTS_HEADER)), None)
    if start is None:
        return figures
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        try:
            figures[(int(cells[0].replace(",", "")), cells[1])] = float(cells[2].replace(",", ""))
        except (IndexError, ValueError):
            continue
    return figures


def read_previous(path: Path | None) -> Previous:
    if path is None or not path.is_file():
        return {}
    return previous_figures(path.read_text(encoding="utf-8"))


def against_previous(previous: Previous, tasks: int, name: str, rps: float) -> str:
    before = previous.get((tasks, name))
    if not before:
        return ""
    return f"{fmt(before, 0)} ({rps / before:.2f}x)"


def markdown(rows: list[Row], previous: Previous | None = None) -> str:
    lines = [
        "| tasks | endpoint | req/s | p50 ms | p99 ms | API CPU ms/req | DB CPU ms/req "
        "| errors | ours/floor | README req/s (now/then) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in rows:
        r = row.result
        name = FLOORS[row.scenario] if row.floor else SCENARIOS[row.scenario]
        ratios = floor_ratio(rows, row)
        ratio = f"{ratios[0]:.2f}x req/s, {ratios[1]:.2f}x p50" if ratios else ""
        then = against_previous(previous or {}, row.tasks, name, r.rps)
        lines.append(
            f"| {row.tasks:,} | {name} | {fmt(r.rps, 0)} | {latency(r, r.p50_ms)} | "
            f"{latency(r, r.p99_ms)} | {fmt(row.cpu_ms, 2)} | {fmt(row.db_cpu_ms, 2)} | "
            f"{errors(r)} | {ratio} | {then} |"
        )
    return "\n".join(lines)


def targets(rows: list[Row]) -> list[str]:
    notes = []
    for row in rows:
        if row.scenario == "get" and (ratios := floor_ratio(rows, row)):
            notes.append(f"get by id at {row.tasks:,} tasks: {ratios[0]:.2f}x the floor (≥ 0.7x)")
        if not row.result.answered:
            name = FLOORS[row.scenario] if row.floor else SCENARIOS[row.scenario]
            notes.append(f"{name} at {row.tasks:,} tasks: no response within the run")
    mine = sorted((r.tasks, r.result.p50_ms) for r in rows if r.scenario == "mine")
    if len(mine) >= 2 and mine[0][1] and mine[-1][1]:
        (small, p50_small), (large, p50_large) = mine[0], mine[-1]
        notes.append(
            f"my tasks p50 at {large:,} / at {small:,} tasks: {p50_large / p50_small:.2f}x (≤ 1.5x)"
        )
    for scenario, target in READ_TARGETS.items():
        by_size = sorted(
            (r.tasks, r.result.rps)
            for r in rows
            if r.scenario == scenario and not r.floor and r.result.answered
        )
        if not by_size:
            continue
        figures = ", ".join(f"{rps:,.0f} at {tasks:,}" for tasks, rps in by_size)
        note = f"{SCENARIOS[scenario]}: {figures} tasks req/s (≥ {target:.0f} at 10,000"
        if len(by_size) >= 2:
            (small, rps_small), (large, rps_large) = by_size[0], by_size[-1]
            note += f", flat: {rps_large / rps_small:.2f}x from {small:,} to {large:,}"
        notes.append(note + ")")
    if any(r.result.status_errors or r.result.socket_errors for r in rows):
        notes.append(
            "errors: non-2xx (429: raise RATE_LIMIT_*; 409/412: two updates of one task raced) "
            "or socket errors and timeouts"
        )
    return notes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("bench: wrk is not installed (scripts/ensure-services.sh installs it)")
    wait_healthy(args.api_url)
    if args.fresh:
        drop_database(args)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tt-bench-") as tmp, floor_app(args) as floor:
        for size in args.datasets:
            rows += bench_dataset(args, size, floor, Path(tmp))
    settings = f"wrk -t{args.threads} -c{args.connections} -d{args.duration}"
    print(f"\n{settings}, {os.cpu_count()} CPUs, API {args.api_url}\n")
    print(markdown(rows, read_previous(args.previous)))
    print()
    for note in targets(rows):
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
