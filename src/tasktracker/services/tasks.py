"""Tasks: create, change, delete — with the status workflow, permissions and optimistic locking."""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum
from typing import Any, NoReturn, Protocol, TypeVar

from tasktracker.domain.activity import (
    FieldChange,
    Verb,
    created_changes,
    task_changes,
    update_verb,
)
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
from tasktracker.schemas.tasks import TaskCreate, TaskPatch, TaskPublic
from tasktracker.services.activity import activity_entry
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.events import api_json, changed_values, make_event, webhook_fields
from tasktracker.services.ports import (
    EventRecorder,
    MembershipRepository,
    ProjectRepository,
    TaskRepository,
    UnitOfWork,
    UserRepository,
)
from tasktracker.services.projects import DefaultProject, visible_project
from tasktracker.services.watchers import watchers_of

log = logging.getLogger(__name__)
E = TypeVar("E", bound=StrEnum)

# Fields a PATCH may set; `status`, `assignee` and `project` (a move) get special handling.
PATCHABLE = frozenset(TaskPatch.model_fields)
NOT_NULL = frozenset({"title", "type", "status", "priority"})
# What an event's `previous` leaves out: the bookkeeping every change moves.
BOOKKEEPING = frozenset({"version", "updated_at"})


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
            uow.activity.add(activity_entry(actor, task, Verb.CREATED, created_changes(task), now))
            uow.record(make_event(EventType.TASK_CREATED, task_event(actor, task, now), now))
            if task.assignee:
                payload = change_payload(actor, task, watchers_of(uow, task), now)
                uow.record(make_event(EventType.TASK_ASSIGNED, payload, now))
        log.info("task created id=%s key=%s by=%s", task.id, task.key, actor.id)
        return task

    def locate(self, actor: Actor, ref: str) -> tuple[Task, Project]:
        """The task `ref` names (as `get`) and its project."""
        task = self.get(actor, ref)
        return task, self._project_of(task)

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
        task, project = self.locate(actor, ref)
        require(actor, Action.UPDATE_TASK, project, reporter=task.reporter, assignee=task.assignee)
        check_version(task, expected_version)
        before = task.values()
        target = self._move_target(actor, project, changes.get("project"))
        self._apply(task, {k: v for k, v in changes.items() if k != "project"})
        if task.assignee != before["assignee"] or target is not None:
            self._require_assignable(target or project, task.assignee)
        if target is not None:
            self._move(task, target)  # takes a number of the target: only once all checks passed
        task.version = before["version"] + 1
        task.updated_at = self._clock()
        try:
            with self._events.transaction() as uow:
                if not uow.tasks.replace_if_version(task, before["version"]):
                    raise_lost_race(expected_version)
                self._record_update(uow, actor, task, before)
        except ConcurrentChange:
            raise_lost_race(expected_version)
        log.info("task updated id=%s by=%s version=%s", task.id, actor.id, task.version)
        return task

    def delete(self, actor: Actor, ref: str, expected_version: int | None = None) -> None:
        """Delete a task with its comments and watchers; its activity stays in the project's
        feed, ending with a `deleted` entry."""
        task, project = self.locate(actor, ref)
        require(actor, Action.DELETE_TASK, project, reporter=task.reporter, assignee=task.assignee)
        check_version(task, expected_version)
        gone = [FieldChange("key", task.key, None), FieldChange("title", task.title, None)]
        now = self._clock()
        try:
            with self._events.transaction() as uow:
                if not uow.tasks.delete_if_version(task.id, task.version):
                    raise_lost_race(expected_version)
                uow.comments.delete_for_task(task.id)
                uow.watchers.delete_for_task(task.id)
                uow.activity.add(activity_entry(actor, task, Verb.DELETED, gone, now))
                uow.record(make_event(EventType.TASK_DELETED, task_event(actor, task, now), now))
        except ConcurrentChange:
            raise_lost_race(expected_version)
        log.info("task deleted id=%s by=%s", task.id, actor.id)

    def resolve_assignee(self, value: str | None) -> str | None:
        return resolve_assignee(self._users, value)

    def _record_update(
        self, uow: UnitOfWork, actor: Actor, task: Task, before: dict[str, Any]
    ) -> None:
        """The update's activity entry, the moved task's comments and watchers, a former
        assignee who keeps watching, and the events for letters."""
        changes = task_changes(before, task)
        if not changes:
            return
        verb = update_verb(changes)
        uow.activity.add(activity_entry(actor, task, verb, changes, task.updated_at))
        if task.project_id != before["project_id"]:
            uow.comments.move_task(task.id, task.project_id)
            uow.watchers.move_task(task.id, task.project_id)
        former = before["assignee"]
        if former and former != task.assignee:
            uow.watchers.add_if_new(task.id, task.project_id, [former], task.updated_at)
        watchers = watchers_of(uow, task)
        uow.record(*change_events(actor, task, before, watchers))

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


def task_event(
    actor: Actor, task: Task, now: datetime, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A task event's payload: the task's summary, and the webhook parts with `data` the task
    as the API shows it at `now`."""
    shown = TaskPublic.of(task, now)
    return {
        **task_payload(task),
        **webhook_fields(actor, task.project_id, task.project_key, shown, previous),
    }


def change_payload(
    actor: Actor,
    task: Task,
    watchers: list[str],
    now: datetime,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A task event that may become a letter: who acted, and who watches the task now."""
    return {**task_event(actor, task, now, previous), "watchers": watchers}


def task_previous(before: dict[str, Any], task: Task, now: datetime) -> dict[str, Any]:
    """The old values, as the API showed them, of the task's fields an update changed."""
    was = api_json(TaskPublic.of(Task(**before), now))
    return changed_values(was, api_json(TaskPublic.of(task, now)), BOOKKEEPING)


def change_events(
    actor: Actor, task: Task, before: dict[str, Any], watchers: list[str]
) -> list[Event]:
    """`task.updated`, and `task.status_changed` / `task.assigned` when those changed; each
    with the task as it is now and the old values of what changed."""
    now = task.updated_at
    payload = change_payload(actor, task, watchers, now, task_previous(before, task, now))
    events = [make_event(EventType.TASK_UPDATED, payload, now)]
    if task.status is not before["status"]:
        status_payload = {**payload, "previous_status": str(before["status"])}
        events.append(make_event(EventType.TASK_STATUS_CHANGED, status_payload, task.updated_at))
    if task.assignee and task.assignee != before["assignee"]:
        assigned_payload = {**payload, "previous_assignee": before["assignee"]}
        events.append(make_event(EventType.TASK_ASSIGNED, assigned_payload, task.updated_at))
    return events


class Versioned(Protocol):
    version: int


def check_version(item: Versioned, expected_version: int | None, what: str = "task") -> None:
    """412 when an `If-Match` version is not the stored one."""
    if expected_version is not None and expected_version != item.version:
        raise PreconditionFailed(
            f"the {what} is at version {item.version}, not {expected_version}; fetch it again"
        )


def raise_lost_race(expected_version: int | None, what: str = "task") -> NoReturn:
    if expected_version is not None:
        raise PreconditionFailed(f"the {what} changed while this request ran; fetch it again")
    raise Conflict(f"the {what} changed while this request ran; retry")
