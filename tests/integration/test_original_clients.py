"""A client written for the original project, replaying its own payloads (its README and route
docstrings) against the legacy routes (DESIGN 5.2): the original's vocabulary, defaults, codes
and order, with unknown fields ignored. Each test failed before the legacy routes were made
compatible; the deliberate differences are in test_legacy_routes.py."""

from __future__ import annotations

import pytest

from tests.support.api import DEFAULT_PASSWORD, legacy_login, me, raw
from tests.support.problems import assert_problem

NEW_PASSWORD = "a brand new secret"
ORIGINAL_TASK = {
    "summary": "Fix login page",
    "task_type": "Bug",
    "status": "In Progress",
    "estimate": 5,
    "priority": "High",
    "assigned": "bob",
    "description": "the button is misaligned",
    "start_dt": "2030-01-01T09:00:00",
    "due_date": "2030-01-05T17:00:00",
    "tags": ["ui", "login"],
}


def original_signup(username: str, **fields) -> dict:
    """The original README's signup body."""
    return {
        "username": username,
        "password": DEFAULT_PASSWORD,
        "email": f"{username}@example.com",
        "role": "user",
        "status": "Y",
        **fields,
    }


def task_body(**changes) -> dict:
    """The original's add_task body, without an assignee unless one is given."""
    return {**ORIGINAL_TASK, "assigned": None, **changes}


def signup(client, body: dict, headers=None):
    return client.post("/users/signup", json=body, headers=headers or {})


def add_task(client, token: str, body: dict):
    return client.post("/tasks/add_task", json=body, headers=raw(token))


def added_id(response) -> str:
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"message", "task_id"}
    assert body["message"] == "Task added"
    return body["task_id"]


def change_password(client, email: str, old: str, new: str, headers=None):
    body = {"email": email, "oldPassword": old, "newPassword": new}
    return client.post("/users/change_password", json=body, headers=headers or {})


def legacy_list(client, path: str, token: str) -> list[dict]:
    r = client.get(path, headers=raw(token))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["tasks"]


# --- signup ------------------------------------------------------------------------------------


def test_the_original_signup_payload_registers_an_active_member(client):
    body = original_signup("orig", confirm_password=DEFAULT_PASSWORD)
    r = signup(client, body)
    assert r.status_code == 201, r.get_json()
    assert set(r.get_json()) == {"message"}
    account = me(client, legacy_login(client, body["email"]))
    assert (account["role"], account["active"]) == ("member", True)


@pytest.mark.parametrize(
    ("role", "status"),
    [("user", "Y"), ("developer", "Y"), ("Developer", "y"), ("USER", "N"), ("admin", "n")],
)
def test_an_anonymous_signup_is_an_active_member_whatever_it_asks(client, role, status):
    body = original_signup("asker", role=role, status=status)
    assert signup(client, body).status_code == 201
    account = me(client, legacy_login(client, body["email"]))
    assert (account["role"], account["active"]) == ("member", True)


def test_an_admin_signup_honours_the_originals_role_and_status(api):
    boss = api.admin()
    deputy = original_signup("deputy", role="Admin", status="Y")
    dormant = original_signup("dormant", role="developer", status="n")
    for body in (deputy, dormant):
        assert signup(api.client, body, raw(boss.token)).status_code == 201
    assert me(api.client, legacy_login(api.client, deputy["email"]))["role"] == "admin"
    r = api.client.post(
        "/users/login", json={"email": dormant["email"], "password": DEFAULT_PASSWORD}
    )
    assert_problem(r, 401)
    r = api.client.get(f"/users/get_user?email={dormant['email']}", headers=raw(boss.token))
    assert r.get_json()["user"]["status"] == "N"
    assert r.get_json()["user"]["role"] == "user"


def test_only_the_originals_role_and_status_values_are_accepted(client):
    assert signup(client, original_signup("valid")).status_code == 201
    for extra in (
        {"role": "superuser"},
        {"role": "manager"},
        {"role": ["admin"]},
        {"status": "yes"},
        {"status": True},
        {"status": {"$ne": None}},
    ):
        assert_problem(signup(client, original_signup("invalid", **extra)), 422)


# --- unknown fields ------------------------------------------------------------------------------


def test_unknown_fields_are_ignored_on_legacy_routes_only(api):
    body = original_signup("extra", confirm_password=DEFAULT_PASSWORD, is_admin=True)
    assert signup(api.client, body).status_code == 201
    login = {"email": body["email"], "password": DEFAULT_PASSWORD, "remember_me": True}
    r = api.client.post("/users/login", json=login)
    assert r.status_code == 200, r.get_json()
    assert me(api.client, r.get_json()["token"])["role"] == "member"
    r = api.client.post("/users/forget_password", json={"email": body["email"], "lang": "en"})
    assert r.status_code == 200
    # /api/v1 stays strict
    strict = {k: body[k] for k in ("username", "email", "password")}
    r = api.client.post("/api/v1/auth/signup", json={**strict, "confirm_password": "x"})
    assert_problem(r, 422)


def test_known_fields_keep_their_types_beside_unknown_ones(api):
    boss = api.admin()
    body = task_body()
    assert added_id(add_task(api.client, boss.token, body))
    for bad in ({"summary": {"$ne": None}}, {"estimate": {"$gt": 0}}, {"assigned": ["bob"]}):
        assert_problem(add_task(api.client, boss.token, {**body, **bad}), 422)
    r = api.client.post("/users/login", json={"email": {"$ne": None}, "password": "x", "a": 1})
    assert_problem(r, 422)


# --- users -------------------------------------------------------------------------------------


def test_get_users_answers_in_the_originals_vocabulary(api):
    boss = api.admin("boss")
    alice = api.member("alice")
    bob = api.member("bob")
    added_id(add_task(api.client, boss.token, {"summary": "one", "assigned": "alice"}))
    r = api.client.patch(f"/api/v1/users/{bob.id}", json={"active": False}, headers=boss.headers)
    assert r.status_code == 200

    r = api.client.get("/users/get_users", headers=raw(boss.token))
    assert r.status_code == 200
    users = {u["username"]: u for u in r.get_json()["users"]}
    for user in users.values():
        assert set(user) == {"_id", "username", "email", "role", "status", "task_count"}
    assert users["alice"] == {
        "_id": alice.id,
        "username": "alice",
        "email": alice.email,
        "role": "user",
        "status": "Y",
        "task_count": 1,
    }
    assert (users["bob"]["role"], users["bob"]["status"]) == ("user", "N")
    assert (users["boss"]["role"], users["boss"]["status"]) == ("admin", "Y")


def test_get_user_answers_in_the_originals_vocabulary_and_null_when_unknown(api):
    boss = api.admin()
    alice = api.member("alice")
    r = api.client.get(f"/users/get_user?email={alice.email}", headers=raw(boss.token))
    assert (r.get_json()["user"]["role"], r.get_json()["user"]["status"]) == ("user", "Y")
    for request in (
        {"query_string": {"email": "ghost@example.com"}},
        {"json": {"email": "ghost@example.com"}},
    ):
        r = api.client.get("/users/get_user", headers=raw(boss.token), **request)
        assert r.status_code == 200, r.get_json()
        assert r.get_json() == {"user": None}


# --- change_password ---------------------------------------------------------------------------


def test_change_password_needs_no_token_as_in_the_original(api):
    alice = api.member()
    r = change_password(api.client, alice.email, alice.password, NEW_PASSWORD)
    assert r.status_code == 200, r.get_json()
    assert set(r.get_json()) == {"message"}
    legacy_login(api.client, alice.email, NEW_PASSWORD)
    old = {"email": alice.email, "password": alice.password}
    assert_problem(api.client.post("/users/login", json=old), 401)
    # every session of the user ends: nobody's token was kept
    assert_problem(api.client.get("/tasks/get_my_task", headers=raw(alice.token)), 401)


def test_change_password_without_a_token_fails_like_a_login(api):
    alice = api.member()
    bob = api.member()
    r = api.client.patch(
        f"/api/v1/users/{bob.id}", json={"active": False}, headers=api.admin().headers
    )
    assert r.status_code == 200
    attempts = [
        (alice.email, "not my password"),
        ("ghost@example.com", "not my password"),
        (bob.email, bob.password),  # right password, disabled account
    ]
    for email, password in attempts:
        r = change_password(api.client, email, password, NEW_PASSWORD)
        login = api.client.post("/users/login", json={"email": email, "password": password})
        body, expected = assert_problem(r, 401), assert_problem(login, 401)
        assert (body["title"], body["detail"]) == (expected["title"], expected["detail"])
    legacy_login(api.client, alice.email, alice.password)


def test_change_password_with_the_callers_token_keeps_that_session(api):
    alice = api.member()
    other = legacy_login(api.client, alice.email)
    r = change_password(api.client, alice.email, alice.password, NEW_PASSWORD, raw(other))
    assert r.status_code == 200
    assert api.client.get("/tasks/get_my_task", headers=raw(other)).status_code == 200
    assert_problem(api.client.get("/tasks/get_my_task", headers=raw(alice.token)), 401)
    r = change_password(api.client, alice.email, NEW_PASSWORD, alice.password, raw("bad-token"))
    assert_problem(r, 401)
    r = change_password(api.client, alice.email, NEW_PASSWORD, alice.password)
    assert r.status_code == 200, r.get_json()


# --- tasks -------------------------------------------------------------------------------------


def test_the_original_add_task_payload_answers_200_and_reads_back(api):
    boss = api.admin()
    bob = api.member("bob")
    task_id = added_id(add_task(api.client, boss.token, ORIGINAL_TASK))

    [task] = legacy_list(api.client, "/tasks/get_tasks", bob.token)
    assert task["_id"] == task_id
    assert (task["summary"], task["task_type"]) == ("Fix login page", "Bug")
    assert (task["status"], task["priority"]) == ("in_progress", "high")
    assert (task["estimate"], task["assigned"]) == (5, "bob")
    assert task["start_dt"] == "2030-01-01T09:00:00Z"
    assert task["due_date"] == "2030-01-05T17:00:00Z"
    assert task["labels"] == []
    stored = api.container.adapters.db.tasks.find_one()
    assert "tags" not in stored


def test_add_task_defaults_are_the_originals(api):
    boss = api.admin()
    added_id(add_task(api.client, boss.token, {"summary": "minimal"}))
    [task] = legacy_list(api.client, "/tasks/get_tasks", boss.token)
    assert (task["task_type"], task["estimate"]) == ("Development", 8)
    assert (task["status"], task["priority"], task["assigned"]) == ("open", "medium", None)


def test_add_task_is_admin_only_as_in_the_original(api):
    alice = api.member()
    assert_problem(add_task(api.client, alice.token, {"summary": "mine"}), 403)
    assert legacy_list(api.client, "/tasks/get_tasks", alice.token) == []
    assert api.create_task(alice, title="members use /api/v1/tasks")["title"]


@pytest.mark.parametrize(
    ("status", "priority", "stored"),
    [
        ("In Progress", "High", ("in_progress", "high")),
        ("in_progress", "HIGH", ("in_progress", "high")),
        ("IN-PROGRESS", "low", ("in_progress", "low")),
        ("in progress", " Critical ", ("in_progress", "critical")),
        ("OPEN", "Medium", ("open", "medium")),
        ("Done", "critical", ("done", "critical")),
    ],
)
def test_add_task_matches_status_and_priority_loosely(api, status, priority, stored):
    boss = api.admin()
    added_id(add_task(api.client, boss.token, task_body(status=status, priority=priority)))
    [task] = legacy_list(api.client, "/tasks/get_tasks", boss.token)
    assert (task["status"], task["priority"]) == stored


def test_add_task_refuses_other_statuses_and_priorities(api):
    boss = api.admin()
    added_id(add_task(api.client, boss.token, task_body()))
    for bad in ({"status": "In Review"}, {"status": "progress"}, {"priority": "urgent"}):
        assert_problem(add_task(api.client, boss.token, task_body(**bad)), 422)


def test_task_lists_are_oldest_first_as_in_the_original(api):
    boss = api.admin()
    alice = api.member("alice")
    ids = [
        added_id(add_task(api.client, boss.token, {"summary": f"task {n}", "assigned": "alice"}))
        for n in range(4)
    ]
    assert [t["_id"] for t in legacy_list(api.client, "/tasks/get_tasks", boss.token)] == ids
    mine = legacy_list(api.client, "/tasks/get_my_task", alice.token)
    assert [t["_id"] for t in mine] == ids
    # `recent` keeps answering the newest first
    recent = legacy_list(api.client, "/tasks/recent", boss.token)
    assert [t["_id"] for t in recent] == ids[::-1]


# --- tokens and scheduler ------------------------------------------------------------------------


def test_a_401_on_a_legacy_route_names_the_originals_header(client):
    legacy = assert_problem(client.get("/tasks/get_tasks"), 401)
    assert "Authorization: <token>" in legacy["detail"]
    resource = assert_problem(client.get("/api/v1/tasks"), 401)
    assert "Authorization: <token>" not in resource["detail"]
    assert "Bearer <token>" in resource["detail"]


def test_the_scheduler_routes_take_the_originals_payloads(api):
    boss = api.admin()
    body = {"type": "once", "run_at": "2030-01-31 09:00:00", "job_name": "pending tasks"}
    r = api.client.post("/scheduler/scheduler_alert", json=body, headers=raw(boss.token))
    assert r.status_code == 200, r.get_json()
    assert set(r.get_json()) == {"message", "job_id"}
    assert r.get_json()["message"] == "Job scheduled successfully"
    job_id = r.get_json()["job_id"]
    r = api.client.get("/scheduler/scheduler_jobs", headers=raw(boss.token))
    [job] = r.get_json()
    assert set(job) == {"id", "next_run_time", "trigger"}
    assert job["id"] == job_id
    assert job["next_run_time"] == "2030-01-31T09:00:00Z"
