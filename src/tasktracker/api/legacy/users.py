"""The original's account routes: signup, login, users, password change and reset."""

from __future__ import annotations

from flask import Response, request
from flask_openapi3 import APIBlueprint
from pydantic import ValidationError

from tasktracker.api.auth import RESET_REQUESTED
from tasktracker.api.legacy.schemas import (
    LegacyChangePasswordIn,
    LegacyEmailIn,
    LegacyEmailQuery,
    LegacyLoginIn,
    LegacyMessage,
    LegacySignupIn,
    LegacyToken,
    LegacyUser,
    LegacyUserFound,
    LegacyUserList,
    legacy_role,
)
from tasktracker.api.presenters import json_response
from tasktracker.api.rate_limits import RouteLimits
from tasktracker.api.security import (
    SESSION_ONLY,
    Access,
    current_session_id,
    current_user,
    issue_access_token,
    optional_user,
    requires,
)
from tasktracker.domain.errors import Forbidden, InvalidInput, NotFound
from tasktracker.domain.tokens import Scope
from tasktracker.schemas.common import Problem
from tasktracker.services.registry import Services

SECURITY = [{"bearer": []}]
OPTIONAL_SECURITY = [{"bearer": []}, {}]  # OpenAPI: a token or none


def register_user_routes(bp: APIBlueprint, c: Services, limits: RouteLimits) -> None:
    @bp.post("/users/signup", responses={201: LegacyMessage, 409: Problem, 422: Problem})
    @requires(Access.OPTIONAL, Scope.ADMIN)
    @limits.signup
    def signup(body: LegacySignupIn) -> tuple[dict, int]:
        """Register a user. `role` (`user`, `developer`, `admin`) and `status` (`Y`, `N`) are
        honoured only when an admin calls; anyone else gets an active member."""
        user = c.accounts.register(
            optional_user(),
            body.username,
            body.email,
            body.password,
            role=body.requested_role(),
            active=body.requested_active(),
        )
        message = f"User {user.username} registered successfully as {legacy_role(user.role)}"
        return {"message": message}, 201

    @bp.post("/users/login", responses={200: LegacyToken, 401: Problem, 429: Problem})
    @limits.login
    def login(body: LegacyLoginIn) -> dict:
        """Log in; answers `{"token": ...}` (an access token of a new session)."""
        user = c.accounts.authenticate(body.email, body.password)
        return {"token": issue_access_token(user, c.sessions.start(user))}

    @bp.get("/users/get_users", security=SECURITY, responses={200: LegacyUserList})
    @requires(Access.ADMIN, Scope.ADMIN)
    def get_users() -> Response:
        """All users with their assigned task counts (admin)."""
        page = c.accounts.list_users(
            current_user(), cursor=None, limit=c.settings.legacy_list_limit
        )
        users = [LegacyUser.of(r.user, r.task_counts["total"]) for r in page.items]
        return json_response(LegacyUserList(users=users))

    @bp.get("/users/get_user", security=SECURITY, responses={200: LegacyUserFound})
    @requires(Access.ADMIN, Scope.ADMIN)
    def get_user(query: LegacyEmailQuery) -> Response:
        """One user by `email`, from the query string or a JSON body (admin); `{"user": null}`
        when no user has it."""
        email = query.email or email_from_json_body()
        try:
            found = c.accounts.find_by_email(current_user(), email)
        except NotFound:
            return json_response(LegacyUserFound(user=None))
        user = LegacyUser.of(found.user, found.task_counts["total"])
        return json_response(LegacyUserFound(user=user))

    @bp.post(
        "/users/change_password",
        security=OPTIONAL_SECURITY,
        responses={200: LegacyMessage, 401: Problem, 403: Problem, 429: Problem},
    )
    @requires(Access.OPTIONAL, SESSION_ONLY)
    @limits.login
    def change_password(body: LegacyChangePasswordIn) -> dict:
        """Change a password; the old one authenticates, so no token is needed (as in the
        original). A token, when sent, must belong to `email`. Other sessions end."""
        caller = optional_user()
        if caller is None:
            c.accounts.change_password_with_credentials(
                body.email, body.oldPassword, body.newPassword
            )
        elif body.email.strip().lower() != caller.email:
            raise Forbidden("you can change only your own password")
        else:
            c.accounts.change_password(
                caller.id, body.oldPassword, body.newPassword, keep_session=current_session_id()
            )
        return {"message": "Password changed successfully"}

    @bp.post("/users/forget_password", responses={200: LegacyMessage, 422: Problem, 429: Problem})
    @limits.password_reset
    def forget_password(body: LegacyEmailIn) -> dict:
        """Mail a single-use password reset link (never a password); the same answer whether
        or not the email is known."""
        c.password_resets.request(body.email)
        return {"message": RESET_REQUESTED}


def email_from_json_body() -> str:
    """The original sent `email` in a JSON body even on GET."""
    data = request.get_json(silent=True) if request.content_length else None
    try:
        return LegacyEmailIn.model_validate(data).email
    except ValidationError:
        raise InvalidInput("send the user's email as ?email=... or in a JSON body") from None
