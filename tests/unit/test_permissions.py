"""Who may change or delete a task (the project rules of domain/projects.py, as a task's
reporter, assignee, another member or an admin meets them), the last-admin rule, and username /
password rules. The rule table itself and every role: test_project_rules.py."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tasktracker.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from tasktracker.domain.projects import Action, Actor, Project, ProjectRole, require
from tasktracker.domain.tasks import Task
from tasktracker.domain.users import (
    Role,
    User,
    ensure_admin_remains,
    require_admin,
    validate_password,
    validate_username,
)

T0 = datetime(2024, 5, 1, tzinfo=UTC)
PROJECT = Project(id="p1", key="OPS", name="Operations", created_at=T0, updated_at=T0)


def make_user(user_id: str, role: Role = Role.MEMBER, active: bool = True) -> User:
    return User(
        id=user_id,
        username=f"name-{user_id}",
        email=f"{user_id}@example.com",
        password_hash="x",
        role=role,
        active=active,
        created_at=T0,
        updated_at=T0,
    )


def member(user: User, role: ProjectRole | None = ProjectRole.MEMBER) -> Actor:
    """`user` acting with `role` in PROJECT (None: not a member of it)."""
    return Actor(user, {PROJECT.id: role} if role else {})


ADMIN = member(make_user("admin", Role.ADMIN), None)  # an admin needs no membership
REPORTER = member(make_user("reporter"))
ASSIGNEE = member(make_user("assignee"))
STRANGER = member(make_user("stranger"))  # a member of the project, but not of this task


def make_task(assignee: str | None = "assignee") -> Task:
    return Task(
        id="t1",
        title="a task",
        reporter="reporter",
        assignee=assignee,
        created_at=T0,
        updated_at=T0,
        project_id=PROJECT.id,
        key="OPS-1",
    )


def can(actor: Actor, action: Action, task: Task) -> bool:
    return actor.may(action, task.project_id, reporter=task.reporter, assignee=task.assignee or "")


def check(actor: Actor, action: Action, task: Task) -> None:
    require(actor, action, PROJECT, reporter=task.reporter, assignee=task.assignee)


# --- task permissions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "may_update", "may_delete"),
    [
        (ADMIN, True, True),
        (REPORTER, True, True),
        (ASSIGNEE, True, False),
        (STRANGER, False, False),
    ],
    ids=["admin", "reporter", "assignee", "stranger"],
)
def test_who_may_update_and_delete_a_task(actor, may_update, may_delete):
    task = make_task()
    assert can(actor, Action.UPDATE_TASK, task) is may_update
    assert can(actor, Action.DELETE_TASK, task) is may_delete

    if may_update:
        check(actor, Action.UPDATE_TASK, task)
    else:
        with pytest.raises(Forbidden):
            check(actor, Action.UPDATE_TASK, task)

    if may_delete:
        check(actor, Action.DELETE_TASK, task)
    else:
        with pytest.raises(Forbidden):
            check(actor, Action.DELETE_TASK, task)


def test_an_unassigned_task_is_not_open_to_everyone():
    task = make_task(assignee=None)
    assert not can(STRANGER, Action.UPDATE_TASK, task)
    assert can(REPORTER, Action.UPDATE_TASK, task)
    assert can(ADMIN, Action.UPDATE_TASK, task)


def test_an_admin_may_change_and_delete_tasks_of_others():
    task = make_task(assignee="someone-else")
    assert can(ADMIN, Action.UPDATE_TASK, task)
    assert can(ADMIN, Action.DELETE_TASK, task)
    assert can(ADMIN, Action.MOVE_TASK, task)


def test_a_member_with_the_same_username_but_another_id_has_no_rights():
    # Rights follow the user id, not names that look alike.
    lookalike = member(make_user("Reporter"))
    assert not can(lookalike, Action.UPDATE_TASK, make_task())
    assert not can(lookalike, Action.DELETE_TASK, make_task())


@pytest.mark.parametrize("role", [ProjectRole.MAINTAINER, ProjectRole.OWNER])
def test_a_maintainer_or_owner_may_change_delete_and_move_any_task(role):
    actor = member(make_user("lead"), role)
    task = make_task(assignee="someone-else")
    for action in (Action.UPDATE_TASK, Action.DELETE_TASK, Action.MOVE_TASK):
        assert can(actor, action, task), action
        check(actor, action, task)


def test_a_viewer_may_read_its_own_task_but_not_change_it():
    # A reporter or assignee demoted to viewer keeps read access only.
    task = make_task()
    for who in ("reporter", "assignee"):
        viewer = member(make_user(who), ProjectRole.VIEWER)
        check(viewer, Action.READ, task)
        for action in (Action.UPDATE_TASK, Action.DELETE_TASK, Action.MOVE_TASK):
            with pytest.raises(Forbidden):
                check(viewer, action, task)


def test_the_reporter_may_not_move_a_task_without_being_a_maintainer():
    with pytest.raises(Forbidden):
        check(REPORTER, Action.MOVE_TASK, make_task())


@pytest.mark.parametrize("action", list(Action))
def test_someone_outside_the_project_is_told_it_does_not_exist(action):
    outsider = member(make_user("reporter"), None)  # the reporter, since removed
    assert not can(outsider, action, make_task())
    with pytest.raises(NotFound):
        check(outsider, action, make_task())


def test_require_admin():
    require_admin(ADMIN.user)
    with pytest.raises(Forbidden):
        require_admin(REPORTER.user)


# --- the last active admin ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new_role", "new_active"),
    [(Role.MEMBER, True), (Role.ADMIN, False), (Role.MEMBER, False)],
    ids=["demote", "disable", "demote-and-disable"],
)
def test_the_last_active_admin_cannot_be_demoted_or_disabled(new_role, new_active):
    with pytest.raises(Conflict):
        ensure_admin_remains(ADMIN.user, new_role, new_active, other_admins=0)


@pytest.mark.parametrize(
    ("new_role", "new_active"),
    [(Role.MEMBER, True), (Role.ADMIN, False), (Role.MEMBER, False)],
)
def test_an_admin_may_be_demoted_or_disabled_when_another_admin_remains(new_role, new_active):
    ensure_admin_remains(ADMIN.user, new_role, new_active, other_admins=1)


def test_the_last_admin_may_keep_the_role():
    ensure_admin_remains(ADMIN.user, Role.ADMIN, True, other_admins=0)


def test_changes_to_members_and_disabled_admins_never_hit_the_last_admin_rule():
    ensure_admin_remains(REPORTER.user, Role.MEMBER, False, other_admins=0)
    ensure_admin_remains(REPORTER.user, Role.ADMIN, True, other_admins=0)
    disabled_admin = make_user("old-admin", Role.ADMIN, active=False)
    ensure_admin_remains(disabled_admin, Role.MEMBER, False, other_admins=0)


@given(
    st.sampled_from(list(Role)),
    st.booleans(),
    st.sampled_from(list(Role)),
    st.booleans(),
    st.integers(min_value=0, max_value=5),
)
def test_a_change_is_refused_exactly_when_no_active_admin_would_remain(
    role, active, new_role, new_active, other_admins
):
    target = make_user("target", role, active)
    target_stays_admin = new_role is Role.ADMIN and new_active
    target_counted_now = role is Role.ADMIN and active
    # Active admins after the change: the others, plus the target if it stays an active admin.
    # A change is refused only if it takes the count from >= 1 to 0.
    admins_before = other_admins + int(target_counted_now)
    admins_after = other_admins + int(target_stays_admin)
    if admins_before >= 1 and admins_after == 0:
        with pytest.raises(Conflict):
            ensure_admin_remains(target, new_role, new_active, other_admins)
    else:
        ensure_admin_remains(target, new_role, new_active, other_admins)


# --- usernames ---------------------------------------------------------------------------------

USERNAME_FIRST = string.ascii_letters + string.digits
USERNAME_REST = USERNAME_FIRST + "_.-"


def is_valid_username(name: str) -> bool:
    return (
        3 <= len(name) <= 64
        and name[0] in USERNAME_FIRST
        and all(c in USERNAME_REST for c in name[1:])
    )


@pytest.mark.parametrize(
    "name", ["abc", "alice", "Bob_99", "j.doe", "x-y-z", "0day", "a" * 64, "A1_" + "b" * 61]
)
def test_valid_usernames_are_accepted(name):
    assert validate_username(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "ab",
        "a" * 65,
        "_alice",
        ".alice",
        "-alice",
        "al ice",
        "alice@example.com",
        "ålice",
        "alice\nbob",
        "al$ice",
        "   ",
    ],
)
def test_invalid_usernames_are_rejected(name):
    with pytest.raises(InvalidInput):
        validate_username(name)


def test_surrounding_whitespace_is_trimmed_from_a_username():
    assert validate_username("  alice \t") == "alice"
    # Trimming must not make a too-short name acceptable.
    with pytest.raises(InvalidInput):
        validate_username("  ab  ")


@given(st.from_regex(re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{2,63}", re.ASCII), fullmatch=True))
def test_every_name_of_the_documented_shape_is_accepted(name):
    assert validate_username(name) == name


@given(
    st.text(alphabet=st.sampled_from(USERNAME_REST + " @!é\u00a0\u0660"), max_size=70)
    | st.text(max_size=70)
)
def test_a_username_is_accepted_exactly_when_it_has_the_documented_shape(name):
    stripped = name.strip()
    if is_valid_username(stripped):
        assert validate_username(name) == stripped
    else:
        with pytest.raises(InvalidInput):
            validate_username(name)


@given(st.integers(min_value=0, max_value=80))
def test_username_length_boundaries(length):
    name = "a" * length
    if 3 <= length <= 64:
        assert validate_username(name) == name
    else:
        with pytest.raises(InvalidInput):
            validate_username(name)


# --- passwords ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("length", "ok"), [(7, False), (8, True), (256, True), (257, False)])
def test_password_length_limits(length, ok):
    if ok:
        assert validate_password("p" * length) == "p" * length
    else:
        with pytest.raises(InvalidInput):
            validate_password("p" * length)


@given(st.integers(min_value=0, max_value=300))
def test_password_length_boundaries(length):
    password = "p" * length
    if 8 <= length <= 256:
        assert validate_password(password) == password
    else:
        with pytest.raises(InvalidInput):
            validate_password(password)


@given(st.text(min_size=8, max_size=256))
def test_any_non_blank_password_of_allowed_length_is_kept_verbatim(password):
    assume(password.strip())
    # No trimming or normalising: the password a user types is the password that is hashed.
    assert validate_password(password) == password


@pytest.mark.parametrize("password", [" " * 8, "\t" * 10, " \n " * 5])
def test_a_blank_password_is_rejected(password):
    with pytest.raises(InvalidInput):
        validate_password(password)


def test_a_password_may_have_spaces_around_it():
    assert validate_password("  secret words  ") == "  secret words  "


def test_a_password_that_cannot_be_encoded_is_rejected_not_crashing_later():
    # A JSON body may carry a lone surrogate ("\ud800"); it cannot be hashed, so refuse it.
    with pytest.raises(InvalidInput):
        validate_password("abc\ud800defgh")
