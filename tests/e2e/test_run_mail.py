"""`tasktracker run` on the embedded default: the agent thread writes letters as .eml files."""

from __future__ import annotations

import email
from email.policy import default

import pytest
import requests

from tests.support.commands import RUN_ADMIN_EMAIL, RUN_ADMIN_PASSWORD, RunningServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


def test_a_signup_produces_a_welcome_letter_file(tmp_path):
    data_dir = tmp_path / "var"
    with RunningServer(data_dir) as server:
        signup = {"username": "mia", "email": "mia@example.com", "password": "mia's password"}
        r = requests.post(f"{server.base}/api/v1/auth/signup", json=signup, timeout=5)
        assert r.status_code == 201
        ready = requests.get(f"{server.base}/readyz", timeout=5).json()
        assert ready["checks"]["broker"] == "ok"

        mail_dir = data_dir / "mail"

        def letters_to_mia() -> list:
            files = mail_dir.glob("*.eml") if mail_dir.exists() else []
            messages = [email.message_from_bytes(f.read_bytes(), policy=default) for f in files]
            return [m for m in messages if m["To"] == "mia@example.com"]

        [letter] = wait_until(letters_to_mia, timeout=10)
        assert "Hello mia," in letter.get_body(("plain",)).get_content()
        assert server.stop() == 0


def test_a_reset_letter_links_to_the_port_actually_bound(tmp_path):
    """PORT=0 picks a free port; PUBLIC_URL unset, letters' links must name that port."""
    data_dir = tmp_path / "var"
    with RunningServer(data_dir) as server:
        reset = {"email": RUN_ADMIN_EMAIL}
        r = requests.post(f"{server.base}/api/v1/auth/password-reset", json=reset, timeout=5)
        assert r.status_code == 202
        mail_dir = data_dir / "mail"

        def reset_letters() -> list:
            files = mail_dir.glob("*.password_reset.eml") if mail_dir.exists() else []
            return [email.message_from_bytes(f.read_bytes(), policy=default) for f in files]

        [letter] = wait_until(reset_letters, timeout=10)
        assert f"{server.base}/reset-password?token=" in letter.get_body(("plain",)).get_content()
        assert server.stop() == 0


def test_a_now_alert_produces_a_digest_file_from_the_scheduler_thread(tmp_path):
    data_dir = tmp_path / "var"
    with RunningServer(data_dir) as server:
        login = {"email": RUN_ADMIN_EMAIL, "password": RUN_ADMIN_PASSWORD}
        token = requests.post(f"{server.base}/api/v1/auth/login", json=login, timeout=5).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        me = requests.get(f"{server.base}/api/v1/users/me", headers=headers, timeout=5).json()
        task = {"title": "water the plants", "assignee": me["id"]}
        r = requests.post(f"{server.base}/api/v1/tasks", json=task, headers=headers, timeout=5)
        assert r.status_code == 201
        schedules = f"{server.base}/api/v1/alerts/schedules"
        listed = requests.get(schedules, headers=headers, timeout=5).json()["items"]
        assert [s["id"] for s in listed if s["builtin"]] == ["daily-digest"]
        r = requests.post(schedules, json={"type": "now"}, headers=headers, timeout=5)
        assert r.status_code == 201

        mail_dir = data_dir / "mail"

        def digests() -> list:
            files = mail_dir.glob("*.pending_tasks.eml") if mail_dir.exists() else []
            return [email.message_from_bytes(f.read_bytes(), policy=default) for f in files]

        [letter] = wait_until(digests, timeout=15)
        assert letter["To"] == RUN_ADMIN_EMAIL
        assert "water the plants" in letter.get_body(("plain",)).get_content()
        assert server.stop() == 0
