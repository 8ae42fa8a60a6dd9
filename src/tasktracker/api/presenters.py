"""Responses rendered from the response models (so the JSON is what the OpenAPI schema says),
and the legacy routes' shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response
from pydantic import BaseModel

from tasktracker.domain.schedules import Schedule
from tasktracker.domain.tasks import Task
from tasktracker.domain.users import Role, User


def json_response(model: BaseModel, status: int = 200) -> Response:
    """`model` serialised by pydantic (ISO 8601 times, enums as values)."""
    return Response(model.model_dump_json(), status=status, mimetype="application/json")


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def legacy_task_json(task: Task, usernames: dict[str, str], now: datetime) -> dict[str, Any]:
    """The original's field names: summary, task_type, assigned (a username), `_id` string."""
    return {
        "_id": task.id,
        "summary": task.title,
        "description": task.description,
        "task_type": task.type,
        "status": str(task.status),
        "priority": str(task.priority),
        "estimate": task.estimate_hours,
        "assigned": usernames.get(task.assignee) if task.assignee else None,
        "reporter": usernames.get(task.reporter),
        "start_dt": iso(task.start_date),
        "due_date": iso(task.due_date),
        "completed_at": iso(task.completed_at),
        "labels": task.labels,
        "created_at": iso(task.created_at),
        "updated_at": iso(task.updated_at),
        "overdue": task.is_overdue(now),
    }


def legacy_role(role: Role) -> str:
    """The original's role names: `admin` and `user` (a member)."""
    return "admin" if role is Role.ADMIN else "user"


def legacy_user_json(user: User, task_count: int | None = None) -> dict[str, Any]:
    """The original's user: `role` admin/user, `status` "Y" (active) or "N"."""
    body: dict[str, Any] = {
        "_id": user.id,
        "username": user.username,
        "email": user.email,
        "role": legacy_role(user.role),
        "status": "Y" if user.active else "N",
    }
    if task_count is not None:
        body["task_count"] = task_count
    return body


def legacy_job_json(schedule: Schedule, now: datetime) -> dict[str, Any]:
    """The original's `scheduler_jobs` item: APScheduler's job id, next run time and trigger."""
    return {
        "id": schedule.id,
        "next_run_time": iso(schedule.next_run_time(now)),
        "trigger": schedule.describe_trigger(),
    }
