"""Resource API: sign-up and login (`/api/v1/auth`)."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from tasktracker.api.presenters import user_json
from tasktracker.api.schemas import (
    LoginIn,
    Message,
    PasswordResetConfirmIn,
    PasswordResetIn,
    Problem,
    SignupIn,
    TokenOut,
    UserOut,
)
from tasktracker.api.security import issue_access_token
from tasktracker.bootstrap import Container

TAG = Tag(name="auth", description="Sign-up, tokens and password reset")
RESET_REQUESTED = (
    "If an account exists for this email, a letter with a password reset link is on its way."
)


def auth_api(c: Container) -> APIBlueprint:
    bp = APIBlueprint("auth", __name__, url_prefix="/api/v1/auth", abp_tags=[TAG])

    @bp.post("/signup", responses={201: UserOut, 409: Problem, 422: Problem})
    def signup(body: SignupIn) -> tuple[dict, int]:
        """Register a member account (self-signup never grants admin)."""
        user = c.accounts.signup(body.username, body.email, body.password)
        return user_json(user), 201

    @bp.post("/login", responses={200: TokenOut, 401: Problem})
    def login(body: LoginIn) -> dict:
        """Exchange email and password for an access token."""
        user = c.accounts.authenticate(body.email, body.password)
        return {
            "access_token": issue_access_token(user),
            "token_type": "Bearer",
            "expires_in": c.settings.access_token_ttl,
        }

    @bp.post("/password-reset", responses={202: Message, 422: Problem})
    def password_reset(body: PasswordResetIn) -> tuple[dict, int]:
        """Mail a single-use reset token; the same answer whether or not the email is known."""
        c.password_resets.request(body.email)
        return {"message": RESET_REQUESTED}, 202

    @bp.post("/password-reset/confirm", responses={204: None, 422: Problem})
    def password_reset_confirm(body: PasswordResetConfirmIn) -> tuple[str, int]:
        """Set a new password with a reset token (works once, expires)."""
        c.password_resets.confirm(body.token, body.new_password)
        return "", 204

    return bp
