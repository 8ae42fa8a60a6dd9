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
from tasktracker.domain.projects import (
    TASK_KEY_PATTERN,
    Action,
    Actor,
    Project,
    ProjectRole,
    archived_conflict,
    require,
    task_key,
)
from tasktracker.domain.tasks import Priority, Status, Task, check_dates
from tasktracker.schemas.tasks import TaskCreate, TaskPatch
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.events import make_event
from tasktracker.services.ports import (
    EventRecorder,
    MembershipRepository,
    ProjectRepository,
    TaskRepository,
    UserRepository,
)
from tasktracker.services.projects import DefaultProject, visible_project

log = logging.getLogger(__name__)
E = TypeVar("E", bound=StrEnum)

# Fields a PATCH may set; `status`, `assignee` and `project` (a move) get special handling.
PATCHABLE = frozenset(TaskPatch.model_fields)
NOT_NULL = frozenset({"title", "type", "status", "priority"})


class TaskService:
    def __init__(
        self,
        tasks: TaskRepository,
        users: UserRepository,
        projects: ProjectRepository,
        memberships: MembershipRepository,
        default_project: DefaultProject,
        events: EventRecorder,
        clock: Clock = utc_now,
    ) -> None:
        self._tasks = tasks
        self._users = users
        self._projects = projects
        self._memberships = memberships
        self._default = default_project
        self._events = events
        self._clock = clock

    def create(self, actor: Actor, data: TaskCreate) -> Task:
        """A new task in `data.project` (default: the default project); the caller reports it."""
        check_dates(data.start_date, data.due_date)
        project = self._project_for_new_task(actor, data.project)
        require(actor, Action.CREATE_TASK, project)
        assignee = self.resolve_assignee(data.assignee)
        self._require_assignable(project, assignee)
        now = self._clock()
        task = Task(
            **data.model_dump(exclude={"assignee", "project"}),
            id="",
            assignee=assignee,
            reporter=actor.id,
            completed_at=now if data.status is Status.DONE else None,
            created_at=now,
            updated_at=now,
            project_id=project.id,
            key=task_key(project.key, self._take_number(project)),
        )
        with self._events.transaction() as uow:
            uow.tasks.add(task)
            uow.record(make_event(EventType.TASK_CREATED, task_payload(task), now))
            if task.assignee:
                uow.record(make_event(EventType.TASK_ASSIGNED, task_payload(task), now))
        log.info("task created id=%s key=%s by=%s", task.id, task.key, actor.id)
        return task

    def get(self, actor: Actor, ref: str) -> Task:
        """A task by id or key (`OPS-42`, or a key it had before a move); NotFound when it does
        not exist or belongs to a project the caller is not in."""
        task = self._find(ref)
        if task is None or not actor.sees(task.project_id):
            raise NotFound(f"no task '{ref}'")
        return task

    def update(
        self,
        actor: Actor,
        ref: str,
        changes: dict[str, Any],
        expected_version: int | None = None,
    ) -> Task:
        unknown = set(changes) - PATCHABLE
        if unknown:
            raise InvalidInput(f"these fields cannot be changed: {', '.join(sorted(unknown))}")
        task = self.get(actor, ref)
        project = self._project_of(task)
        require(actor, Action.UPDATE_TASK, project, reporter=task.reporter, assignee=task.assignee)
        check_version(task, expected_version)
        old_version, old_status, old_assignee = task.version, task.status, task.assignee
        target = self._move_target(actor, project, changes.get("project"))
        self._apply(task, {k: v for k, v in changes.items() if k != "project"})
        if task.assignee != old_assignee or target is not None:
            self._require_assignable(target or project, task.assignee)
        if target is not None:
            self._move(task, target)  # takes a number of the target: only once all checks passed
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

    def delete(self, actor: Actor, ref: str, expected_version: int | None = None) -> None:
        task = self.get(actor, ref)
        project = self._project_of(task)
        require(actor, Action.DELETE_TASK, project, reporter=task.reporter, assignee=task.assignee)
        check_version(task, expected_version)
        if not self._tasks.delete_if_version(task.id, task.version):
            raise_lost_race(expected_version)
        log.info("task deleted id=%s by=%s", task.id, actor.id)

    def resolve_assignee(self, value: str | None) -> str | None:
        return resolve_assignee(self._users, value)

    def _find(self, ref: str) -> Task | None:
        key = ref.strip().upper()
        if TASK_KEY_PATTERN.fullmatch(key):
            return self._tasks.by_key(key)
        return self._tasks.get(ref)

    def _project_of(self, task: Task) -> Project:
        project = self._projects.get(task.project_id)
        if project is None:  # deleted a moment ago, with its tasks
            raise NotFound(f"no task '{task.key or task.id}'")
        return project

    def _project_for_new_task(self, actor: Actor, ref: str | None) -> Project:
        if ref is None:
            ref = self._default.id()
        return visible_project(actor, self._projects, ref)

    def _move_target(self, actor: Actor, source: Project, ref: str | None) -> Project | None:
        """The project a PATCH moves the task to (None: it stays): maintainer in the source,
        member in the target."""
        if ref is None:
            return None
        target = visible_project(actor, self._projects, ref)
        if target.id == source.id:
            return None
        require(actor, Action.MOVE_TASK, source)
        require(actor, Action.CREATE_TASK, target)
        return target

    def _move(self, task: Task, target: Project) -> None:
        task.former_keys = [*task.former_keys, task.key]
        task.project_id = target.id
        task.key = task_key(target.key, self._take_number(target))

    def _take_number(self, project: Project) -> int:
        number = self._projects.next_task_number(project.id)
        if number is None:  # archived since it was read
            raise archived_conflict(project.key)
        return number

    def _require_assignable(self, project: Project, assignee: str | None) -> None:
        """The assignee must be a member (or more) of the task's project."""
        if assignee is None:
            return
        membership = self._memberships.get(project.id, assignee)
        if membership is None or not membership.role.includes(ProjectRole.MEMBER):
            raise InvalidInput(
                f"the assignee must be a member of {project.key} (a member, maintainer or owner)"
            )

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
        "key": task.key,
        "project_id": task.project_id,
        "project_key": task.project_key,
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
