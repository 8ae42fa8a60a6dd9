"""The task shape: the fields a client writes (`TaskFields`), declared once, and its create,
patch and public variants; list queries and pages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, Field

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
    TaskRef,
    TaskType,
    Title,
    UtcDatetime,
)


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
    project: ProjectRef | None = Field(
        None,
        description="project id or key; on create the default project when absent, in a PATCH "
        "a move (maintainer in the source, member in the target; the task gets a new key)",
    )


class TaskCreate(TaskFields):
    """A new task; the caller becomes its reporter."""


TaskPatch = partial_model(
    TaskFields, "TaskPatch", "Only the fields sent are changed; `null` clears a nullable field."
)


def patch_changes(patch: BaseModel) -> dict[str, Any]:
    """The fields a PATCH body set, with their values."""
    return {name: getattr(patch, name) for name in patch.model_fields_set}


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
    created_at: datetime
    updated_at: datetime
    version: int
    overdue: bool

    @classmethod
    def of(cls, task: Task, now: datetime) -> Self:
        values = task.values()
        values.update(project_key=task.project_key, overdue=task.is_overdue(now))
        return cls.model_validate(values)


class TaskPage(BaseModel):
    items: list[TaskPublic]
    next_cursor: str | None

    @classmethod
    def of(cls, tasks: list[Task], next_cursor: str | None, now: datetime) -> Self:
        return cls(items=[TaskPublic.of(t, now) for t in tasks], next_cursor=next_cursor)


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
