"""Projects and their members: creation, settings, archive, delete, member management, and the
default project every user belongs to. Who may do what: domain/projects.py."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from tasktracker.domain.errors import ConcurrentChange, Conflict, Forbidden, NotFound
from tasktracker.domain.events import Event, EventType
from tasktracker.domain.projects import (
    PROJECT_KEY_PATTERN,
    Action,
    Actor,
    Membership,
    MemberView,
    Project,
    ProjectRole,
    ProjectView,
    ensure_owner_remains,
    require,
    require_writable,
    validate_project_key,
)
from tasktracker.domain.queries import Page
from tasktracker.domain.users import User
from tasktracker.schemas.projects import MemberPublic
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.events import make_event, webhook_fields
from tasktracker.services.ports import (
    EventRecorder,
    MembershipRepository,
    ProjectRepository,
    TaskRepository,
    UnitOfWork,
    UserRepository,
)
from tasktracker.services.sessions import SessionService

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_PROJECT_NAME = "General"
TRANSACTION_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class ProjectPolicy:
    creation: str  # "members" (any active user) or "admins"
    default_key: str


def find_project(projects: ProjectRepository, ref: str) -> Project | None:
    """A project by key (`OPS`, any case) or by id."""
    key = ref.strip().upper()
    if PROJECT_KEY_PATTERN.fullmatch(key):
        return projects.by_key(key)
    return projects.get(ref)


def visible_project(actor: Actor, projects: ProjectRepository, ref: str) -> Project:
    """The project `ref` names, if the caller belongs to it (or is an admin); else NotFound,
    the same answer as for a project that does not exist."""
    project = find_project(projects, ref)
    if project is None or not actor.sees(project.id):
        raise NotFound(f"no project '{ref}'")
    return project


def retry_concurrent(body: Callable[[], T], attempts: int = TRANSACTION_ATTEMPTS) -> T:
    """Run a transaction again when it collided with a concurrent one."""
    for attempt in range(1, attempts + 1):
        try:
            return body()
        except ConcurrentChange:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


class DefaultProject:
    """The project every user belongs to (DEFAULT_PROJECT_KEY): created when missing, its id
    remembered once known."""

    def __init__(self, projects: ProjectRepository, key: str, clock: Clock = utc_now) -> None:
        self._projects = projects
        self._key = key
        self._clock = clock
        self._id: str | None = None

    @property
    def key(self) -> str:
        return self._key

    def id(self) -> str:
        if self._id is None:
            self._id = self.ensure().id
        return self._id

    def ensure(self) -> Project:
        existing = self._projects.by_key(self._key)
        if existing:
            return existing
        now = self._clock()
        try:
            project = Project(
                id="", key=self._key, name=DEFAULT_PROJECT_NAME, created_at=now, updated_at=now
            )
            project = self._projects.add(project)
            log.info("default project %s created id=%s", project.key, project.id)
            return project
        except Conflict:
            found = self._projects.by_key(self._key)  # another replica created it just now
            assert found is not None
            return found

    def membership(self, user_id: str, now: datetime) -> Membership:
        return Membership(self.id(), user_id, ProjectRole.MEMBER, now)


class ProjectService:
    def __init__(
        self,
        projects: ProjectRepository,
        memberships: MembershipRepository,
        users: UserRepository,
        tasks: TaskRepository,
        events: EventRecorder,
        sessions: SessionService,
        default: DefaultProject,
        policy: ProjectPolicy,
        clock: Clock = utc_now,
    ) -> None:
        self._projects = projects
        self._memberships = memberships
        self._users = users
        self._tasks = tasks
        self._events = events
        self._sessions = sessions
        self.default = default
        self._policy = policy
        self._clock = clock

    def actor(self, user: User) -> Actor:
        """The user with their project roles, read from the database (requests read them from
        the session snapshot instead: SessionService.principal)."""
        return Actor(user, self._memberships.roles_of(user.id))

    # --- projects ------------------------------------------------------------------------------

    def create(self, actor: Actor, key: str, name: str, description: str = "") -> ProjectView:
        """A new project; the caller becomes its owner."""
        if self._policy.creation == "admins" and not actor.is_admin:
            raise Forbidden("only admins may create projects here (PROJECT_CREATION=admins)")
        now = self._clock()
        project = Project(
            id="",
            key=validate_project_key(key),
            name=name,
            description=description,
            created_at=now,
            updated_at=now,
        )
        owner = ProjectRole.OWNER
        with self._events.transaction() as uow:
            uow.projects.add(project)
            membership = Membership(project.id, actor.id, owner, now)
            uow.memberships.put(membership)
            payload = {**project_payload(project), "owner": actor.id}
            uow.record(make_event(EventType.PROJECT_CREATED, payload, now))
            added = MemberView(membership, actor.user.username)
            uow.record(member_event(EventType.PROJECT_MEMBER_ADDED, actor, project, added, now))
        self._sessions.user_changed(actor.id)
        log.info("project created id=%s key=%s by=%s", project.id, project.key, actor.id)
        return ProjectView(project, owner)

    def list(self, actor: Actor, *, cursor: str | None, limit: int) -> Page[ProjectView]:
        """The projects the caller belongs to (an admin: all), in id order."""
        found = self._projects.page(actor.visible_projects(), after=cursor, limit=limit + 1)
        more = len(found) > limit
        found = found[:limit]
        views = [ProjectView(p, actor.role_in(p.id)) for p in found]
        return Page(views, found[-1].id if more else None)

    def get(self, actor: Actor, ref: str) -> ProjectView:
        project = visible_project(actor, self._projects, ref)
        return ProjectView(project, actor.role_in(project.id))

    def update(self, actor: Actor, ref: str, changes: dict[str, Any]) -> ProjectView:
        """Rename, describe, archive or unarchive (owner). An archived project takes only
        `archived: false` (it is read-only until then)."""
        project = visible_project(actor, self._projects, ref)
        unarchiving = project.archived and changes.get("archived") is False
        if unarchiving:
            project.archived = False
        require(actor, Action.MANAGE, project)
        if changes.get("archived") and project.key == self.default.key:
            raise Conflict("the default project cannot be archived")
        for name in ("name", "description", "archived"):
            if name in changes and changes[name] is not None:
                setattr(project, name, changes[name])
        project.updated_at = self._clock()
        self._projects.save(project)
        log.info("project updated id=%s by=%s", project.id, actor.id)
        return ProjectView(project, actor.role_in(project.id))

    def delete(self, actor: Actor, ref: str) -> None:
        """Delete an archived project with its tasks, their comments, watchers and history, its
        webhooks with their delivery logs, and its memberships (owner or admin)."""
        project = visible_project(actor, self._projects, ref)
        if not actor.may(Action.MANAGE, project.id):
            raise Forbidden(f"deleting {project.key} needs the owner role")
        if not project.archived:
            raise Conflict(f"archive {project.key} before deleting it")
        if project.key == self.default.key:
            raise Conflict("the default project cannot be deleted")
        members = self._memberships.user_ids(project.id)

        def attempt() -> int:
            with self._events.transaction() as uow:
                uow.projects.delete(project.id)
                uow.memberships.remove_project(project.id)
                removed = uow.tasks.delete_in_project(project.id)
                uow.task_counts.delete_project(project.id)
                uow.comments.delete_in_project(project.id)
                uow.watchers.delete_in_project(project.id)
                uow.reminders.delete_in_project(project.id)
                uow.activity.delete_in_project(project.id)
                uow.webhooks.delete_in_project(project.id)
            return removed

        removed = retry_concurrent(attempt)
        for user_id in members:
            self._sessions.user_changed(user_id)
        log.info("project deleted id=%s tasks=%d by=%s", project.id, removed, actor.id)

    # --- members -------------------------------------------------------------------------------

    def members(
        self, actor: Actor, ref: str, *, cursor: str | None, limit: int
    ) -> Page[MemberView]:
        project = visible_project(actor, self._projects, ref)
        found = self._memberships.page(project.id, after=cursor, limit=limit + 1)
        more = len(found) > limit
        found = found[:limit]
        names = self._users.usernames(m.user_id for m in found)
        items = [MemberView(m, names.get(m.user_id, "")) for m in found]
        return Page(items, found[-1].user_id if more else None)

    def set_member(
        self, actor: Actor, ref: str, user_id: str, role: ProjectRole
    ) -> tuple[MemberView, bool]:
        """Add a member or change their role (owner); answers the membership and whether it is
        new. The last owner cannot be demoted. Both record `project.member_added`, a role change
        with the old role in `previous`."""
        project = visible_project(actor, self._projects, ref)
        require(actor, Action.MANAGE, project)
        user = self._users.get(user_id)
        if user is None:
            raise NotFound(f"no user with id '{user_id}'")

        def change(uow: UnitOfWork) -> tuple[Membership, bool]:
            now = self._clock()
            current = uow.memberships.get(project.id, user.id)
            if current is not None and current.role is role:
                return current, False
            owners = uow.memberships.count_role(project.id, ProjectRole.OWNER)
            ensure_owner_remains(current.role if current else None, role, owners)
            joined = current.joined_at if current else now
            membership = Membership(project.id, user.id, role, joined)
            uow.memberships.put(membership)
            previous = {"role": str(current.role)} if current else {}
            view = MemberView(membership, user.username)
            added = EventType.PROJECT_MEMBER_ADDED
            uow.record(member_event(added, actor, project, view, now, previous))
            return membership, current is None

        membership, created = self._membership_change(project, change)
        self._sessions.user_changed(user.id)
        log.info("member set project=%s user=%s role=%s by=%s", project.id, user.id, role, actor.id)
        return MemberView(membership, user.username), created

    def remove_member(self, actor: Actor, ref: str, user_id: str) -> None:
        """Remove a member (owner), or leave (anyone). The last owner cannot leave."""
        project = visible_project(actor, self._projects, ref)
        if user_id == actor.id and actor.role_in(project.id) is not None:
            require(actor, Action.READ, project)
            require_writable(project)
        else:
            require(actor, Action.MANAGE, project)

        def change(uow: UnitOfWork) -> tuple[None, bool]:
            current = uow.memberships.get(project.id, user_id)
            if current is None:
                raise NotFound(f"user '{user_id}' is not a member of {project.key}")
            owners = uow.memberships.count_role(project.id, ProjectRole.OWNER)
            ensure_owner_remains(current.role, None, owners)
            uow.memberships.remove(project.id, user_id)
            view = MemberView(current, self._users.usernames([user_id]).get(user_id, ""))
            removed = EventType.PROJECT_MEMBER_REMOVED
            uow.record(member_event(removed, actor, project, view, self._clock()))
            return None, True

        self._membership_change(project, change)
        self._sessions.user_changed(user_id)
        log.info("member removed project=%s user=%s by=%s", project.id, user_id, actor.id)

    def _membership_change(
        self, project: Project, change: Callable[[UnitOfWork], tuple[T, bool]]
    ) -> tuple[T, bool]:
        """Run `change` in a transaction that also writes the project, so two concurrent
        changes of one project's members collide and are run one after the other."""

        def attempt() -> tuple[T, bool]:
            with self._events.transaction() as uow:
                uow.projects.touch(project.id)
                return change(uow)

        return retry_concurrent(attempt)


def project_payload(project: Project) -> dict[str, Any]:
    return {"project_id": project.id, "project_key": project.key, "name": project.name}


def member_event(
    kind: EventType,
    actor: Actor,
    project: Project,
    member: MemberView,
    now: datetime,
    previous: dict[str, Any] | None = None,
) -> Event:
    """A membership event; `data` is the membership as the API shows it (for a removal: as it
    was)."""
    payload = {
        "user_id": member.membership.user_id,
        "role": str(member.membership.role),
        **webhook_fields(actor, project.id, project.key, MemberPublic.of(member), previous),
    }
    return make_event(kind, payload, now)
