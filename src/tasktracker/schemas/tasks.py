"""The task shape: the fields a client writes (`TaskFields`), declared once, and its create,
patch and public variants; list queries and pages."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    model_validator,
)

from tasktracker.domain.recurrence import RecurrenceFrom
from tasktracker.domain.reminders import MAX_BEFORE_DUE, MAX_REMINDERS, Reminder
from tasktracker.domain.tasks import Priority, Status, Task
from tasktracker.schemas.common import Strict, partial_model
from tasktracker.schemas.types import (
    AssigneeRef,
    CommaList,
    Cursor,
    Description,
    EstimateHours,
    Labels,
    Limit,
    ProjectRef,
    RecurrenceRule,
    TaskRef,
    TaskType,
    TimeZoneName,
    Title,
    UtcDatetime,
    as_utc,
)

# ISO 8601 durations in weeks, days, hours, minutes and seconds: months and years have no fixed
# length, so they are refused rather than guessed.
ISO_DURATION = re.compile(r"^P(?!$)(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


ZERO = timedelta(0)


def iso_duration_text(value: Any) -> Any:
    if not isinstance(value, str) or not ISO_DURATION.fullmatch(value):
        raise ValueError(
            "expected an ISO 8601 duration in weeks, days, hours, minutes or seconds, "
            "e.g. 'PT1H', 'P2D' or 'PT30M'"
        )
    return value


BeforeDue = Annotated[
    timedelta,
    BeforeValidator(iso_duration_text),
    Field(description="an ISO 8601 duration before the due date, at most P365D", examples=["PT1H"]),
]
ReminderTime = Annotated[
    AwareDatetime,
    AfterValidator(as_utc),
    Field(description="a time with its UTC offset", examples=["2030-05-01T09:00:00+02:00"]),
]


class ReminderIn(Strict):
    """A reminder: exactly one of `before_due` (relative: it moves with the due date) and
    `at`."""

    model_config = Strict.model_config | {
        "json_schema_extra": {"examples": [{"before_due": "PT1H"}, {"at": "2030-05-01T09:00Z"}]}
    }

    before_due: BeforeDue | None = None
    at: ReminderTime | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.before_due is None) == (self.at is None):
            raise ValueError("a reminder has exactly one of 'before_due' and 'at'")
        if self.before_due is not None and not ZERO < self.before_due <= MAX_BEFORE_DUE:
            raise ValueError("before_due must be a positive duration of at most 365 days (P365D)")
        return self

    def to_domain(self) -> Reminder:
        return Reminder(before_due=self.before_due, at=self.at)


Reminders = Annotated[
    list[ReminderIn],
    Field(
        max_length=MAX_REMINDERS,
        description=f"at most {MAX_REMINDERS}; the assignee (else the reporter) gets a letter "
        "when each one's time comes, once; a done task's reminders do not fire",
    ),
]


class TaskFields(Strict):
    title: Title
    description: Description = ""
    type: TaskType = "task"
    status: Status = Status.OPEN
    priority: Priority = Priority.MEDIUM
    estimate_hours: EstimateHours | None = None
    assignee: AssigneeRef | None = None
    start_date: UtcDatetime | None = None
    due_date: UtcDatetime | None = None
    labels: Labels = []
    reminders: Reminders = []
    project: ProjectRef | None = Field(
        None,
        description="project id or key; on create the default project when absent, in a PATCH "
        "a move (maintainer in the source, member in the target; the task gets a new key)",
    )
    recurrence: RecurrenceRule | None = Field(
        None,
        description="an RFC 5545 RRULE; when the task is set to done, its next occurrence is "
        "created as a new open task (null: the task does not recur)",
    )
    recurrence_from: RecurrenceFrom = Field(
        RecurrenceFrom.DUE,
        description="what the next due date counts from: the due date, or the completion",
    )
    timezone: TimeZoneName = Field(
        "UTC", description="IANA time zone the rule's days and times are read in (DST-correct)"
    )


class TaskCreate(TaskFields):
    """A new task; the caller becomes its reporter."""


TaskPatch = partial_model(
    TaskFields, "TaskPatch", "Only the fields sent are changed; `null` clears a nullable field."
)


def patch_changes(patch: BaseModel) -> dict[str, Any]:
    """The fields a PATCH body set, with their values."""
    return {name: getattr(patch, name) for name in patch.model_fields_set}


class ReminderPublic(BaseModel):
    """A reminder as given, with the time it fires at (`remind_at`)."""

    before_due: timedelta | None = Field(None, description="ISO 8601 duration", examples=["PT1H"])
    at: datetime | None = None
    remind_at: datetime | None = Field(
        description="`at`, or the due date minus `before_due` (it moves with the due date)"
    )

    @classmethod
    def of(cls, reminder: Reminder, due_date: datetime | None) -> Self:
        return cls(
            before_due=reminder.before_due, at=reminder.at, remind_at=reminder.remind_at(due_date)
        )


class TaskPublic(BaseModel):
    """A task as the API shows it."""

    id: str
    key: str = Field(description="<PROJECT>-<n>; a key the task had before a move resolves too")
    project_id: str
    project_key: str
    title: str
    description: str
    type: str
    status: Status
    priority: Priority
    estimate_hours: float | None
    assignee: str | None = Field(description="user id")
    reporter: str = Field(description="user id")
    start_date: datetime | None
    due_date: datetime | None
    completed_at: datetime | None
    labels: list[str]
    reminders: list[ReminderPublic]
    created_at: datetime
    updated_at: datetime
    version: int
    overdue: bool
    recurrence: str | None
    recurrence_from: RecurrenceFrom
    timezone: str
    occurrence: int = Field(description="place in its recurring series (1 for the first task)")
    previous_occurrence: str | None = Field(
        description="id of the task whose completion created this one"
    )
    next_occurrence: str | None = Field(description="id of the task this one's completion created")

    @classmethod
    def of(cls, task: Task, now: datetime) -> Self:
        return cls.model_validate(cls.values_of(task, now))

    @staticmethod
    def values_of(task: Task, now: datetime) -> dict[str, Any]:
        """What a TaskPublic is validated from."""
        values = task.values()
        values.update(
            project_key=task.project_key,
            overdue=task.is_overdue(now),
            reminders=[ReminderPublic.of(r, task.due_date) for r in task.reminders],
        )
        return values


class TaskPage(BaseModel):
    items: list[TaskPublic]
    next_cursor: str | None

    @classmethod
    def of(cls, tasks: list[Task], next_cursor: str | None, now: datetime) -> Self:
        # One validation of the whole page: a validation per task costs a third more.
        items = [TaskPublic.values_of(t, now) for t in tasks]
        return cls.model_validate({"items": items, "next_cursor": next_cursor})


SortText = Annotated[
    str,
    Field(max_length=20, description="created_at, updated_at, due_date or priority; '-' first "
          "for descending"),
]  # fmt: skip


class MyTasksQuery(Strict):
    status: Annotated[list[Status] | None, CommaList] = None
    sort: SortText = "-created_at"
    cursor: Cursor | None = None
    limit: Limit = 50


class TaskListQuery(MyTasksQuery):
    priority: Annotated[list[Priority] | None, CommaList] = None
    assignee: Annotated[
        str | None, Field(max_length=64, description="user id, username or 'me'")
    ] = None
    overdue: bool | None = None
    due_before: UtcDatetime | None = None
    due_after: UtcDatetime | None = None
    q: Annotated[str | None, Field(max_length=200, description="text in the title")] = None


class AllTasksQuery(TaskListQuery):
    project: ProjectRef | None = None


class TaskIdPath(BaseModel):
    task_id: TaskRef


class TaskCounts(BaseModel):
    open: int = 0
    in_progress: int = 0
    done: int = 0
    total: int = 0


class TaskSummary(TaskCounts):
    overdue: int
