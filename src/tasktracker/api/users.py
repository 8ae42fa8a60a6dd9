"""Resource API: the caller's account and admin management of users (`/api/v1/users`)."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from tasktracker.api.presenters import user_json
from tasktracker.api.schemas import (
    PasswordChangeIn,
    Problem,
    UserIdPath,
    UserListQuery,
    UserOut,
    UserPage,
    UserPatchIn,
)
from tasktracker.api.security import Access, current_session_id, current_user, requires
from tasktracker.bootstrap import Container
from tasktracker.services.accounts import UserChanges

TAG = Tag(name="users", description="Accounts")
SECURITY = [{"bearer": []}]


def users_api(c: Container) -> APIBlueprint:
    bp = APIBlueprint(
        "users", __name__, url_prefix="/api/v1/users", abp_tags=[TAG], abp_security=SECURITY
    )

    @bp.get("/me", responses={200: UserOut, 401: Problem})
    @requires(Access.USER)
    def me() -> dict:
        """The caller's own account."""
        return user_json(current_user())

    @bp.put("/me/password", responses={204: None, 403: Problem, 422: Problem})
    @requires(Access.USER)
    def change_password(body: PasswordChangeIn) -> tuple[str, int]:
        """Change the caller's password (the current one is required)."""
        c.accounts.change_password(
            current_user().id,
            body.current_password,
            body.new_password,
            keep_session=current_session_id(),
        )
        return "", 204

    @bp.get("", responses={200: UserPage, 403: Problem})
    @requires(Access.ADMIN)
    def list_users(query: UserListQuery) -> dict:
        """All users with their task counts by status (admin)."""
        users = c.accounts.list_users(current_user(), after=query.cursor, limit=query.limit + 1)
        more = len(users) > query.limit
        users = users[: query.limit]
        counts = c.task_queries.counts_by_assignee([u.id for u in users])
        return {
            "items": [{**user_json(u), "task_counts": counts[u.id]} for u in users],
            "next_cursor": users[-1].id if more else None,
        }

    @bp.patch("/<user_id>", responses={200: UserOut, 404: Problem, 409: Problem})
    @requires(Access.ADMIN)
    def update_user(path: UserIdPath, body: UserPatchIn) -> dict:
        """Change a user's role or active flag (admin)."""
        changes = UserChanges(role=body.role, active=body.active)
        return user_json(c.accounts.update_user(current_user(), path.user_id, changes))

    return bp
