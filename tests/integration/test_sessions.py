"""Sessions in Memcached backed by MongoDB: revocation, refresh rotation, reuse detection, and
what happens when Memcached restarts or goes away. Runs against a real memcached process."""

from __future__ import annotations

import logging

import pytest

from tasktracker.api.app import create_app
from tasktracker.services.sessions import cache_key
from tests.support.api import DEFAULT_PASSWORD


def login(client, email: str, password: str = DEFAULT_PASSWORD) -> dict:
    r = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me_status(client, token: str) -> int:
    return client.get("/api/v1/users/me", headers=bearer(token)).status_code


def refresh(client, refresh_token: str):
    return client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


def test_login_answers_a_token_pair(api, client):
    alice = api.member()
    pair = login(client, alice.email)
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["token_type"] == "Bearer"
    assert pair["expires_in"] == api.container.settings.access_token_ttl
    assert me_status(client, pair["access_token"]) == 200


def test_refresh_rotates_and_a_spent_refresh_token_revokes_the_session(api, client):
    alice = api.member()
    first = login(client, alice.email)

    second = refresh(client, first["refresh_token"])
    assert second.status_code == 200
    second = second.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert me_status(client, second["access_token"]) == 200

    # The first refresh token was spent: presenting it again looks like theft.
    reuse = refresh(client, first["refresh_token"])
    assert reuse.status_code == 401
    assert reuse.headers["Content-Type"] == "application/problem+json"
    # ...and the whole session is gone, including the tokens issued by the rotation.
    assert refresh(client, second["refresh_token"]).status_code == 401
    assert me_status(client, second["access_token"]) == 401
    assert me_status(client, first["access_token"]) == 401


def test_an_access_token_is_not_a_refresh_token_and_vice_versa(api, client):
    pair = login(client, api.member().email)
    assert refresh(client, pair["access_token"]).status_code == 401
    assert me_status(client, pair["refresh_token"]) == 401


def test_logout_ends_the_current_session_only(api, client):
    alice = api.member()
    one, two = login(client, alice.email), login(client, alice.email)
    r = client.post("/api/v1/auth/logout", headers=bearer(one["access_token"]))
    assert r.status_code == 204
    assert me_status(client, one["access_token"]) == 401
    assert refresh(client, one["refresh_token"]).status_code == 401
    assert me_status(client, two["access_token"]) == 200


@pytest.mark.parametrize("route", ["resource", "legacy"])
def test_changing_the_password_ends_the_other_sessions(api, client, route):
    alice = api.member()
    here, elsewhere = login(client, alice.email), login(client, alice.email)
    if route == "resource":
        r = client.put(
            "/api/v1/users/me/password",
            json={"current_password": DEFAULT_PASSWORD, "new_password": "a brand new one"},
            headers=bearer(here["access_token"]),
        )
        assert r.status_code == 204
    else:
        r = client.post(
            "/users/change_password",
            json={
                "email": alice.email,
                "oldPassword": DEFAULT_PASSWORD,
                "newPassword": "a brand new one",
            },
            headers={"Authorization": here["access_token"]},
        )
        assert r.status_code == 200
    assert me_status(client, here["access_token"]) == 200
    assert me_status(client, elsewhere["access_token"]) == 401
    assert refresh(client, elsewhere["refresh_token"]).status_code == 401


def test_disabling_a_user_ends_all_their_sessions_at_once(api, client):
    admin, bob = api.admin(), api.member()
    assert me_status(client, bob.token) == 200  # warm the cached session
    r = client.patch(f"/api/v1/users/{bob.id}", json={"active": False}, headers=admin.headers)
    assert r.status_code == 200
    assert me_status(client, bob.token) == 401
    assert (
        client.post(
            "/api/v1/auth/login", json={"email": bob.email, "password": bob.password}
        ).status_code
        == 401
    )


def test_a_demotion_applies_to_the_next_request_with_the_same_token(api, client):
    root, other = api.admin(), api.admin()
    assert client.get("/api/v1/users", headers=other.headers).status_code == 200
    r = client.patch(f"/api/v1/users/{other.id}", json={"role": "member"}, headers=root.headers)
    assert r.status_code == 200
    assert client.get("/api/v1/users", headers=other.headers).status_code == 403
    assert client.get("/users/get_users", headers=other.headers).status_code == 403


def test_the_session_record_is_cached_in_memcached(api, container):
    alice = api.member()
    sid = _session_id(container, alice.id)
    cached = container.adapters.cache.get(cache_key(sid))
    assert cached is not None and cached["uid"] == alice.id and cached["revoked"] is False
    assert "password_hash" not in cached


def test_without_rabbitmq_a_replica_keeps_no_copies_and_sees_a_logout_at_once(
    api, client, make_container, settings
):
    """A near cache needs the invalidations RabbitMQ carries (tests/integration/messaging/
    test_session_broadcast.py): with the in-process broker, SESSION_LOCAL_TTL=1 keeps none."""
    alice = api.member()
    session = login(client, alice.email)
    replica = make_container(settings.model_copy(update={"session_local_ttl": 1.0}))
    assert replica.adapters.session_cache is replica.adapters.cache
    other = create_app(replica.services).test_client()
    assert me_status(other, session["access_token"]) == 200
    assert client.post("/api/v1/auth/logout", headers=bearer(session["access_token"])).status_code
    assert me_status(other, session["access_token"]) == 401


def test_without_a_near_cache_another_replica_sees_a_logout_on_its_next_request(
    api, client, make_container, settings
):
    alice = api.member()
    session = login(client, alice.email)
    other_settings = settings.model_copy(update={"session_local_ttl": 0})
    other = create_app(make_container(other_settings).services).test_client()
    assert me_status(other, session["access_token"]) == 200
    assert client.post("/api/v1/auth/logout", headers=bearer(session["access_token"])).status_code
    assert me_status(other, session["access_token"]) == 401


def test_a_memcached_restart_logs_nobody_out_and_revoked_stays_revoked(api, client, memcached):
    alice = api.member()
    keep, ended = login(client, alice.email), login(client, alice.email)
    assert client.post("/api/v1/auth/logout", headers=bearer(ended["access_token"])).status_code
    assert me_status(client, keep["access_token"]) == 200

    memcached.stop()
    memcached.start()

    assert me_status(client, keep["access_token"]) == 200
    assert me_status(client, ended["access_token"]) == 401
    assert refresh(client, ended["refresh_token"]).status_code == 401


def test_with_memcached_down_requests_are_served_and_readyz_says_degraded(
    api, client, memcached, caplog
):
    alice = api.member()
    memcached.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="tasktracker.adapters.cache"):
            for _ in range(5):
                assert me_status(client, alice.token) == 200
            fresh = login(client, alice.email)
            assert me_status(client, fresh["access_token"]) == 200
            ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.get_json()["status"] == "degraded"
        assert ready.get_json()["checks"]["cache"] == "unavailable"
        outage_lines = [r for r in caplog.records if "memcached unavailable" in r.getMessage()]
        assert len(outage_lines) == 1
    finally:
        memcached.start()


def _session_id(container, user_id: str) -> str:
    doc = container.adapters.db.sessions.find_one({"user_id": user_id}, sort=[("created_at", -1)])
    assert doc is not None
    return doc["_id"]
