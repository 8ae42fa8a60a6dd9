"""Password reset: a letter with a single-use, expiring token — never a password."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.support.api import SIGNUP_PASSWORD as PASSWORD
from tests.support.api import signup
from tests.support.smtp import html_of, text_of, wait_for_letters

NEW_PASSWORD = "a brand new password"
TOKEN = re.compile(r"reset-password\?token=([A-Za-z0-9_-]{40,})\s")


def reset_letter(smtp, address: str):
    letters = wait_for_letters(smtp, address, count=2)  # welcome + reset
    [letter] = [m for m in letters if m["Subject"] == "Reset your TaskTracker password"]
    return letter


def token_from(letter) -> str:
    match = TOKEN.search(text_of(letter))
    assert match, text_of(letter)
    return match.group(1)


def login(client, email: str, password: str) -> int:
    return client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}
    ).status_code


def test_reset_token_works_once(client, agent, smtp):
    signup(client, "rita")
    unknown = client.post("/api/v1/auth/password-reset", json={"email": "nobody@example.com"})
    known = client.post("/api/v1/auth/password-reset", json={"email": "rita@example.com"})
    assert unknown.status_code == known.status_code == 202
    assert unknown.get_json() == known.get_json()

    letter = reset_letter(smtp, "rita@example.com")
    token = token_from(letter)
    assert text_of(letter).startswith("Hello rita,")
    assert re.search(rf"^{token}\s*$", text_of(letter), re.MULTILINE)  # the bare token too
    assert token in html_of(letter)

    confirm = {"token": token, "new_password": NEW_PASSWORD}
    r = client.post("/api/v1/auth/password-reset/confirm", json=confirm)
    assert r.status_code == 204
    assert login(client, "rita@example.com", NEW_PASSWORD) == 200
    assert login(client, "rita@example.com", PASSWORD) == 401

    again = client.post("/api/v1/auth/password-reset/confirm", json=confirm)
    assert again.status_code == 422
    assert again.mimetype == "application/problem+json"
    assert "already used or expired" in again.get_json()["detail"]
    assert smtp.letters_to("nobody@example.com") == []


def test_reset_token_expires(client, container, clock, agent, smtp):
    signup(client, "edna")
    client.post("/api/v1/auth/password-reset", json={"email": "edna@example.com"})
    token = token_from(reset_letter(smtp, "edna@example.com"))

    clock.offset = timedelta(seconds=container.settings.password_reset_ttl + 1)
    r = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert r.status_code == 422
    assert login(client, "edna@example.com", PASSWORD) == 200


def test_unknown_token_is_refused_and_tokens_are_stored_hashed(client, container, agent, smtp):
    r = client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": "x" * 43, "new_password": NEW_PASSWORD},
    )
    assert r.status_code == 422

    signup(client, "hal")
    client.post("/api/v1/auth/password-reset", json={"email": "hal@example.com"})
    token = token_from(reset_letter(smtp, "hal@example.com"))
    [stored] = container.adapters.db.password_resets.find()
    assert token not in str(stored)
    # Neither the outbox nor the broker ever carried the token.
    assert token not in str(list(container.adapters.db.outbox.find()))


def test_legacy_forget_password_mails_a_reset_link_and_never_a_password(client, agent, smtp):
    body = {"username": "olga", "email": "olga@example.com", "password": "olga's password"}
    assert client.post("/users/signup", json=body).status_code == 201

    r = client.post("/users/forget_password", json={"email": "olga@example.com"})
    assert r.status_code == 200
    assert "message" in r.get_json()
    unknown = client.post("/users/forget_password", json={"email": "ghost@example.com"})
    assert unknown.status_code == 200 and unknown.get_json() == r.get_json()

    letter = reset_letter(smtp, "olga@example.com")
    assert "olga's password" not in letter.as_string()
    assert "password:" not in text_of(letter).lower().replace("new password:", "")
    token = token_from(letter)
    confirm = {"token": token, "new_password": NEW_PASSWORD}
    assert client.post("/api/v1/auth/password-reset/confirm", json=confirm).status_code == 204
    login = client.post(
        "/users/login", json={"email": "olga@example.com", "password": NEW_PASSWORD}
    )
    assert login.status_code == 200
