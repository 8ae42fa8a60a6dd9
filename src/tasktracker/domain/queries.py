"""What a task list asks for: filters, a sort order, and a page of results with a cursor.

The cursor is opaque: the read side that serves the list decides what it carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.tasks import Priority, Status

T = TypeVar("T")

SORT_KEYS = ("created_at", "updated_at", "due_date", "priority")


@dataclass(frozen=True, slots=True)
class TaskFilter:
    status: tuple[Status, ...] = ()
    priority: tuple[Priority, ...] = ()
    assignee: str | None = None  # a user id
    overdue: bool | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    q: str | None = None
    # The projects to look in: the caller's visible ones (None: every project, for an admin).
    projects: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Sort:
    key: str = "created_at"
    descending: bool = True

    @classmethod
    def parse(cls, text: str) -> Sort:
        descending = text.startswith("-")
        key = text.removeprefix("-")
        if key not in SORT_KEYS:
            raise InvalidInput(f"cannot sort by '{key}'; use one of: {', '.join(SORT_KEYS)}")
        return cls(key, descending)

    def __str__(self) -> str:
        return f"-{self.key}" if self.descending else self.key


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
