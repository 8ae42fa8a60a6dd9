"""Resource API: sign-up, login, token refresh and logout (`/api/v1/auth`)."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from tasktracker.api.presenters import json_response
from tasktracker.api.rate_limits import RouteLimits
from tasktracker.api.security import (
    SESSION_ONLY,
    Access,
    current_session_id,
    issue_tokens,
    refresh_claims,
    requires,
)
from tasktracker.schemas.common import Message, Problem
from tasktracker.schemas.users import (
    LoginIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    RefreshIn,
    SignupIn,
    TokenOut,
    UserPublic,
)
from tasktracker.services.registry import Services

TAG = Tag(name="auth", description="Sign-up, tokens, sessions and password reset")
SECURITY = [{"bearer": []}]
RESET_REQUESTED = (
    "If an account exists for this email, a letter with a password reset link is on its way."
)


def auth_api(c: Services, limits: RouteLimits) -> APIBlueprint:
    bp = APIBlueprint("auth", __name__, url_prefix="/api/v1/auth", abp_tags=[TAG])
    access_ttl = c.settings.access_token_ttl

    @bp.post("/signup", responses={201: UserPublic, 409: Problem, 422: Problem, 429: Problem})
    @limits.signup
    def signup(body: SignupIn) -> Response:
        """Register a member account (self-signup never grants admin)."""
        user = c.accounts.signup(body.username, body.email, body.password)
        return json_response(UserPublic.of(user), 201)

    @bp.post("/login", responses={200: TokenOut, 401: Problem, 429: Problem})
    @limits.login
    def login(body: LoginIn) -> dict:
        """Start a session: a short-lived access token and a long-lived refresh token."""
        user = c.accounts.authenticate(body.email, body.password)
        return issue_tokens(user, c.sessions.start(user), access_ttl)

    @bp.post("/refresh", responses={200: TokenOut, 401: Problem})
    def refresh(body: RefreshIn) -> dict:
        """Swap a refresh token for a new pair. A refresh token works once: presenting a spent
        one ends the whole session (it may have been stolen)."""
        session_id, refresh_id = refresh_claims(body.refresh_token)
        session = c.sessions.rotate(session_id, refresh_id)
        return issue_tokens(c.accounts.get(session.user_id), session, access_ttl)

    @bp.post("/logout", security=SECURITY, responses={204: None, 401: Problem})
    @requires(Access.USER, SESSION_ONLY)
    def logout() -> tuple[str, int]:
        """End the current session: its access and refresh tokens stop working at once."""
        session_id = current_session_id()
        if session_id:
            c.sessions.revoke(session_id)
        return "", 204

    @bp.post("/password-reset", responses={202: Message, 422: Problem, 429: Problem})
    @limits.password_reset
    def password_reset(body: PasswordResetIn) -> tuple[dict, int]:
        """Mail a single-use reset token; the same answer whether or not the email is known."""
        c.password_resets.request(body.email)
        return {"message": RESET_REQUESTED}, 202

    @bp.post("/password-reset/confirm", responses={204: None, 422: Problem})
    def password_reset_confirm(body: PasswordResetConfirmIn) -> tuple[str, int]:
        """Set a new password with a reset token (works once, expires); ends every session."""
        c.password_resets.confirm(body.token, body.new_password)
        return "", 204

    return bp
