"""The original project's routes (DESIGN 5.2): same paths, payloads and success shapes."""

from __future__ import annotations

import uuid

import pytest

from tests.support.api import DEFAULT_PASSWORD, Account, legacy_login, me, raw
from tests.support.problems import assert_problem


def legacy_signup(client, username: str | None = None, headers=None, **extra) -> dict:
    username = username or f"legacy{uuid.uuid4().hex[:8]}"
    body = {
        "username": username,
        "password": DEFAULT_PASSWORD,
        "email": f"{username}@example.com",
        **extra,
    }
    r = client.post("/users/signup", json=body, headers=headers or {})
    assert r.status_code == 201, r.get_json()
    assert set(r.get_json()) == {"message"}
    return body


def add_task(client, who: Account, **fields) -> str:
    """As in the original: an admin's route, answering 200."""
    r = client.post("/tasks/add_task", json={"summary": "a task", **fields}, headers=raw(who.token))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["message"] == "Task added"
    assert set(body) == {"message", "task_id"}
    assert isinstance(body["task_id"], str) and body["task_id"]
    return body["task_id"]


# --- welcome, signup, login ----------------------------------------------------------------------


def test_welcome_message(client):
    r = client.get("/")
    assert r.status_code == 200
    assert r.get_json() == {"message": "Welcome to the Task Tracker !"}


def test_signup_then_login_returns_a_token_that_identifies_the_user(client):
    body = legacy_signup(client, "olduser")
    token = legacy_login(client, body["email"])
    account = me(client, token)
    assert account["username"] == "olduser"
    assert account["email"] == "olduser@example.com"
    assert account["role"] == "member"


def test_anonymous_signup_asking_for_admin_gets_a_member(client):
    body = legacy_signup(client, "sneaky", role="admin")
    token = legacy_login(client, body["email"])
    assert me(client, token)["role"] == "member"
    r = client.get("/users/get_users", headers=raw(token))
    assert_problem(r, 403)


def test_anonymous_signup_cannot_create_an_inactive_account_either(client):
    body = legacy_signup(client, "sleepy", status="inactive")
    token = legacy_login(client, body["email"])
    assert me(client, token)["active"] is True


def test_admin_signup_with_role_admin_creates_an_admin(api):
    boss = api.admin()
    body = legacy_signup(api.client, "deputy", headers=raw(boss.token), role="admin")
    token = legacy_login(api.client, body["email"])
    assert me(api.client, token)["role"] == "admin"
    r = api.client.get("/users/get_users", headers=raw(token))
    assert r.status_code == 200


def test_admin_signup_with_status_inactive_creates_a_disabled_account(api):
    boss = api.admin()
    body = legacy_signup(api.client, "dormant", headers=raw(boss.token), status="inactive")
    r = api.client.post("/users/login", json={"email": body["email"], "password": body["password"]})
    assert_problem(r, 401)
    r = api.client.get(f"/users/get_user?email={body['email']}", headers=raw(boss.token))
    assert r.get_json()["user"]["status"] == "N"


def test_signup_with_a_garbage_token_is_refused_not_treated_as_anonymous(client):
    r = client.post(
        "/users/signup",
        json={"username": "tokenless", "password": DEFAULT_PASSWORD, "email": "t@example.com"},
        headers=raw("not-a-jwt"),
    )
    assert_problem(r, 401)


def test_signup_with_a_duplicate_email_is_a_conflict(client):
    body = legacy_signup(client, "twin")
    r = client.post("/users/signup", json={**body, "username": "twin2"})
    assert_problem(r, 409)


def test_login_with_bad_credentials_is_401_problem(client):
    body = legacy_signup(client, "careful")
    wrong = client.post("/users/login", json={"email": body["email"], "password": "wrong password"})
    unknown = client.post(
        "/users/login", json={"email": "nobody@example.com", "password": "wrong password"}
    )
    assert_problem(wrong, 401)
    assert_problem(unknown, 401)
    assert "token" not in wrong.get_json()
    assert wrong.get_json() == unknown.get_json()


@pytest.mark.parametrize("scheme", ["", "Bearer ", "bearer "])
def test_token_works_raw_and_with_bearer_scheme(client, scheme):
    body = legacy_signup(client)
    token = legacy_login(client, body["email"])
    r = client.get("/tasks/get_my_task", headers={"Authorization": f"{scheme}{token}"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"tasks": []}


# --- users -------------------------------------------------------------------------------------


def test_get_users_lists_every_user_with_task_count(api):
    boss = api.admin("boss")
    alice = api.member("alice")
    api.member("bob")
    add_task(api.client, boss, summary="one", assigned="alice")
    add_task(api.client, boss, summary="two", assigned="alice")

    r = api.client.get("/users/get_users", headers=raw(boss.token))
    assert r.status_code == 200
    users = {u["username"]: u for u in r.get_json()["users"]}
    assert set(users) == {"boss", "alice", "bob"}
    for user in users.values():
        assert {"username", "email", "role", "status", "task_count"} <= user.keys()
        assert "password" not in user and "password_hash" not in user
    assert users["alice"]["email"] == alice.email
    assert users["alice"]["role"] == "user"
    assert users["alice"]["status"] == "Y"
    assert users["alice"]["task_count"] == 2
    assert users["bob"]["task_count"] == 0
    assert users["boss"]["role"] == "admin"


def test_get_users_is_admin_only(api):
    alice = api.member()
    assert_problem(api.client.get("/users/get_users", headers=raw(alice.token)), 403)
    assert_problem(api.client.get("/users/get_users"), 401)


def test_get_user_by_email_in_query_string(api):
    boss = api.admin()
    alice = api.member("alice")
    r = api.client.get(f"/users/get_user?email={alice.email}", headers=raw(boss.token))
    assert r.status_code == 200, r.get_json()
    user = r.get_json()["user"]
    assert user["username"] == "alice"
    assert user["email"] == alice.email
    assert user["role"] == "user"
    assert user["status"] == "Y"
    assert "password_hash" not in user


def test_get_user_by_email_in_json_body(api):
    boss = api.admin()
    alice = api.member("alice")
    r = api.client.get("/users/get_user", json={"email": alice.email}, headers=raw(boss.token))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["user"]["username"] == "alice"


def test_get_user_errors(api):
    boss = api.admin()
    alice = api.member()
    unknown = api.client.get("/users/get_user?email=ghost@example.com", headers=raw(boss.token))
    assert unknown.status_code == 200
    assert unknown.get_json() == {"user": None}
    assert_problem(api.client.get("/users/get_user", headers=raw(boss.token)), 422)
    as_member = api.client.get(f"/users/get_user?email={alice.email}", headers=raw(alice.token))
    assert_problem(as_member, 403)
    assert_problem(api.client.get(f"/users/get_user?email={alice.email}"), 401)


def test_change_password_then_only_the_new_one_logs_in(api):
    alice = api.member("alice")
    r = api.client.post(
        "/users/change_password",
        json={"email": alice.email, "oldPassword": alice.password, "newPassword": "a new secret!"},
        headers=raw(alice.token),
    )
    assert r.status_code == 200, r.get_json()
    assert set(r.get_json()) == {"message"}
    legacy_login(api.client, alice.email, "a new secret!")
    old = api.client.post("/users/login", json={"email": alice.email, "password": alice.password})
    assert_problem(old, 401)
    # the token that changed the password keeps working
    assert api.client.get("/tasks/get_my_task", headers=raw(alice.token)).status_code == 200


def test_change_password_with_an_invalid_token_is_refused(api):
    alice = api.member()
    r = api.client.post(
        "/users/change_password",
        json={"email": alice.email, "oldPassword": alice.password, "newPassword": "a new secret!"},
        headers=raw("not-a-jwt"),
    )
    assert_problem(r, 401)
    legacy_login(api.client, alice.email, alice.password)


def test_change_password_with_wrong_old_password_is_forbidden(api):
    alice = api.member()
    r = api.client.post(
        "/users/change_password",
        json={"email": alice.email, "oldPassword": "not my password", "newPassword": "whatever123"},
        headers=raw(alice.token),
    )
    assert_problem(r, 403)
    legacy_login(api.client, alice.email, alice.password)


def test_change_password_of_another_user_is_forbidden(api):
    alice = api.member()
    bob = api.member()
    r = api.client.post(
        "/users/change_password",
        json={"email": bob.email, "oldPassword": bob.password, "newPassword": "taken over!!"},
        headers=raw(alice.token),
    )
    assert_problem(r, 403)
    legacy_login(api.client, bob.email, bob.password)
    legacy_login(api.client, alice.email, alice.password)


def test_forget_password_answers_the_same_for_known_and_unknown_emails(api):
    alice = api.member()
    known = api.client.post("/users/forget_password", json={"email": alice.email})
    unknown = api.client.post("/users/forget_password", json={"email": "ghost@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_json() == unknown.get_json()
    assert set(known.get_json()) == {"message"}
    # Nothing changes until the reset link is used: the old password still works.
    legacy_login(api.client, alice.email, alice.password)


# --- tasks -------------------------------------------------------------------------------------


def test_add_task_with_original_fields_and_read_it_back(api):
    alice = api.admin("alice")
    bob = api.member("bob")
    task_id = add_task(
        api.client,
        alice,
        summary="Fix login page",
        task_type="bug",
        status="In Progress",
        estimate=3.5,
        priority="High",
        assigned="bob",
        description="the button is misaligned",
        start_dt="2030-01-01T09:00:00Z",
        due_date="2030-01-05T17:00:00Z",
    )
    r = api.client.get("/tasks/get_tasks", headers=raw(bob.token))
    assert r.status_code == 200
    tasks = r.get_json()["tasks"]
    assert len(tasks) == 1
    task = tasks[0]
    assert task["_id"] == task_id
    assert task["summary"] == "Fix login page"
    assert task["task_type"] == "bug"
    assert task["status"] == "in_progress"
    assert task["estimate"] == 3.5
    assert task["priority"] == "high"
    assert task["assigned"] == "bob"
    assert task["description"] == "the button is misaligned"
    assert task["start_dt"].startswith("2030-01-01T09:00:00")
    assert task["due_date"].startswith("2030-01-05T17:00:00")
    assert "title" not in task and "assignee" not in task and "id" not in task
    # the same task through the resource API: the username became the assignee's id
    r = api.client.get(f"/api/v1/tasks/{task_id}", headers=bob.headers)
    assert r.status_code == 200
    assert r.get_json()["assignee"] == bob.id
    assert r.get_json()["reporter"] == alice.id


def test_add_task_with_only_a_summary(api):
    alice = api.admin()
    task_id = add_task(api.client, alice, summary="minimal")
    task = api.client.get("/tasks/get_tasks", headers=raw(alice.token)).get_json()["tasks"][0]
    assert task["_id"] == task_id
    assert task["status"] == "open"
    assert task["assigned"] is None


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Open", "open"),
        ("In Progress", "in_progress"),
        ("in-progress", "in_progress"),
        ("Done", "done"),
    ],
)
def test_add_task_accepts_the_originals_status_spellings(api, sent, stored):
    alice = api.admin()
    add_task(api.client, alice, status=sent)
    task = api.client.get("/tasks/get_tasks", headers=raw(alice.token)).get_json()["tasks"][0]
    assert task["status"] == stored


def test_add_task_rejects_bad_input(api):
    alice = api.admin()
    cases = [
        {"summary": "x", "status": "sleeping"},
        {"summary": "x", "priority": "urgent"},
        {"summary": "x", "assigned": "nobody-by-that-name"},
        {"summary": "x", "estimate": "lots"},
        {"task_type": "bug"},
    ]
    for body in cases:
        r = api.client.post("/tasks/add_task", json=body, headers=raw(alice.token))
        assert_problem(r, 422)
    assert api.client.get("/tasks/get_tasks", headers=raw(alice.token)).get_json() == {"tasks": []}


def test_task_routes_need_a_token(client):
    assert_problem(client.post("/tasks/add_task", json={"summary": "x"}), 401)
    for path in (
        "/tasks/get_tasks",
        "/tasks/get_my_task",
        "/tasks/status_summary",
        "/tasks/recent",
    ):
        assert_problem(client.get(path), 401)


def test_get_my_task_returns_only_the_callers_tasks(api):
    boss = api.admin()
    alice = api.member("alice")
    api.member("bob")
    mine = add_task(api.client, boss, summary="for alice", assigned="alice")
    add_task(api.client, boss, summary="for bob", assigned="bob")
    add_task(api.client, boss, summary="unassigned")

    r = api.client.get("/tasks/get_my_task", headers=raw(alice.token))
    assert r.status_code == 200
    tasks = r.get_json()["tasks"]
    assert [t["_id"] for t in tasks] == [mine]
    assert tasks[0]["assigned"] == "alice"
    assert tasks[0]["summary"] == "for alice"


def test_get_my_task_with_no_tasks_is_an_empty_list(api):
    alice = api.member()
    api.create_task(alice, title="not assigned to anyone")
    r = api.client.get("/tasks/get_my_task", headers=raw(alice.token))
    assert r.status_code == 200
    assert r.get_json() == {"tasks": []}


def test_status_summary_counts_by_status(api):
    alice = api.admin()
    assert api.client.get("/tasks/status_summary", headers=raw(alice.token)).get_json() == {
        "open": 0,
        "in_progress": 0,
        "done": 0,
    }
    for status in ("Open", "Open", "In Progress", "Done", "Done", "Done"):
        add_task(api.client, alice, status=status)
    r = api.client.get("/tasks/status_summary", headers=raw(alice.token))
    assert r.status_code == 200
    assert r.get_json() == {"open": 2, "in_progress": 1, "done": 3}


def test_recent_returns_the_ten_newest_newest_first(api):
    alice = api.admin()
    ids = [add_task(api.client, alice, summary=f"task {n}") for n in range(12)]
    r = api.client.get("/tasks/recent", headers=raw(alice.token))
    assert r.status_code == 200
    tasks = r.get_json()["tasks"]
    assert [t["_id"] for t in tasks] == list(reversed(ids))[:10]
    assert tasks[0]["summary"] == "task 11"


def test_recent_with_few_tasks_returns_them_all(api):
    alice = api.admin()
    ids = [add_task(api.client, alice, summary=f"task {n}") for n in range(3)]
    tasks = api.client.get("/tasks/recent", headers=raw(alice.token)).get_json()["tasks"]
    assert [t["_id"] for t in tasks] == list(reversed(ids))


def test_get_tasks_shows_tasks_created_through_the_resource_api(api):
    alice = api.member("alice")
    created = api.create_task(alice, title="via v1", assignee="alice", type="story")
    tasks = api.client.get("/tasks/get_tasks", headers=raw(alice.token)).get_json()["tasks"]
    assert len(tasks) == 1
    assert tasks[0]["_id"] == created["id"]
    assert tasks[0]["summary"] == "via v1"
    assert tasks[0]["task_type"] == "story"
    assert tasks[0]["assigned"] == "alice"


# --- scheduler ---------------------------------------------------------------------------------


def test_scheduler_routes_need_a_token_and_the_admin_role(api):
    alice = api.member()
    assert_problem(api.client.post("/scheduler/scheduler_alert", json={"type": "now"}), 401)
    assert_problem(api.client.get("/scheduler/scheduler_jobs"), 401)
    r = api.client.post(
        "/scheduler/scheduler_alert", json={"type": "now"}, headers=raw(alice.token)
    )
    assert_problem(r, 403)
    assert_problem(api.client.get("/scheduler/scheduler_jobs", headers=raw(alice.token)), 403)
