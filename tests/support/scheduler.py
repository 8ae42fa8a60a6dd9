"""Scheduler processes in tests: `python -m tasktracker scheduler` as a real process (it can be
SIGKILLed), and who holds the active scheduler's lease."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tasktracker.bootstrap import Container
from tasktracker.deploy.processes import stop_process
from tasktracker.scheduler.runner import LEASE_NAME
from tasktracker.settings import Settings
from tests.support.settings import process_env


class SchedulerProcess:
    """`python -m tasktracker scheduler` as a real process."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> SchedulerProcess:
        s = self.settings
        env = process_env(
            s,
            amqp_url=s.amqp_url or "",
            scheduler_lease=s.scheduler_lease,
            scheduler_poll_interval=s.scheduler_poll_interval,
            reminder_poll_interval=s.reminder_poll_interval,
            alert_digest_time=s.alert_digest_time,
            log_level="INFO",
        )
        self.log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tasktracker", "scheduler"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc, timeout=15)
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def lease_holder_pid(container: Container) -> int | None:
    doc = container.adapters.db.scheduler_leases.find_one({"_id": LEASE_NAME})
    if not doc or doc["expires_at"] <= datetime.now(UTC):
        return None
    return int(doc["owner"].split(":")[1])
