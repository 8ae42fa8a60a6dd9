"""Tasks: create, change, delete — with the status workflow, permissions and optimistic locking."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any, TypeVar

from tasktracker.domain.errors import (
    ConcurrentChange,
    Conflict,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)
from tasktracker.domain.events import Event, EventType
from tasktracker.domain.tasks import (
    Priority,
    Status,
    Task,
    check_dates,
    require_delete,
    require_update,
)
from tasktracker.domain.users import User
from tasktracker.schemas.tasks import TaskCreate, TaskPatch
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.events import make_event
from tasktracker.services.ports import EventRecorder, TaskRepository, UserRepository

log = logging.getLogger(__name__)
E = TypeVar("E", bound=StrEnum)

# Fields a PATCH may set; `status` and `assignee` get special handling.
PATCHABLE = frozenset(TaskPatch.model_fields)
NOT_NULL = frozenset({"title", "type", "status", "priority"})


class TaskService:
    def __init__(
        self,
        tasks: TaskRepository,
        users: UserRepository,
        events: EventRecorder,
        clock: Clock = utc_now,
    ) -> None:
        self._tasks = tasks
        self._users = users
        self._events = events
        self._clock = clock

    def create(self, actor: User, data: TaskCreate) -> Task:
        check_dates(data.start_date, data.due_date)
        now = self._clock()
        task = Task(
            **data.model_dump(exclude={"assignee"}),
            id="",
            assignee=self.resolve_assignee(data.assignee),
            reporter=actor.id,
            completed_at=now if data.status is Status.DONE else None,
            created_at=now,
            updated_at=now,
        )
        with self._events.transaction() as uow:
            uow.tasks.add(task)
            uow.record(make_event(EventType.TASK_CREATED, task_payload(task), now))
            if task.assignee:
                uow.record(make_event(EventType.TASK_ASSIGNED, task_payload(task), now))
        log.info("task created id=%s by=%s", task.id, actor.id)
        return task

    def get(self, task_id: str) -> Task:
        task = self._tasks.get(task_id)
        if task is None:
            raise NotFound(f"no task with id '{task_id}'")
        return task

    def update(
        self,
        actor: User,
        task_id: str,
        changes: dict[str, Any],
        expected_version: int | None = None,
    ) -> Task:
        unknown = set(changes) - PATCHABLE
        if unknown:
            raise InvalidInput(f"these fields cannot be changed: {', '.join(sorted(unknown))}")
        task = self.get(task_id)
        require_update(actor, task)
        check_version(task, expected_version)
        old_version, old_status, old_assignee = task.version, task.status, task.assignee
        self._apply(task, changes)
        task.version = old_version + 1
        task.updated_at = self._clock()
        try:
            with self._events.transaction() as uow:
                if not uow.tasks.replace_if_version(task, old_version):
                    raise_lost_race(expected_version)
                uow.record(*change_events(task, old_status, old_assignee))
        except ConcurrentChange:
            raise_lost_race(expected_version)
        log.info("task updated id=%s by=%s version=%s", task.id, actor.id, task.version)
        return task

    def delete(self, actor: User, task_id: str, expected_version: int | None = None) -> None:
        task = self.get(task_id)
        require_delete(actor, task)
        check_version(task, expected_version)
        if not self._tasks.delete_if_version(task.id, task.version):
            raise_lost_race(expected_version)
        log.info("task deleted id=%s by=%s", task.id, actor.id)

    def resolve_assignee(self, value: str | None) -> str | None:
        return resolve_assignee(self._users, value)

    def _apply(self, task: Task, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            if name in NOT_NULL and value is None:
                raise InvalidInput(f"{name} cannot be null")
            elif name == "status":
                task.change_status(choice(Status, name, value), self._clock())
            elif name == "assignee":
                task.assignee = self.resolve_assignee(value)
            elif name == "labels":
                task.labels = list(value or [])
            elif name == "priority":
                task.priority = choice(Priority, name, value)
            elif name == "description":
                task.description = value or ""
            else:
                setattr(task, name, value)
        check_dates(task.start_date, task.due_date)


def choice(enum: type[E], name: str, value: Any) -> E:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(str(member) for member in enum)  # type: ignore[attr-defined]
        raise InvalidInput(f"{name} must be one of: {allowed}") from None


def resolve_assignee(users: UserRepository, value: str | None) -> str | None:
    """Accept a user id or a username; answer the user id."""
    if value is None or value == "":
        return None
    user = users.get(value) or users.by_username(value)
    if user is None:
        raise InvalidInput(f"assignee '{value}' is not a known user id or username")
    return user.id


def task_payload(task: Task) -> dict[str, Any]:
    return {
        "task_id": task.id,
        "title": task.title,
        "status": str(task.status),
        "assignee": task.assignee,
        "reporter": task.reporter,
        "due_date": task.due_date.isoformat() if task.due_date else None,
    }


def change_events(task: Task, old_status: Status, old_assignee: str | None) -> list[Event]:
    events = []
    if task.status is not old_status:
        payload = {**task_payload(task), "previous_status": str(old_status)}
        events.append(make_event(EventType.TASK_STATUS_CHANGED, payload, task.updated_at))
    if task.assignee and task.assignee != old_assignee:
        payload = {**task_payload(task), "previous_assignee": old_assignee}
        events.append(make_event(EventType.TASK_ASSIGNED, payload, task.updated_at))
    return events


def check_version(task: Task, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != task.version:
        raise PreconditionFailed(
            f"the task is at version {task.version}, not {expected_version}; fetch it again"
        )


def raise_lost_race(expected_version: int | None) -> None:
    if expected_version is not None:
        raise PreconditionFailed("the task changed while this request ran; fetch it again")
    raise Conflict("the task changed while this request ran; retry")
