"""The activity history: one entry per change to a task or its comments, written in the same
transaction as the change, with each changed field's old and new value."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tasktracker.domain.reminders import Reminder
from tasktracker.domain.tasks import Task


class Verb(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    STATUS_CHANGED = "status_changed"
    ASSIGNED = "assigned"
    MOVED = "moved"
    DELETED = "deleted"
    COMMENTED = "commented"
    COMMENT_EDITED = "comment_edited"
    COMMENT_DELETED = "comment_deleted"


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(slots=True)
class ActivityEntry:
    task_id: str
    project_id: str
    actor: str
    verb: Verb
    at: datetime
    changes: list[FieldChange] = field(default_factory=list)
    request_id: str | None = None
    comment_id: str | None = None
    id: str = ""  # given by the repository


# What a task change records, in this order; `completed_at`, `version` and `updated_at` follow
# from these and are left out.
TRACKED_FIELDS = (
    "title",
    "description",
    "type",
    "status",
    "priority",
    "estimate_hours",
    "assignee",
    "start_date",
    "due_date",
    "labels",
    "reminders",
    "project_id",
    "key",
    "recurrence",
    "recurrence_from",
    "timezone",
)


def task_changes(before: dict[str, Any], after: Task) -> list[FieldChange]:
    """The tracked fields whose value differs between `before` (Task.values() of the stored
    task) and `after`."""
    now = after.values()
    return [
        FieldChange(name, plain(before[name]), plain(now[name]))
        for name in TRACKED_FIELDS
        if before[name] != now[name]
    ]


def update_verb(changes: list[FieldChange]) -> Verb:
    """A move is `moved`; a change of the status alone `status_changed`; of the assignee alone
    `assigned`; anything else `updated`."""
    names = {change.field for change in changes}
    if "project_id" in names:
        return Verb.MOVED
    if names == {"status"}:
        return Verb.STATUS_CHANGED
    if names == {"assignee"}:
        return Verb.ASSIGNED
    return Verb.UPDATED


def created_changes(task: Task) -> list[FieldChange]:
    """A new task's set fields, each from None."""
    values = task.values()
    return [
        FieldChange(name, None, plain(values[name]))
        for name in TRACKED_FIELDS
        if values[name] not in (None, "", [])
    ]


def plain(value: Any) -> Any:
    """Enum members as their value; lists copied (so an entry never shares the task's)."""
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, Reminder):
        return value.plain()
    return value
