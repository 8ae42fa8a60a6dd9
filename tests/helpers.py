"""Small helpers for driving the API in tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tasktracker.bootstrap import Container

DEFAULT_PASSWORD = "correct horse battery"


@dataclass
class Account:
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


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll `predicate` until it answers something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)
