"""Rate limits with counters in the real memcached: 429 with Retry-After and a problem body."""

from __future__ import annotations

import logging

import pytest

from tasktracker.api.app import create_app
from tests.support.api import Api
from tests.support.problems import PROBLEM_JSON, assert_problem
from tests.support.settings import make_settings


def from_ip(ip: str) -> dict:
    return {"REMOTE_ADDR": ip}


def assert_too_many(response) -> None:
    assert_problem(response, 429)
    assert response.headers["Content-Type"] == PROBLEM_JSON
    assert int(response.headers["Retry-After"]) >= 1


def test_login_is_limited_per_client_address(make_api):
    api = make_api(rate_limit_login_ip="3/minute")
    bad = {"email": "nobody@example.com", "password": "wrong password"}
    for _ in range(3):
        assert (
            api.client.post(
                "/api/v1/auth/login", json=bad, environ_base=from_ip("10.0.0.1")
            ).status_code
            == 401
        )
    assert_too_many(
        api.client.post("/api/v1/auth/login", json=bad, environ_base=from_ip("10.0.0.1"))
    )
    # The legacy login shares the counter; another address is not affected.
    assert_too_many(api.client.post("/users/login", json=bad, environ_base=from_ip("10.0.0.1")))
    assert (
        api.client.post(
            "/api/v1/auth/login", json=bad, environ_base=from_ip("10.0.0.2")
        ).status_code
        == 401
    )


def test_login_is_limited_per_account_across_addresses(make_api):
    api = make_api(rate_limit_login_account="2/minute")
    victim = api.member("victim")
    guess = {"email": victim.email, "password": "guess guess"}
    # api.member() logged in once already: one attempt left for this account.
    assert (
        api.client.post(
            "/api/v1/auth/login", json=guess, environ_base=from_ip("10.0.1.1")
        ).status_code
        == 401
    )
    assert_too_many(
        api.client.post("/api/v1/auth/login", json=guess, environ_base=from_ip("10.0.1.2"))
    )
    other = {"email": "someone-else@example.com", "password": "guess guess"}
    assert (
        api.client.post(
            "/api/v1/auth/login", json=other, environ_base=from_ip("10.0.1.3")
        ).status_code
        == 401
    )


def legacy_change_password(api, body: dict, ip: str):
    """The original's change_password without a token: the old password authenticates."""
    return api.client.post("/users/change_password", json=body, environ_base=from_ip(ip))


def test_tokenless_change_password_shares_the_login_limit_per_address(make_api):
    api = make_api(rate_limit_login_ip="2/minute")
    guess = {"email": "nobody@example.com", "oldPassword": "guess guess", "newPassword": "x" * 12}
    for _ in range(2):
        assert legacy_change_password(api, guess, "10.0.3.1").status_code == 401
    assert_too_many(legacy_change_password(api, guess, "10.0.3.1"))
    login = {"email": "nobody@example.com", "password": "guess guess"}
    assert_too_many(api.client.post("/users/login", json=login, environ_base=from_ip("10.0.3.1")))
    assert legacy_change_password(api, guess, "10.0.3.2").status_code == 401


def test_tokenless_change_password_shares_the_login_limit_per_account(make_api):
    api = make_api(rate_limit_login_account="2/minute")
    victim = api.member("victim")
    guess = {"email": victim.email, "oldPassword": "guess guess", "newPassword": "x" * 12}
    # api.member() logged in once already: one attempt left for this account.
    assert legacy_change_password(api, guess, "10.0.4.1").status_code == 401
    assert_too_many(legacy_change_password(api, guess, "10.0.4.2"))
    right = {**guess, "oldPassword": victim.password}
    assert_too_many(legacy_change_password(api, right, "10.0.4.3"))
    login = {"email": victim.email, "password": victim.password}
    assert_too_many(api.client.post("/users/login", json=login, environ_base=from_ip("10.0.4.4")))


def test_an_email_memcached_cannot_key_is_still_counted(make_api, caplog):
    api = make_api(rate_limit_login_account="1/minute")
    odd = {"email": "a b\u00e9\n" + "x" * 300, "password": "guess guess"}
    assert (
        api.client.post(
            "/api/v1/auth/login", json=odd, environ_base=from_ip("10.0.2.1")
        ).status_code
        == 401
    )
    assert_too_many(
        api.client.post("/api/v1/auth/login", json=odd, environ_base=from_ip("10.0.2.2"))
    )
    assert "storage unreachable" not in caplog.text


def test_signup_is_limited_per_address_across_both_routes(make_api):
    api = make_api(rate_limit_signup="2/minute")

    def body(n: int) -> dict:
        return {"username": f"new{n}", "email": f"new{n}@example.com", "password": "long enough"}

    assert api.client.post("/api/v1/auth/signup", json=body(1)).status_code == 201
    assert api.client.post("/users/signup", json=body(2)).status_code == 201
    assert_too_many(api.client.post("/api/v1/auth/signup", json=body(3)))


def test_each_user_has_a_general_api_limit(make_api):
    api = make_api(rate_limit_api="5/minute")
    alice, bob = api.member("alice"), api.member("bob")
    for _ in range(5):
        assert api.client.get("/api/v1/tasks", headers=alice.headers).status_code == 200
    assert_too_many(api.client.get("/api/v1/tasks/summary", headers=alice.headers))
    assert api.client.get("/api/v1/tasks", headers=bob.headers).status_code == 200
    # Probes are never make_api.
    for _ in range(10):
        assert api.client.get("/healthz").status_code == 200


def test_with_memcached_down_a_users_budget_is_counted_in_process(make_api, memcached, caplog):
    """The counter store fails: requests are neither all refused nor let through unlimited."""
    api = make_api(rate_limit_api="5/minute")
    alice = api.member("alice")
    memcached.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="tasktracker.api.rate_limits"):
            for _ in range(5):
                assert api.client.get("/api/v1/tasks", headers=alice.headers).status_code == 200
            assert_too_many(api.client.get("/api/v1/tasks", headers=alice.headers))
        assert any("counting in-process" in r.getMessage() for r in caplog.records)
    finally:
        memcached.start()


def another_replica(api: Api, make_container) -> Api:
    """A second API process on the same database and Memcached (its own leases)."""
    container = make_container(api.container.settings)
    return Api(create_app(container.services).test_client(), container)


@pytest.mark.parametrize("budget, lease", [(5, 10), (60, 1), (60, 3)])
def test_a_users_budget_is_shared_by_the_replicas(make_api, make_container, budget, lease):
    """Requests alternating between two replicas: never more than the budget in a window.
    Leased (60 a minute, 3 units a lease), at most one lease's leftover per replica is lost."""
    api = make_api(rate_limit_api=f"{budget}/minute", rate_limit_lease=lease)
    other = another_replica(api, make_container)
    alice = api.member("alice")
    let_through = 0
    for n in range(budget + 10):
        replica = (api, other)[n % 2]
        response = replica.client.get("/api/v1/tasks", headers=alice.headers)
        if response.status_code == 429:
            assert_too_many(response)
        else:
            assert response.status_code == 200
            let_through += 1
    lost = 2 * (lease - 1) if budget >= 40 else 0
    assert budget - lost <= let_through <= budget
    bob = other.member("bob")  # another user has a budget of their own
    assert other.client.get("/api/v1/tasks", headers=bob.headers).status_code == 200


def test_limits_hold_in_the_embedded_default_too(mongo_url, tmp_path, make_container):
    settings = make_settings(mongo_url, tmp_path, rate_limit_login_ip="1/minute")
    assert settings.memcached_servers is None
    client = create_app(make_container(settings).services).test_client()
    bad = {"email": "x@example.com", "password": "wrong password"}
    assert client.post("/api/v1/auth/login", json=bad).status_code == 401
    assert_too_many(client.post("/api/v1/auth/login", json=bad))


def test_a_bad_rate_setting_names_the_variable(mongo_url, tmp_path):
    from tasktracker.settings import SettingsError

    with pytest.raises(SettingsError, match="RATE_LIMIT_SIGNUP"):
        make_settings(mongo_url, tmp_path, rate_limit_signup="lots")
