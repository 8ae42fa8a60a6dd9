"""`tasktracker run` (what `make run` starts) as a real HTTP server on the embedded default."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.commands import RUN_ADMIN_EMAIL, RUN_ADMIN_PASSWORD, RunningServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def server(data_dir: Path) -> Iterator[RunningServer]:
    with RunningServer(data_dir) as running:
        yield running


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
        f"{base}/users/login",
        json={"email": RUN_ADMIN_EMAIL, "password": RUN_ADMIN_PASSWORD},
        timeout=5,
    )
    assert admin.status_code == 200
    users = requests.get(
        f"{base}/users/get_users", headers={"Authorization": admin.json()["token"]}, timeout=5
    )
    assert {u["username"] for u in users.json()["users"]} >= {"erin", "root"}

    assert server.stop() == 0

    with RunningServer(data_dir) as again:
        # The data and the generated JWT secret were kept in DATA_DIR: the old token still works.
        r = requests.get(f"{again.base}/api/v1/tasks/{task_id}", headers=auth, timeout=5)
        assert r.status_code == 200
        assert r.json()["title"] == "survive a restart"
        assert again.stop() == 0

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
