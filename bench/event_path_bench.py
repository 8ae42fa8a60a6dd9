"""Time the generic event path: outbox -> RabbitMQ -> agent(s) -> SMTP, for N letters.

Records `--events` welcome events (`user.registered`) in transactions of `--batch` through the
real OutboxEventRecorder (commit, publish with confirms, mark sent), while `--agents` real agent
processes (`tasktracker agent`) turn them into letters for an aiosmtpd server in this process.
RabbitMQ is the real one (a vhost of the bench's own, created with rabbitmqctl); the database is
SecantusDB in a process of its own (or MONGO_URL). Prints, per run and as medians over `--runs`:

- outbox->broker: the recorder's time for every transaction (commit + publish + mark sent),
- end to end: from the first transaction to the last letter accepted by the SMTP server,
- with `--staged`, the stages apart: the agents start only once everything is in RabbitMQ, and
  broker->SMTP is the time from the first letter to the last,
- the CPU milliseconds per letter of each process: the database, the agents, this process (the
  recorder and the SMTP server) and RabbitMQ (shared with whatever else uses it).

    python bench/event_path_bench.py --events 10000 --runs 3 --agents 2
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
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
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from kombu import Connection

from tasktracker.adapters.broker import topology
from tasktracker.bootstrap import Container, bootstrap
from tasktracker.deploy.processes import free_port, stop_process, wait_for_port
from tasktracker.domain.events import Event, EventType
from tasktracker.settings import load_settings

RABBIT = "127.0.0.1:5672"
QUEUE = "welcome"
TASKTRACKER = Path(sys.executable).with_name("tasktracker")


class Counting:
    """aiosmtpd's handler: counts the letters it accepts and when the latest came."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.first = 0.0
        self.last = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.perf_counter()
        with self.lock:
            self.count += 1
            self.first = self.first or now
            self.last = now
        return "250 OK"

    def reset(self) -> None:
        with self.lock:
            self.count, self.first, self.last = 0, 0.0, 0.0


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (0 for one that is gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def rabbitmq_pids() -> list[int]:
    found = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


@dataclass
class Cpu:
    """CPU seconds of the bench's processes, by part."""

    database: list[int]
    agents: Agents

    def sample(self) -> dict[str, float]:
        """Agents that are not running count 0 (so sample once they run, and after)."""
        own = os.times()
        return {
            "database": cpu_seconds(self.database),
            "agents": cpu_seconds([p.pid for p in self.agents.processes or []]),
            "recorder+smtp": own.user + own.system,
            "rabbitmq": cpu_seconds(rabbitmq_pids()),
        }


DATABASE_PIDS: list[int] = []


@contextmanager
def mongo_url() -> Iterator[str]:
    """MONGO_URL, or SecantusDB in a process of its own (it would share this one's GIL),
    written to as the embedded mode and `make stack` write to theirs: without retryable writes
    (adapters/mongo/connection.py)."""
    if url := os.environ.get("MONGO_URL"):
        yield url
        return
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="event-path-bench-") as path:
        command = [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port)]
        process = subprocess.Popen(
            [*command, "--storage-path", path, "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL,
        )
        DATABASE_PIDS.append(process.pid)
        try:
            wait_for_port("127.0.0.1", port, timeout=30)
            yield f"mongodb://127.0.0.1:{port}/?retryWrites=false"
        finally:
            stop_process(process)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def vhost() -> Iterator[str]:
    name = f"event-path-bench-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@{RABBIT}/{name}"
    finally:
        rabbitmqctl("delete_vhost", name)


@contextmanager
def smtp_server() -> Iterator[tuple[str, Counting]]:
    handler = Counting()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", handler
    finally:
        controller.stop()


@dataclass
class Agents:
    """`tasktracker agent` processes with the bench's environment."""

    env: dict[str, str]
    count: int
    amqp_url: str
    processes: list[subprocess.Popen[bytes]] | None = None

    def start(self) -> None:
        self.processes = [
            subprocess.Popen(
                [str(TASKTRACKER), "agent"],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(self.count)
        ]
        deadline = time.monotonic() + 60
        while consumers(self.amqp_url) < self.count:
            if time.monotonic() > deadline:
                raise RuntimeError("the agents did not start consuming")
            time.sleep(0.1)

    def stop(self) -> None:
        for process in self.processes or []:
            stop_process(process)
        self.processes = None


def consumers(amqp_url: str) -> int:
    """Consumers on the welcome queue (a passive declare, so 0 before an agent declared it)."""
    try:
        with Connection(amqp_url) as conn:
            channel = conn.channel()
            try:
                return int(channel.queue_declare(QUEUE, passive=True).consumer_count)
            finally:
                if channel.is_open:
                    channel.close()
    except Exception:
        return 0


def record(c: Container, events: int, batch: int, run: int) -> None:
    """`events` welcome events, `batch` to a transaction, through the recorder."""
    for start in range(0, events, batch):
        now = c.clock()
        with c.events.transaction() as uow:
            uow.record(
                *(
                    Event(
                        EventType.USER_REGISTERED,
                        {"username": f"u{run}x{i}", "email": f"u{run}x{i}@example.com"},
                        now,
                    )
                    for i in range(start, min(start + batch, events))
                )
            )


def wait_for(handler: Counting, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while handler.count < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{handler.count} of {count} letters within {timeout:.0f}s")
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--agents", type=int, default=1, help="agent processes")
    parser.add_argument("--batch", type=int, default=200, help="events per transaction")
    parser.add_argument("--staged", action="store_true", help="fill the queue, then drain it")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    if shutil.which("rabbitmqctl") is None:
        sys.exit("rabbitmqctl is needed to create the bench's vhost")
    with (
        mongo_url() as url,
        vhost() as amqp_url,
        smtp_server() as (smtp_url, handler),
        tempfile.TemporaryDirectory() as data_dir,
    ):
        common = {
            "mongo_url": url,
            "mongo_db": f"event_path_bench_{uuid.uuid4().hex[:8]}",
            "jwt_secret": secrets.token_urlsafe(48),
            "amqp_url": amqp_url,
            "smtp_url": smtp_url,
        }
        c = bootstrap(load_settings(**common, data_dir=Path(data_dir), memcached_servers=None))
        env = {
            **os.environ,
            **{key.upper(): str(value) for key, value in common.items()},
            "DATA_DIR": str(Path(data_dir) / "agent"),
            "LOG_LEVEL": "WARNING",
        }
        agents = Agents(env, args.agents, amqp_url)
        with Connection(amqp_url) as conn:  # the queues exist before anything is published
            channel = conn.channel()
            for entity in topology():
                entity(channel).declare()
            channel.close()
        try:
            if not args.staged:
                agents.start()
            run(c, args, agents, handler)
        finally:
            agents.stop()
            c.adapters.client.drop_database(common["mongo_db"])
            c.close()


def run(c: Container, args: argparse.Namespace, agents: Agents, handler: Counting) -> None:
    published, total, drained = [], [], []
    cpu = Cpu(DATABASE_PIDS, agents)
    used: dict[str, list[float]] = {}
    for number in range(args.runs):
        handler.reset()
        before = cpu.sample()
        started = time.perf_counter()
        record(c, args.events, args.batch, number)
        published.append(time.perf_counter() - started)
        if args.staged:  # the CPU of recording, then of draining: not the agents' start-up
            recorded = cpu.sample()
            agents.start()
            started_agents = cpu.sample()
            before = {part: before[part] + started_agents[part] - recorded[part] for part in before}
        wait_for(handler, args.events, args.timeout)
        total.append(handler.last - started)
        drained.append(handler.last - handler.first)
        for part, seconds in cpu.sample().items():
            used.setdefault(part, []).append((seconds - before[part]) * 1000 / args.events)
        if args.staged:
            agents.stop()
        pending = c.adapters.outbox.pending_count()
        print(
            f"run {number + 1}: outbox->broker {published[-1]:.2f}s, "
            f"{'broker->SMTP' if args.staged else 'first->last letter'} {drained[-1]:.2f}s, "
            f"end to end {total[-1]:.2f}s ({pending} outbox entries unsent)",
            flush=True,
        )
    median = statistics.median
    mode = "staged" if args.staged else "pipelined"
    print(
        f"{args.events} events, {args.agents} agent(s), transactions of {args.batch}, {mode}, "
        f"median of {args.runs}: outbox->broker {median(published):.2f}s "
        f"({args.events / median(published):.0f}/s), "
        f"{'broker->SMTP' if args.staged else 'first->last letter'} {median(drained):.2f}s "
        f"({args.events / median(drained):.0f}/s)"
        + ("" if args.staged else f", time to the last letter {median(total):.2f}s")
    )
    print(
        "CPU ms per letter (median): "
        + ", ".join(f"{part} {median(ms):.2f}" for part, ms in used.items())
        + f"; all {sum(median(ms) for ms in used.values()):.2f}"
    )


if __name__ == "__main__":
    main()
