"""The project rules (DESIGN.md section 12): roles include the ones before them, who may do what
on which task, project and task keys, and the last owner. First against domain/projects.py, then,
property-based, through the services on fakes against a table of expectations written here from
the design, independently of `ALLOWED`."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasktracker.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from tasktracker.domain.projects import (
    PROJECT_KEY_PATTERN,
    ROLE_ORDER,
    TASK_KEY_PATTERN,
    Action,
    Actor,
    Project,
    ProjectRole,
    ensure_owner_remains,
    require,
    role_allows,
    task_key,
    validate_project_key,
)
from tasktracker.domain.tasks import Status, Task
from tasktracker.domain.users import Role, User
from tasktracker.schemas.tasks import TaskCreate
from tests.fakes import FakeSystem, build_fake_services

T0 = datetime(2024, 5, 1, tzinfo=UTC)
VIEWER, MEMBER, MAINTAINER, OWNER = (
    ProjectRole.VIEWER,
    ProjectRole.MEMBER,
    ProjectRole.MAINTAINER,
    ProjectRole.OWNER,
)
ROLES: list[ProjectRole | None] = [None, VIEWER, MEMBER, MAINTAINER, OWNER]


def rank(role: ProjectRole | None) -> int:
    """The design's order, spelled out here: none < viewer < member < maintainer < owner."""
    return ROLES.index(role)


def user(user_id: str, role: Role = Role.MEMBER) -> User:
    return User(user_id, f"name-{user_id}", f"{user_id}@example.com", "x", role, True, T0, T0)


def project(archived: bool = False) -> Project:
    return Project("p1", "OPS", "Operations", T0, T0, archived=archived)


# --- roles -------------------------------------------------------------------------------------


def test_the_roles_are_ordered_viewer_member_maintainer_owner():
    assert ROLE_ORDER == (VIEWER, MEMBER, MAINTAINER, OWNER)
    assert [r.value for r in ROLE_ORDER] == ["viewer", "member", "maintainer", "owner"]


@pytest.mark.parametrize("role", list(ProjectRole))
@pytest.mark.parametrize("other", list(ProjectRole))
def test_a_role_includes_exactly_the_ones_before_it(role, other):
    assert role.includes(other) is (rank(role) >= rank(other))


# --- who may do what (the table of DESIGN.md section 12) ---------------------------------------

# The least role for an action: on any task, on a task one reports, on one assigned to one.
LEAST: dict[Action, tuple[ProjectRole, ProjectRole, ProjectRole]] = {
    Action.READ: (VIEWER, VIEWER, VIEWER),
    Action.COMMENT: (VIEWER, VIEWER, VIEWER),
    Action.CREATE_TASK: (MEMBER, MEMBER, MEMBER),
    Action.UPDATE_TASK: (MAINTAINER, MEMBER, MEMBER),
    Action.DELETE_TASK: (MAINTAINER, MEMBER, MAINTAINER),
    Action.MOVE_TASK: (MAINTAINER, MAINTAINER, MAINTAINER),
    Action.MODERATE: (MAINTAINER, MAINTAINER, MAINTAINER),
    Action.MANAGE: (OWNER, OWNER, OWNER),
}


def least_role(action: Action, reporter: bool, assignee: bool) -> ProjectRole:
    any_task, as_reporter, as_assignee = LEAST[action]
    candidates = [any_task]
    if reporter:
        candidates.append(as_reporter)
    if assignee:
        candidates.append(as_assignee)
    return min(candidates, key=rank)


def test_the_table_covers_every_action():
    assert set(LEAST) == set(Action)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize(("reporter", "assignee"), [(False, False), (True, False), (False, True)])
def test_role_allows_matches_the_design(role, action, reporter, assignee):
    expected = role is not None and rank(role) >= rank(least_role(action, reporter, assignee))
    assert role_allows(role, action, reporter=reporter, assignee=assignee) is expected


@given(st.sampled_from(ROLES), st.sampled_from(list(Action)), st.booleans(), st.booleans())
def test_a_higher_role_or_owning_the_task_never_takes_a_right_away(
    role, action, reporter, assignee
):
    allowed = role_allows(role, action, reporter=reporter, assignee=assignee)
    for higher in ROLES[rank(role) :]:
        assert role_allows(higher, action, reporter=reporter, assignee=assignee) >= allowed
    assert role_allows(role, action, reporter=True, assignee=assignee) >= allowed
    assert role_allows(role, action, reporter=reporter, assignee=True) >= allowed


@given(st.sampled_from(ROLES), st.sampled_from(list(Action)))
def test_an_admin_may_do_everything_without_a_membership(role, action):
    admin = Actor(user("root", Role.ADMIN), {"p1": role} if role else {})
    assert admin.sees("p1") and admin.sees("elsewhere")
    assert admin.may(action, "p1")
    assert admin.visible_projects() is None
    require(admin, action, project())


def test_an_actor_sees_only_its_projects():
    actor = Actor(user("u1"), {"p2": VIEWER, "p1": MEMBER})
    assert actor.visible_projects() == ("p1", "p2")
    assert actor.sees("p1") and not actor.sees("p3")
    assert (actor.role_in("p1"), actor.role_in("p3")) == (MEMBER, None)


def test_rights_follow_the_user_id():
    actor = Actor(user("u1"), {"p1": MEMBER})
    assert actor.may(Action.UPDATE_TASK, "p1", reporter="u1")
    assert not actor.may(Action.UPDATE_TASK, "p1", reporter="U1")
    assert not actor.may(Action.UPDATE_TASK, "p1", reporter="", assignee="")


# --- require: not found, forbidden, archived ----------------------------------------------------


@pytest.mark.parametrize("action", list(Action))
def test_require_hides_a_project_from_non_members(action):
    with pytest.raises(NotFound):
        require(Actor(user("u1"), {"other": OWNER}), action, project())


def test_require_refuses_a_role_too_low_with_forbidden():
    viewer = Actor(user("u1"), {"p1": VIEWER})
    require(viewer, Action.READ, project())
    with pytest.raises(Forbidden, match="member"):
        require(viewer, Action.CREATE_TASK, project())


@pytest.mark.parametrize("action", sorted(set(Action) - {Action.READ}))
def test_an_archived_project_is_read_only(action):
    owner = Actor(user("u1"), {"p1": OWNER})
    with pytest.raises(Conflict, match="archived"):
        require(owner, action, project(archived=True))


def test_an_archived_project_can_still_be_read():
    require(Actor(user("u1"), {"p1": VIEWER}), Action.READ, project(archived=True))


# --- keys --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["GE", "GEN", "OPS2", "A1", "ABCDEFGHIJ", "X0000"])
def test_valid_project_keys(key):
    assert validate_project_key(key) == key


@pytest.mark.parametrize(
    "key", ["", "G", "gen", "Gen", "1AB", "ABCDEFGHIJK", "AB-C", "AB C", "ÄB", "AB_", " AB"]
)
def test_invalid_project_keys(key):
    with pytest.raises(InvalidInput):
        validate_project_key(key)


@given(st.text(alphabet="ABCZ019az-_ ", max_size=12))
def test_a_project_key_is_valid_exactly_when_it_has_the_documented_shape(key):
    documented = re.fullmatch(r"[A-Z][A-Z0-9]{1,9}", key, re.ASCII) is not None
    if documented:
        assert validate_project_key(key) == key
    else:
        with pytest.raises(InvalidInput):
            validate_project_key(key)


@given(
    st.from_regex(PROJECT_KEY_PATTERN, fullmatch=True),
    st.integers(min_value=1, max_value=10**9),
)
def test_a_task_key_is_the_project_key_and_its_number(key, number):
    made = task_key(key, number)
    assert made == f"{key}-{number}"
    match = TASK_KEY_PATTERN.fullmatch(made)
    assert match is not None and match.groups() == (key, str(number))
    task = Task("t", "x", "u", T0, T0, key=made)
    assert task.project_key == key


@pytest.mark.parametrize("ref", ["GEN-0", "GEN-01", "gen-1", "GEN1", "GEN-", "G-1", "0" * 24])
def test_what_is_not_a_task_key(ref):
    assert TASK_KEY_PATTERN.fullmatch(ref) is None


# --- the last owner ----------------------------------------------------------------------------


@given(st.sampled_from(ROLES), st.sampled_from(ROLES), st.integers(min_value=0, max_value=4))
def test_a_change_is_refused_exactly_when_it_removes_the_last_owner(current, new, owners):
    # `owners` counts the current owners, the target included when they are one.
    if current is OWNER:
        owners = max(owners, 1)
    owners_after = owners - int(current is OWNER) + int(new is OWNER)
    if owners >= 1 and owners_after == 0:
        with pytest.raises(Conflict):
            ensure_owner_remains(current, new, owners)
    else:
        ensure_owner_remains(current, new, owners)


# --- the rules through the services (property-based) ------------------------------------------

TASK_ACTIONS = [
    "read", "create", "update", "transition", "delete", "move_out",
    "comment", "delete_others_comment", "watch",
]  # fmt: skip
RELATIONS = ["reporter", "assignee", "other"]

# The least project role for each action through the services, on a task of someone else / one
# the actor reports / one assigned to the actor (DESIGN.md section 12; `create` makes a new task,
# `move_out` moves the task to the default project, where everybody is a member).
EXPECTED_LEAST: dict[str, dict[str, ProjectRole]] = {
    "read": {"other": VIEWER, "reporter": VIEWER, "assignee": VIEWER},
    "create": {"other": MEMBER, "reporter": MEMBER, "assignee": MEMBER},
    "update": {"other": MAINTAINER, "reporter": MEMBER, "assignee": MEMBER},
    "transition": {"other": MAINTAINER, "reporter": MEMBER, "assignee": MEMBER},
    "delete": {"other": MAINTAINER, "reporter": MEMBER, "assignee": MAINTAINER},
    "move_out": {"other": MAINTAINER, "reporter": MAINTAINER, "assignee": MAINTAINER},
    "comment": {"other": VIEWER, "reporter": VIEWER, "assignee": VIEWER},
    "delete_others_comment": {"other": MAINTAINER, "reporter": MAINTAINER, "assignee": MAINTAINER},
    "watch": {"other": VIEWER, "reporter": VIEWER, "assignee": VIEWER},
}


def expected_outcome(
    role: ProjectRole | None, admin: bool, action: str, relation: str
) -> type[Exception] | None:
    """None for success, else the error the caller gets."""
    if admin:
        return None
    if role is None:
        return NotFound  # never Forbidden: the project's existence is not revealed
    return None if rank(role) >= rank(EXPECTED_LEAST[action][relation]) else Forbidden


def store_task(system: FakeSystem, project: Project, reporter: str, assignee: str | None) -> Task:
    """A task as it may be after role changes (an assignee since demoted, say): stored directly."""
    now = system.clock()
    number = system.fakes.projects.next_task_number(project.id)
    assert number is not None
    task = Task(
        "",
        "a task",
        reporter,
        now,
        now,
        assignee=assignee,
        project_id=project.id,
        key=task_key(project.key, number),
    )
    return system.fakes.tasks.add(task)


def perform(system: FakeSystem, actor: Actor, action: str, task: Task) -> Task | None:
    tasks = system.services.tasks
    if action == "read":
        return tasks.get(actor, task.key)
    if action == "create":
        return tasks.create(actor, TaskCreate(title="new", project=task.project_key))
    if action == "update":
        return tasks.update(actor, task.key, {"title": "changed"})
    if action == "transition":
        return tasks.update(actor, task.id, {"status": Status.IN_PROGRESS})
    if action == "delete":
        tasks.delete(actor, task.key)
        return None
    if action == "move_out":
        return tasks.update(actor, task.key, {"project": system.services.projects.default.key})
    if action == "comment":
        system.services.comments.add(actor, task.key, "a comment")
        return None
    if action == "delete_others_comment":
        [theirs] = system.fakes.comments.page(task.id, cursor=None, limit=1).items
        system.services.comments.delete(actor, theirs.id)
        return None
    if action == "watch":
        system.services.watchers.watch(actor, task.key)
        return None
    raise AssertionError(action)


def check_effect(system: FakeSystem, action: str, task: Task, result: Task | None) -> None:
    stored = system.fakes.tasks.get(task.id)
    if action == "read":
        assert result is not None and result.id == task.id
    elif action == "create":
        assert result is not None and result.project_id == task.project_id
        assert result.key == "OPS-2"
    elif action == "update":
        assert stored is not None and stored.title == "changed"
    elif action == "transition":
        assert stored is not None and stored.status is Status.IN_PROGRESS
    elif action == "delete":
        assert stored is None
    elif action in ("comment", "delete_others_comment"):
        comments = system.fakes.comments.page(task.id, cursor=None, limit=10).items
        if action == "comment":
            assert [c.body for c in comments] == ["their comment", "a comment"]
        else:
            assert [c.body for c in comments] == [None]
    elif action == "watch":
        assert list(system.fakes.watchers.choices(task.id).values()).count(True) == 2
    elif action == "move_out":
        default = system.default_project()
        assert stored is not None and stored.project_id == default.id
        assert (stored.key, stored.former_keys) == ("GEN-1", [task.key])
        assert system.fakes.tasks.by_key(task.key).id == task.id


@settings(max_examples=400, deadline=None)
@given(
    role=st.sampled_from(ROLES),
    admin=st.booleans(),
    action=st.sampled_from(TASK_ACTIONS),
    relation=st.sampled_from(RELATIONS),
)
def test_every_role_and_action_through_the_services(role, admin, action, relation):
    system = build_fake_services()
    owner = system.make_user("owner")
    other = system.make_user("other")
    me = system.make_user("me", role=Role.ADMIN if admin else Role.MEMBER)
    members = {other.id: MEMBER, **({me.id: role} if role else {})}
    ops = system.make_project("OPS", owner=owner, members=members)
    task = store_task(
        system,
        ops,
        reporter=me.id if relation == "reporter" else other.id,
        assignee=me.id if relation == "assignee" else other.id,
    )
    system.services.comments.add(system.actor(other), task.key, "their comment")
    tasks_before, events_before = system.fakes.tasks.all(), system.fakes.outbox.events()
    comments_before = system.fakes.comments.page(task.id, cursor=None, limit=10).items
    expected = expected_outcome(role, admin, action, relation)

    if expected is None:
        result = perform(system, system.actor(me), action, task)
        check_effect(system, action, task, result)
    else:
        with pytest.raises(expected):
            perform(system, system.actor(me), action, task)
        assert system.fakes.tasks.all() == tasks_before
        assert system.fakes.outbox.events() == events_before
        assert system.fakes.comments.page(task.id, cursor=None, limit=10).items == comments_before


def expected_move(
    source: ProjectRole | None, target: ProjectRole | None, admin: bool, reporter: bool
) -> type[Exception] | None:
    """A move needs maintainer in the source and member in the target. The task is checked
    first (not found; not to be changed by this caller), then the target (not found), then the
    rights in each."""
    if admin:
        return None
    if source is None:
        return NotFound
    if rank(source) < rank(MEMBER if reporter else MAINTAINER):
        return Forbidden
    if target is None:
        return NotFound
    if rank(source) < rank(MAINTAINER) or rank(target) < rank(MEMBER):
        return Forbidden
    return None


@settings(max_examples=300, deadline=None)
@given(
    source=st.sampled_from(ROLES),
    target=st.sampled_from(ROLES),
    admin=st.booleans(),
    reporter=st.booleans(),
)
def test_moving_needs_maintainer_in_the_source_and_member_in_the_target(
    source, target, admin, reporter
):
    system = build_fake_services()
    owner, me = (
        system.make_user("owner"),
        system.make_user("me", role=Role.ADMIN if admin else Role.MEMBER),
    )
    ops = system.make_project("OPS", owner=owner, members={me.id: source} if source else {})
    dev = system.make_project("DEV", owner=owner, members={me.id: target} if target else {})
    task = store_task(system, ops, reporter=me.id if reporter else owner.id, assignee=None)
    expected = expected_move(source, target, admin, reporter)

    if expected is None:
        moved = system.services.tasks.update(system.actor(me), task.key, {"project": "dev"})
        assert (moved.project_id, moved.key, moved.former_keys) == (dev.id, "DEV-1", ["OPS-1"])
        assert system.services.tasks.get(system.actor(me), "OPS-1").key == "DEV-1"
    else:
        with pytest.raises(expected):
            system.services.tasks.update(system.actor(me), task.key, {"project": "dev"})
        stored = system.fakes.tasks.get(task.id)
        assert (stored.project_id, stored.key, stored.former_keys) == (ops.id, "OPS-1", [])
