"""Tasks: create, change, delete — with the status workflow, permissions and optimistic locking."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tasktracker.adapters.mongo.tasks import TaskRepository
from tasktracker.adapters.mongo.users import UserRepository
from tasktracker.domain.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
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
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.events import EventRecorder, make_event

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TaskDraft:
    title: str
    description: str = ""
    type: str = "task"
    status: Status = Status.OPEN
    priority: Priority = Priority.MEDIUM
    estimate_hours: float | None = None
    assignee: str | None = None  # user id or username
    start_date: datetime | None = None
    due_date: datetime | None = None
    labels: list[str] = field(default_factory=list)


# Fields a PATCH may set; `status` and `assignee` get special handling.
PATCHABLE = frozenset(
    {
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
    }
)


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

    def create(self, actor: User, draft: TaskDraft) -> Task:
        check_dates(draft.start_date, draft.due_date)
        now = self._clock()
        task = Task(
            id="",
            title=draft.title,
            description=draft.description,
            type=draft.type,
            status=draft.status,
            priority=draft.priority,
            estimate_hours=draft.estimate_hours,
            assignee=self.resolve_assignee(draft.assignee),
            reporter=actor.id,
            start_date=draft.start_date,
            due_date=draft.due_date,
            completed_at=now if draft.status is Status.DONE else None,
            labels=draft.labels,
            created_at=now,
            updated_at=now,
        )

        def work(session: Any) -> tuple[Task, list[Event]]:
            self._tasks.add(task, session=session)
            events = [make_event(EventType.TASK_CREATED, task_payload(task), now)]
            if task.assignee:
                events.append(make_event(EventType.TASK_ASSIGNED, task_payload(task), now))
            return task, events

        self._events.commit(work)
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
        events = change_events(task, old_status, old_assignee)

        def work(session: Any) -> tuple[bool, list[Event]]:
            return self._tasks.replace_if_version(task, old_version, session=session), events

        if not self._events.commit(work):
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
        """Accept a user id or a username; answer the user id."""
        if value is None or value == "":
            return None
        user = self._users.get(value) or self._users.by_username(value)
        if user is None:
            raise InvalidInput(f"assignee '{value}' is not a known user id or username")
        return user.id

    def _apply(self, task: Task, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            if name in ("title", "type", "status", "priority") and value is None:
                raise InvalidInput(f"{name} cannot be null")
            elif name == "status":
                task.change_status(Status(value), self._clock())
            elif name == "assignee":
                task.assignee = self.resolve_assignee(value)
            elif name == "labels":
                task.labels = list(value or [])
            elif name == "priority":
                task.priority = Priority(value)
            elif name == "description":
                task.description = value or ""
            else:
                setattr(task, name, value)
        check_dates(task.start_date, task.due_date)


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
