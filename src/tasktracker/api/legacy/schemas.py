"""The original's request and response models.

Unlike the resource API's, these ignore unknown fields: the original's clients send extras such
as `confirm_password` on signup or `tags` on add_task. An extra field is dropped at validation,
never passed on; the known fields keep strict types, so an operator object such as
`{"$ne": null}` is still a 422.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, EmailStr, Field, RootModel

from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.schedules import Schedule
from tasktracker.domain.tasks import Priority, Status, Task
from tasktracker.domain.users import Role, User
from tasktracker.schemas.common import Strict
from tasktracker.schemas.tasks import TaskCreate
from tasktracker.schemas.types import (
    Description,
    EmailText,
    EstimateHours,
    Password,
    TaskType,
    Title,
    Username,
    UtcDatetime,
    as_utc,
)

DEFAULT_TASK_TYPE = "Development"
# A task field's name in the original (domain name -> legacy name); the rest are the same.
LEGACY_NAMES = {
    "title": "summary",
    "type": "task_type",
    "estimate_hours": "estimate",
    "assignee": "assigned",
    "start_date": "start_dt",
}
FROM_LEGACY = {legacy: name for name, legacy in LEGACY_NAMES.items()}
DEFAULT_ESTIMATE_HOURS = 8.0

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


def legacy_key(value: Any) -> Any:
    """`In Progress`, `IN-PROGRESS`, ` in_progress ` -> `in_progress`."""
    if not isinstance(value, str):
        return value
    return value.strip().lower().replace("-", "_").replace(" ", "_")


def legacy_status(value: Any) -> Any:
    key = legacy_key(value)
    return STATUS_ALIASES.get(key, key) if isinstance(key, str) else key


def legacy_flag(value: Any) -> Any:
    """`y`/`n` in any case -> `Y`/`N`; `active`/`inactive` in any case -> lower case."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    return value.upper() if value.lower() in ("y", "n") else value.lower()


def lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


class LegacyIn(Strict):
    """A legacy request model: unknown fields are ignored (`Strict` keeps its cached schema)."""

    model_config = ConfigDict(extra="ignore")


# --- users -------------------------------------------------------------------------------------


class LegacySignupIn(LegacyIn):
    username: Username
    password: Password
    email: EmailStr
    role: Annotated[
        Literal["user", "developer", "member", "admin"] | None,
        BeforeValidator(lower),
        Field(description="`user` and `developer` mean member; `admin` only when an admin calls"),
    ] = None
    status: Annotated[
        Literal["Y", "N", "active", "inactive"] | None,
        BeforeValidator(legacy_flag),
        Field(description='"Y" active, "N" inactive (only when an admin calls)'),
    ] = None

    def requested_role(self) -> Role:
        return Role.ADMIN if self.role == "admin" else Role.MEMBER

    def requested_active(self) -> bool:
        return self.status not in ("N", "inactive")


class LegacyLoginIn(LegacyIn):
    email: EmailText
    password: Password


class LegacyChangePasswordIn(LegacyIn):
    email: EmailText
    oldPassword: Password
    newPassword: Password


class LegacyEmailIn(LegacyIn):
    email: EmailText


class LegacyEmailQuery(LegacyIn):
    email: Annotated[str | None, Field(max_length=320)] = None


# --- tasks -------------------------------------------------------------------------------------


class LegacyTaskIn(LegacyIn):
    """The original's task fields and defaults; status and priority in any case, with spaces,
    hyphens or underscores (`"In Progress"`, `"High"`)."""

    summary: Title
    task_type: TaskType = DEFAULT_TASK_TYPE
    status: Annotated[Status, BeforeValidator(legacy_status)] = Status.OPEN
    estimate: EstimateHours | None = DEFAULT_ESTIMATE_HOURS
    priority: Annotated[Priority, BeforeValidator(legacy_key)] = Priority.MEDIUM
    assigned: Annotated[str | None, Field(max_length=64, description="username")] = None
    description: Description = ""
    start_dt: UtcDatetime | None = None
    due_date: UtcDatetime | None = None

    def task_create(self) -> TaskCreate:
        """The same task as the resource API's create body."""
        fields = {
            FROM_LEGACY.get(name, name): getattr(self, name) for name in type(self).model_fields
        }
        return TaskCreate(**fields)


# --- scheduler ---------------------------------------------------------------------------------


class LegacyScheduleIn(LegacyIn):
    type: Literal["once", "daily", "now"]
    run_at: Annotated[str | None, Field(max_length=64)] = None

    def run_at_utc(self) -> datetime | None:
        """The original's `run_at`: ISO 8601 ('2025-01-31 09:00:00' too); naive means UTC."""
        if not self.run_at:
            return None
        try:
            return as_utc(datetime.fromisoformat(self.run_at.strip()))
        except ValueError:
            raise InvalidInput(
                "run_at must be a date and time such as '2025-01-31T09:00:00Z'"
            ) from None


# --- answers -----------------------------------------------------------------------------------


class LegacyMessage(BaseModel):
    message: str


class LegacyToken(BaseModel):
    token: str


class LegacyTaskAdded(BaseModel):
    message: str
    task_id: str


class LegacyJobScheduled(BaseModel):
    message: str
    job_id: str


def legacy_role(role: Role) -> str:
    """The original's role names: `admin`, and `user` for a member."""
    return "admin" if role is Role.ADMIN else "user"


class LegacyTask(BaseModel):
    """A task in the original's field names (`assigned` and `reporter` are usernames)."""

    id: str = Field(serialization_alias="_id")
    summary: str
    description: str
    task_type: str
    status: Status
    priority: Priority
    estimate: float | None
    assigned: str | None
    reporter: str | None
    start_dt: datetime | None
    due_date: datetime | None
    completed_at: datetime | None
    labels: list[str]
    created_at: datetime
    updated_at: datetime
    overdue: bool

    @classmethod
    def of(cls, task: Task, usernames: dict[str, str], now: datetime) -> Self:
        fields = {LEGACY_NAMES.get(name, name): value for name, value in task.values().items()}
        return cls(
            **{
                **fields,
                "assigned": usernames.get(task.assignee) if task.assignee else None,
                "reporter": usernames.get(task.reporter),
                "overdue": task.is_overdue(now),
            }
        )


class LegacyTaskList(BaseModel):
    tasks: list[LegacyTask]


class LegacyUser(BaseModel):
    """The original's user: `role` admin/user, `status` "Y" (active) or "N"."""

    id: str = Field(serialization_alias="_id")
    username: str
    email: str
    role: Literal["user", "admin"]
    status: Literal["Y", "N"]
    task_count: int

    @classmethod
    def of(cls, user: User, task_count: int) -> Self:
        status = "Y" if user.active else "N"
        return cls(
            id=user.id,
            username=user.username,
            email=user.email,
            role=legacy_role(user.role),
            status=status,
            task_count=task_count,
        )


class LegacyUserList(BaseModel):
    users: list[LegacyUser]


class LegacyUserFound(BaseModel):
    user: LegacyUser | None


class LegacyJob(BaseModel):
    """The original's `scheduler_jobs` item: APScheduler's job id, next run time, trigger."""

    id: str
    next_run_time: datetime | None
    trigger: str

    @classmethod
    def of(cls, schedule: Schedule, now: datetime) -> Self:
        return cls(
            id=schedule.id,
            next_run_time=schedule.next_run_time(now),
            trigger=schedule.describe_trigger(),
        )


LegacyJobList = RootModel[list[LegacyJob]]
