"""The original's task routes, with its field names (summary, task_type, assigned, ...)."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint

from tasktracker.api.legacy.schemas import LegacyTask, LegacyTaskAdded, LegacyTaskIn, LegacyTaskList
from tasktracker.api.presenters import json_response
from tasktracker.api.security import Access, current_actor, requires
from tasktracker.domain.tasks import Status, Task
from tasktracker.domain.tokens import Scope
from tasktracker.schemas.common import Problem
from tasktracker.services.registry import Services

SECURITY = [{"bearer": []}]
RECENT_COUNT = 10


def register_task_routes(bp: APIBlueprint, c: Services) -> None:
    def tasks_json(tasks: list[Task]) -> Response:
        ids = [t.assignee for t in tasks if t.assignee] + [t.reporter for t in tasks]
        usernames = c.accounts.usernames(ids)
        now = c.clock()
        return json_response(
            LegacyTaskList(tasks=[LegacyTask.of(t, usernames, now) for t in tasks])
        )

    @bp.post(
        "/tasks/add_task",
        security=SECURITY,
        responses={200: LegacyTaskAdded, 403: Problem, 422: Problem},
    )
    @requires(Access.ADMIN, Scope.ADMIN)
    def add_task(body: LegacyTaskIn) -> dict:
        """Create a task with the original's field names (admin, as in the original; members
        use `POST /api/v1/tasks`). Defaults: `task_type` "Development", `estimate` 8."""
        task = c.tasks.create(current_actor(), body.task_create())
        return {"message": "Task added", "task_id": task.id}

    @bp.get("/tasks/get_tasks", security=SECURITY, responses={200: LegacyTaskList})
    @requires(Access.USER, Scope.TASKS_READ)
    def get_tasks() -> Response:
        """The tasks the caller may see (their projects'), oldest first (capped at
        LEGACY_LIST_LIMIT)."""
        return tasks_json(c.task_queries.oldest(current_actor(), c.settings.legacy_list_limit))

    @bp.get("/tasks/get_my_task", security=SECURITY, responses={200: LegacyTaskList})
    @requires(Access.USER, Scope.TASKS_READ)
    def get_my_task() -> Response:
        """Tasks assigned to the caller, oldest first (an empty list when there are none)."""
        actor = current_actor()
        return tasks_json(
            c.task_queries.oldest(actor, c.settings.legacy_list_limit, assignee=actor.id)
        )

    @bp.get("/tasks/status_summary", security=SECURITY)
    @requires(Access.USER, Scope.TASKS_READ)
    def status_summary() -> dict:
        """Counts by status of the tasks the caller may see."""
        counts = c.task_queries.status_counts(current_actor())
        return {str(s): counts[str(s)] for s in Status}

    @bp.get("/tasks/recent", security=SECURITY, responses={200: LegacyTaskList})
    @requires(Access.USER, Scope.TASKS_READ)
    def recent() -> Response:
        """The ten newest tasks the caller may see."""
        return tasks_json(c.task_queries.newest(current_actor(), RECENT_COUNT))
