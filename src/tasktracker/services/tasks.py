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
from tasktracker.domain.recurrence import RecurrenceFrom, normalise_rule
from tasktracker.domain.reminders import (
    Reminder,
    check_not_past,
    check_reminders,
    unchanged_reminders,
)
from tasktracker.domain.task_counts import Bucket, bucket, combined, count_change
from tasktracker.domain.tasks import Priority, Status, Task, check_dates, task_summary
from tasktracker.domain.time_zones import time_zone
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
from tasktracker.services.projects import DefaultProject, retry_concurrent, visible_project
from tasktracker.services.reminders import schedule_reminders
from tasktracker.services.watchers import watchers_of

log = logging.getLogger(__name__)
E = TypeVar("E", bound=StrEnum)

# Fields a PATCH may set; `status`, `assignee` and `project` (a move) get special handling.
PATCHABLE = frozenset(TaskPatch.model_fields)
NOT_NULL = frozenset({"title", "type", "status", "priority", "recurrence_from", "timezone"})
# A change to any of these checks that a recurring task's rule can still be followed.
RECURRENCE_INPUTS = frozenset({"recurrence", "recurrence_from", "timezone", "due_date"})
# A change to one of these moves the task's scheduled reminders.
SCHEDULING = ("reminders", "due_date", "status", "project_id")
# What an event's `previous` leaves out: the bookkeeping every change moves.
BOOKKEEPING = frozenset({"version", "updated_at"})
# Runs of a task write's transaction before a collision is answered 409. More than other
# transactions get: concurrent changes of different tasks of a project collide on the
# project's task counters now and then (adapters/mongo/task_counts.py), and each run of a
# collision that is not a lost race (the version check says which) is as cheap as it is rare.
TASK_WRITE_ATTEMPTS = 5


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
        reminders = [r.to_domain() for r in data.reminders]
        check_reminders(reminders, data.due_date)
        if data.status is not Status.DONE:
            check_not_past(reminders, data.due_date, now)
        task = Task(
            **data.model_dump(exclude={"assignee", "project", "reminders"}),
            id="",
            assignee=assignee,
            reminders=reminders,
            reporter=actor.id,
            completed_at=now if data.status is Status.DONE else None,
            created_at=now,
            updated_at=now,
            project_id=project.id,
            key=task_key(project.key, self._take_number(project)),
        )
        task.check_recurrence(now)
        counts = count_change(None, bucket(task))

        def attempt() -> None:
            with self._events.transaction() as uow:
                uow.tasks.add(task)  # a retry inserts it with the id the first attempt gave it
                record_creation(uow, actor, task, now)
                uow.task_counts.apply(counts)

        retry_concurrent(attempt, TASK_WRITE_ATTEMPTS)
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
        check_changed_reminders(task, before, changes, self._clock())
        if task.assignee != before["assignee"] or target is not None:
            self._require_assignable(target or project, task.assignee)
        if RECURRENCE_INPUTS & set(changes):
            task.check_recurrence(self._clock())
        if target is not None:
            self._move(task, target)  # takes a number of the target: only once all checks passed
        task.version = before["version"] + 1
        task.updated_at = self._clock()
        follow_up = self._next_occurrence(task, before, target or project)
        counts = combined(
            count_change(
                Bucket.of(before["project_id"], before["status"], before["due_date"]),
                bucket(task),
            ),
            count_change(None, bucket(follow_up)),
        )

        def attempt() -> None:
            """Run again after a collision: the version check decides whether another change
            of this task got in first (a lost race, not retried) or the collision was
            elsewhere (a counter written by a change of another task)."""
            with self._events.transaction() as uow:
                if follow_up is not None:
                    uow.tasks.add(follow_up)  # the same id on every attempt
                    task.next_occurrence = follow_up.id
                if not uow.tasks.replace_if_version(task, before["version"]):
                    raise_lost_race(expected_version)
                if reschedules(before, task):
                    schedule_reminders(uow, task, task.updated_at)
                self._record_update(uow, actor, task, before)
                if follow_up is not None:
                    record_creation(uow, actor, follow_up, task.updated_at)
                uow.task_counts.apply(counts)

        try:
            retry_concurrent(attempt, TASK_WRITE_ATTEMPTS)
        except ConcurrentChange:
            log.warning("task update id=%s collided on every attempt: a 409", task.id)
            raise_lost_race(expected_version)
        log.info("task updated id=%s by=%s version=%s", task.id, actor.id, task.version)
        if follow_up is not None:
            log.info("next occurrence id=%s key=%s of=%s", follow_up.id, follow_up.key, task.id)
        return task

    def delete(self, actor: Actor, ref: str, expected_version: int | None = None) -> None:
        """Delete a task with its comments and watchers; its activity stays in the project's
        feed, ending with a `deleted` entry."""
        task, project = self.locate(actor, ref)
        require(actor, Action.DELETE_TASK, project, reporter=task.reporter, assignee=task.assignee)
        check_version(task, expected_version)
        gone = [FieldChange("key", task.key, None), FieldChange("title", task.title, None)]
        now = self._clock()
        counts = count_change(bucket(task), None)

        def attempt() -> None:
            with self._events.transaction() as uow:
                if not uow.tasks.delete_if_version(task.id, task.version):
                    raise_lost_race(expected_version)
                uow.comments.delete_for_task(task.id)
                uow.watchers.delete_for_task(task.id)
                uow.reminders.delete_for_task(task.id)
                uow.activity.add(activity_entry(actor, task, Verb.DELETED, gone, now))
                uow.record(make_event(EventType.TASK_DELETED, task_event(actor, task, now), now))
                uow.task_counts.apply(counts)

        try:
            retry_concurrent(attempt, TASK_WRITE_ATTEMPTS)
        except ConcurrentChange:
            log.warning("task delete id=%s collided on every attempt: a 409", task.id)
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

    def _next_occurrence(self, task: Task, before: dict[str, Any], project: Project) -> Task | None:
        """The next task of a recurring task this change sets to done, with its key; it keeps
        the assignee while they may still be assigned in the project."""
        if before["status"] is Status.DONE:
            return None
        follow_up = task.next_occurrence_task(task.updated_at)
        if follow_up is None:
            return None
        if not self._assignable(project, follow_up.assignee):
            follow_up.assignee = None
        follow_up.key = task_key(project.key, self._take_number(project))
        return follow_up

    def _require_assignable(self, project: Project, assignee: str | None) -> None:
        """The assignee must be a member (or more) of the task's project."""
        if not self._assignable(project, assignee):
            raise InvalidInput(
                f"the assignee must be a member of {project.key} (a member, maintainer or owner)"
            )

    def _assignable(self, project: Project, assignee: str | None) -> bool:
        if assignee is None:
            return True
        membership = self._memberships.get(project.id, assignee)
        return membership is not None and membership.role.includes(ProjectRole.MEMBER)

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
            elif name == "reminders":
                task.reminders = [as_reminder(r) for r in value or []]
            elif name == "priority":
                task.priority = choice(Priority, name, value)
            elif name == "recurrence":
                task.recurrence = normalise_rule(value) if value is not None else None
            elif name == "recurrence_from":
                task.recurrence_from = choice(RecurrenceFrom, name, value)
            elif name == "timezone":
                task.timezone = time_zone(value).key
            elif name == "description":
                task.description = value or ""
            else:
                setattr(task, name, value)
        check_dates(task.start_date, task.due_date)


def reschedules(before: dict[str, Any], task: Task) -> bool:
    """Whether a change moves the task's scheduled reminders: it has or had some, and their
    list, the due date, the status or the project changed (most changes read nothing more)."""
    had_some = bool(before["reminders"] or task.reminders)
    return had_some and any(before[name] != getattr(task, name) for name in SCHEDULING)


def as_reminder(value: Any) -> Reminder:
    return value if isinstance(value, Reminder) else value.to_domain()


def check_changed_reminders(
    task: Task, before: dict[str, Any], changes: dict[str, Any], now: datetime
) -> None:
    """The reminder rules, when a change sets the reminders or the due date. A reminder the
    change times anew may not be in the past; a done task's reminders never fire, so they are
    not checked for that."""
    if "reminders" not in changes and "due_date" not in changes:
        return
    check_reminders(task.reminders, task.due_date)
    if task.status is not Status.DONE:
        kept = unchanged_reminders(before["reminders"], before["due_date"], task.due_date)
        check_not_past(task.reminders, task.due_date, now, kept=kept)


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


def record_creation(uow: UnitOfWork, actor: Actor, task: Task, now: datetime) -> None:
    """A new task's scheduled reminders, activity entry and events: `task.created`, and
    `task.assigned` when it has an assignee."""
    if task.reminders:
        schedule_reminders(uow, task, now)
    uow.activity.add(activity_entry(actor, task, Verb.CREATED, created_changes(task), now))
    uow.record(make_event(EventType.TASK_CREATED, task_event(actor, task, now), now))
    if task.assignee:
        payload = change_payload(actor, task, watchers_of(uow, task), now)
        uow.record(make_event(EventType.TASK_ASSIGNED, payload, now))


def task_payload(task: Task) -> dict[str, Any]:
    return task_summary(task)


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
