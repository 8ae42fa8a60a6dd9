"""Abuse protection with Flask-Limiter: counters live in Memcached (in-process when embedded),
shared by every replica. Login is limited per client address and per account; sign-up and
password-reset requests per address; everything else per user."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from tasktracker.api.problems import problem
from tasktracker.settings import Settings

EXEMPT_ENDPOINTS = frozenset({"health.healthz", "health.readyz", "metrics.scrape", "openapi_json"})

Decorator = Callable[[Any], Any]


@dataclass(frozen=True)
class RouteLimits:
    login: Decorator
    signup: Decorator
    password_reset: Decorator

    @staticmethod
    def stack(*decorators: Decorator) -> Decorator:
        def apply(view: Any) -> Any:
            for decorator in reversed(decorators):
                view = decorator(view)
            return view

        return apply


def caller_key() -> str:
    """The authenticated user when there is one, else the client address."""
    user_id = g.get("user_id")
    return f"user:{user_id}" if user_id else f"ip:{get_remote_address()}"


def account_key() -> str:
    """The account a login is aimed at, whichever address it comes from. Hashed: an email may
    hold characters a Memcached key cannot (and the key then never carries an address)."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str):
        return "account:-"
    digest = hashlib.sha256(email.strip().lower().encode("utf-8", "replace")).hexdigest()
    return f"account:{digest[:32]}"


def too_many_requests(limiter: Limiter, error: RateLimitExceeded) -> Response:
    """429 problem with Retry-After: the seconds until the breached window resets."""
    breached = limiter.current_limit
    retry_after = max(1, math.ceil(breached.reset_at - time.time())) if breached else 60
    response = problem(429, f"too many requests: the limit is {error.description}")
    response.headers["Retry-After"] = str(retry_after)
    return response


def storage_uri(settings: Settings) -> str:
    if settings.memcached_servers:
        return f"memcached://{settings.memcached_servers}"
    return "memory://"


def init_rate_limits(app: Flask, settings: Settings) -> RouteLimits:
    """Create the limiter (after authentication is registered, so `caller_key` sees the user)."""
    limiter = Limiter(
        caller_key,
        app=app,
        storage_uri=storage_uri(settings),
        # One budget per caller across every route (default limits would count per route).
        application_limits=[settings.rate_limit_api],
        application_limits_exempt_when=lambda: request.endpoint in EXEMPT_ENDPOINTS,
        # X-RateLimit-* headers would cost a second cache round trip on every request; a 429
        # still carries Retry-After (too_many_requests).
        headers_enabled=False,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        key_prefix=f"tt:{settings.mongo_db}",
        strategy="fixed-window",
    )
    app.register_error_handler(RateLimitExceeded, lambda error: too_many_requests(limiter, error))
    login = RouteLimits.stack(
        limiter.shared_limit(
            settings.rate_limit_login_ip, scope="login-ip", key_func=get_remote_address
        ),
        limiter.shared_limit(
            settings.rate_limit_login_account, scope="login-account", key_func=account_key
        ),
    )
    return RouteLimits(
        login=login,
        signup=limiter.shared_limit(
            settings.rate_limit_signup, scope="signup", key_func=get_remote_address
        ),
        password_reset=limiter.shared_limit(
            settings.rate_limit_password_reset, scope="password-reset", key_func=get_remote_address
        ),
    )
