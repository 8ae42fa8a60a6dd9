"""Tasks: fields, the status workflow and deadlines (who may do what: domain/projects.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from tasktracker.domain.errors import InvalidInput, InvalidTransition


class Status(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Numeric order for sorting: low < medium < high < critical."""
        return PRIORITY_RANK[self]


PRIORITY_RANK = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2, Priority.CRITICAL: 3}

# open -> in_progress -> done; a task may go back to open (reopen) from either later state.
ALLOWED_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.IN_PROGRESS}),
    Status.IN_PROGRESS: frozenset({Status.DONE, Status.OPEN}),
    Status.DONE: frozenset({Status.OPEN}),
}


def can_transition(current: Status, target: Status) -> bool:
    return target == current or target in ALLOWED_TRANSITIONS[current]


def check_transition(current: Status, target: Status) -> None:
    if not can_transition(current, target):
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current]))
        raise InvalidTransition(
            f"a task cannot go from '{current}' to '{target}'; from '{current}' it may go to: "
            f"{allowed}"
        )


@dataclass(slots=True)
class Task:
    id: str
    title: str
    reporter: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    type: str = "task"
    status: Status = Status.OPEN
    priority: Priority = Priority.MEDIUM
    estimate_hours: float | None = None
    assignee: str | None = None
    start_date: datetime | None = None
    due_date: datetime | None = None
    completed_at: datetime | None = None
    labels: list[str] = field(default_factory=list)
    version: int = 1
    project_id: str = ""
    key: str = ""  # <PROJECT>-<n>, from the project's counter
    former_keys: list[str] = field(default_factory=list)  # keys from before a move; still resolve

    def __post_init__(self) -> None:
        self.status = Status(self.status)
        self.priority = Priority(self.priority)

    def values(self) -> dict[str, Any]:
        """Every field by name (what a document or a response model is made from)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def project_key(self) -> str:
        return self.key.rsplit("-", 1)[0]

    def is_overdue(self, now: datetime) -> bool:
        return is_overdue(self.status, self.due_date, now)

    def change_status(self, target: Status, now: datetime) -> None:
        check_transition(self.status, target)
        if target == self.status:
            return
        self.status = target
        self.completed_at = now if target is Status.DONE else None


def is_overdue(status: Status | str, due_date: datetime | None, now: datetime) -> bool:
    return due_date is not None and status != Status.DONE and due_date < now


def check_dates(start_date: datetime | None, due_date: datetime | None) -> None:
    if start_date and due_date and due_date < start_date:
        raise InvalidInput("due_date must not be before start_date")
