"""Resource API: comments, the activity history and watchers (DESIGN 13)."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from tasktracker.api.presenters import json_response
from tasktracker.api.security import Access, current_actor, requires
from tasktracker.api.tasks import expected_version
from tasktracker.domain.comments import Comment
from tasktracker.domain.tokens import Scope
from tasktracker.schemas.collaboration import (
    ActivityPage,
    CommentIn,
    CommentPage,
    CommentPath,
    CommentPublic,
    WatcherList,
)
from tasktracker.schemas.common import Problem
from tasktracker.schemas.projects import PageQuery, ProjectPath
from tasktracker.schemas.tasks import TaskIdPath
from tasktracker.services.registry import Services

TAG = Tag(name="collaboration", description="Comments, activity and watchers")
SECURITY = [{"bearer": []}]
COMMENTS = "/api/v1/comments"


def comment_response(comment: Comment, status: int = 200) -> Response:
    response = json_response(CommentPublic.of(comment), status)
    response.headers["ETag"] = f'"{comment.version}"'
    return response


def collaboration_api(c: Services) -> APIBlueprint:
    bp = APIBlueprint(
        "collaboration", __name__, url_prefix="/api/v1", abp_tags=[TAG], abp_security=SECURITY
    )

    @bp.post(
        "/tasks/<task_id>/comments",
        responses={201: CommentPublic, 404: Problem, 409: Problem, 422: Problem},
    )
    @requires(Access.USER, Scope.TASKS_WRITE)
    def add_comment(path: TaskIdPath, body: CommentIn) -> Response:
        """Comment on a task (viewer or more); `@username` of a member mentions them."""
        comment = c.comments.add(current_actor(), path.task_id, body.body)
        response = comment_response(comment, 201)
        response.headers["Location"] = f"{COMMENTS}/{comment.id}"
        return response

    @bp.get("/tasks/<task_id>/comments", responses={200: CommentPage, 404: Problem})
    @requires(Access.USER, Scope.TASKS_READ)
    def list_comments(path: TaskIdPath, query: PageQuery) -> Response:
        """The task's comments, oldest first; a deleted one is a tombstone (`body: null`)."""
        page = c.comments.list(
            current_actor(), path.task_id, cursor=query.cursor, limit=query.limit
        )
        return json_response(CommentPage.of(page))

    @bp.patch(
        "/comments/<comment_id>",
        responses={200: CommentPublic, 403: Problem, 404: Problem, 409: Problem, 412: Problem},
    )
    @requires(Access.USER, Scope.TASKS_WRITE)
    def edit_comment(path: CommentPath, body: CommentIn) -> Response:
        """Change a comment's text (its author); `If-Match: "<version>"` refuses a stale edit."""
        actor = current_actor()
        comment = c.comments.edit(actor, path.comment_id, body.body, expected_version())
        return comment_response(comment)

    @bp.delete(
        "/comments/<comment_id>",
        responses={204: None, 403: Problem, 404: Problem, 409: Problem, 412: Problem},
    )
    @requires(Access.USER, Scope.TASKS_WRITE)
    def delete_comment(path: CommentPath) -> tuple[str, int]:
        """Delete a comment (its author, a maintainer, an admin); a tombstone stays."""
        c.comments.delete(current_actor(), path.comment_id, expected_version())
        return "", 204

    @bp.get("/tasks/<task_id>/activity", responses={200: ActivityPage, 404: Problem})
    @requires(Access.USER, Scope.TASKS_READ)
    def task_activity(path: TaskIdPath, query: PageQuery) -> Response:
        """Every change to the task and its comments, newest first."""
        page = c.activity.task_feed(
            current_actor(), path.task_id, cursor=query.cursor, limit=query.limit
        )
        return json_response(ActivityPage.of(page))

    @bp.get("/projects/<project>/activity", responses={200: ActivityPage, 404: Problem})
    @requires(Access.USER, Scope.TASKS_READ)
    def project_activity(path: ProjectPath, query: PageQuery) -> Response:
        """Every change to the project's tasks (deleted ones included), newest first."""
        page = c.activity.project_feed(
            current_actor(), path.project, cursor=query.cursor, limit=query.limit
        )
        return json_response(ActivityPage.of(page))

    @bp.get("/tasks/<task_id>/watchers", responses={200: WatcherList, 404: Problem})
    @requires(Access.USER, Scope.TASKS_READ)
    def list_watchers(path: TaskIdPath) -> Response:
        """Who hears about changes to the task."""
        return json_response(WatcherList.of(c.watchers.list(current_actor(), path.task_id)))

    @bp.put("/tasks/<task_id>/watchers/me", responses={204: None, 404: Problem})
    @requires(Access.USER, Scope.TASKS_WRITE)
    def watch(path: TaskIdPath) -> tuple[str, int]:
        """Watch the task."""
        c.watchers.watch(current_actor(), path.task_id)
        return "", 204

    @bp.delete("/tasks/<task_id>/watchers/me", responses={204: None, 404: Problem})
    @requires(Access.USER, Scope.TASKS_WRITE)
    def unwatch(path: TaskIdPath) -> tuple[str, int]:
        """Stop watching the task (also as its reporter or assignee)."""
        c.watchers.unwatch(current_actor(), path.task_id)
        return "", 204

    return bp
