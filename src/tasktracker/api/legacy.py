"""The original project's routes, kept as a public contract: same paths, payloads and success
shapes. Each handler is a thin adapter over the same services as the resource API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from flask import request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, BeforeValidator, EmailStr, Field, ValidationError

from tasktracker.api.auth import RESET_REQUESTED
from tasktracker.api.presenters import legacy_job_json, legacy_task_json, legacy_user_json
from tasktracker.api.rate_limits import RouteLimits
from tasktracker.api.security import (
    Access,
    current_session_id,
    current_user,
    issue_access_token,
    optional_user,
    requires,
)
from tasktracker.domain.errors import Forbidden, InvalidInput
from tasktracker.domain.schedules import ScheduleKind
from tasktracker.domain.tasks import Priority, Status, Task
from tasktracker.domain.users import Role
from tasktracker.schemas.common import Problem, Strict
from tasktracker.schemas.tasks import TaskCreate
from tasktracker.schemas.types import Password, UtcDatetime, as_utc
from tasktracker.services.registry import Services
from tasktracker.settings import Settings

TAG = Tag(name="legacy", description="The original project's routes (kept for compatibility)")
SECURITY = [{"bearer": []}]
RECENT_COUNT = 10
# A legacy `daily` alert without `run_at` while ALERT_DIGEST_TIME is empty (digest disabled).
DEFAULT_DAILY_TIME = "09:00"

STATUS_ALIASES = {
    "open": Status.OPEN,
    "new": Status.OPEN,
    "todo": Status.OPEN,
    "to_do": Status.OPEN,
    "in_progress": Status.IN_PROGRESS,
    "inprogress": Status.IN_PROGRESS,
    "done": Status.DONE,
    "completed": Status.DONE,
    "closed": Status.DONE,
}


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def legacy_status(value: Any) -> Any:
    """`Open`, `In Progress`, `in-progress`, `done`, `Completed` ... -> a Status."""
    if not isinstance(value, str):
        return value
    key = value.strip().lower().replace("-", "_").replace(" ", "_")
    return STATUS_ALIASES.get(key, key)


class LegacySignupIn(Strict):
    username: Annotated[str, Field(min_length=3, max_length=64)]
    password: Password
    email: EmailStr
    role: Annotated[Role | None, BeforeValidator(_lower)] = None
    status: Annotated[Literal["active", "inactive"] | None, BeforeValidator(_lower)] = None


class LegacyLoginIn(Strict):
    email: Annotated[str, Field(min_length=1, max_length=320)]
    password: Password


class LegacyChangePasswordIn(Strict):
    email: Annotated[str, Field(min_length=1, max_length=320)]
    oldPassword: Password
    newPassword: Password


class LegacyForgetPasswordIn(Strict):
    email: Annotated[str, Field(min_length=1, max_length=320)]


class LegacyEmailQuery(Strict):
    email: Annotated[str | None, Field(max_length=320)] = None


class LegacyTaskIn(Strict):
    summary: Annotated[str, Field(min_length=1, max_length=200)]
    task_type: Annotated[str, Field(min_length=1, max_length=50)] = "task"
    status: Annotated[Status, BeforeValidator(legacy_status)] = Status.OPEN
    estimate: Annotated[float | None, Field(ge=0, le=100_000)] = None
    priority: Annotated[Priority, BeforeValidator(_lower)] = Priority.MEDIUM
    assigned: Annotated[str | None, Field(max_length=64, description="username")] = None
    description: Annotated[str, Field(max_length=10_000)] = ""
    start_dt: UtcDatetime | None = None
    due_date: UtcDatetime | None = None


class LegacyScheduleIn(Strict):
    type: Literal["once", "daily", "now"]
    run_at: Annotated[str | None, Field(max_length=64)] = None


class LegacyJobScheduled(BaseModel):
    message: str
    job_id: str


class LegacyMessage(BaseModel):
    message: str


class LegacyToken(BaseModel):
    token: str


def legacy_api(c: Services, limits: RouteLimits) -> APIBlueprint:
    bp = APIBlueprint("legacy", __name__, abp_tags=[TAG])

    def tasks_json(tasks: list[Task]) -> dict[str, Any]:
        ids = [t.assignee for t in tasks if t.assignee] + [t.reporter for t in tasks]
        usernames = c.accounts.usernames(ids)
        now = c.clock()
        return {"tasks": [legacy_task_json(t, usernames, now) for t in tasks]}

    @bp.get("/")
    def welcome() -> dict:
        """The original's welcome message."""
        return {"message": "Welcome to the Task Tracker !"}

    @bp.post("/users/signup", responses={201: LegacyMessage, 409: Problem})
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
        page = c.accounts.list_users(
            current_user(), cursor=None, limit=c.settings.legacy_list_limit
        )
        return {"users": [legacy_user_json(r.user, r.task_counts["total"]) for r in page.items]}

    @bp.get("/users/get_user", security=SECURITY)
    @requires(Access.ADMIN)
    def get_user(query: LegacyEmailQuery) -> dict:
        """One user by `email`, from the query string or a JSON body (admin)."""
        email = query.email or email_from_json_body()
        found = c.accounts.find_by_email(current_user(), email)
        return {"user": legacy_user_json(found.user, found.task_counts["total"])}

    @bp.post("/users/change_password", security=SECURITY, responses={200: LegacyMessage})
    @requires(Access.USER)
    def change_password(body: LegacyChangePasswordIn) -> dict:
        """Change the caller's own password (a token is required, unlike the original)."""
        user = current_user()
        if body.email.strip().lower() != user.email:
            raise_forbidden_other_account()
        c.accounts.change_password(
            user.id, body.oldPassword, body.newPassword, keep_session=current_session_id()
        )
        return {"message": "Password changed successfully"}

    @bp.post("/users/forget_password", responses={200: LegacyMessage, 422: Problem, 429: Problem})
    @limits.password_reset
    def forget_password(body: LegacyForgetPasswordIn) -> dict:
        """Mail a single-use password reset link (never a password); the same answer whether
        or not the email is known."""
        c.password_resets.request(body.email)
        return {"message": RESET_REQUESTED}

    @bp.post("/tasks/add_task", security=SECURITY, responses={201: LegacyMessage})
    @requires(Access.USER)
    def add_task(body: LegacyTaskIn) -> tuple[dict, int]:
        """Create a task with the original's field names."""
        draft = TaskCreate(
            title=body.summary,
            description=body.description,
            type=body.task_type,
            status=body.status,
            priority=body.priority,
            estimate_hours=body.estimate,
            assignee=body.assigned,
            start_date=body.start_dt,
            due_date=body.due_date,
        )
        task = c.tasks.create(current_user(), draft)
        return {"message": "Task added", "task_id": task.id}, 201

    @bp.get("/tasks/get_tasks", security=SECURITY)
    @requires(Access.USER)
    def get_tasks() -> dict:
        """All tasks, newest first (capped at LEGACY_LIST_LIMIT)."""
        return tasks_json(c.task_queries.newest(c.settings.legacy_list_limit))

    @bp.get("/tasks/get_my_task", security=SECURITY)
    @requires(Access.USER)
    def get_my_task() -> dict:
        """Tasks assigned to the caller (an empty list when there are none)."""
        return tasks_json(
            c.task_queries.newest(c.settings.legacy_list_limit, assignee=current_user().id)
        )

    @bp.get("/tasks/status_summary", security=SECURITY)
    @requires(Access.USER)
    def status_summary() -> dict:
        """Task counts by status."""
        counts = c.task_queries.summary()
        return {str(s): counts[str(s)] for s in Status}

    @bp.get("/tasks/recent", security=SECURITY)
    @requires(Access.USER)
    def recent() -> dict:
        """The ten newest tasks."""
        return tasks_json(c.task_queries.newest(RECENT_COUNT))

    @bp.post(
        "/scheduler/scheduler_alert",
        security=SECURITY,
        responses={200: LegacyJobScheduled, 422: Problem},
    )
    @requires(Access.ADMIN)
    def scheduler_alert(body: LegacyScheduleIn) -> dict:
        """Schedule a digest: `once` at `run_at`; `daily` at `run_at`'s time of day (UTC), or
        at ALERT_DIGEST_TIME in ALERT_DIGEST_TIMEZONE without one; `now` at once."""
        kind = ScheduleKind(body.type)
        run_at = legacy_datetime(body.run_at) if body.run_at else None
        user = current_user()
        if kind is ScheduleKind.DAILY:
            time, zone = legacy_daily_time(run_at, c.settings)
            schedule = c.alerts.create(user, kind, time=time, timezone=zone)
        elif kind is ScheduleKind.ONCE:
            schedule = c.alerts.create(user, kind, run_at=run_at)
        else:
            schedule = c.alerts.create(user, kind)
        return {"message": "Job scheduled successfully", "job_id": schedule.id}

    @bp.get("/scheduler/scheduler_jobs", security=SECURITY)
    @requires(Access.ADMIN)
    def scheduler_jobs() -> list[dict]:
        """Scheduled alerts as `[{id, next_run_time, trigger}]`."""
        now = c.clock()
        return [legacy_job_json(s, now) for s in c.alerts.list(current_user())]

    return bp


def email_from_json_body() -> str:
    """The original sent `email` in a JSON body even on GET."""
    data = request.get_json(silent=True) if request.content_length else None
    try:
        return LegacyForgetPasswordIn.model_validate(data).email
    except ValidationError:
        raise InvalidInput("send the user's email as ?email=... or in a JSON body") from None


def legacy_datetime(text: str) -> datetime:
    """The original's `run_at`: ISO 8601 ('2025-01-31 09:00:00' too); naive means UTC."""
    try:
        return as_utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise InvalidInput(
            "run_at must be a date and time such as '2025-01-31T09:00:00Z'"
        ) from None


def legacy_daily_time(run_at: datetime | None, settings: Settings) -> tuple[str, str]:
    """A daily alert at `run_at`'s time of day (UTC), else at the configured digest time."""
    if run_at is not None:
        return f"{run_at:%H:%M}", "UTC"
    return settings.alert_digest_time or DEFAULT_DAILY_TIME, settings.alert_digest_timezone


def raise_forbidden_other_account() -> None:
    raise Forbidden("you can change only your own password")
