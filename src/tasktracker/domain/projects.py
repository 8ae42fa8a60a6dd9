"""Projects, memberships and roles: who may see and do what in which project.

The rules live here, in one table (`ALLOWED`), so the services, the API and the permission
tests all read the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tasktracker.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from tasktracker.domain.users import User

PROJECT_KEY_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
TASK_KEY_PATTERN = re.compile(r"^([A-Z][A-Z0-9]{1,9})-([1-9][0-9]{0,9})$")


class ProjectRole(StrEnum):
    """Each role includes the ones before it."""

    VIEWER = "viewer"
    MEMBER = "member"
    MAINTAINER = "maintainer"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return ROLE_ORDER.index(self)

    def includes(self, other: ProjectRole) -> bool:
        return self.rank >= other.rank


ROLE_ORDER = (ProjectRole.VIEWER, ProjectRole.MEMBER, ProjectRole.MAINTAINER, ProjectRole.OWNER)


class Action(StrEnum):
    READ = "read"  # the project, its tasks, comments and activity
    COMMENT = "comment"
    CREATE_TASK = "create_task"  # also: move a task into the project
    UPDATE_TASK = "update_task"  # change fields and transition
    DELETE_TASK = "delete_task"
    MOVE_TASK = "move_task"  # out of the project
    MODERATE = "moderate"  # delete other people's comments
    MANAGE = "manage"  # members, settings, archive, webhooks


@dataclass(frozen=True, slots=True)
class Rule:
    """The least role that may do an action on any task, and (for task actions) the least role
    that may do it on a task the caller reports or is assigned to."""

    any_task: ProjectRole
    own_task: ProjectRole | None = None
    own_means: tuple[str, ...] = ("reporter", "assignee")


ALLOWED: dict[Action, Rule] = {
    Action.READ: Rule(ProjectRole.VIEWER),
    Action.COMMENT: Rule(ProjectRole.VIEWER),
    Action.CREATE_TASK: Rule(ProjectRole.MEMBER),
    Action.UPDATE_TASK: Rule(ProjectRole.MAINTAINER, ProjectRole.MEMBER),
    Action.DELETE_TASK: Rule(ProjectRole.MAINTAINER, ProjectRole.MEMBER, ("reporter",)),
    Action.MOVE_TASK: Rule(ProjectRole.MAINTAINER),
    Action.MODERATE: Rule(ProjectRole.MAINTAINER),
    Action.MANAGE: Rule(ProjectRole.OWNER),
}

# Actions that change a project or its tasks: refused (409) while the project is archived.
WRITES = frozenset(set(Action) - {Action.READ})


def role_allows(
    role: ProjectRole | None, action: Action, *, reporter: bool = False, assignee: bool = False
) -> bool:
    """Whether a member with `role` may do `action` (on a task they report / are assigned to)."""
    if role is None:
        return False
    rule = ALLOWED[action]
    if role.includes(rule.any_task):
        return True
    owns = ("reporter" in rule.own_means and reporter) or (
        "assignee" in rule.own_means and assignee
    )
    return rule.own_task is not None and owns and role.includes(rule.own_task)


@dataclass(slots=True)
class Project:
    id: str
    key: str
    name: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    archived: bool = False


@dataclass(frozen=True, slots=True)
class Membership:
    project_id: str
    user_id: str
    role: ProjectRole
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class ProjectView:
    """A project as one caller sees it."""

    project: Project
    my_role: ProjectRole | None


@dataclass(frozen=True, slots=True)
class MemberView:
    membership: Membership
    username: str


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: the user and their role in each project they belong to (project id ->
    role). Per request it comes from the session snapshot, so checking a membership costs
    nothing more than the session check. A snapshot from a process's near cache may be a
    moment behind a grant made elsewhere: `recheck` then answers the caller as the shared cache
    has them, and `sees` and `may` ask it before they refuse."""

    user: User
    roles: Mapping[str, ProjectRole] = field(default_factory=dict)
    recheck: Callable[[], Actor | None] | None = field(default=None, compare=False, repr=False)

    @property
    def id(self) -> str:
        return self.user.id

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin

    def role_in(self, project_id: str) -> ProjectRole | None:
        return self.roles.get(project_id)

    def sees(self, project_id: str) -> bool:
        if self.is_admin or project_id in self.roles:
            return True
        fresh = self._rechecked()
        return fresh is not None and fresh.sees(project_id)

    def visible_projects(self) -> tuple[str, ...] | None:
        """The projects whose tasks this actor may read; None means every project (admin)."""
        return None if self.is_admin else tuple(sorted(self.roles))

    def may(
        self, action: Action, project_id: str, *, reporter: str = "", assignee: str = ""
    ) -> bool:
        if self.is_admin:
            return True
        if role_allows(
            self.role_in(project_id),
            action,
            reporter=reporter == self.id,
            assignee=assignee is not None and assignee == self.id,
        ):
            return True
        fresh = self._rechecked()
        return fresh is not None and fresh.may(
            action, project_id, reporter=reporter, assignee=assignee
        )

    def _rechecked(self) -> Actor | None:
        return None if self.recheck is None else self.recheck()


def require_visible(actor: Actor, project_id: str, what: str) -> None:
    """A resource of a project the caller does not belong to does not exist for them."""
    if not actor.sees(project_id):
        raise NotFound(what)


def require(
    actor: Actor,
    action: Action,
    project: Project,
    *,
    reporter: str = "",
    assignee: str | None = None,
    reading: bool = False,
) -> None:
    """Allow `action` or raise: NotFound when the caller cannot see the project, Forbidden when
    their role is too low, Conflict when the project is archived and the action writes (unless
    `reading`: looking at what only the role may see, such as a project's webhooks)."""
    require_visible(actor, project.id, f"no project '{project.key}'")
    if not actor.may(action, project.id, reporter=reporter, assignee=assignee or ""):
        needed = ALLOWED[action].any_task
        raise Forbidden(
            f"{action.value.replace('_', ' ')} in {project.key} needs the {needed} role"
        )
    if action in WRITES and not reading:
        require_writable(project)


def require_writable(project: Project) -> None:
    """An archived project is read-only (409) until it is unarchived."""
    if project.archived:
        raise archived_conflict(project.key)


def archived_conflict(key: str) -> Conflict:
    return Conflict(f"project {key} is archived (read-only); unarchive it first")


def validate_project_key(key: str) -> str:
    if not PROJECT_KEY_PATTERN.fullmatch(key):
        raise InvalidInput(
            "key must be 2-10 characters: an upper-case letter, then upper-case letters or digits"
        )
    return key


def task_key(project_key: str, number: int) -> str:
    return f"{project_key}-{number}"


def ensure_owner_remains(current: ProjectRole | None, new: ProjectRole | None, owners: int) -> None:
    """Refuse a change that would leave a project without an owner (409)."""
    if current is ProjectRole.OWNER and new is not ProjectRole.OWNER and owners <= 1:
        raise Conflict("the last owner of a project cannot leave or be demoted; add another first")
