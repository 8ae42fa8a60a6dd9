"""Authentication: JWT settings, token issue, and the per-route access levels and scopes.

Each view declares its access level and the scope a token needs with `@requires(...)`;
`authenticate_request` enforces both before the request body is parsed, so an anonymous caller
gets 401, never a validation error. A bearer token is either a session's JWT (it holds every
scope) or a personal access token (`ttp_…`), which may call only the routes its scopes allow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from enum import Enum
from typing import Any, Literal, TypeVar

from flask import Flask, Response, current_app, g, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    decode_token,
    get_current_user,
    get_jwt,
    verify_jwt_in_request,
)
from flask_jwt_extended.exceptions import UserLookupError

from tasktracker.api.problems import problem
from tasktracker.api.rate_limits import token_failures
from tasktracker.domain.errors import AuthenticationFailed, Forbidden
from tasktracker.domain.projects import Actor
from tasktracker.domain.sessions import SessionRecord
from tasktracker.domain.tokens import AccessToken, Scope, looks_like_token
from tasktracker.domain.users import User, require_admin
from tasktracker.services.registry import Services

ISSUER = "tasktracker"
AUDIENCE = "tasktracker-api"

F = TypeVar("F", bound=Callable[..., Any])

# Access tokens a process remembers as verified (about 1 MB at this size).
VERIFIED_TOKENS = 4096


class VerifiedTokens:
    """The claims of access tokens whose signature and claims were verified, by the token's
    exact text (its signature included), until the token expires: a token is verified once per
    process instead of decoded four times per request. Nothing is trusted that was not
    verified: another text is another key. Only expiry can change a verified token's answer,
    and it is checked on every use; the session behind it is still checked on every request."""

    def __init__(self, size: int = VERIFIED_TOKENS, clock: Callable[[], float] = time.time):
        self._size = size
        self._clock = clock
        self._claims: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> dict[str, Any] | None:
        claims = self._claims.get(token)
        if claims is None:
            return None
        if self._clock() >= claims["exp"]:
            self._claims.pop(token, None)
            return None  # decoded again, so the caller gets the library's expiry error
        return dict(claims)

    def put(self, token: str, claims: dict[str, Any]) -> None:
        if claims.get("type") != "access" or not isinstance(claims.get("exp"), int | float):
            return
        with self._lock:
            if len(self._claims) >= self._size:
                self._claims.pop(next(iter(self._claims)))  # the oldest
            self._claims[token] = dict(claims)


class VerifyingOnceJWTManager(JWTManager):
    """Flask-JWT-Extended's manager, remembering the access tokens it verified
    (`VerifiedTokens`); every other check of `verify_jwt_in_request` (token type, the
    session through the user loader) still runs on every request."""

    def __init__(self, app: Flask, verified: VerifiedTokens) -> None:
        self._verified = verified
        super().__init__(app)

    def verified_claims(self, encoded_token: str) -> dict[str, Any] | None:
        """The claims of an access token verified before and not expired since, else None."""
        return self._verified.get(encoded_token)

    def _decode_jwt_from_config(
        self, encoded_token: str, csrf_value: Any = None, allow_expired: bool = False
    ) -> dict:
        if csrf_value is None and (claims := self._verified.get(encoded_token)) is not None:
            return claims
        claims = super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        if csrf_value is None and not allow_expired:
            self._verified.put(encoded_token, claims)
        return claims


class Access(Enum):
    PUBLIC = "public"
    OPTIONAL = "optional"  # anonymous allowed; a token, when sent, must be valid
    USER = "user"
    ADMIN = "admin"


# A route a personal access token may not call at all (managing tokens, the calendar URL).
SESSION_ONLY = "session-only"
RouteScope = Scope | Literal["session-only"] | None
SESSION_NEEDED = "this route needs a session (log in); a personal access token cannot call it"


def requires(access: Access, scope: RouteScope = None) -> Callable[[F], F]:
    """Declare a view's access level and, unless it is PUBLIC, the token scope it needs."""

    def mark(view: F) -> F:
        view.__access__ = access  # type: ignore[attr-defined]
        view.__scope__ = scope  # type: ignore[attr-defined]
        return view

    return mark


def current_user() -> User:
    """The authenticated caller of a USER or ADMIN route."""
    return g.user


def current_actor() -> Actor:
    """The authenticated caller with their project roles (from the session snapshot)."""
    return g.actor


def optional_user() -> User | None:
    return g.get("user")


def current_session_id() -> str | None:
    return g.get("session_id")


def issue_access_token(user: User, session: SessionRecord) -> str:
    return create_access_token(identity=user.id, additional_claims={"sid": session.id})


def issue_tokens(user: User, session: SessionRecord, access_ttl: int) -> dict[str, Any]:
    """The login/refresh answer. The refresh token names the session and its current refresh id
    (`rid`); rotation swaps the rid, so a spent refresh token is recognised."""
    refresh = create_refresh_token(
        identity=user.id, additional_claims={"sid": session.id, "rid": session.refresh_id}
    )
    return {
        "access_token": issue_access_token(user, session),
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": access_ttl,
    }


def refresh_claims(token: str) -> tuple[str, str]:
    """Validate a refresh token (signature, algorithm, issuer, audience, expiry) -> (sid, rid)."""
    claims = decode_token(token)
    if claims.get("type") != "refresh" or not claims.get("sid") or not claims.get("rid"):
        raise AuthenticationFailed("this is not a refresh token")
    return str(claims["sid"]), str(claims["rid"])


def init_security(app: Flask, services: Services) -> JWTManager:
    settings = services.settings
    app.config.update(
        JWT_SECRET_KEY=settings.jwt_secret,
        JWT_ALGORITHM=settings.jwt_algorithm,
        JWT_DECODE_ALGORITHMS=[settings.jwt_algorithm],
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(seconds=settings.access_token_ttl),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(seconds=settings.refresh_token_ttl),
        JWT_ENCODE_ISSUER=ISSUER,
        JWT_DECODE_ISSUER=ISSUER,
        JWT_ENCODE_AUDIENCE=AUDIENCE,
        JWT_DECODE_AUDIENCE=AUDIENCE,
        JWT_TOKEN_LOCATION=["headers"],
        JWT_HEADER_TYPE="Bearer",
        JWT_COOKIE_CSRF_PROTECT=False,
        JWT_ERROR_MESSAGE_KEY="detail",
    )
    jwt = VerifyingOnceJWTManager(app, VerifiedTokens())

    jwt.user_lookup_loader(lambda _header, claims: session_principal(claims))

    def unauthorized(detail: str) -> Response:
        return problem(401, detail, title="Unauthorized")

    jwt.unauthorized_loader(lambda reason: unauthorized(missing_token_detail()))
    jwt.invalid_token_loader(lambda reason: unauthorized("the token is invalid"))
    jwt.expired_token_loader(lambda _h, _p: unauthorized("the token has expired"))
    jwt.revoked_token_loader(lambda _h, _p: unauthorized("the session has ended"))
    jwt.user_lookup_error_loader(lambda _h, _p: unauthorized("the session has ended; log in again"))
    jwt.token_verification_failed_loader(lambda _h, _p: unauthorized("the token is invalid"))

    app.before_request(normalize_authorization_header)
    app.before_request(authenticate_request)
    return jwt


def missing_token_detail() -> str:
    """The legacy routes also take the original's header form, so a 401 there names it."""
    if request.blueprint == "legacy":
        return (
            "missing or malformed Authorization header; send 'Authorization: <token>' "
            "(the token /users/login answers) or 'Authorization: Bearer <token>'"
        )
    return "missing or malformed Authorization header; send 'Bearer <token>'"


def normalize_authorization_header() -> None:
    """Accept the original's raw `Authorization: <token>` besides `Bearer <token>`."""
    value = request.environ.get("HTTP_AUTHORIZATION", "").strip()
    if not value:
        return
    scheme, _, token = value.partition(" ")
    if not token:
        request.environ["HTTP_AUTHORIZATION"] = f"Bearer {scheme}"
    elif scheme.lower() == "bearer":
        request.environ["HTTP_AUTHORIZATION"] = f"Bearer {token.strip()}"


def authenticate_request() -> Response | None:
    view = current_app.view_functions.get(request.endpoint or "")
    access: Access = getattr(view, "__access__", Access.PUBLIC)
    if access is Access.PUBLIC:
        return None
    token = bearer_token()
    if token is not None and looks_like_token(token):
        return authenticate_access_token(token, access, getattr(view, "__scope__", None))
    actor, session_id = session_caller(token, optional=access is Access.OPTIONAL)
    if actor is None:
        return None
    user = actor.user
    if not user.active:
        raise Forbidden("this account is disabled")
    g.actor = actor
    g.user = user
    g.user_id = user.id
    g.session_id = session_id
    if access is Access.ADMIN:
        require_admin(user)
    return None


def bearer_token() -> str | None:
    """The token of `Authorization: Bearer <token>` (normalize_authorization_header ran)."""
    scheme, _, value = request.environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    return value if scheme == "Bearer" and value else None


def session_caller(token: str | None, optional: bool) -> tuple[Actor | None, str | None]:
    """The caller and session id of a session's access token (None, None: anonymous, on an
    OPTIONAL route). A token verified before (`VerifiedTokens`) goes straight to its session's
    snapshot; any other goes through Flask-JWT-Extended, which verifies it and answers every
    refusal (missing, malformed, expired, invalid). Either way the session is read on every
    request: an ended one is refused as the library's user lookup would refuse it."""
    manager: VerifyingOnceJWTManager = current_app.extensions["flask-jwt-extended"]
    claims = manager.verified_claims(token) if token else None
    if claims is None:
        verify_jwt_in_request(optional=optional)
        return get_current_user(), get_jwt().get("sid")
    actor = session_principal(claims)
    if actor is None:
        raise UserLookupError("the session has ended", {}, claims)
    return actor, claims["sid"]


def session_principal(claims: dict[str, Any]) -> Actor | None:
    """The live session's snapshot of the user and their project roles: one cache round trip,
    dropped whenever the user or a membership changes, so a demotion, a disable or a removal
    from a project applies on the next request."""
    sid, sub = claims.get("sid"), claims.get("sub")
    if not isinstance(sid, str) or not isinstance(sub, str):
        return None
    services: Services = current_app.extensions["tasktracker"]
    return services.sessions.principal(sid, sub)


def authenticate_access_token(secret: str, access: Access, scope: RouteScope) -> Response | None:
    """The personal-access-token way: refused with 429 while the client address is over its
    failed-attempt budget (before any lookup); each 401 counts against that budget. Then the
    same checks as a session (disabled account, admin role) and the route's scope."""
    failures = token_failures()
    if failures is not None and (blocked := failures.blocked()) is not None:
        return blocked
    services: Services = current_app.extensions["tasktracker"]
    try:
        principal = services.tokens.authenticate(secret)
    except AuthenticationFailed:
        if failures is not None:
            failures.record()
        raise
    user = principal.actor.user
    if not user.active:
        raise Forbidden("this account is disabled")
    g.actor = principal.actor
    g.user = user
    g.user_id = user.id
    g.token_id = principal.token.id
    g.session_id = None
    if (refused := scope_refusal(principal.token, scope)) is not None:
        return refused
    if access is Access.ADMIN:
        require_admin(user)
    return None


def scope_refusal(token: AccessToken, scope: RouteScope) -> Response | None:
    """403 naming what the token lacks (RFC 6750's insufficient_scope); None when it may call
    the route. A route declaring no scope is session-only: a forgotten declaration denies."""
    if scope is None or scope == SESSION_ONLY:
        return problem(403, SESSION_NEEDED, title="Session required")
    if token.allows(scope):
        return None
    response = problem(
        403,
        f"this token lacks the scope '{scope}'",
        title="Insufficient scope",
        required_scope=str(scope),
    )
    response.headers["WWW-Authenticate"] = (
        f'Bearer realm="tasktracker", error="insufficient_scope", scope="{scope}"'
    )
    return response
