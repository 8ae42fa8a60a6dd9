"""Cross-cutting behaviour: RFC 9457 problem bodies, request limits, token checks, request ids,
security headers, the OpenAPI document and docs page, health probes and request logging."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pymongo import MongoClient

from tasktracker.adapters.mongo.connection import DatabaseProbe
from tasktracker.api.app import create_app
from tasktracker.api.security import AUDIENCE, ISSUER
from tasktracker.services.health import HealthService
from tests.support.api import Account
from tests.support.problems import assert_problem
from tests.support.settings import TEST_JWT_SECRET

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
LEGACY_ROUTES = {
    ("/", "get"),
    ("/users/signup", "post"),
    ("/users/login", "post"),
    ("/users/get_users", "get"),
    ("/users/get_user", "get"),
    ("/users/change_password", "post"),
    ("/users/forget_password", "post"),
    ("/tasks/add_task", "post"),
    ("/tasks/get_tasks", "get"),
    ("/tasks/get_my_task", "get"),
    ("/tasks/status_summary", "get"),
    ("/tasks/recent", "get"),
    ("/scheduler/scheduler_alert", "post"),
    ("/scheduler/scheduler_jobs", "get"),
}
RESOURCE_ROUTES = {
    ("/api/v1/auth/signup", "post"),
    ("/api/v1/auth/login", "post"),
    ("/api/v1/users/me", "get"),
    ("/api/v1/users/me/password", "put"),
    ("/api/v1/users", "get"),
    ("/api/v1/users/{user_id}", "patch"),
    ("/api/v1/tasks", "post"),
    ("/api/v1/tasks", "get"),
    ("/api/v1/tasks/mine", "get"),
    ("/api/v1/tasks/summary", "get"),
    ("/api/v1/tasks/{task_id}", "get"),
    ("/api/v1/tasks/{task_id}", "patch"),
    ("/api/v1/tasks/{task_id}", "delete"),
}


def b64url(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def claims_of(account: Account, **overrides) -> dict:
    """The claims the app issued to `account` (iss, aud, sub, sid, ...), with some changed;
    a None override drops the claim."""
    claims = jwt.decode(account.token, options={"verify_signature": False})
    assert claims["iss"] == ISSUER and claims["aud"] == AUDIENCE
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def craft(account: Account, key: str = TEST_JWT_SECRET, **overrides) -> str:
    return jwt.encode(claims_of(account, **overrides), key, algorithm="HS256")


def fresh_times() -> dict:
    now = datetime.now(UTC)
    return {"iat": now, "nbf": now, "exp": now + timedelta(minutes=5), "jti": uuid.uuid4().hex}


# --- problem bodies for framework-level errors -------------------------------------------------


def test_unknown_route_is_a_404_problem(client):
    body = assert_problem(client.get("/no/such/route"), 404)
    assert body["instance"] == "/no/such/route"
    assert_problem(client.get("/api/v1/nothing-here"), 404)


def test_wrong_method_is_a_405_problem_with_allow_header(client):
    r = client.get("/api/v1/auth/login")
    assert_problem(r, 405)
    assert "POST" in r.headers["Allow"]
    r = client.delete("/users/signup")
    assert_problem(r, 405)
    assert "POST" in r.headers["Allow"]


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/users/login"])
def test_malformed_json_is_a_400_problem(client, path):
    r = client.post(path, data='{"email": "a@example.com", ', content_type="application/json")
    assert_problem(r, 400)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("email=a%40example.com&password=secret", "application/x-www-form-urlencoded"),
        ('{"email": "a@example.com", "password": "secret"}', "text/plain"),
    ],
)
def test_non_json_content_type_is_a_415_problem(client, data, content_type):
    r = client.post("/api/v1/auth/login", data=data, content_type=content_type)
    assert_problem(r, 415)


@pytest.mark.parametrize("payload", ["[" * 100_000, '{"a":' * 50_000, "[" * 5_000 + "]" * 5_000])
def test_deeply_nested_json_is_a_client_error_not_a_crash(client, payload):
    r = client.post("/api/v1/auth/signup", data=payload, content_type="application/json")
    assert 400 <= r.status_code < 500, r.get_data(as_text=True)
    assert_problem(r, r.status_code)
    assert client.get("/healthz").status_code == 200


def test_unknown_field_is_a_422_problem(client):
    r = client.post(
        "/api/v1/auth/login",
        json={"email": "a@example.com", "password": "whatever", "remember_me": True},
    )
    body = assert_problem(r, 422)
    assert any(e["loc"] == ["remember_me"] for e in body["errors"])


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/users/login"])
def test_operator_objects_are_rejected_and_the_password_is_not_echoed(api, path):
    secret = "Echo-Me-Not-8c1f"
    api.member()  # a user exists, so an injected {"$ne": null} would have matched someone
    r = api.client.post(path, json={"email": {"$ne": None}, "password": secret})
    body = assert_problem(r, 422)
    assert any(e["loc"] == ["email"] for e in body["errors"])
    assert secret not in r.get_data(as_text=True)
    assert "token" not in body and "access_token" not in body


def test_validation_problem_never_echoes_submitted_values(client):
    secret = "Another-Secret-77aa"
    r = client.post(
        "/api/v1/auth/signup",
        json={"username": "x", "email": "not-an-email", "password": secret, "admin": secret},
    )
    body = assert_problem(r, 422)
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("username",), ("email",), ("admin",)}
    assert secret not in r.get_data(as_text=True)
    assert "not-an-email" not in r.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/api/v1/auth/signup", "/tasks/add_task"])
def test_body_over_one_mib_is_a_413_problem(client, path):
    big = json.dumps({"summary": "x" * (1024 * 1024)})
    r = client.post(path, data=big, content_type="application/json")
    assert_problem(r, 413)


def test_body_just_under_the_cap_is_not_refused_for_size(client):
    body = json.dumps({"username": "x" * (1024 * 1024 - 100)})
    r = client.post("/api/v1/auth/signup", data=body, content_type="application/json")
    assert_problem(r, 422)


# --- tokens ------------------------------------------------------------------------------------


def test_missing_token_is_a_401_problem_with_www_authenticate(client):
    r = client.get("/api/v1/users/me")
    assert_problem(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer garbage", "garbage", "Bearer a.b.c", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer x y"],
)
def test_garbage_token_is_a_401_problem(client, header):
    assert_problem(client.get("/api/v1/users/me", headers={"Authorization": header}), 401)


def test_a_correctly_crafted_token_is_accepted(api):
    """Control for the tests below: they fail for the one reason each one changes."""
    alice = api.member()
    token = craft(alice, **fresh_times())
    assert token != alice.token
    r = api.client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["id"] == alice.id


def test_token_signed_with_another_key_is_401(api):
    alice = api.member()
    token = craft(alice, key="another-secret-" + "y" * 40)
    r = api.client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert_problem(r, 401)


def test_alg_none_token_is_401(api):
    alice = api.member()
    claims = claims_of(alice)
    token = f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims)}."
    for header in (f"Bearer {token}", token):
        r = api.client.get("/api/v1/users/me", headers={"Authorization": header})
        assert_problem(r, 401)


def test_expired_token_is_401(api):
    alice = api.member()
    past = datetime.now(UTC) - timedelta(hours=1)
    token = craft(alice, iat=past, nbf=past, exp=past + timedelta(minutes=15))
    r = api.client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    body = assert_problem(r, 401)
    assert "expired" in body["detail"]
    assert_problem(api.client.get("/tasks/get_tasks", headers={"Authorization": token}), 401)


def test_a_verified_token_in_the_cache_vouches_for_no_other_text(api):
    """The process remembers the tokens it verified by their exact text: a token differing
    only in its signature, or in its claims under the same signature, is still refused."""
    alice, bob = api.member(), api.member()
    genuine = craft(alice, **fresh_times())
    headers = {"Authorization": f"Bearer {genuine}"}
    assert api.client.get("/api/v1/users/me", headers=headers).status_code == 200
    assert api.client.get("/api/v1/users/me", headers=headers).get_json()["id"] == alice.id
    header, claims, signature = genuine.split(".")
    forged_signature = f"{header}.{claims}.{signature[:-4]}AAAA"
    as_bob = f"{header}.{b64url(claims_of(bob))}.{signature}"
    for token in (forged_signature, as_bob, genuine + "x"):
        r = api.client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert_problem(r, 401)
    # A logout still ends the remembered token on the next request.
    assert api.client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert_problem(api.client.get("/api/v1/users/me", headers=headers), 401)


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "someone-else"},
        {"aud": "another-api"},
        {"iss": None},
        {"aud": None},
        {"type": "refresh"},
    ],
)
def test_token_with_wrong_issuer_audience_or_type_is_401(api, overrides):
    alice = api.member()
    token = craft(alice, **fresh_times(), **overrides)
    r = api.client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert_problem(r, 401)


@pytest.mark.parametrize("subject", ["0123456789abcdef01234567", "not-an-id"])
def test_token_for_a_user_that_does_not_exist_is_401(api, subject):
    alice = api.member()
    token = craft(alice, sub=subject)
    r = api.client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert_problem(r, 401)


# --- request ids and headers -------------------------------------------------------------------


def test_request_id_is_echoed_when_sent(client):
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123.trace:7"})
    assert r.headers["X-Request-ID"] == "abc-123.trace:7"
    r = client.get("/api/v1/users/me", headers={"X-Request-ID": "err-req-1"})
    assert r.status_code == 401
    assert r.headers["X-Request-ID"] == "err-req-1"


def test_request_id_is_generated_when_absent_or_unusable(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert first and second and first != second
    assert re.fullmatch(r"[A-Za-z0-9._:-]{8,128}", first)
    bad = client.get("/healthz", headers={"X-Request-ID": "x" * 500}).headers["X-Request-ID"]
    assert bad != "x" * 500
    assert re.fullmatch(r"[A-Za-z0-9._:-]{8,128}", bad)


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/healthz"), ("get", "/"), ("get", "/nope"), ("get", "/api/v1/users/me")],
)
def test_security_headers_are_present_on_success_and_errors(client, method, path):
    r = getattr(client, method)(path)
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name) == value, name


def test_authenticated_answers_are_not_cached(api):
    alice = api.member()
    r = api.client.get("/api/v1/users/me", headers=alice.headers)
    assert "no-store" in r.headers["Cache-Control"]


# --- OpenAPI and docs --------------------------------------------------------------------------


def test_openapi_lists_every_route(app, client):
    r = client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert documented >= LEGACY_ROUTES
    assert documented >= RESOURCE_ROUTES

    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in {"auth", "users", "tasks", "legacy"}:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        served |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served - documented == set()


def test_openapi_documents_request_models_and_bearer_auth(client):
    spec = client.get("/openapi.json").get_json()
    schemes = spec["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())
    login = spec["paths"]["/api/v1/auth/login"]["post"]
    assert "requestBody" in login
    add_task = spec["paths"]["/tasks/add_task"]["post"]
    assert "requestBody" in add_task
    assert add_task.get("security")


def test_docs_page_is_served(client):
    r = client.get("/docs/", follow_redirects=True)
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    assert b"<html" in r.data.lower()
    r = client.get("/docs", follow_redirects=True)
    assert r.status_code == 200
    assert r.mimetype == "text/html"


def test_docs_open_swagger_ui_served_from_the_package(client):
    for path in ("/docs", "/docs/"):
        r = client.get(path, follow_redirects=True)
        assert r.status_code == 200, path
        assert r.request.path == "/docs/swagger", path
        assert b"swagger-ui-bundle.js" in r.data
    page = r.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="(swagger/[^"]+)"', page)
    assert {"swagger/js/swagger-ui-bundle.js", "swagger/css/swagger-ui.css"} <= set(assets)
    for asset in assets:
        assert client.get(f"/docs/{asset}").status_code == 200, asset
    assert "//" not in "".join(assets)  # no CDN
    assert client.get("/docs/openapi.json").get_json()["openapi"].startswith("3.")


# --- health ------------------------------------------------------------------------------------


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json()["status"] == "ok"


def test_readyz_checks_mongodb(client):
    r = client.get("/readyz")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["mongodb"] == "ok"


def test_readyz_is_503_when_mongodb_is_unreachable(container):
    dead = MongoClient("mongodb://127.0.0.1:1/", serverSelectionTimeoutMS=200, connect=False)
    try:
        a = container.adapters
        health = HealthService(DatabaseProbe(dead), a.broker, a.cache, a.outbox)
        app = create_app(dataclasses.replace(container.services, health=health))
        r = app.test_client().get("/readyz")
        assert r.status_code == 503
        assert r.get_json()["checks"]["mongodb"] != "ok"
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        dead.close()


# --- request logging ---------------------------------------------------------------------------


def test_one_log_line_per_request_and_no_secrets_in_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    password, new_password, wrong = "Log-Secret-One-41", "Log-Secret-Two-42", "Log-Wrong-43"
    email = "logger@example.com"
    sent: list[tuple[str, str, int, str]] = []

    def call(method: str, path: str, expected: int, **kwargs):
        rid = f"req-{len(sent)}-{uuid.uuid4().hex[:6]}"
        headers = {"X-Request-ID": rid, **kwargs.pop("headers", {})}
        r = getattr(client, method)(path, headers=headers, **kwargs)
        assert r.status_code == expected, r.get_data(as_text=True)
        sent.append((method.upper(), path, expected, rid))
        return r

    call(
        "post",
        "/api/v1/auth/signup",
        201,
        json={"username": "logger", "email": email, "password": password},
    )
    call("post", "/api/v1/auth/login", 401, json={"email": email, "password": wrong})
    token = call(
        "post", "/api/v1/auth/login", 200, json={"email": email, "password": password}
    ).get_json()["access_token"]
    call(
        "put",
        "/api/v1/users/me/password",
        204,
        json={"current_password": password, "new_password": new_password},
        headers={"Authorization": f"Bearer {token}"},
    )
    legacy_token = call(
        "post", "/users/login", 200, json={"email": email, "password": new_password}
    ).get_json()["token"]
    call(
        "post",
        "/users/change_password",
        200,
        json={"email": email, "oldPassword": new_password, "newPassword": password},
        headers={"Authorization": legacy_token},
    )

    request_lines = [r for r in caplog.records if r.name == "tasktracker.request"]
    assert len(request_lines) == len(sent)
    for record, (method, path, status, rid) in zip(request_lines, sent, strict=True):
        line = record.getMessage()
        assert record.levelno == logging.INFO
        assert method in line
        assert path in line
        assert str(status) in line
        assert rid in line

    secrets = [password, new_password, wrong, token, legacy_token]
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "") + repr(record.__dict__)
        for secret in secrets:
            assert secret not in text, f"{record.name} logged a secret"
    assert all(secret not in caplog.text for secret in secrets)
