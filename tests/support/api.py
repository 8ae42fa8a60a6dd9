"""Driving the API in tests: accounts, their tokens, and requests through the Flask client."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tasktracker.bootstrap import Container

DEFAULT_PASSWORD = "correct horse battery"
SIGNUP_PASSWORD = "pw " * 4  # what `signup` uses


@dataclass
class Account:
    """A signed-in user and the access token the API gave it."""

    id: str
    username: str
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """Drives the resource API through the Flask test client."""

    def __init__(self, client: Any, container: Container) -> None:
        self.client = client
        self.container = container

    def member(self, username: str | None = None, password: str = DEFAULT_PASSWORD) -> Account:
        username = username or f"user{uuid.uuid4().hex[:8]}"
        email = f"{username}@example.com"
        r = self.client.post(
            "/api/v1/auth/signup",
            json={"username": username, "email": email, "password": password},
        )
        assert r.status_code == 201, r.get_json()
        return self.login_as(r.get_json()["id"], username, email, password)

    def admin(self, username: str | None = None, password: str = DEFAULT_PASSWORD) -> Account:
        username = username or f"admin{uuid.uuid4().hex[:8]}"
        email = f"{username}@example.com"
        user = self.container.services.accounts.create_admin(email, password, username)
        return self.login_as(user.id, username, email, password)

    def login_as(self, user_id: str, username: str, email: str, password: str) -> Account:
        r = self.client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.get_json()
        return Account(user_id, username, email, password, r.get_json()["access_token"])

    def create_task(self, who: Account, **fields: Any) -> dict[str, Any]:
        body = {"title": "a task", **fields}
        r = self.client.post("/api/v1/tasks", json=body, headers=who.headers)
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    def create_project(self, who: Account, key: str, name: str | None = None) -> dict[str, Any]:
        body = {"key": key, "name": name or f"Project {key}"}
        r = self.client.post("/api/v1/projects", json=body, headers=who.headers)
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    def set_role(self, owner: Account, project: str, user: Account, role: str) -> None:
        """Make `user` a `role` of `project` (id or key), as its owner `owner`."""
        r = self.client.put(
            f"/api/v1/projects/{project}/members/{user.id}", json={"role": role},
            headers=owner.headers,
        )  # fmt: skip
        assert r.status_code in (200, 201), r.get_json()

    def finish_task(self, who: Account, task: dict[str, Any]) -> None:
        """Move `task` through in_progress to done, as `who`."""
        for status in ("in_progress", "done"):
            r = self.client.patch(
                f"/api/v1/tasks/{task['id']}", json={"status": status}, headers=who.headers
            )
            assert r.status_code == 200, r.get_json()


def make_team(api: Api) -> dict[str, Account]:
    """OPS with an owner, a maintainer, a member and a viewer; an outsider in GEN only."""
    people = {name: api.member(name) for name in ("owner", "maint", "memb", "viewer", "outsider")}
    api.create_project(people["owner"], "OPS", "Operations")
    for name, role in (("maint", "maintainer"), ("memb", "member"), ("viewer", "viewer")):
        api.set_role(people["owner"], "OPS", people[name], role)
    return people


def raw(token: str) -> dict[str, str]:
    """The legacy routes' header: the token without a scheme."""
    return {"Authorization": token}


def signup(client: Any, username: str, **headers: str) -> Any:
    """Sign `username` up (as username@example.com, with SIGNUP_PASSWORD); answer the response."""
    body = {"username": username, "email": f"{username}@example.com", "password": SIGNUP_PASSWORD}
    r = client.post("/api/v1/auth/signup", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r


def legacy_login(client, email: str, password: str = DEFAULT_PASSWORD) -> str:
    r = client.post("/users/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.get_json()
    assert set(r.get_json()) == {"token"}
    return r.get_json()["token"]


def me(client, token: str) -> dict:
    r = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.get_json()
    return r.get_json()
