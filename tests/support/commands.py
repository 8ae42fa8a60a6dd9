"""`python -m tasktracker ...` as child processes: one-shot commands, and `tasktracker run`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from queue import Empty, Queue

from tasktracker.settings import Settings
from tests.support.settings import FAST_HASHING, env_vars, process_env

RUN_ADMIN_EMAIL = "root@example.com"
RUN_ADMIN_PASSWORD = "admin password 1"
URL_LINE = re.compile(r"TaskTracker API: (http://\S+?)/\s")
START_TIMEOUT = 60


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    """Run `tasktracker ARGS` to its end on the database and memcached of `settings`."""
    return subprocess.run(
        [sys.executable, "-m", "tasktracker", *args],
        env=process_env(settings, memcached_servers=settings.memcached_servers),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


class RunningServer:
    """`tasktracker run` on the embedded default (no MONGO_URL, no AMQP_URL) in `data_dir`, with
    a bootstrap admin; `base` is the URL it printed. As a context manager it is killed at the
    end unless it was stopped."""

    def __init__(self, data_dir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "AMQP_"))}
        env.update(
            DATA_DIR=str(data_dir),
            HOST="127.0.0.1",
            PORT="0",
            ADMIN_EMAIL=RUN_ADMIN_EMAIL,
            ADMIN_PASSWORD=RUN_ADMIN_PASSWORD,
            **env_vars(**FAST_HASHING),
        )
        env.pop("JWT_SECRET", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tasktracker", "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: Queue[str] = Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.base = self._wait_for_url()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _wait_for_url(self) -> str:
        seen = []
        while True:
            try:
                line = self.lines.get(timeout=START_TIMEOUT)
            except Empty:
                self.proc.kill()
                raise AssertionError(f"no URL printed; output: {''.join(seen)}") from None
            seen.append(line)
            if match := URL_LINE.search(line):
                return match.group(1)
            if self.proc.poll() is not None and self.lines.empty():
                raise AssertionError(f"server exited: {''.join(seen)}")

    def stop(self) -> int:
        """Interrupt it (Ctrl+C) and answer its exit status."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        """Kill it unless it has ended."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_agent(settings: Settings, **fields: object) -> subprocess.Popen:
    """`tasktracker agent --no-relay` on the database, broker and SMTP server of `settings`,
    with these settings fields too (by field name)."""
    env = process_env(settings, amqp_url=settings.amqp_url, smtp_url=settings.smtp_url, **fields)
    return subprocess.Popen(
        [sys.executable, "-m", "tasktracker", "agent", "--no-relay"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
