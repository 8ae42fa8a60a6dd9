"""Tasks: fields, the status workflow and deadlines (who may do what: domain/projects.py)."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from tasktracker.domain.errors import InvalidInput, InvalidTransition
from tasktracker.domain.recurrence import Recurrence, RecurrenceFrom
from tasktracker.domain.reminders import Reminder, relative_reminders


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


# No slots: `Task.restore` gives a stored task its values as its `__dict__` in one step.
@dataclass
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
    recurrence: str | None = None  # an RRULE (domain/recurrence.py)
    recurrence_from: RecurrenceFrom = RecurrenceFrom.DUE
    timezone: str = "UTC"  # IANA; where the rule's days and times are read
    occurrence: int = 1  # place in the series, counted against the rule's COUNT
    previous_occurrence: str | None = None  # the task whose completion created this one
    next_occurrence: str | None = None  # the task this one's completion created
    reminders: list[Reminder] = field(default_factory=list)  # scheduled: domain/reminders.py

    def __post_init__(self) -> None:
        self.status = Status(self.status)
        self.priority = Priority(self.priority)
        self.recurrence_from = RecurrenceFrom(self.recurrence_from)

    @classmethod
    def restore(cls, values: dict[str, Any]) -> Task:
        """The task whose `values()` were saved as `values`: the enums may be their values, a
        field added since takes its default, and a name that is no field is dropped. It takes
        the values as the task's attributes at once instead of binding them one by one as
        `__init__` does, which cost twice as much a task (README, "List pages"). TypeError
        when a field without a default is missing, as from `__init__`."""
        task = object.__new__(cls)
        own = {**TASK_DEFAULTS, **values}
        for name in own.keys() - TASK_FIELD_SET:
            del own[name]
        if len(own) < len(TASK_FIELD_NAMES):
            for name, make_default in TASK_DEFAULT_FACTORIES.items():
                own.setdefault(name, make_default())
            if missing := TASK_REQUIRED_FIELDS - own.keys():
                raise TypeError(f"a stored task lacks {', '.join(sorted(missing))}")
        own["status"] = STATUS_BY_VALUE[own["status"]]
        own["priority"] = PRIORITY_BY_VALUE[own["priority"]]
        own["recurrence_from"] = RECURRENCE_FROM_BY_VALUE[own["recurrence_from"]]
        task.__dict__ = own
        return task

    def values(self) -> dict[str, Any]:
        """Every field by name (what a document or a response model is made from)."""
        return dict(vars(self))

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

    @property
    def series(self) -> Recurrence | None:
        if self.recurrence is None:
            return None
        return Recurrence(self.recurrence, self.recurrence_from, self.timezone, self.occurrence)

    def check_recurrence(self, now: datetime) -> None:
        """InvalidInput when the task's rule cannot be followed from its due date."""
        series = self.series
        if series is not None:
            series.check(self.due_date, now)

    def next_occurrence_task(self, now: datetime) -> Task | None:
        """The next task of a recurring task that is done: the same fields, open, due at the
        rule's next date (its start date as far before it as before), with the reminders
        relative to the due date (an `at` reminder was for this task only); None when the task does
        not recur, its series is finished, or its next task exists already. The caller gives
        it an id and a key."""
        series = self.series
        if series is None or self.status is not Status.DONE or self.next_occurrence:
            return None
        due = series.next_due(self.due_date, self.completed_at or now)
        if due is None:
            return None
        lead = self.due_date - self.start_date if self.due_date and self.start_date else None
        return replace(
            self,
            id="",
            key="",
            former_keys=[],
            labels=list(self.labels),
            status=Status.OPEN,
            completed_at=None,
            start_date=due - lead if lead is not None else None,
            due_date=due,
            created_at=now,
            updated_at=now,
            version=1,
            occurrence=self.occurrence + 1,
            previous_occurrence=self.id,
            next_occurrence=None,
            reminders=relative_reminders(self.reminders),
        )


# Task's fields in order, read once (`dataclasses.fields` is dear on a hot path).
TASK_FIELD_NAMES = tuple(f.name for f in fields(Task))
# What `Task.restore` reads: the fields, their defaults, and each enum by its value.
TASK_FIELD_SET = frozenset(TASK_FIELD_NAMES)
TASK_DEFAULTS = {f.name: f.default for f in fields(Task) if f.default is not MISSING}
TASK_DEFAULT_FACTORIES = {
    f.name: f.default_factory for f in fields(Task) if f.default_factory is not MISSING
}
TASK_REQUIRED_FIELDS = TASK_FIELD_SET - TASK_DEFAULTS.keys() - TASK_DEFAULT_FACTORIES.keys()
STATUS_BY_VALUE: dict[str, Status] = {str(s): s for s in Status}
PRIORITY_BY_VALUE: dict[str, Priority] = {str(p): p for p in Priority}
RECURRENCE_FROM_BY_VALUE: dict[str, RecurrenceFrom] = {str(r): r for r in RecurrenceFrom}


def is_overdue(status: Status | str, due_date: datetime | None, now: datetime) -> bool:
    return due_date is not None and status != Status.DONE and due_date < now


def check_dates(start_date: datetime | None, due_date: datetime | None) -> None:
    if start_date and due_date and due_date < start_date:
        raise InvalidInput("due_date must not be before start_date")


def task_summary(task: Task) -> dict[str, Any]:
    """What every task event's payload names the task by."""
    return {
        "task_id": task.id,
        "key": task.key,
        "project_id": task.project_id,
        "project_key": task.project_key,
        "title": task.title,
        "status": str(task.status),
        "assignee": task.assignee,
        "reporter": task.reporter,
        "due_date": task.due_date.isoformat() if task.due_date else None,
    }
