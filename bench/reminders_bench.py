"""Time 10 000 task reminders due in the same minute, from their time to the last letter.

Seeds tasks with one reminder each, all due at the same instant (the worst moment of that
minute), with bulk writes; runs the real `tasktracker scheduler` (it fires the reminders) and
`--agents` `tasktracker agent` processes (the first one also runs the outbox relay) against
RabbitMQ (a vhost of its own) and an aiosmtpd server in this process; and reports, per run,
when the last reminder was claimed (firing), the last event left the outbox (publishing) and
the last letter arrived (agent + SMTP), each counted from the reminders' time. Prints the median
of `--runs` runs.

    .venv/bin/python -m bench.reminders_bench --runs 3 --agents 2
    .venv/bin/python -m bench.reminders_bench --fire-only --runs 3   # firing alone, in-process

`--fire-only` starts no scheduler, agent, broker or SMTP server: it seeds reminders already due
and times `ReminderService.fire_due` in this process until none is left unfired, publishing
nothing (the events stay in the outbox), so the firing figure is separable from publishing and
mailing.
The bench's own SecantusDB (no MONGO_URL) is written to without retryable writes, as the
embedded mode and `make stack` write to theirs; `--no-retry-writes` adds `retryWrites=false` to
a MONGO_URL too.
    MONGO_URL=mongodb://127.0.0.1:27017/?replicaSet=rs0 .venv/bin/python -m bench.reminders_bench
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from bson import ObjectId

from bench.event_path_bench import mongo_url
from tasktracker.adapters.mongo.reminders import reminder_to_doc
from tasktracker.adapters.mongo.tasks import task_to_doc
from tasktracker.adapters.mongo.unit_of_work import MongoUnitOfWork
from tasktracker.bootstrap import Container, bootstrap, outbox_grace
from tasktracker.deploy.processes import free_port_below_ephemeral, stop_process
from tasktracker.domain.events import Event
from tasktracker.domain.reminders import Reminder, ScheduledReminder
from tasktracker.domain.tasks import Task
from tasktracker.services.events import OutboxEventRecorder
from tasktracker.services.reminders import BATCH_SIZE, ReminderService
from tasktracker.settings import Settings, load_settings

BATCH = 5_000
USERS = 200
LEAD = timedelta(seconds=15)  # the reminders' time, after seeding and start-up
FIRED_CHECK_INTERVAL = 1.0


class CountingHandler:
    """aiosmtpd's handler: counts letters and keeps the time the last one arrived."""

    def __init__(self) -> None:
        self.count = 0
        self.last = 0.0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.count += 1
            self.last = time.time()
        return "250 OK"


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    vhost = f"reminders-bench-{uuid.uuid4().hex[:8]}"
    ctl = ["rabbitmqctl", "-q"]
    subprocess.run([*ctl, "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        [*ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    try:
        yield vhost
    finally:
        subprocess.run([*ctl, "delete_vhost", vhost], check=False, capture_output=True)


def process_env(s: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "MONGO_URL": s.mongo_url or "",
        "MONGO_DB": s.mongo_db,
        "AMQP_URL": s.amqp_url or "",
        "SMTP_URL": s.smtp_url or "",
        "JWT_SECRET": s.jwt_secret or "",
        "DATA_DIR": str(s.data_dir),
        "ALERT_DIGEST_TIME": "",
        "LOG_LEVEL": "WARNING",
    }


def start_processes(s: Settings, agents: int, log_dir: Path) -> list[subprocess.Popen]:
    commands = [["scheduler"]] + [
        ["agent"] if n == 0 else ["agent", "--no-relay"] for n in range(agents)
    ]
    return [
        subprocess.Popen(
            [sys.executable, "-m", "tasktracker", *command],
            env=process_env(s),
            stdout=(log_dir / f"{command[0]}{n}.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        for n, command in enumerate(commands)
    ]


def seed(c: Container, tasks: int, at: datetime) -> None:
    """`tasks` open tasks across USERS assignees, each with one reminder at `at`."""
    now = datetime.now(UTC)
    db = c.adapters.db
    user_ids = [ObjectId() for _ in range(USERS)]
    db.users.insert_many(
        [
            {"_id": oid, "username": f"u{oid}", "username_key": f"u{oid}",
             "email": f"u{oid}@example.com", "password_hash": "unused", "role": "member",
             "active": True, "created_at": now, "updated_at": now}
            for oid in user_ids
        ]
    )  # fmt: skip
    project = c.services.projects.default.ensure()
    for start in range(0, tasks, BATCH):
        task_docs, reminder_docs = [], []
        for n in range(start, min(start + BATCH, tasks)):
            oid = ObjectId()
            task = Task(
                id=str(oid),
                title=f"task {n}",
                reporter=str(user_ids[n % USERS]),
                assignee=str(user_ids[(n + 1) % USERS]),
                created_at=now,
                updated_at=now,
                due_date=at + timedelta(hours=1),
                reminders=[Reminder(at=at)],
                project_id=project.id,
                key=f"{project.key}-{uuid.uuid4().hex[:8]}",
            )
            task_docs.append({"_id": oid, **task_to_doc(task)})
            reminder_docs.append(reminder_to_doc(ScheduledReminder(task.id, project.id, 0, at)))
        db.tasks.insert_many(task_docs, ordered=False)
        db.reminders.insert_many(reminder_docs, ordered=False)


@dataclass
class RunResult:
    fired: float
    published: float
    mailed: float


def unfired(db: Any) -> int:
    return db.reminders.count_documents({"fired_at": None})


def last_published(db: Any) -> float | None:
    """When the relay or the scheduler marked the last outbox entry sent (read once, at the
    end: every query that scans on the embedded server competes with the run for its lock)."""
    rows = list(db.outbox.aggregate([{"$group": {"_id": None, "last": {"$max": "$sent_at"}}}]))
    last = rows[0]["last"] if rows else None
    return last.replace(tzinfo=UTC).timestamp() if last else None


def measure(c: Container, smtp: CountingHandler, tasks: int, timeout: float) -> RunResult:
    """Seed, then watch until every letter arrived; the times from the reminders' time.

    The letters are counted in this process. The database is asked whether all fired once a
    second only (a count scans every reminder, and on the embedded server it holds the lock the
    run needs: polling it faster slowed the run it measured), and only until they have."""
    at = (datetime.now(UTC) + LEAD).replace(microsecond=0)
    expected = smtp.count + tasks
    seed(c, tasks, at)
    db = c.adapters.db
    fired = None
    next_check = at.timestamp()
    deadline = at.timestamp() + timeout
    while smtp.count < expected:
        now = time.time()
        if now > deadline:
            raise SystemExit(f"timed out: {smtp.count - expected + tasks}/{tasks} letters")
        if fired is None and now >= next_check:
            fired = now if not unfired(db) else None
            next_check = now + FIRED_CHECK_INTERVAL
        time.sleep(0.05)  # polling an in-process counter, not synchronising anything
    base = at.timestamp()
    mailed = smtp.last
    published = last_published(db) or mailed
    return RunResult((fired or mailed) - base, published - base, mailed - base)


class OutboxOnly(OutboxEventRecorder):
    """Commits the events to the outbox and publishes nothing (the relay's work, not timed)."""

    def publish(self, events: list[Event]) -> None:
        pass


def measure_firing(c: Container, tasks: int, batch_size: int) -> tuple[float, int]:
    """Seed `tasks` reminders due now, then fire them in this process without publishing: the
    seconds it took and the number of rounds (`fire_due` calls) it needed."""
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    seed(c, tasks, at)
    db = c.adapters.db
    uow = partial(MongoUnitOfWork, c.adapters.client, db, outbox_grace(c.settings))
    recorder = OutboxOnly(uow, c.adapters.outbox, c.adapters.broker, c.clock)
    service = ReminderService(recorder, c.clock, batch_size=batch_size)
    start = time.perf_counter()
    rounds = 0
    while unfired(db):
        service.fire_due()
        rounds += 1
    return time.perf_counter() - start, rounds


def with_option(url: str, option: str) -> str:
    if option.split("=")[0] in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}{option}"


def fire_only(args: argparse.Namespace) -> None:
    with mongo_url() as url, tempfile.TemporaryDirectory(prefix="reminders-bench-") as data_dir:
        settings = load_settings(
            mongo_url=with_option(url, "retryWrites=false") if args.no_retry_writes else url,
            mongo_db=f"reminders_bench_{uuid.uuid4().hex[:8]}",
            jwt_secret=secrets.token_urlsafe(48),
            data_dir=data_dir,
            amqp_url=None,
            memcached_servers=None,
            smtp_url=None,
            alert_digest_time="",
        )
        c = bootstrap(settings)
        try:
            times = []
            for number in range(1, args.runs + 1):
                seconds, rounds = measure_firing(c, args.tasks, args.batch_size)
                times.append(seconds)
                print(
                    f"run {number}: {args.tasks} reminders fired in {seconds:.1f}s "
                    f"({rounds} round(s))",
                    flush=True,
                )
            retry = "off" if "retryWrites=false" in (settings.mongo_url or "") else "on"
            print(
                f"median of {args.runs} runs (firing only, retryable writes {retry}): "
                f"{statistics.median(times):.1f}s"
            )
        finally:
            c.adapters.client.drop_database(settings.mongo_db)
            c.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--agents", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--fire-only", action="store_true", help="time firing alone, in this process"
    )
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="with --fire-only")
    parser.add_argument(
        "--no-retry-writes", action="store_true", help="add retryWrites=false to the Mongo URL"
    )
    args = parser.parse_args()
    if args.fire_only:
        fire_only(args)
        return

    handler = CountingHandler()
    smtp_port = free_port_below_ephemeral()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    with (
        mongo_url() as url,
        rabbitmq_vhost() as vhost,
        tempfile.TemporaryDirectory(prefix="reminders-bench-") as data_dir,
    ):
        settings = load_settings(
            mongo_url=with_option(url, "retryWrites=false") if args.no_retry_writes else url,
            mongo_db=f"reminders_bench_{uuid.uuid4().hex[:8]}",
            jwt_secret=secrets.token_urlsafe(48),
            data_dir=data_dir,
            amqp_url=f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
            memcached_servers=None,
            smtp_url=f"smtp://127.0.0.1:{smtp_port}",
            alert_digest_time="",
        )
        c = bootstrap(settings)
        processes = start_processes(settings, args.agents, Path(data_dir))
        try:
            results = []
            for number in range(1, args.runs + 1):
                result = measure(c, handler, args.tasks, args.timeout)
                results.append(result)
                print(
                    f"run {number}: {args.tasks} reminders; after their time: all fired "
                    f"{result.fired:.1f}s, all published {result.published:.1f}s, last letter "
                    f"{result.mailed:.1f}s",
                    flush=True,
                )
            print(
                f"median of {args.runs} runs ({args.agents} agent(s)): fired "
                f"{statistics.median(r.fired for r in results):.1f}s, published "
                f"{statistics.median(r.published for r in results):.1f}s, last letter "
                f"{statistics.median(r.mailed for r in results):.1f}s"
            )
        finally:
            for process in processes:
                stop_process(process, timeout=15)
            c.adapters.client.drop_database(settings.mongo_db)
            c.close()
            controller.stop()


if __name__ == "__main__":
    main()
