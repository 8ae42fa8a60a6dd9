"""Resource API: the caller's account and admin management of users (`/api/v1/users`)."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from tasktracker.api.presenters import json_response
from tasktracker.api.security import (
    SESSION_ONLY,
    Access,
    current_session_id,
    current_user,
    requires,
)
from tasktracker.domain.tokens import Scope
from tasktracker.schemas.collaboration import NotificationSettings, NotificationSettingsPatch
from tasktracker.schemas.common import Problem
from tasktracker.schemas.tasks import TaskCounts, patch_changes
from tasktracker.schemas.users import (
    AdminUserPublic,
    PasswordChangeIn,
    UserIdPath,
    UserListQuery,
    UserPage,
    UserPatchIn,
    UserPublic,
)
from tasktracker.services.accounts import UserChanges
from tasktracker.services.registry import Services

TAG = Tag(name="users", description="Accounts")
SECURITY = [{"bearer": []}]


def users_api(c: Services) -> APIBlueprint:
    bp = APIBlueprint(
        "users", __name__, url_prefix="/api/v1/users", abp_tags=[TAG], abp_security=SECURITY
    )

    @bp.get("/me", responses={200: UserPublic, 401: Problem})
    @requires(Access.USER, Scope.USERS_READ)
    def me() -> Response:
        """The caller's own account."""
        return json_response(UserPublic.of(current_user()))

    @bp.put("/me/password", responses={204: None, 403: Problem, 422: Problem})
    @requires(Access.USER, SESSION_ONLY)
    def change_password(body: PasswordChangeIn) -> tuple[str, int]:
        """Change the caller's password (the current one is required)."""
        c.accounts.change_password(
            current_user().id,
            body.current_password,
            body.new_password,
            keep_session=current_session_id(),
        )
        return "", 204

    @bp.get("/me/notifications", responses={200: NotificationSettings})
    @requires(Access.USER, Scope.USERS_READ)
    def my_notifications() -> Response:
        """Which letters the caller gets."""
        preferences = c.preferences.notifications(current_user().id)
        return json_response(NotificationSettings.of(preferences))

    @bp.patch("/me/notifications", responses={200: NotificationSettings, 422: Problem})
    @requires(Access.USER, SESSION_ONLY)
    def change_my_notifications(body: NotificationSettingsPatch) -> Response:  # type: ignore[valid-type]
        """Switch kinds of letters on or off; the kinds not sent stay as they were."""
        changes = patch_changes(body)
        preferences = c.preferences.change_notifications(current_user().id, changes)
        return json_response(NotificationSettings.of(preferences))

    @bp.get("", responses={200: UserPage, 403: Problem})
    @requires(Access.ADMIN, Scope.ADMIN)
    def list_users(query: UserListQuery) -> Response:
        """All users with their task counts by status (admin)."""
        page = c.accounts.list_users(current_user(), cursor=query.cursor, limit=query.limit)
        items = [
            AdminUserPublic(
                **UserPublic.of(row.user).model_dump(), task_counts=TaskCounts(**row.task_counts)
            )
            for row in page.items
        ]
        return json_response(UserPage(items=items, next_cursor=page.next_cursor))

    @bp.patch("/<user_id>", responses={200: UserPublic, 404: Problem, 409: Problem})
    @requires(Access.ADMIN, Scope.ADMIN)
    def update_user(path: UserIdPath, body: UserPatchIn) -> Response:
        """Change a user's role or active flag (admin)."""
        changes = UserChanges(role=body.role, active=body.active)
        return json_response(
            UserPublic.of(c.accounts.update_user(current_user(), path.user_id, changes))
        )

    return bp
