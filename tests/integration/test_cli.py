"""`tasktracker create-admin` against the real database."""

from __future__ import annotations

from tests.support.commands import run_cli
from tests.support.waiting import wait_until


def test_create_admin_from_flags_can_log_in(settings, container, client):
    result = run_cli(
        settings,
        "create-admin",
        "--email",
        "boss@example.com",
        "--username",
        "boss",
        "--password",
        "boss password",
    )
    assert result.returncode == 0, result.stderr
    assert "admin ready: boss <boss@example.com>" in result.stdout
    r = client.post(
        "/api/v1/auth/login", json={"email": "boss@example.com", "password": "boss password"}
    )
    me = client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {r.get_json()['access_token']}"}
    )
    assert me.get_json()["role"] == "admin"


def test_create_admin_promotes_an_existing_member(settings, api, client):
    member = api.member("carol")
    result = run_cli(settings, "create-admin", "--email", member.email, "--password", "unused1!")
    assert result.returncode == 0, result.stderr
    # Another process's change: this API process sees it within SESSION_LOCAL_TTL (its near
    # cache may hold the member's snapshot that long), as with any other replica.
    wait_until(
        lambda: (
            client.get("/api/v1/users/me", headers=member.headers).get_json()["role"] == "admin"
        ),
        timeout=10,
    )


def test_create_admin_without_a_terminal_needs_the_password_flag(settings, container):
    result = run_cli(settings, "create-admin", "--email", "x@example.com")
    assert result.returncode != 0
    assert "--password is required" in result.stderr
