"""Accounts through the resource API: sign-up, login, the caller's account, admin management
of users, and the bootstrap admin."""

from __future__ import annotations

import uuid

import pytest
from bson import ObjectId

from tasktracker.adapters.passwords import PasswordHasher
from tasktracker.api.app import create_app
from tests.support.api import DEFAULT_PASSWORD
from tests.support.problems import PROBLEM_JSON, assert_problem
from tests.support.settings import make_settings

USER_FIELDS = {"id", "username", "email", "role", "active", "created_at"}


def signup(client, username: str, email: str | None = None, password: str = DEFAULT_PASSWORD):
    email = email or f"{username}@example.com"
    return client.post(
        "/api/v1/auth/signup", json={"username": username, "email": email, "password": password}
    )


def login(client, email: str, password: str = DEFAULT_PASSWORD):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- sign-up -----------------------------------------------------------------------------------


def test_signup_creates_a_member(client):
    r = signup(client, "alice")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert set(body) == USER_FIELDS
    assert body["username"] == "alice"
    assert body["email"] == "alice@example.com"
    assert body["role"] == "member"
    assert body["active"] is True
    assert ObjectId.is_valid(body["id"])


def test_signup_cannot_ask_for_the_admin_role(client):
    r = client.post(
        "/api/v1/auth/signup",
        json={
            "username": "mallory",
            "email": "mallory@example.com",
            "password": DEFAULT_PASSWORD,
            "role": "admin",
        },
    )
    assert_problem(r, 422)
    assert_problem(login(client, "mallory@example.com"), 401)


def test_signup_normalises_the_email_for_login(client):
    assert signup(client, "casey", email="  Casey@Example.COM ").status_code == 201
    r = login(client, "casey@example.com")
    assert r.status_code == 200, r.get_json()


@pytest.mark.parametrize(
    "second",
    [
        {"username": "other", "email": "alice@example.com"},
        {"username": "alice", "email": "other@example.com"},
        {"username": "ALICE", "email": "other@example.com"},
        {"username": "other", "email": "ALICE@example.com"},
    ],
)
def test_duplicate_email_or_username_is_a_conflict(client, second):
    assert signup(client, "alice").status_code == 201
    r = signup(client, second["username"], email=second["email"])
    body = assert_problem(r, 409)
    assert DEFAULT_PASSWORD not in r.get_data(as_text=True)
    assert body["detail"]


@pytest.mark.parametrize("password", ["short", "1234567", " " * 12, "x" * 257])
def test_weak_password_is_rejected(api, password):
    r = signup(api.client, "weakling", password=password)
    assert_problem(r, 422)
    assert password.strip() == "" or password not in r.get_data(as_text=True)
    assert api.container.adapters.db.users.count_documents({}) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"username": "ab", "email": "ab@example.com", "password": DEFAULT_PASSWORD},
        {"username": "has space", "email": "s@example.com", "password": DEFAULT_PASSWORD},
        {"username": "bademail", "email": "not-an-email", "password": DEFAULT_PASSWORD},
        {"username": "nopass", "email": "nopass@example.com"},
    ],
)
def test_signup_with_invalid_fields_is_422(client, body):
    assert_problem(client.post("/api/v1/auth/signup", json=body), 422)


# --- login -------------------------------------------------------------------------------------


def test_login_returns_a_bearer_token(api):
    alice = api.member("alice")
    r = login(api.client, alice.email)
    assert r.status_code == 200
    body = r.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == api.container.settings.access_token_ttl
    me = api.client.get("/api/v1/users/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.get_json()["id"] == alice.id


def test_a_login_rehashes_a_hash_made_with_older_parameters(api):
    """Hashes from before a parameter change (argon2-cffi's former defaults had four lanes)
    verify, and the next successful login stores one with the configured parameters."""
    alice = api.member("alice")
    s = api.container.settings
    older = PasswordHasher(
        time_cost=s.password_hash_time_cost, memory_cost_kib=s.password_hash_memory_kib,
        parallelism=4,
    ).hash(DEFAULT_PASSWORD)  # fmt: skip
    users = api.container.adapters.db.users
    users.update_one({"_id": ObjectId(alice.id)}, {"$set": {"password_hash": older}})

    assert login(api.client, alice.email, "not the password").status_code == 401
    assert users.find_one({"_id": ObjectId(alice.id)})["password_hash"] == older
    assert login(api.client, alice.email).status_code == 200

    stored = users.find_one({"_id": ObjectId(alice.id)})["password_hash"]
    current = f"m={s.password_hash_memory_kib},t={s.password_hash_time_cost},p=1$"
    assert stored != older and current in stored
    assert login(api.client, alice.email).status_code == 200


def test_unknown_email_and_wrong_password_answer_identically(api):
    alice = api.member()
    wrong_password = login(api.client, alice.email, "not the password")
    unknown_email = login(api.client, "nobody@example.com", "not the password")
    assert_problem(wrong_password, 401)
    assert wrong_password.status_code == unknown_email.status_code
    assert wrong_password.get_json() == unknown_email.get_json()
    assert "access_token" not in wrong_password.get_json()


# --- the caller's account ----------------------------------------------------------------------


def test_me_returns_the_callers_account_without_secrets(api):
    alice = api.member("alice")
    r = api.client.get("/api/v1/users/me", headers=alice.headers)
    assert r.status_code == 200
    body = r.get_json()
    assert set(body) == USER_FIELDS
    assert body["id"] == alice.id
    assert body["username"] == "alice"
    assert body["email"] == alice.email
    assert body["role"] == "member"
    assert body["active"] is True
    assert "password" not in r.get_data(as_text=True)


def test_me_needs_a_token(client):
    assert_problem(client.get("/api/v1/users/me"), 401)


def test_change_password_then_only_the_new_one_logs_in(api):
    alice = api.member()
    r = api.client.put(
        "/api/v1/users/me/password",
        json={"current_password": alice.password, "new_password": "a brand new secret"},
        headers=alice.headers,
    )
    assert r.status_code == 204, r.get_json()
    assert login(api.client, alice.email, "a brand new secret").status_code == 200
    assert_problem(login(api.client, alice.email, alice.password), 401)


def test_change_password_ends_the_other_sessions_but_keeps_this_one(api):
    alice = api.member()
    other = login(api.client, alice.email).get_json()["access_token"]
    assert api.client.get("/api/v1/users/me", headers=bearer(other)).status_code == 200
    r = api.client.put(
        "/api/v1/users/me/password",
        json={"current_password": alice.password, "new_password": "a brand new secret"},
        headers=alice.headers,
    )
    assert r.status_code == 204
    assert api.client.get("/api/v1/users/me", headers=alice.headers).status_code == 200
    assert_problem(api.client.get("/api/v1/users/me", headers=bearer(other)), 401)


def test_change_password_with_wrong_current_password_is_forbidden(api):
    alice = api.member()
    r = api.client.put(
        "/api/v1/users/me/password",
        json={"current_password": "not it at all", "new_password": "a brand new secret"},
        headers=alice.headers,
    )
    assert_problem(r, 403)
    assert login(api.client, alice.email, alice.password).status_code == 200


def test_change_password_to_a_weak_one_is_rejected(api):
    alice = api.member()
    r = api.client.put(
        "/api/v1/users/me/password",
        json={"current_password": alice.password, "new_password": "short"},
        headers=alice.headers,
    )
    assert_problem(r, 422)
    assert login(api.client, alice.email, alice.password).status_code == 200


def test_change_password_needs_a_token(api):
    alice = api.member()
    r = api.client.put(
        "/api/v1/users/me/password",
        json={"current_password": alice.password, "new_password": "a brand new secret"},
    )
    assert_problem(r, 401)
    assert login(api.client, alice.email, alice.password).status_code == 200


# --- admin: list users -------------------------------------------------------------------------


def test_list_users_shows_task_counts_by_status(api):
    boss = api.admin("boss")
    alice = api.member("alice")
    bob = api.member("bob")
    for status in ("open", "open", "in_progress", "done"):
        api.create_task(boss, assignee="alice", status=status)
    api.create_task(boss, assignee="boss")

    r = api.client.get("/api/v1/users", headers=boss.headers)
    assert r.status_code == 200
    body = r.get_json()
    assert body["next_cursor"] is None
    users = {u["id"]: u for u in body["items"]}
    assert set(users) == {boss.id, alice.id, bob.id}
    assert users[alice.id]["task_counts"] == {"open": 2, "in_progress": 1, "done": 1, "total": 4}
    assert users[bob.id]["task_counts"] == {"open": 0, "in_progress": 0, "done": 0, "total": 0}
    assert users[boss.id]["task_counts"]["total"] == 1
    assert users[boss.id]["role"] == "admin"
    assert users[alice.id].keys() >= USER_FIELDS
    assert "password" not in r.get_data(as_text=True)


def test_list_users_is_admin_only(api):
    alice = api.member()
    assert_problem(api.client.get("/api/v1/users", headers=alice.headers), 403)
    assert_problem(api.client.get("/api/v1/users"), 401)


def test_list_users_cursor_pagination_visits_everyone_once(api):
    boss = api.admin()
    expected = {boss.id} | {api.member().id for _ in range(6)}
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        r = api.client.get("/api/v1/users", query_string=query, headers=boss.headers)
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        assert len(body["items"]) <= 3
        seen += [u["id"] for u in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 10, "pagination does not end"
    assert pages == 3
    assert len(seen) == len(set(seen))
    assert set(seen) == expected


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=ten", "cursor=not-a-cursor"])
def test_list_users_rejects_bad_paging_parameters(api, query):
    boss = api.admin()
    assert_problem(api.client.get(f"/api/v1/users?{query}", headers=boss.headers), 422)


# --- admin: update users -----------------------------------------------------------------------


def test_admin_promotes_a_member(api):
    boss = api.admin()
    alice = api.member()
    r = api.client.patch(f"/api/v1/users/{alice.id}", json={"role": "admin"}, headers=boss.headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["role"] == "admin"
    assert r.get_json()["id"] == alice.id
    # the promotion applies to alice's existing token at once
    assert api.client.get("/api/v1/users", headers=alice.headers).status_code == 200


def test_member_cannot_update_users(api):
    api.admin()
    alice = api.member()
    r = api.client.patch(f"/api/v1/users/{alice.id}", json={"role": "admin"}, headers=alice.headers)
    assert_problem(r, 403)
    me = api.client.get("/api/v1/users/me", headers=alice.headers)
    assert me.get_json()["role"] == "member"


def test_update_needs_a_token(api):
    alice = api.member()
    assert_problem(api.client.patch(f"/api/v1/users/{alice.id}", json={"active": False}), 401)


@pytest.mark.parametrize("user_id", [str(ObjectId()), "not-an-id"])
def test_update_unknown_user_is_404(api, user_id):
    boss = api.admin()
    r = api.client.patch(f"/api/v1/users/{user_id}", json={"active": False}, headers=boss.headers)
    assert_problem(r, 404)


@pytest.mark.parametrize("body", [{"role": "superuser"}, {"active": "no"}, {"password": "x"}])
def test_update_with_invalid_fields_is_422(api, body):
    boss = api.admin()
    alice = api.member()
    r = api.client.patch(f"/api/v1/users/{alice.id}", json=body, headers=boss.headers)
    assert_problem(r, 422)


@pytest.mark.parametrize("change", [{"role": "member"}, {"active": False}])
def test_the_last_admin_cannot_be_demoted_or_disabled(api, change):
    boss = api.admin()
    api.member()
    r = api.client.patch(f"/api/v1/users/{boss.id}", json=change, headers=boss.headers)
    assert_problem(r, 409)
    me = api.client.get("/api/v1/users/me", headers=boss.headers).get_json()
    assert me["role"] == "admin"
    assert me["active"] is True


def test_an_admin_can_be_demoted_while_another_remains(api):
    first = api.admin()
    second = api.admin()
    r = api.client.patch(
        f"/api/v1/users/{first.id}", json={"role": "member"}, headers=second.headers
    )
    assert r.status_code == 200
    assert r.get_json()["role"] == "member"
    # now `second` is the last admin
    r = api.client.patch(
        f"/api/v1/users/{second.id}", json={"role": "member"}, headers=second.headers
    )
    assert_problem(r, 409)


def test_a_disabled_user_is_refused_at_once_and_cannot_log_in(api):
    boss = api.admin()
    alice = api.member()
    assert api.client.get("/api/v1/users/me", headers=alice.headers).status_code == 200

    r = api.client.patch(f"/api/v1/users/{alice.id}", json={"active": False}, headers=boss.headers)
    assert r.status_code == 200
    assert r.get_json()["active"] is False

    refused = api.client.get("/api/v1/users/me", headers=alice.headers)
    assert refused.status_code in (401, 403)
    assert refused.mimetype == PROBLEM_JSON
    assert api.client.get("/tasks/get_tasks", headers=alice.headers).status_code in (401, 403)
    failed = login(api.client, alice.email, alice.password)
    assert_problem(failed, 401)
    # a disabled account is not distinguishable from a wrong password
    assert failed.get_json() == login(api.client, alice.email, "wrong password!").get_json()

    r = api.client.patch(f"/api/v1/users/{alice.id}", json={"active": True}, headers=boss.headers)
    assert r.status_code == 200
    assert login(api.client, alice.email, alice.password).status_code == 200
    # re-enabling does not bring the sessions that were ended back to life
    assert_problem(api.client.get("/api/v1/users/me", headers=alice.headers), 401)


def test_a_demoted_admin_loses_admin_routes_with_the_same_token(api):
    boss = api.admin()
    deputy = api.admin()
    assert api.client.get("/api/v1/users", headers=deputy.headers).status_code == 200
    assert api.client.get("/users/get_users", headers=deputy.headers).status_code == 200

    r = api.client.patch(
        f"/api/v1/users/{deputy.id}", json={"role": "member"}, headers=boss.headers
    )
    assert r.status_code == 200

    assert_problem(api.client.get("/api/v1/users", headers=deputy.headers), 403)
    assert_problem(api.client.get("/users/get_users", headers=deputy.headers), 403)
    r = api.client.patch(f"/api/v1/users/{boss.id}", json={"active": False}, headers=deputy.headers)
    assert_problem(r, 403)
    # still a valid member
    assert api.client.get("/api/v1/users/me", headers=deputy.headers).get_json()["role"] == "member"


# --- bootstrap admin ---------------------------------------------------------------------------


def test_bootstrap_creates_the_admin_once(mongo_url, tmp_path, make_container):
    password = "bootstrap admin password"
    settings = make_settings(
        mongo_url, tmp_path, admin_email="root@example.com", admin_password=password
    )
    first = make_container(settings)
    client = create_app(first.services).test_client()
    r = login(client, "root@example.com", password)
    assert r.status_code == 200, r.get_json()
    token = r.get_json()["access_token"]
    me = client.get("/api/v1/users/me", headers=bearer(token)).get_json()
    assert me["role"] == "admin"
    assert client.get("/api/v1/users", headers=bearer(token)).status_code == 200

    make_container(settings)  # a second start on the same database
    admins = first.adapters.db.users.count_documents({"role": "admin"})
    assert admins == 1
    assert first.adapters.db.users.count_documents({}) == 1
    assert login(client, "root@example.com", password).status_code == 200


def test_bootstrap_does_nothing_when_an_admin_exists(mongo_url, tmp_path, make_container):
    plain = make_settings(mongo_url, tmp_path)
    first = make_container(plain)
    first.services.accounts.create_admin("existing@example.com", DEFAULT_PASSWORD, "existing")
    with_admin = make_settings(
        mongo_url,
        tmp_path,
        mongo_db=plain.mongo_db,
        admin_email="another@example.com",
        admin_password="another admin password",
    )
    make_container(with_admin)
    assert first.adapters.db.users.count_documents({}) == 1
    assert first.adapters.db.users.find_one({"email": "another@example.com"}) is None


def test_without_admin_settings_bootstrap_creates_no_user(mongo_url, tmp_path, make_container):
    settings = make_settings(mongo_url, tmp_path, mongo_db=f"tt_{uuid.uuid4().hex[:12]}")
    c = make_container(settings)
    assert c.adapters.db.users.count_documents({}) == 0


def test_replicas_starting_together_create_one_bootstrap_admin(container):
    """Every process of a stack runs the bootstrap at start: the race must not crash any."""
    from concurrent.futures import ThreadPoolExecutor

    def bootstrap_admin(_n: int):
        return container.services.accounts.ensure_admin("first@example.com", "first admin password")

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(bootstrap_admin, range(6)))
    created = [r for r in results if r is not None]
    assert len(created) >= 1
    assert {r.id for r in created} == {created[0].id}
    assert container.adapters.users.count_active_admins() == 1
