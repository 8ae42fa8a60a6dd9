"""Personal access tokens end to end (DESIGN 14): created once and kept as a digest, listed
without secrets, expiring, revoked at once by their owner or an admin, dead at once for a
disabled user, limited to their scopes on every route, and rate limited on their own."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tasktracker.api.security import SESSION_NEEDED, SESSION_ONLY, Access
from tasktracker.domain.tokens import Scope, new_token, well_formed
from tests.support.api import Account, Api, raw
from tests.support.problems import assert_problem

TOKENS = "/api/v1/users/me/tokens"
TOKEN_FORMAT = re.compile(r"^ttp_[0-9A-Za-z]{36}$")
ALL_SCOPES = [str(s) for s in Scope]
MEMBER_SCOPES = [s for s in ALL_SCOPES if s != Scope.ADMIN]


def create_token(
    api: Api, who: Account, scopes: list[str], *, name: str = "ci", days: int = 30
) -> dict[str, Any]:
    body = {"name": name, "scopes": scopes, "expires_in_days": days}
    r = api.client.post(TOKENS, json=body, headers=who.headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def my_tokens(api: Api, who: Account) -> list[dict[str, Any]]:
    r = api.client.get(TOKENS, headers=who.headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()["items"]


def lifetime(token: dict[str, Any]) -> timedelta:
    created, expires = (datetime.fromisoformat(token[k]) for k in ("created_at", "expires_at"))
    return expires - created


def from_ip(ip: str) -> dict[str, str]:
    return {"REMOTE_ADDR": ip}


# --- creating, listing, storing ----------------------------------------------------------------


def test_a_token_is_shown_once_and_the_database_keeps_only_its_digest(api, container):
    alice = api.member()
    r = api.client.post(
        TOKENS,
        json={"name": "deploy bot", "scopes": ["tasks:read", "tasks:write"], "expires_in_days": 7},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.get_json()
    created = r.get_json()
    assert set(created) == {
        "id", "name", "scopes", "token", "token_hint", "created_at", "expires_at"
    }  # fmt: skip
    secret = created["token"]
    assert TOKEN_FORMAT.fullmatch(secret) and well_formed(secret)
    assert created["scopes"] == ["tasks:read", "tasks:write"]
    assert created["name"] == "deploy bot"
    assert created["token_hint"] == f"ttp_...{secret[-4:]}"
    assert lifetime(created) == timedelta(days=7)
    assert r.headers["Location"] == f"{TOKENS}/{created['id']}"

    docs = list(container.adapters.db.access_tokens.find())
    assert len(docs) == 1
    assert docs[0]["digest"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(docs[0]) and secret[4:34] not in str(docs[0])

    listed = my_tokens(api, alice)
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0] and "digest" not in listed[0]
    assert secret not in api.client.get(TOKENS, headers=alice.headers).get_data(as_text=True)
    assert listed[0]["last_used_at"] is None


def test_a_token_calls_the_api_as_its_owner_within_its_scopes(api):
    alice = api.member()
    secret = create_token(api, alice, ["tasks:read", "users:read"])["token"]

    me = api.client.get("/api/v1/users/me", headers=bearer(secret))
    assert me.status_code == 200 and me.get_json()["id"] == alice.id
    assert api.client.get("/api/v1/tasks", headers=bearer(secret)).status_code == 200
    # the original's raw header form works too
    assert api.client.get("/tasks/get_tasks", headers=raw(secret)).status_code == 200

    r = api.client.post("/api/v1/tasks", json={"title": "x"}, headers=bearer(secret))
    body = assert_problem(r, 403)
    assert body["detail"] == "this token lacks the scope 'tasks:write'"
    assert body["required_scope"] == "tasks:write"
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]


def test_last_used_at_is_written_at_most_once_a_minute(api, clock):
    t0 = datetime.now(UTC).replace(microsecond=0)
    clock.set(t0)
    alice = api.member()
    token = create_token(api, alice, ["users:read"])

    def use_and_read() -> str | None:
        assert api.client.get("/api/v1/users/me", headers=bearer(token["token"])).status_code == 200
        return my_tokens(api, alice)[0]["last_used_at"]

    assert datetime.fromisoformat(use_and_read()) == t0
    clock.advance(seconds=59)
    assert datetime.fromisoformat(use_and_read()) == t0
    clock.advance(seconds=1)
    assert datetime.fromisoformat(use_and_read()) == t0 + timedelta(seconds=60)
    clock.advance(seconds=30)
    assert datetime.fromisoformat(use_and_read()) == t0 + timedelta(seconds=60)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "scopes": ["tasks:delete"]},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["tasks:read"], "expires_in_days": 0},
        {"name": "x", "scopes": ["tasks:read"], "expires_in_days": 366},
        {"name": "x", "scopes": ["tasks:read"], "expires_in_days": "30"},
        {"name": "", "scopes": ["tasks:read"]},
        {"scopes": ["tasks:read"]},
        {"name": "x", "scopes": "tasks:read"},
        {"name": "x", "scopes": ["tasks:read"], "token": "ttp_chosen"},
    ],
    ids=[
        "unknown-scope",
        "no-scopes",
        "zero-days",
        "366-days",
        "days-as-text",
        "empty-name",
        "no-name",
        "scopes-not-a-list",
        "own-secret",
    ],
)
def test_a_bad_token_request_is_a_422_problem(api, body):
    alice = api.member()
    assert_problem(api.client.post(TOKENS, json=body, headers=alice.headers), 422)
    assert my_tokens(api, alice) == []


def test_a_lifetime_defaults_to_30_days_and_reaches_365(api):
    alice = api.member()
    r = api.client.post(TOKENS, json={"name": "x", "scopes": ["tasks:read"]}, headers=alice.headers)
    assert r.status_code == 201 and lifetime(r.get_json()) == timedelta(days=30)
    assert lifetime(create_token(api, alice, ["tasks:read"], days=365)) == timedelta(days=365)
    assert lifetime(create_token(api, alice, ["tasks:read"], days=1)) == timedelta(days=1)


def test_only_an_admin_may_create_a_token_with_the_admin_scope(api):
    alice, root = api.member(), api.admin()
    r = api.client.post(
        TOKENS, json={"name": "x", "scopes": ["tasks:read", "admin"]}, headers=alice.headers
    )
    assert "admin" in assert_problem(r, 403)["detail"]
    assert my_tokens(api, alice) == []

    admin_token = create_token(api, root, ["admin"])["token"]
    assert api.client.get("/api/v1/users", headers=bearer(admin_token)).status_code == 200
    # an admin's token without the admin scope cannot use the admin role
    plain = create_token(api, root, MEMBER_SCOPES)["token"]
    r = api.client.get("/api/v1/users", headers=bearer(plain))
    assert assert_problem(r, 403)["detail"] == "this token lacks the scope 'admin'"


def test_a_members_token_cannot_reach_admin_routes(api):
    alice = api.member()
    secret = create_token(api, alice, MEMBER_SCOPES)["token"]
    for path in ("/api/v1/users", "/api/v1/alerts/schedules", "/users/get_users"):
        assert_problem(api.client.get(path, headers=bearer(secret)), 403)


# --- stopping a token --------------------------------------------------------------------------


def test_an_expired_token_is_refused_with_401(api, clock):
    alice = api.member()
    secret = create_token(api, alice, ["users:read"], days=1)["token"]
    assert api.client.get("/api/v1/users/me", headers=bearer(secret)).status_code == 200
    clock.advance(days=1, seconds=1)
    r = api.client.get("/api/v1/users/me", headers=bearer(secret))
    assert "expired" in assert_problem(r, 401)["detail"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_revoked_by_its_owner_stops_at_once(api):
    alice = api.member()
    token = create_token(api, alice, ["users:read"])
    other = create_token(api, alice, ["users:read"], name="other")
    assert api.client.get("/api/v1/users/me", headers=bearer(token["token"])).status_code == 200

    r = api.client.delete(f"{TOKENS}/{token['id']}", headers=alice.headers)
    assert r.status_code == 204
    assert_problem(api.client.get("/api/v1/users/me", headers=bearer(token["token"])), 401)
    assert api.client.get("/api/v1/users/me", headers=bearer(other["token"])).status_code == 200
    assert [t["id"] for t in my_tokens(api, alice)] == [other["id"]]
    assert_problem(api.client.delete(f"{TOKENS}/{token['id']}", headers=alice.headers), 404)


def test_nobody_revokes_or_sees_someone_elses_token(api):
    alice, bob = api.member(), api.member()
    token = create_token(api, alice, ["users:read"])
    for token_id in (token["id"], "not-an-id"):
        assert_problem(api.client.delete(f"{TOKENS}/{token_id}", headers=bob.headers), 404)
    assert my_tokens(api, bob) == []
    assert_problem(api.client.get(f"/api/v1/users/{alice.id}/tokens", headers=bob.headers), 403)
    r = api.client.delete(f"/api/v1/users/{alice.id}/tokens/{token['id']}", headers=bob.headers)
    assert_problem(r, 403)
    assert api.client.get("/api/v1/users/me", headers=bearer(token["token"])).status_code == 200


def test_an_admin_lists_and_revokes_a_users_tokens(api):
    alice, root = api.member(), api.admin()
    token = create_token(api, alice, ["users:read"], name="laptop")

    r = api.client.get(f"/api/v1/users/{alice.id}/tokens", headers=root.headers)
    assert r.status_code == 200
    assert [(t["id"], t["name"]) for t in r.get_json()["items"]] == [(token["id"], "laptop")]
    assert token["token"] not in r.get_data(as_text=True)

    r = api.client.delete(f"/api/v1/users/{alice.id}/tokens/{token['id']}", headers=root.headers)
    assert r.status_code == 204
    assert_problem(api.client.get("/api/v1/users/me", headers=bearer(token["token"])), 401)
    # the token must belong to the user named
    again = create_token(api, alice, ["users:read"])
    r = api.client.delete(f"/api/v1/users/{root.id}/tokens/{again['id']}", headers=root.headers)
    assert_problem(r, 404)
    unknown = "0123456789abcdef01234567"
    assert_problem(api.client.get(f"/api/v1/users/{unknown}/tokens", headers=root.headers), 404)


def test_disabling_the_user_stops_their_tokens_at_once(api):
    """Refused with 403 'this account is disabled', the check every authenticated request makes
    (a session is ended by the disable itself: 401). The tokens are kept: re-enabling the user
    makes them work again, as it makes their password work again."""
    alice, root = api.member(), api.admin()
    secret = create_token(api, alice, ["users:read"])["token"]
    assert api.client.get("/api/v1/users/me", headers=bearer(secret)).status_code == 200

    r = api.client.patch(f"/api/v1/users/{alice.id}", json={"active": False}, headers=root.headers)
    assert r.status_code == 200
    for path in ("/api/v1/users/me", "/tasks/get_tasks"):
        r = api.client.get(path, headers=bearer(secret))
        assert assert_problem(r, 403)["detail"] == "this account is disabled"
    assert_problem(api.client.get("/api/v1/users/me", headers=alice.headers), 401)

    r = api.client.patch(f"/api/v1/users/{alice.id}", json={"active": True}, headers=root.headers)
    assert r.status_code == 200
    assert api.client.get("/api/v1/users/me", headers=bearer(secret)).status_code == 200


def test_a_tokens_project_roles_are_read_on_every_request(api):
    owner, alice = api.member(), api.member()
    api.create_project(owner, "OPS")
    api.set_role(owner, "OPS", alice, "member")
    secret = create_token(api, alice, ["tasks:read", "tasks:write", "projects:read"])["token"]
    r = api.client.post(
        "/api/v1/tasks", json={"title": "t", "project": "OPS"}, headers=bearer(secret)
    )
    assert r.status_code == 201

    r = api.client.delete(f"/api/v1/projects/OPS/members/{alice.id}", headers=owner.headers)
    assert r.status_code == 204
    assert_problem(api.client.get("/api/v1/projects/OPS", headers=bearer(secret)), 404)
    r = api.client.post(
        "/api/v1/tasks", json={"title": "t", "project": "OPS"}, headers=bearer(secret)
    )
    assert r.status_code in (403, 404)


@pytest.mark.parametrize(
    "token",
    [
        "ttp_" + "A" * 36,  # bad checksum
        "ttp_short",
        "ttp_" + "!" * 36,
        new_token(),  # well formed, never issued
    ],
    ids=["bad-checksum", "short", "bad-alphabet", "unknown"],
)
def test_a_malformed_or_unknown_token_is_a_401_problem(api, token):
    for path in ("/api/v1/users/me", "/api/v1/tasks", "/tasks/get_tasks"):
        r = api.client.get(path, headers=bearer(token))
        assert_problem(r, 401)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_is_never_logged(api, caplog):
    alice = api.member()
    with caplog.at_level("DEBUG"):
        secret = create_token(api, alice, ["users:read"])["token"]
        api.client.get("/api/v1/users/me", headers=bearer(secret))
        api.client.get("/api/v1/users/me", headers=bearer(secret[:-1] + "x"))
    assert secret[4:] not in caplog.text and secret[4:34] not in caplog.text


# --- what a token may call ---------------------------------------------------------------------


def test_token_management_and_account_changes_need_a_session(api):
    alice = api.member()
    token = create_token(api, alice, MEMBER_SCOPES)
    secret = token["token"]
    calls = [
        ("post", TOKENS, {"name": "child", "scopes": ["tasks:read"]}),
        ("get", TOKENS, None),
        ("delete", f"{TOKENS}/{token['id']}", None),
        ("put", "/api/v1/users/me/password", {"current_password": "x", "new_password": "y"}),
        ("patch", "/api/v1/users/me/notifications", {"digest": False}),
        ("post", "/api/v1/auth/logout", None),
        ("post", "/users/change_password", {"email": alice.email, "oldPassword": "x",
                                            "newPassword": "y" * 10}),
    ]  # fmt: skip
    for method, path, body in calls:
        r = api.client.open(path, method=method, json=body, headers=bearer(secret))
        assert assert_problem(r, 403)["detail"] == SESSION_NEEDED, path
    assert [t["id"] for t in my_tokens(api, alice)] == [token["id"]]
    assert api.client.get("/api/v1/users/me", headers=bearer(secret)).status_code == 200


def test_a_session_holds_every_scope_as_before(api):
    alice, root = api.member(), api.admin()
    task = api.create_task(alice, title="session work")
    r = api.client.patch(
        f"/api/v1/tasks/{task['id']}", json={"title": "still works"}, headers=alice.headers
    )
    assert r.status_code == 200
    assert api.client.get("/api/v1/users/me", headers=alice.headers).status_code == 200
    assert (
        api.client.get("/api/v1/users/me/notifications", headers=alice.headers).status_code == 200
    )
    assert api.client.get("/api/v1/users", headers=root.headers).status_code == 200
    assert api.client.get("/tasks/get_tasks", headers=raw(alice.token)).status_code == 200
    assert api.client.post("/api/v1/auth/logout", headers=alice.headers).status_code == 204
    assert_problem(api.client.get("/api/v1/users/me", headers=alice.headers), 401)


def test_the_openapi_bearer_scheme_describes_both_kinds_of_token(client):
    schemes = client.get("/openapi.json").get_json()["components"]["securitySchemes"]
    description = schemes["bearer"]["description"]
    assert "ttp_" in description and "JWT" in description and "scope" in description


# --- every route declares a scope, and tokens are held to it -----------------------------------

PATH_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
NO_SUCH_ID = "0123456789abcdef01234567"


def declared_routes(app) -> list[tuple[str, str, Access, object]]:
    """(rule, method, access, scope) of every route the app serves."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        access = getattr(view, "__access__", Access.PUBLIC)
        scope = getattr(view, "__scope__", None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, method, access, scope))
    return found


def test_every_route_that_needs_a_caller_declares_a_scope(app):
    routes = declared_routes(app)
    missing = [
        (rule, method)
        for rule, method, access, scope in routes
        if access is not Access.PUBLIC and not (isinstance(scope, Scope) or scope == SESSION_ONLY)
    ]
    assert missing == [], "declare a scope with @requires(Access.X, Scope.Y) or SESSION_ONLY"
    admin_without_admin_scope = [
        (rule, method)
        for rule, method, access, scope in routes
        if access is Access.ADMIN and scope not in (Scope.ADMIN, SESSION_ONLY)
    ]
    assert admin_without_admin_scope == []
    scoped = [r for r in routes if isinstance(r[3], Scope)]
    assert len(scoped) >= 40
    assert {r[3] for r in scoped} >= set(Scope) - {Scope.WEBHOOKS_WRITE}


@pytest.fixture
def world(api: Api) -> dict[str, Any]:
    """An admin (whose tokens may hold every scope) and one of each object a route names."""
    root, owner = api.admin(), api.member()
    project = api.create_project(owner, "MAT", "Matrix")
    task = api.create_task(owner, project="MAT", title="matrix task")
    comment = api.client.post(
        f"/api/v1/tasks/{task['id']}/comments", json={"body": "hi"}, headers=owner.headers
    ).get_json()
    schedule = api.client.post(
        "/api/v1/alerts/schedules", json={"type": "daily", "time": "09:00"}, headers=root.headers
    ).get_json()
    token = create_token(api, owner, ["tasks:read"])
    values = {
        "task_id": task["id"],
        "project": project["key"],
        "comment_id": comment["id"],
        "user_id": owner.id,
        "schedule_id": schedule["id"],
        "token_id": token["id"],
    }
    return {"root": root, "values": values}


def concrete(rule: str, values: dict[str, str]) -> str:
    return PATH_PARAM.sub(lambda m: values.get(m.group(1), NO_SUCH_ID), rule)


def scope_refused(r) -> bool:
    body = r.get_json(silent=True) or {}
    return r.status_code == 403 and (
        "lacks the scope" in str(body.get("detail")) or body.get("detail") == SESSION_NEEDED
    )


def test_scope_matrix_every_route_refuses_a_token_without_its_scope(api, world):
    """For every route: a token holding every scope but the one it needs gets a 403 naming that
    scope; a token holding it is not refused for its scope (whatever the route answers then);
    a session-only route refuses every token."""
    root = world["root"]
    everything = create_token(api, root, ALL_SCOPES)["token"]
    all_but = {
        scope: create_token(api, root, [s for s in ALL_SCOPES if s != scope])["token"]
        for scope in ALL_SCOPES
    }
    routes = [r for r in declared_routes(api.client.application) if r[2] is not Access.PUBLIC]
    # writes last, deletes at the very end: a route that does its work changes nothing the
    # routes after it use
    order = {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}
    routes.sort(key=lambda r: order[r[1]])
    checked = 0
    for rule, method, _access, scope in routes:
        url = concrete(rule, world["values"])
        body = {} if method in ("POST", "PUT", "PATCH") else None
        if scope == SESSION_ONLY:
            r = api.client.open(url, method=method, json=body, headers=bearer(everything))
            assert scope_refused(r), (method, url, r.status_code, r.get_json())
            continue
        lacking = api.client.open(url, method=method, json=body, headers=bearer(all_but[scope]))
        detail = assert_problem(lacking, 403)["detail"]
        assert detail == f"this token lacks the scope '{scope}'", (method, url, detail)

        holding = api.client.open(url, method=method, json=body, headers=bearer(everything))
        assert not scope_refused(holding), (method, url, holding.get_json())
        assert holding.status_code not in (401, 429, 500), (method, url, holding.get_json())
        checked += 1
    assert checked >= 40


# --- rate limits -------------------------------------------------------------------------------


def test_a_brute_force_of_tokens_gets_401s_then_429s(make_api):
    api = make_api(rate_limit_token_failures="5/minute")
    alice = api.member()
    real = create_token(api, alice, ["users:read"])["token"]
    guesses = [new_token() for _ in range(12)]
    statuses = [
        api.client.get("/api/v1/users/me", headers=bearer(g), environ_base=from_ip("10.9.0.1"))
        for g in guesses
    ]
    codes = [r.status_code for r in statuses]
    assert codes == [401] * 5 + [429] * 7, codes
    limited = statuses[-1]
    assert_problem(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 1
    # over the limit, even the real token from that address waits: nothing is looked up
    r = api.client.get("/api/v1/users/me", headers=bearer(real), environ_base=from_ip("10.9.0.1"))
    assert r.status_code == 429
    # another address, and sessions from the same address, are not affected
    r = api.client.get("/api/v1/users/me", headers=bearer(real), environ_base=from_ip("10.9.0.2"))
    assert r.status_code == 200
    r = api.client.get("/api/v1/users/me", headers=alice.headers, environ_base=from_ip("10.9.0.1"))
    assert r.status_code == 200


def test_malformed_tokens_count_as_failures_too(make_api):
    api = make_api(rate_limit_token_failures="3/minute")
    codes = [
        api.client.get(
            "/api/v1/users/me", headers=bearer("ttp_" + "A" * 36), environ_base=from_ip("10.9.1.1")
        ).status_code
        for _ in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]


def test_token_requests_have_their_own_budget_per_token(make_api):
    api = make_api(rate_limit_api="3/minute", rate_limit_token="4/minute")
    alice = api.member()  # sign-up and login count against the address, not the user
    first = create_token(api, alice, ["users:read"])["token"]  # the user's 1st request
    for _ in range(4):
        assert api.client.get("/api/v1/users/me", headers=bearer(first)).status_code == 200
    r = api.client.get("/api/v1/users/me", headers=bearer(first))
    assert_problem(r, 429)
    assert int(r.headers["Retry-After"]) >= 1
    # the token's requests did not spend the user's budget, and each token has its own
    assert api.client.get("/api/v1/users/me", headers=alice.headers).status_code == 200
    second = create_token(api, alice, ["users:read"], name="second")["token"]
    assert api.client.get("/api/v1/users/me", headers=bearer(second)).status_code == 200
