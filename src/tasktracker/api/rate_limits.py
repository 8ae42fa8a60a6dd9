"""Abuse protection with the `limits` library: counters live in Memcached (in-process when
embedded), shared by every replica. Login is limited per client address and per account; sign-up
and password-reset requests per address (Flask-Limiter decorators on those routes); everything
else per user — or, for a request made with a personal access token, per token (RATE_LIMIT_TOKEN
instead of RATE_LIMIT_API): `CallerLimit`, one `limits` hit per request. Failed token
authentications count per client address (RATE_LIMIT_TOKEN_FAILURES); over that, the address's
token requests get 429 before any lookup."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import STRATEGIES, RateLimiter

from tasktracker.api.problems import problem
from tasktracker.api.rate_limit_leases import leased_strategy
from tasktracker.settings import Settings

log = logging.getLogger(__name__)

EXEMPT_ENDPOINTS = frozenset({"health.healthz", "health.readyz", "metrics.scrape", "openapi_json"})
TOKEN_FAILURES = "tasktracker.token_failures"  # the app.extensions key of TokenFailureLimit
# After the counter store fails, CallerLimit counts in-process for this long before asking again.
STORE_RETRY_SECONDS = 5.0

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


def token_key() -> str:
    """The personal access token a request was made with (its id, never the secret)."""
    return f"token:{g.get('token_id')}"


def with_token() -> bool:
    return bool(g.get("token_id"))


def exempt() -> bool:
    return request.endpoint in EXEMPT_ENDPOINTS


class TokenFailureLimit:
    """Failed personal-access-token authentications per client address. Checked by
    api/security.py before a token is looked up, so a brute force from one address gets 429s
    and costs no database read. Like the limiter, a counter store that fails lets requests
    through (the token checks still apply)."""

    def __init__(self, limiter: Limiter, limit: str, prefix: str) -> None:
        self._limiter = limiter
        self._limit = limit
        self._item = parse(limit)
        self._prefix = prefix

    def _key(self) -> tuple[str, str, str]:
        return (self._prefix, f"ip:{get_remote_address()}", "token-failures")

    def blocked(self) -> Response | None:
        """A 429 problem with Retry-After while the address is over its budget, else None."""
        try:
            if self._limiter.limiter.test(self._item, *self._key()):
                return None
            reset_at, _ = self._limiter.limiter.get_window_stats(self._item, *self._key())
        except Exception:  # the counter store is down: fail open, as the limiter does
            log.warning("token failure limit: the counter store failed", exc_info=True)
            return None
        response = problem(
            429, f"too many failed access-token attempts from this address: the limit is "
            f"{self._limit}",
        )  # fmt: skip
        response.headers["Retry-After"] = str(max(1, math.ceil(reset_at - time.time())))
        return response

    def record(self) -> None:
        try:
            self._limiter.limiter.hit(self._item, *self._key())
        except Exception:
            log.warning("token failure limit: the counter store failed", exc_info=True)


def token_failures() -> TokenFailureLimit | None:
    """The app's failed-token-authentication limit (None before init_rate_limits ran)."""
    return current_app.extensions.get(TOKEN_FAILURES)


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


class CallerLimit:
    """The general budget of every request: the caller's (RATE_LIMIT_API, per user or client
    address) or, for a request made with a personal access token, the token's
    (RATE_LIMIT_TOKEN). One `hit` of the `limits` strategy per request, in a `before_request`:
    Flask-Limiter's application limits cost a tenth of a cached `GET /tasks/{id}` in their
    per-request bookkeeping (resolving every route's limits, exemptions and meta limits; README:
    "The hot path"). When the counter store fails, requests are counted in-process for
    STORE_RETRY_SECONDS, as Flask-Limiter's in-memory fallback did: a Memcached outage neither
    refuses every request nor lifts the limit."""

    def __init__(self, settings: Settings, prefix: str) -> None:
        strategy = STRATEGIES[leased_strategy(settings.rate_limit_lease)]
        self._shared: RateLimiter = strategy(storage_from_string(storage_uri(settings)))
        self._local: RateLimiter = strategy(MemoryStorage())
        self._store_down_until = 0.0
        self._per_caller = (settings.rate_limit_api, parse(settings.rate_limit_api))
        self._per_token = (settings.rate_limit_token, parse(settings.rate_limit_token))
        self._prefix = prefix

    def check(self) -> Response | None:
        """None when the request is within its budget (or exempt), else a 429 problem."""
        if exempt():
            return None
        if with_token():
            (text, item), identifiers = self._per_token, (self._prefix, token_key(), "token")
        else:
            (text, item), identifiers = self._per_caller, (self._prefix, caller_key(), "api")
        limiter = self._limiter()
        try:
            allowed = limiter.hit(item, *identifiers)
        except Exception:
            log.warning("rate limit: the counter store failed; counting in-process", exc_info=True)
            self._store_down_until = time.monotonic() + STORE_RETRY_SECONDS
            limiter = self._local
            allowed = limiter.hit(item, *identifiers)
        return None if allowed else self._refusal(text, item, identifiers, limiter)

    def _limiter(self) -> RateLimiter:
        return self._local if time.monotonic() < self._store_down_until else self._shared

    @staticmethod
    def _refusal(
        text: str, item: RateLimitItem, identifiers: tuple[str, ...], limiter: RateLimiter
    ) -> Response:
        try:
            reset_at = limiter.get_window_stats(item, *identifiers).reset_time
        except Exception:  # the refusal stands; its Retry-After is then the whole window
            log.warning("rate limit: the counter store failed", exc_info=True)
            reset_at = time.time() + item.get_expiry()
        response = problem(429, f"too many requests: the limit is {text}")
        response.headers["Retry-After"] = str(max(1, math.ceil(reset_at - time.time())))
        return response


class RouteLimiter(Limiter):
    """Flask-Limiter for the decorated routes (login, sign-up, password reset) only: each
    decorated route checks its limits in its own wrapper. The hooks it registers for every
    request are dropped, as they have nothing to do here and cost a tenth of a cached GET
    (README: "The hot path"): the before-request check would find no application or default
    limit (CallerLimit holds the general budget), the after-request hook adds X-RateLimit-*
    headers (off) and settles `deduct_when` limits (none), and the teardown hook resets state
    kept on the request context, which goes with the request anyway."""

    def init_app(self, app: Flask) -> None:
        super().init_app(app)
        for hooks in (
            app.before_request_funcs,
            app.after_request_funcs,
            app.teardown_request_funcs,
        ):
            hooks[None] = [hook for hook in hooks[None] if not self._owns(hook)]

    def _owns(self, hook: Callable[..., Any]) -> bool:
        """A hook Flask-Limiter registered for this limiter (a bound method or a partial)."""
        return getattr(hook, "__self__", None) is self or self in getattr(hook, "args", ())


def init_rate_limits(app: Flask, settings: Settings) -> RouteLimits:
    """Create the limits (after authentication is registered, so `caller_key` sees the user)."""
    prefix = f"tt:{settings.mongo_db}"
    app.before_request(CallerLimit(settings, prefix).check)
    limiter = RouteLimiter(
        caller_key,
        app=app,
        storage_uri=storage_uri(settings),
        # X-RateLimit-* headers would cost a second cache round trip on every request; a 429
        # still carries Retry-After (too_many_requests).
        headers_enabled=False,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        key_prefix=prefix,
        strategy=leased_strategy(settings.rate_limit_lease),
    )
    app.register_error_handler(RateLimitExceeded, lambda error: too_many_requests(limiter, error))
    app.extensions[TOKEN_FAILURES] = TokenFailureLimit(
        limiter, settings.rate_limit_token_failures, prefix
    )
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
