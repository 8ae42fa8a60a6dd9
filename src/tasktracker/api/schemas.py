"""Request and response models. Every request model forbids unknown fields and enforces types,
so an operator object such as `{"$ne": null}` never reaches MongoDB."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
)

from tasktracker.domain.tasks import Priority, Status
from tasktracker.domain.users import PASSWORD_MAX_LENGTH, Role


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; stored at millisecond precision like MongoDB."""
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _split_commas(value: Any) -> Any:
    """`?status=open,done` and `?status=open&status=done` mean the same."""
    if isinstance(value, str):
        return [part for part in value.split(",") if part]
    if isinstance(value, list):
        return [part for item in value for part in str(item).split(",") if part]
    return value


@functools.cache
def _plain_schema(model: type[BaseModel]) -> dict[str, Any]:
    return BaseModel.model_json_schema.__func__(model)  # type: ignore[attr-defined]


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
Password = Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
Label = Annotated[str, Field(min_length=1, max_length=50)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # flask-openapi3 asks for a query model's schema on every request (~1-3 ms each); the
        # argument-less form it uses there is built once per model and only ever read.
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        return _plain_schema(cls)


class Problem(BaseModel):
    """RFC 9457 problem details (`application/problem+json`)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class Message(BaseModel):
    message: str


# --- accounts ----------------------------------------------------------------------------------


class SignupIn(Strict):
    username: Annotated[str, Field(min_length=3, max_length=64)]
    email: EmailStr
    password: Password


class LoginIn(Strict):
    email: Annotated[str, Field(min_length=1, max_length=320)]
    password: Password


class PasswordResetIn(Strict):
    email: Annotated[str, Field(min_length=1, max_length=320)]


class PasswordResetConfirmIn(Strict):
    token: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Password


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int


class RefreshIn(Strict):
    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)]


class PasswordChangeIn(Strict):
    current_password: Password
    new_password: Password


class UserOut(BaseModel):
    id: str
    username: str
    email: str
    role: Role
    active: bool
    created_at: datetime


class TaskCounts(BaseModel):
    open: int = 0
    in_progress: int = 0
    done: int = 0
    total: int = 0


class AdminUserOut(UserOut):
    task_counts: TaskCounts


class UserPage(BaseModel):
    items: list[AdminUserOut]
    next_cursor: str | None


class UserListQuery(Strict):
    cursor: Annotated[str | None, Field(max_length=64)] = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50


class UserPatchIn(Strict):
    role: Role | None = None
    active: StrictBool | None = None


class UserIdPath(BaseModel):
    user_id: Annotated[str, Field(max_length=64)]


# --- tasks -------------------------------------------------------------------------------------


class TaskIn(Strict):
    title: ShortText
    description: Annotated[str, Field(max_length=10_000)] = ""
    type: Annotated[str, Field(min_length=1, max_length=50)] = "task"
    status: Status = Status.OPEN
    priority: Priority = Priority.MEDIUM
    estimate_hours: Annotated[float | None, Field(ge=0, le=100_000)] = None
    assignee: Annotated[str | None, Field(max_length=64, description="user id or username")] = None
    start_date: UtcDatetime | None = None
    due_date: UtcDatetime | None = None
    labels: Annotated[list[Label], Field(max_length=20)] = []


class TaskPatchIn(Strict):
    """Only the fields sent are changed; `null` clears a nullable field."""

    title: ShortText | None = None
    description: Annotated[str | None, Field(max_length=10_000)] = None
    type: Annotated[str | None, Field(min_length=1, max_length=50)] = None
    status: Status | None = None
    priority: Priority | None = None
    estimate_hours: Annotated[float | None, Field(ge=0, le=100_000)] = None
    assignee: Annotated[str | None, Field(max_length=64)] = None
    start_date: UtcDatetime | None = None
    due_date: UtcDatetime | None = None
    labels: Annotated[list[Label] | None, Field(max_length=20)] = None

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class TaskOut(BaseModel):
    id: str
    title: str
    description: str
    type: str
    status: Status
    priority: Priority
    estimate_hours: float | None
    assignee: str | None
    reporter: str
    start_date: datetime | None
    due_date: datetime | None
    completed_at: datetime | None
    labels: list[str]
    created_at: datetime
    updated_at: datetime
    version: int
    overdue: bool


class TaskPage(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None


class TaskListQuery(Strict):
    status: Annotated[list[Status] | None, BeforeValidator(_split_commas)] = None
    priority: Annotated[list[Priority] | None, BeforeValidator(_split_commas)] = None
    assignee: Annotated[
        str | None, Field(max_length=64, description="user id, username or 'me'")
    ] = None
    overdue: bool | None = None
    due_before: UtcDatetime | None = None
    due_after: UtcDatetime | None = None
    q: Annotated[str | None, Field(max_length=200, description="text in the title")] = None
    sort: Annotated[
        str,
        Field(
            max_length=20,
            description="created_at, updated_at, due_date or priority; '-' for descending",
        ),
    ] = "-created_at"
    cursor: Annotated[str | None, Field(max_length=1000)] = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50


class MyTasksQuery(Strict):
    status: Annotated[list[Status] | None, BeforeValidator(_split_commas)] = None
    sort: Annotated[str, Field(max_length=20)] = "-created_at"
    cursor: Annotated[str | None, Field(max_length=1000)] = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50


class TaskIdPath(BaseModel):
    task_id: Annotated[str, Field(max_length=64)]


class TaskSummary(BaseModel):
    open: int
    in_progress: int
    done: int
    total: int
    overdue: int


# --- alerts ------------------------------------------------------------------------------------


class ScheduleIn(Strict):
    """`once` takes `run_at` (in the future); `daily` takes `time` ('HH:MM') and `timezone`
    (an IANA zone, default UTC); `now` takes nothing else."""

    type: Literal["once", "daily", "now"]
    run_at: UtcDatetime | None = None
    time: Annotated[str | None, Field(max_length=5, examples=["09:00"])] = None
    timezone: Annotated[str | None, Field(max_length=64, examples=["Europe/Berlin"])] = None


class ScheduleOut(BaseModel):
    id: str
    type: Literal["once", "daily", "now"]
    run_at: datetime | None
    time: str | None
    timezone: str | None
    next_run_time: datetime | None
    last_run_at: datetime | None
    builtin: bool
    created_at: datetime


class SchedulePage(BaseModel):
    items: list[ScheduleOut]
    next_cursor: str | None


class ScheduleIdPath(BaseModel):
    schedule_id: Annotated[str, Field(max_length=64)]
