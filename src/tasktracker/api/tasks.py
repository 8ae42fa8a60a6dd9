"""Resource API: tasks (`/api/v1/tasks`)."""

from __future__ import annotations

from flask import Response, request
from flask_openapi3 import APIBlueprint, Tag

from tasktracker.api.presenters import json_response
from tasktracker.api.security import Access, current_actor, requires
from tasktracker.domain.queries import Page, TaskFilter
from tasktracker.domain.tasks import Task
from tasktracker.domain.tokens import Scope
from tasktracker.schemas.common import Problem
from tasktracker.schemas.tasks import (
    AllTasksQuery,
    MyTasksQuery,
    TaskCreate,
    TaskIdPath,
    TaskListQuery,
    TaskPage,
    TaskPatch,
    TaskPublic,
    TaskSummary,
    patch_changes,
)
from tasktracker.services.registry import Services

TAG = Tag(name="tasks", description="Tasks, their workflow and deadlines")
SECURITY = [{"bearer": []}]
UNMATCHABLE_VERSION = -1


def expected_version() -> int | None:
    """The version an `If-Match` header asks for; None when absent or `*`."""
    if_match = request.if_match
    if not request.headers.get("If-Match") or if_match.star_tag:
        return None
    tags = list(if_match)
    if len(tags) == 1 and tags[0].isdigit():
        return int(tags[0])
    return UNMATCHABLE_VERSION


def etag(task: Task) -> str:
    return f'"{task.version}"'


def task_filter(query: TaskListQuery) -> TaskFilter:
    return TaskFilter(
        status=tuple(query.status or ()),
        priority=tuple(query.priority or ()),
        assignee=query.assignee,
        overdue=query.overdue,
        due_before=query.due_before,
        due_after=query.due_after,
        q=query.q,
    )


def page_response(c: Services, page: Page[Task]) -> Response:
    return json_response(TaskPage.of(page.items, page.next_cursor, c.clock()))


def tasks_api(c: Services) -> APIBlueprint:
    bp = APIBlueprint(
        "tasks", __name__, url_prefix="/api/v1/tasks", abp_tags=[TAG], abp_security=SECURITY
    )

    def single(task: Task, status: int = 200) -> Response:
        response = json_response(TaskPublic.of(task, c.clock()), status)
        response.headers["ETag"] = etag(task)
        return response

    @bp.post("", responses={201: TaskPublic, 422: Problem})
    @requires(Access.USER, Scope.TASKS_WRITE)
    def create_task(body: TaskCreate) -> Response:
        """Create a task in `project` (default: the default project); the caller reports it."""
        task = c.tasks.create(current_actor(), body)
        response = single(task, 201)
        response.headers["Location"] = f"{bp.url_prefix}/{task.id}"
        return response

    @bp.get("", responses={200: TaskPage, 422: Problem})
    @requires(Access.USER, Scope.TASKS_READ)
    def list_tasks(query: AllTasksQuery) -> Response:
        """Tasks across the caller's projects (or one: `project`), with filters, a sort order
        and cursor pagination."""
        page = c.task_queries.list(
            current_actor(), task_filter(query), query.sort, query.cursor, query.limit,
            project=query.project,
        )  # fmt: skip
        return page_response(c, page)

    @bp.get("/mine", responses={200: TaskPage})
    @requires(Access.USER, Scope.TASKS_READ)
    def my_tasks(query: MyTasksQuery) -> Response:
        """Tasks assigned to the caller."""
        statuses = tuple(query.status or ())
        page = c.task_queries.mine(current_actor(), statuses, query.sort, query.cursor, query.limit)
        return page_response(c, page)

    @bp.get("/summary", responses={200: TaskSummary})
    @requires(Access.USER, Scope.TASKS_READ)
    def summary() -> Response:
        """Counts of tasks by status, the total, and how many are overdue."""
        return json_response(TaskSummary(**c.task_queries.summary(current_actor())))

    @bp.get("/<task_id>", responses={200: TaskPublic, 404: Problem})
    @requires(Access.USER, Scope.TASKS_READ)
    def get_task(path: TaskIdPath) -> Response:
        """One task (by id or key), with its version as the ETag."""
        return single(c.tasks.get(current_actor(), path.task_id))

    @bp.patch("/<task_id>", responses={200: TaskPublic, 403: Problem, 409: Problem, 412: Problem})
    @requires(Access.USER, Scope.TASKS_WRITE)
    def update_task(path: TaskIdPath, body: TaskPatch) -> Response:  # type: ignore[valid-type]
        """Change some fields; send `If-Match: "<version>"` to refuse a stale write (412)."""
        changes = patch_changes(body)
        task = c.tasks.update(current_actor(), path.task_id, changes, expected_version())
        return single(task)

    @bp.delete("/<task_id>", responses={204: None, 403: Problem, 404: Problem, 412: Problem})
    @requires(Access.USER, Scope.TASKS_WRITE)
    def delete_task(path: TaskIdPath) -> tuple[str, int]:
        """Delete a task (its reporter, a maintainer of its project, or an admin)."""
        c.tasks.delete(current_actor(), path.task_id, expected_version())
        return "", 204

    return bp
