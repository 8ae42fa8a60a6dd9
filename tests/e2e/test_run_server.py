"""`tasktracker run` (what `make run` starts) as a real HTTP server on the embedded default."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue

import pytest
import requests

pytestmark = pytest.mark.e2e

ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "admin password 1"
URL_LINE = re.compile(r"TaskTracker API: (http://\S+?)/\s")
START_TIMEOUT = 60


class RunningServer:
    def __init__(self, data_dir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "AMQP_"))}
        env.update(
            DATA_DIR=str(data_dir),
            HOST="127.0.0.1",
            PORT="0",
            ADMIN_EMAIL=ADMIN_EMAIL,
            ADMIN_PASSWORD=ADMIN_PASSWORD,
            PASSWORD_HASH_TIME_COST="1",
            PASSWORD_HASH_MEMORY_KIB="8192",
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
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=30)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def server(data_dir: Path) -> Iterator[RunningServer]:
    running = RunningServer(data_dir)
    yield running
    if running.proc.poll() is None:
        running.proc.kill()
        running.proc.wait()


def test_run_serves_the_api_and_keeps_data_across_restarts(server, data_dir):
    base = server.base
    assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
    assert requests.get(f"{base}/docs/", timeout=5).status_code == 200

    signup = {"username": "erin", "email": "erin@example.com", "password": "erin's password"}
    assert requests.post(f"{base}/api/v1/auth/signup", json=signup, timeout=5).status_code == 201
    login = requests.post(
        f"{base}/api/v1/auth/login",
        json={"email": signup["email"], "password": signup["password"]},
        timeout=5,
    )
    token = login.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    created = requests.post(
        f"{base}/api/v1/tasks", json={"title": "survive a restart"}, headers=auth, timeout=5
    )
    assert created.status_code == 201
    task_id = created.json()["id"]

    admin = requests.post(
        f"{base}/users/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, timeout=5
    )
    assert admin.status_code == 200
    users = requests.get(
        f"{base}/users/get_users", headers={"Authorization": admin.json()["token"]}, timeout=5
    )
    assert {u["username"] for u in users.json()["users"]} >= {"erin", "root"}

    assert server.stop() == 0

    again = RunningServer(data_dir)
    try:
        # The data and the generated JWT secret were kept in DATA_DIR: the old token still works.
        r = requests.get(f"{again.base}/api/v1/tasks/{task_id}", headers=auth, timeout=5)
        assert r.status_code == 200
        assert r.json()["title"] == "survive a restart"
        assert again.stop() == 0
    finally:
        if again.proc.poll() is None:
            again.proc.kill()

    log_text = (data_dir / "log" / "tasktracker.log").read_text()
    assert "POST /api/v1/auth/login 200" in log_text
    assert signup["password"] not in log_text
    assert token not in log_text


def test_bad_setting_stops_start_up_with_one_line_naming_it(tmp_path):
    env = {**os.environ, "DATA_DIR": str(tmp_path), "PORT": "not-a-port"}
    result = subprocess.run(
        [sys.executable, "-m", "tasktracker", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "tasktracker: invalid setting PORT: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]
