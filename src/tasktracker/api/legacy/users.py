"""The original's account routes: signup, login, users, password change and reset."""

from __future__ import annotations

from flask import request
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
)
from tasktracker.api.presenters import legacy_user_json
from tasktracker.api.rate_limits import RouteLimits
from tasktracker.api.schemas import Problem
from tasktracker.api.security import (
    Access,
    current_session_id,
    current_user,
    issue_access_token,
    optional_user,
    requires,
)
from tasktracker.bootstrap import Container
from tasktracker.domain.errors import Forbidden, InvalidInput
from tasktracker.domain.users import Role

SECURITY = [{"bearer": []}]


def register_user_routes(bp: APIBlueprint, c: Container, limits: RouteLimits) -> None:
    @bp.post("/users/signup", responses={201: LegacyMessage, 409: Problem, 422: Problem})
    @requires(Access.OPTIONAL)
    @limits.signup
    def signup(body: LegacySignupIn) -> tuple[dict, int]:
        """Register a user; `role` and `status` are honoured only when an admin calls."""
        caller = optional_user()
        by_admin = caller is not None and caller.is_admin
        role = body.role if by_admin and body.role else Role.MEMBER
        active = body.status != "inactive" if by_admin else True
        user = c.accounts.signup(body.username, body.email, body.password, role=role, active=active)
        return {"message": f"User {user.username} registered successfully as {user.role}"}, 201

    @bp.post("/users/login", responses={200: LegacyToken, 401: Problem, 429: Problem})
    @limits.login
    def login(body: LegacyLoginIn) -> dict:
        """Log in; answers `{"token": ...}` (an access token of a new session)."""
        user = c.accounts.authenticate(body.email, body.password)
        return {"token": issue_access_token(user, c.sessions.start(user))}

    @bp.get("/users/get_users", security=SECURITY)
    @requires(Access.ADMIN)
    def get_users() -> dict:
        """All users with their assigned task counts (admin)."""
        users = c.accounts.list_users(
            current_user(), after=None, limit=c.settings.legacy_list_limit
        )
        counts = c.task_queries.counts_by_assignee([u.id for u in users])
        return {"users": [legacy_user_json(u, counts[u.id]["total"]) for u in users]}

    @bp.get("/users/get_user", security=SECURITY)
    @requires(Access.ADMIN)
    def get_user(query: LegacyEmailQuery) -> dict:
        """One user by `email`, from the query string or a JSON body (admin)."""
        email = query.email or email_from_json_body()
        user = c.accounts.find_by_email(current_user(), email)
        counts = c.task_queries.counts_by_assignee([user.id])
        return {"user": legacy_user_json(user, counts[user.id]["total"])}

    @bp.post("/users/change_password", security=SECURITY, responses={200: LegacyMessage})
    @requires(Access.USER)
    def change_password(body: LegacyChangePasswordIn) -> dict:
        """Change the caller's own password (a token is required, unlike the original)."""
        user = current_user()
        if body.email.strip().lower() != user.email:
            raise Forbidden("you can change only your own password")
        c.accounts.change_password(
            user.id, body.oldPassword, body.newPassword, keep_session=current_session_id()
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
