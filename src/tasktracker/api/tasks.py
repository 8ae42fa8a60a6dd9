"""Resource API: tasks (`/api/v1/tasks`)."""

from __future__ import annotations

from flask import Response, jsonify, request
from flask_openapi3 import APIBlueprint, Tag

from tasktracker.adapters.mongo.task_queries import Page, Sort, TaskFilter
from tasktracker.api.presenters import etag, task_json
from tasktracker.api.schemas import (
    MyTasksQuery,
    Problem,
    TaskIdPath,
    TaskIn,
    TaskListQuery,
    TaskOut,
    TaskPage,
    TaskPatchIn,
    TaskSummary,
)
from tasktracker.api.security import Access, current_user, requires
from tasktracker.bootstrap import Container
from tasktracker.domain.tasks import Task
from tasktracker.services.tasks import TaskDraft

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


def tasks_api(c: Container) -> APIBlueprint:
    bp = APIBlueprint(
        "tasks", __name__, url_prefix="/api/v1/tasks", abp_tags=[TAG], abp_security=SECURITY
    )

    def page_json(page: Page) -> dict:
        now = c.clock()
        return {"items": [task_json(t, now) for t in page.items], "next_cursor": page.next_cursor}

    def single(task: Task, status: int = 200) -> Response:
        response = jsonify(task_json(task, c.clock()))
        response.status_code = status
        response.headers["ETag"] = etag(task)
        return response

    @bp.post("", responses={201: TaskOut, 422: Problem})
    @requires(Access.USER)
    def create_task(body: TaskIn) -> Response:
        """Create a task; the caller is its reporter."""
        task = c.tasks.create(current_user(), TaskDraft(**body.model_dump()))
        response = single(task, 201)
        response.headers["Location"] = f"{bp.url_prefix}/{task.id}"
        return response

    @bp.get("", responses={200: TaskPage, 422: Problem})
    @requires(Access.USER)
    def list_tasks(query: TaskListQuery) -> dict:
        """List tasks with filters, a sort order and cursor pagination."""
        assignee = query.assignee
        if assignee == "me":
            assignee = current_user().id
        flt = TaskFilter(
            status=tuple(query.status or ()),
            priority=tuple(query.priority or ()),
            assignee=c.tasks.resolve_assignee(assignee) if assignee else None,
            overdue=query.overdue,
            due_before=query.due_before,
            due_after=query.due_after,
            q=query.q,
        )
        page = c.task_queries.page(
            flt, Sort.parse(query.sort), query.cursor, query.limit, c.clock()
        )
        return page_json(page)

    @bp.get("/mine", responses={200: TaskPage})
    @requires(Access.USER)
    def my_tasks(query: MyTasksQuery) -> dict:
        """Tasks assigned to the caller."""
        flt = TaskFilter(status=tuple(query.status or ()), assignee=current_user().id)
        page = c.task_queries.page(
            flt, Sort.parse(query.sort), query.cursor, query.limit, c.clock()
        )
        return page_json(page)

    @bp.get("/summary", responses={200: TaskSummary})
    @requires(Access.USER)
    def summary() -> dict:
        """Counts of tasks by status, the total, and how many are overdue."""
        return c.task_queries.summary(c.clock())

    @bp.get("/<task_id>", responses={200: TaskOut, 404: Problem})
    @requires(Access.USER)
    def get_task(path: TaskIdPath) -> Response:
        """One task, with its version as the ETag."""
        return single(c.tasks.get(path.task_id))

    @bp.patch("/<task_id>", responses={200: TaskOut, 403: Problem, 409: Problem, 412: Problem})
    @requires(Access.USER)
    def update_task(path: TaskIdPath, body: TaskPatchIn) -> Response:
        """Change some fields; send `If-Match: "<version>"` to refuse a stale write (412)."""
        task = c.tasks.update(current_user(), path.task_id, body.changes(), expected_version())
        return single(task)

    @bp.delete("/<task_id>", responses={204: None, 403: Problem, 404: Problem, 412: Problem})
    @requires(Access.USER)
    def delete_task(path: TaskIdPath) -> tuple[str, int]:
        """Delete a task (its reporter or an admin)."""
        c.tasks.delete(current_user(), path.task_id, expected_version())
        return "", 204

    return bp
