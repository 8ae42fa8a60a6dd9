"""Projects (DESIGN.md section 12) on the fakes: ProjectService (create, list, get, update,
archive, delete, members), TaskService in projects (keys, counters, moves, assignees, roles,
archived projects) and TaskQueryService (only the caller's projects)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tasktracker.domain.errors import ConcurrentChange, Conflict, Forbidden, InvalidInput, NotFound
from tasktracker.domain.events import EventType
from tasktracker.domain.projects import Actor, Membership, Project, ProjectRole
from tasktracker.domain.queries import TaskFilter
from tasktracker.domain.tasks import Status, Task
from tasktracker.domain.users import Role, User
from tasktracker.schemas.tasks import TaskCreate
from tasktracker.services.sessions import cache_key
from tests.fakes import FakeSystem, build_fake_services, fake_settings

VIEWER, MEMBER, MAINTAINER, OWNER = (
    ProjectRole.VIEWER,
    ProjectRole.MEMBER,
    ProjectRole.MAINTAINER,
    ProjectRole.OWNER,
)


def act(system: FakeSystem, user: User) -> Actor:
    return system.actor(user)


def new_project(system: FakeSystem, owner: User, key: str = "OPS", name: str = "Ops") -> Project:
    """A project made through the service, as its owner would."""
    return system.services.projects.create(act(system, owner), key, name).project


def new_task(system: FakeSystem, reporter: User, project: str | None = None, **fields: Any) -> Task:
    data = TaskCreate(title=fields.pop("title", "a task"), project=project, **fields)
    return system.services.tasks.create(act(system, reporter), data)


def stored_task(system: FakeSystem, task: Task) -> Task | None:
    return system.fakes.tasks.get(task.id)


def role_of(system: FakeSystem, project: Project, user: User) -> ProjectRole | None:
    membership = system.fakes.memberships.get(project.id, user.id)
    return membership.role if membership else None


def events(system: FakeSystem) -> list[tuple[EventType, dict[str, Any]]]:
    return [(e.type, e.payload) for e in system.fakes.outbox.events()]


def member_payload(
    project: Project,
    user: User,
    role: str,
    actor: User,
    joined: datetime,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A membership event's payload: its own keys, and the webhook parts (DESIGN 14)."""
    return {
        "project_id": project.id,
        "project_key": project.key,
        "user_id": user.id,
        "role": role,
        "actor": actor.id,
        "actor_name": actor.username,
        "data": {
            "user_id": user.id,
            "username": user.username,
            "role": role,
            "joined_at": joined.isoformat().replace("+00:00", "Z"),
        },
        "previous": previous or {},
    }


# === ProjectService ============================================================================

# --- create ------------------------------------------------------------------------------------


def test_create_makes_the_caller_owner_and_records_both_events(system: FakeSystem, alice: User):
    view = system.services.projects.create(act(system, alice), "OPS", "Operations", "on call")

    project = view.project
    assert view.my_role is OWNER
    assert system.fakes.projects.get(project.id) == project
    assert (project.key, project.name, project.description, project.archived) == (
        "OPS",
        "Operations",
        "on call",
        False,
    )
    assert project.created_at == project.updated_at == system.clock()
    assert role_of(system, project, alice) is OWNER
    assert events(system) == [
        (
            EventType.PROJECT_CREATED,
            {
                "project_id": project.id,
                "project_key": "OPS",
                "name": "Operations",
                "owner": alice.id,
            },
        ),
        (
            EventType.PROJECT_MEMBER_ADDED,
            member_payload(project, alice, "owner", alice, system.clock()),
        ),
    ]
    assert system.fakes.uow.committed == 1
    assert system.fakes.publisher.published == system.fakes.outbox.events()


def test_the_creator_session_sees_the_new_project_at_once(system: FakeSystem, alice: User):
    session = system.services.sessions.start(alice)

    project = new_project(system, alice)

    assert system.fakes.cache.get(cache_key(session.id)) is None  # the snapshot was dropped
    principal = system.services.sessions.principal(session.id, alice.id)
    assert principal.role_in(project.id) is OWNER


@pytest.mark.parametrize("key", ["ops", "O", "ABCDEFGHIJK", "1AB", "A-B", "OPS ", ""])
def test_create_refuses_a_malformed_key(system: FakeSystem, alice: User, key: str):
    with pytest.raises(InvalidInput):
        system.services.projects.create(act(system, alice), key, "x")

    assert [p.key for p in system.fakes.projects.all()] == ["GEN"]
    assert system.fakes.outbox.events() == []


@pytest.mark.parametrize("key", ["OPS", "GEN"])
def test_a_taken_key_is_a_conflict_and_changes_nothing(
    system: FakeSystem, alice: User, bob: User, key: str
):
    new_project(system, alice, "OPS")
    before = (system.fakes.projects.all(), system.fakes.memberships.all(), events(system))

    with pytest.raises(Conflict):
        system.services.projects.create(act(system, bob), key, "mine now")

    after = (system.fakes.projects.all(), system.fakes.memberships.all(), events(system))
    assert after == before
    assert list(system.fakes.memberships.roles_of(bob.id).values()) == [MEMBER]  # GEN only


def test_with_project_creation_admins_a_member_may_not_create():
    system = build_fake_services(settings=fake_settings(project_creation="admins"))
    alice, root = system.make_user("alice"), system.make_user("root", role=Role.ADMIN)

    with pytest.raises(Forbidden):
        system.services.projects.create(act(system, alice), "OPS", "x")
    assert [p.key for p in system.fakes.projects.all()] == ["GEN"]

    view = system.services.projects.create(act(system, root), "OPS", "x")
    assert view.my_role is OWNER


def test_by_default_any_member_may_create(system: FakeSystem, alice: User):
    assert system.settings.project_creation == "members"
    assert new_project(system, alice).key == "OPS"


# --- list and get ------------------------------------------------------------------------------


def test_list_shows_only_the_callers_projects_with_their_role(
    system: FakeSystem, alice: User, bob: User
):
    ops = new_project(system, alice, "OPS")
    dev = new_project(system, bob, "DEV")
    system.services.projects.set_member(act(system, bob), "DEV", alice.id, VIEWER)
    new_project(system, bob, "SEC")

    page = system.services.projects.list(act(system, alice), cursor=None, limit=10)

    gen = system.default_project()
    assert [(v.project.key, v.my_role) for v in page.items] == [
        ("GEN", MEMBER),
        ("OPS", OWNER),
        ("DEV", VIEWER),
    ]
    assert [v.project.id for v in page.items] == [gen.id, ops.id, dev.id]
    assert page.next_cursor is None


def test_an_admin_lists_every_project(system: FakeSystem, alice: User, root: User):
    new_project(system, alice, "OPS")
    new_project(system, alice, "SEC")

    page = system.services.projects.list(act(system, root), cursor=None, limit=10)

    assert [(v.project.key, v.my_role) for v in page.items] == [
        ("GEN", MEMBER),
        ("OPS", None),
        ("SEC", None),
    ]


def test_list_pages_through_the_projects_once(system: FakeSystem, alice: User, bob: User):
    for n in range(5):
        new_project(system, alice, f"P{n}")
    new_project(system, bob, "BOB")

    seen, cursor, pages = [], None, 0
    while True:
        page = system.services.projects.list(act(system, alice), cursor=cursor, limit=2)
        seen += [v.project.key for v in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == ["GEN", "P0", "P1", "P2", "P3", "P4"]
    assert pages == 3
    with pytest.raises(InvalidInput):
        system.services.projects.list(act(system, alice), cursor="not a cursor", limit=2)


@pytest.mark.parametrize("ref", ["id", "OPS", "ops", "Ops", " ops "])
def test_get_by_id_or_key_in_any_case(system: FakeSystem, alice: User, ref: str):
    project = new_project(system, alice)

    view = system.services.projects.get(act(system, alice), project.id if ref == "id" else ref)

    assert (view.project, view.my_role) == (project, OWNER)


def test_a_project_of_others_is_not_found_like_a_missing_one(
    system: FakeSystem, alice: User, bob: User, root: User
):
    project = new_project(system, alice)

    for ref in ("OPS", project.id):
        with pytest.raises(NotFound) as hidden:
            system.services.projects.get(act(system, bob), ref)
        assert ref in str(hidden.value)
    with pytest.raises(NotFound):
        system.services.projects.get(act(system, bob), "NOPE")
    with pytest.raises(NotFound):
        system.services.projects.get(act(system, bob), "f" * 24)
    assert system.services.projects.get(act(system, root), "OPS").my_role is None


# --- update and archive ------------------------------------------------------------------------


def test_the_owner_renames_and_describes(system: FakeSystem, alice: User):
    project = new_project(system, alice)
    system.clock.advance(minutes=5)

    view = system.services.projects.update(
        act(system, alice), "ops", {"name": "Operations", "description": "pager", "archived": None}
    )

    stored = system.fakes.projects.get(project.id)
    assert stored == view.project
    assert (stored.name, stored.description, stored.archived) == ("Operations", "pager", False)
    assert stored.updated_at == system.clock() > stored.created_at


@pytest.mark.parametrize(
    ("role", "error"),
    [(None, NotFound), (VIEWER, Forbidden), (MEMBER, Forbidden), (MAINTAINER, Forbidden)],
)
def test_only_the_owner_may_change_a_project(
    system: FakeSystem, alice: User, bob: User, role: ProjectRole | None, error: type[Exception]
):
    project = new_project(system, alice)
    if role:
        system.services.projects.set_member(act(system, alice), "OPS", bob.id, role)

    for changes in ({"name": "mine"}, {"archived": True}):
        with pytest.raises(error):
            system.services.projects.update(act(system, bob), "OPS", changes)

    assert system.fakes.projects.get(project.id) == project


def test_an_admin_may_change_any_project(system: FakeSystem, alice: User, root: User):
    new_project(system, alice)
    assert system.services.projects.update(act(system, root), "OPS", {"name": "x"}).my_role is None


def test_an_archived_project_is_read_only_for_its_tasks(system: FakeSystem, alice: User, bob: User):
    new_project(system, alice)
    system.services.projects.set_member(act(system, alice), "OPS", bob.id, MEMBER)
    task = new_task(system, alice, "OPS", assignee=bob.id)

    archived = system.services.projects.update(act(system, alice), "OPS", {"archived": True})

    assert archived.project.archived
    tasks = system.services.tasks
    for actor in (alice, bob):
        with pytest.raises(Conflict):
            tasks.create(act(system, actor), TaskCreate(title="x", project="OPS"))
        with pytest.raises(Conflict):
            tasks.update(act(system, actor), task.key, {"title": "x"})
        with pytest.raises(Conflict):
            tasks.update(act(system, actor), task.key, {"status": Status.IN_PROGRESS})
        assert tasks.get(act(system, actor), task.key).title == "a task"  # still readable
    with pytest.raises(Conflict):
        tasks.delete(act(system, alice), task.key)
    with pytest.raises(Conflict):
        tasks.update(act(system, alice), task.key, {"project": "GEN"})
    assert stored_task(system, task) == task


def test_an_archived_project_takes_only_archived_false(system: FakeSystem, alice: User):
    project = new_project(system, alice)
    system.services.projects.update(act(system, alice), "OPS", {"archived": True})

    for changes in ({"name": "renamed"}, {"archived": True}, {"description": "x"}):
        with pytest.raises(Conflict):
            system.services.projects.update(act(system, alice), "OPS", changes)

    view = system.services.projects.update(
        act(system, alice), "OPS", {"archived": False, "name": "back"}
    )
    assert (view.project.archived, view.project.name) == (False, "back")
    assert system.fakes.projects.get(project.id).archived is False
    assert new_task(system, alice, "OPS").key == "OPS-1"


def test_only_the_owner_may_unarchive(system: FakeSystem, alice: User, bob: User):
    project = new_project(system, alice)
    system.services.projects.set_member(act(system, alice), "OPS", bob.id, MAINTAINER)
    system.services.projects.update(act(system, alice), "OPS", {"archived": True})

    with pytest.raises(Forbidden):
        system.services.projects.update(act(system, bob), "OPS", {"archived": False})

    assert system.fakes.projects.get(project.id).archived is True


def test_the_default_project_cannot_be_archived(system: FakeSystem, root: User):
    with pytest.raises(Conflict):
        system.services.projects.update(act(system, root), "GEN", {"archived": True})
    assert system.default_project().archived is False


# --- delete ------------------------------------------------------------------------------------


def test_only_an_archived_project_may_be_deleted(system: FakeSystem, alice: User):
    project = new_project(system, alice)
    with pytest.raises(Conflict):
        system.services.projects.delete(act(system, alice), "OPS")
    assert system.fakes.projects.get(project.id) is not None


@pytest.mark.parametrize("by", ["owner", "admin"])
def test_deleting_removes_the_project_its_tasks_and_memberships(
    system: FakeSystem, alice: User, bob: User, root: User, by: str
):
    project = new_project(system, alice)
    system.services.projects.set_member(act(system, alice), "OPS", bob.id, MEMBER)
    doomed = [new_task(system, alice, "OPS"), new_task(system, bob, "OPS")]
    kept = new_task(system, alice)  # in GEN
    system.services.projects.update(act(system, alice), "OPS", {"archived": True})
    bobs_session = system.services.sessions.start(bob)

    system.services.projects.delete(act(system, alice if by == "owner" else root), "ops")

    assert system.fakes.projects.get(project.id) is None
    assert [stored_task(system, t) for t in doomed] == [None, None]
    assert stored_task(system, kept) == kept
    assert system.fakes.memberships.user_ids(project.id) == []
    assert system.fakes.memberships.roles_of(bob.id) == {system.default_project().id: MEMBER}
    assert system.services.sessions.principal(bobs_session.id, bob.id).role_in(project.id) is None
    with pytest.raises(NotFound):
        system.services.projects.get(act(system, root), "OPS")
    with pytest.raises(NotFound):
        system.services.tasks.get(act(system, root), doomed[0].key)


@pytest.mark.parametrize(
    ("role", "error"), [(None, NotFound), (MEMBER, Forbidden), (MAINTAINER, Forbidden)]
)
def test_only_the_owner_or_an_admin_may_delete(
    system: FakeSystem, alice: User, bob: User, role: ProjectRole | None, error: type[Exception]
):
    project = new_project(system, alice)
    if role:
        system.services.projects.set_member(act(system, alice), "OPS", bob.id, role)
    system.services.projects.update(act(system, alice), "OPS", {"archived": True})

    with pytest.raises(error):
        system.services.projects.delete(act(system, bob), "OPS")

    assert system.fakes.projects.get(project.id) is not None


def test_the_default_project_cannot_be_deleted(system: FakeSystem, alice: User, root: User):
    task = new_task(system, alice)
    with pytest.raises(Conflict):
        system.services.projects.delete(act(system, root), "GEN")

    # Even when it was archived behind the services' back.
    gen = system.default_project()
    gen.archived = True
    system.fakes.projects.save(gen)
    with pytest.raises(Conflict):
        system.services.projects.delete(act(system, root), "GEN")

    assert system.fakes.projects.get(gen.id) is not None
    assert stored_task(system, task) is not None
    assert role_of(system, gen, alice) is MEMBER


# --- members -----------------------------------------------------------------------------------


def test_adding_a_member_records_member_added_and_refreshes_their_session(
    system: FakeSystem, alice: User, bob: User
):
    project = new_project(system, alice)
    session = system.services.sessions.start(bob)
    assert system.services.sessions.principal(session.id, bob.id).role_in(project.id) is None
    system.clock.advance(minutes=1)

    view, created = system.services.projects.set_member(act(system, alice), "OPS", bob.id, MEMBER)

    assert created is True
    assert (view.username, view.membership) == (
        "bob",
        Membership(project.id, bob.id, MEMBER, system.clock()),
    )
    assert role_of(system, project, bob) is MEMBER
    assert events(system)[-1] == (
        EventType.PROJECT_MEMBER_ADDED,
        member_payload(project, bob, "member", alice, system.clock()),
    )
    assert system.fakes.cache.get(cache_key(session.id)) is None
    assert system.services.sessions.principal(session.id, bob.id).role_in(project.id) is MEMBER


def test_changing_a_role_keeps_the_membership_and_records_member_added_with_the_old_role(
    system: FakeSystem, alice: User, bob: User
):
    project = new_project(system, alice)
    system.services.projects.set_member(act(system, alice), "OPS", bob.id, VIEWER)
    joined = system.fakes.memberships.get(project.id, bob.id).joined_at
    count = len(events(system))
    session = system.services.sessions.start(bob)
    system.clock.advance(days=1)

    view, created = system.services.projects.set_member(
        act(system, alice), "OPS", bob.id, MAINTAINER
    )

    assert created is False
    assert view.membership == Membership(project.id, bob.id, MAINTAINER, joined)
    assert role_of(system, project, bob) is MAINTAINER
    assert events(system)[count:] == [
        (
            EventType.PROJECT_MEMBER_ADDED,
            member_payload(project, bob, "maintainer", alice, joined, {"role": "viewer"}),
        )
    ]
    assert system.services.sessions.principal(session.id, bob.id).role_in(project.id) is MAINTAINER

    again, created = system.services.projects.set_member(
        act(system, alice), "OPS", bob.id, MAINTAINER
    )
    assert (again.membership, created) == (view.membership, False)
    assert len(events(system)) == count + 1  # the same role again: nothing changed


def test_setting_an_unknown_user_is_not_found(system: FakeSystem, alice: User):
    new_project(system, alice)
    with pytest.raises(NotFound):
        system.services.projects.set_member(act(system, alice), "OPS", "f" * 24, MEMBER)


def test_the_last_owner_cannot_be_demoted_or_leave(system: FakeSystem, alice: User, bob: User):
    project = new_project(system, alice)
    count = len(events(system))

    with pytest.raises(Conflict):
        system.services.projects.set_member(act(system, alice), "OPS", alice.id, MAINTAINER)
    with pytest.raises(Conflict):
        system.services.projects.remove_member(act(system, alice), "OPS", alice.id)

    assert role_of(system, project, alice) is OWNER
    assert len(events(system)) == count

    # With a second owner both may happen.
    system.services.projects.set_member(act(system, alice), "OPS", bob.id, OWNER)
    system.services.projects.set_member(act(system, alice), "OPS", alice.id, MAINTAINER)
    assert (role_of(system, project, alice), role_of(system, project, bob)) == (MAINTAINER, OWNER)
    with pytest.raises(Conflict):
        system.services.projects.remove_member(act(system, bob), "OPS", bob.id)
    system.services.projects.remove_member(act(system, alice), "OPS", alice.id)
    assert role_of(system, project, alice) is None


@pytest.mark.parametrize("role", [VIEWER, MEMBER, MAINTAINER])
def test_a_member_may_remove_themself(
    system: FakeSystem, alice: User, bob: User, role: ProjectRole
):
    project = new_project(system, alice)
    system.services.projects.set_member(act(system, alice), "OPS", bob.id, role)
    session = system.services.sessions.start(bob)

    system.services.projects.remove_member(act(system, bob), "ops", bob.id)

    assert role_of(system, project, bob) is None
    assert events(system)[-1] == (
        EventType.PROJECT_MEMBER_REMOVED,
        member_payload(project, bob, str(role), bob, system.clock()),
    )
    assert system.services.sessions.principal(session.id, bob.id).role_in(project.id) is None
    with pytest.raises(NotFound):
        system.services.projects.get(act(system, bob), "OPS")


def test_the_owner_removes_a_member_and_their_session_loses_the_project(
    system: FakeSystem, alice: User, bob: User
):
    project = new_project(system, alice)
    system.services.projects.set_member(act(system, alice), "OPS", bob.id, MAINTAINER)
    task = new_task(system, alice, "OPS")
    session = system.services.sessions.start(bob)
    bob_then = system.services.sessions.principal(session.id, bob.id)
    assert system.services.tasks.get(bob_then, task.key).id == task.id

    system.services.projects.remove_member(act(system, alice), "OPS", bob.id)

    assert events(system)[-1][0] is EventType.PROJECT_MEMBER_REMOVED
    assert system.fakes.cache.get(cache_key(session.id)) is None
    bob_now = system.services.sessions.principal(session.id, bob.id)
    assert bob_now.role_in(project.id) is None
    with pytest.raises(NotFound):
        system.services.tasks.get(bob_now, task.key)


@pytest.mark.parametrize(
    ("role", "error"),
    [(None, NotFound), (VIEWER, Forbidden), (MEMBER, Forbidden), (MAINTAINER, Forbidden)],
)
def test_only_an_owner_manages_members(
    system: FakeSystem,
    alice: User,
    bob: User,
    member: User,
    role: ProjectRole | None,
    error: type[Exception],
):
    project = new_project(system, alice)
    system.services.projects.set_member(act(system, alice), "OPS", member.id, MEMBER)
    if role:
        system.services.projects.set_member(act(system, alice), "OPS", bob.id, role)
    before = (system.fakes.memberships.all(), events(system))

    with pytest.raises(error):
        system.services.projects.set_member(act(system, bob), "OPS", member.id, MAINTAINER)
    with pytest.raises(error):
        system.services.projects.set_member(act(system, bob), "OPS", bob.id, OWNER)
    with pytest.raises(error):
        system.services.projects.remove_member(act(system, bob), "OPS", member.id)

    assert (system.fakes.memberships.all(), events(system)) == before
    assert role_of(system, project, member) is MEMBER


def test_an_admin_manages_members_without_being_one(
    system: FakeSystem, alice: User, bob: User, root: User
):
    project = new_project(system, alice)
    system.services.projects.set_member(act(system, root), "OPS", bob.id, MAINTAINER)
    system.services.projects.remove_member(act(system, root), "OPS", bob.id)
    assert role_of(system, project, bob) is None
    assert role_of(system, project, root) is None


def test_removing_someone_who_is_not_a_member_is_not_found(
    system: FakeSystem, alice: User, bob: User
):
    new_project(system, alice)
    with pytest.raises(NotFound):
        system.services.projects.remove_member(act(system, alice), "OPS", bob.id)


def test_members_of_an_archived_project_cannot_change(system: FakeSystem, alice: User, bob: User):
    project = new_project(system, alice)
    system.services.projects.set_member(act(system, alice), "OPS", bob.id, MEMBER)
    system.services.projects.update(act(system, alice), "OPS", {"archived": True})

    with pytest.raises(Conflict):
        system.services.projects.set_member(act(system, alice), "OPS", bob.id, MAINTAINER)
    with pytest.raises(Conflict):
        system.services.projects.remove_member(act(system, bob), "OPS", bob.id)
    assert role_of(system, project, bob) is MEMBER


def test_members_lists_a_page_with_usernames(system: FakeSystem, alice: User, bob: User):
    project = new_project(system, alice)
    others = [system.make_user(f"user{n}") for n in range(3)]
    for user in [bob, *others]:
        system.services.projects.set_member(act(system, alice), "OPS", user.id, VIEWER)

    seen, cursor = [], None
    while True:
        page = system.services.projects.members(act(system, bob), "OPS", cursor=cursor, limit=2)
        seen += [(m.username, m.membership.role) for m in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == [
        ("alice", OWNER),
        ("bob", VIEWER),
        ("user0", VIEWER),
        ("user1", VIEWER),
        ("user2", VIEWER),
    ]
    assert {
        m.project_id for m in system.fakes.memberships.page(project.id, after=None, limit=9)
    } == {project.id}
    outsider = system.make_user("zed")
    with pytest.raises(NotFound):
        system.services.projects.members(act(system, outsider), "OPS", cursor=None, limit=2)
    with pytest.raises(InvalidInput):
        system.services.projects.members(act(system, bob), "OPS", cursor="bad", limit=2)


def test_a_membership_change_that_collides_is_run_again(system: FakeSystem, alice: User, bob: User):
    project = new_project(system, alice)
    touches = system.fakes.projects.touches
    system.fakes.uow.fail_next_commit = ConcurrentChange("another member change got in the way")

    _, created = system.services.projects.set_member(act(system, alice), "OPS", bob.id, MEMBER)

    assert created is True
    assert role_of(system, project, bob) is MEMBER
    assert system.fakes.projects.touches == touches + 2  # both attempts wrote the project
    added = [e for e in events(system) if e[0] is EventType.PROJECT_MEMBER_ADDED]
    assert [e[1]["user_id"] for e in added] == [alice.id, bob.id]  # once, not twice


# === TaskService in projects ===================================================================


def test_tasks_get_keys_from_a_counter_per_project(system: FakeSystem, alice: User):
    new_project(system, alice, "OPS")

    keys = [
        new_task(system, alice).key,
        new_task(system, alice).key,
        new_task(system, alice, "OPS").key,
        new_task(system, alice, "gen").key,
        new_task(system, alice, "ops").key,
    ]

    assert keys == ["GEN-1", "GEN-2", "OPS-1", "GEN-3", "OPS-2"]
    ops = system.fakes.projects.by_key("OPS")
    assert [t.project_id for t in system.fakes.tasks.all()][2] == ops.id
    assert system.fakes.projects.counter(ops.id) == 2


def test_a_key_is_never_handed_out_twice(system: FakeSystem, alice: User):
    first = new_task(system, alice)
    system.services.tasks.delete(act(system, alice), first.key)
    assert new_task(system, alice).key == "GEN-2"


@pytest.mark.parametrize("ref", ["key", "lower", "id", "padded"])
def test_get_by_id_or_key(system: FakeSystem, alice: User, ref: str):
    new_task(system, alice)
    task = new_task(system, alice)
    value = {"key": "GEN-2", "lower": "gen-2", "id": task.id, "padded": " GEN-2 "}[ref]

    assert system.services.tasks.get(act(system, alice), value) == task
    assert system.services.tasks.update(act(system, alice), value, {"title": "x"}).key == "GEN-2"


@pytest.mark.parametrize("ref", ["GEN-9", "NOPE-1", "f" * 24, "not-a-ref"])
def test_an_unknown_task_ref_is_not_found(system: FakeSystem, alice: User, ref: str):
    new_task(system, alice)
    with pytest.raises(NotFound):
        system.services.tasks.get(act(system, alice), ref)


def test_create_in_a_project_by_id(system: FakeSystem, alice: User):
    project = new_project(system, alice)
    task = new_task(system, alice, project.id)
    assert (task.project_id, task.key, task.project_key) == (project.id, "OPS-1", "OPS")


def test_moving_a_task_gives_a_new_key_and_the_old_one_keeps_resolving(
    system: FakeSystem, alice: User, bob: User
):
    ops = new_project(system, alice, "OPS")
    dev = new_project(system, bob, "DEV")
    system.services.projects.set_member(act(system, bob), "DEV", alice.id, MAINTAINER)
    new_task(system, bob, "DEV")  # DEV-1
    task = new_task(system, alice, "OPS", title="move me")
    system.clock.advance(minutes=1)

    moved = system.services.tasks.update(act(system, alice), "OPS-1", {"project": "dev"})

    assert (moved.project_id, moved.key, moved.former_keys) == (dev.id, "DEV-2", ["OPS-1"])
    assert (moved.version, moved.updated_at) == (2, system.clock())
    assert stored_task(system, task) == moved
    assert system.fakes.tasks.by_key("OPS-1").id == task.id
    assert system.services.tasks.get(act(system, alice), "ops-1").key == "DEV-2"
    # The old key still works for changes; a move back takes yet another key.
    system.services.tasks.update(act(system, bob), "OPS-1", {"title": "renamed"})
    back = system.services.tasks.update(act(system, alice), "DEV-2", {"project": ops.id})
    assert (back.key, back.former_keys) == ("OPS-2", ["OPS-1", "DEV-2"])
    assert system.services.tasks.get(act(system, alice), "DEV-2").key == "OPS-2"
    assert new_task(system, alice, "OPS").key == "OPS-3"


def test_a_move_to_the_same_project_changes_nothing_about_keys(system: FakeSystem, alice: User):
    new_project(system, alice)
    new_task(system, alice, "OPS")
    same = system.services.tasks.update(act(system, alice), "OPS-1", {"project": "OPS"})
    assert (same.key, same.former_keys) == ("OPS-1", [])


@pytest.mark.parametrize(
    ("source", "target", "error"),
    [
        (MEMBER, MEMBER, Forbidden),  # the reporter, but only a member of the source
        (MAINTAINER, VIEWER, Forbidden),  # a viewer of the target
        (MAINTAINER, None, NotFound),  # not in the target: it does not exist for them
    ],
)
def test_moving_needs_maintainer_in_the_source_and_member_in_the_target(
    system: FakeSystem,
    alice: User,
    bob: User,
    source: ProjectRole,
    target: ProjectRole | None,
    error: type[Exception],
):
    new_project(system, alice, "OPS")
    new_project(system, alice, "DEV")
    system.services.projects.set_member(act(system, alice), "OPS", bob.id, source)
    if target:
        system.services.projects.set_member(act(system, alice), "DEV", bob.id, target)
    task = new_task(system, bob, "OPS")

    with pytest.raises(error):
        system.services.tasks.update(act(system, bob), task.key, {"project": "DEV"})

    assert stored_task(system, task) == task


def test_a_move_needs_the_assignee_to_be_a_member_of_the_target(
    system: FakeSystem, alice: User, bob: User, member: User
):
    new_project(system, alice, "OPS")
    dev = new_project(system, alice, "DEV")
    system.services.projects.set_member(act(system, alice), "OPS", bob.id, MEMBER)
    system.services.projects.set_member(act(system, alice), "DEV", member.id, VIEWER)
    task = new_task(system, alice, "OPS", assignee="bob")

    with pytest.raises(InvalidInput):
        system.services.tasks.update(act(system, alice), task.key, {"project": "DEV"})
    with pytest.raises(InvalidInput):  # a viewer of the target will not do either
        system.services.tasks.update(
            act(system, alice), task.key, {"project": "DEV", "assignee": member.id}
        )
    assert stored_task(system, task) == task

    moved = system.services.tasks.update(
        act(system, alice), task.key, {"project": "DEV", "assignee": alice.id}
    )
    assert (moved.project_id, moved.assignee) == (dev.id, alice.id)


@pytest.mark.parametrize("case", ["not a member", "viewer"])
def test_the_assignee_must_be_a_member_of_the_project(
    system: FakeSystem, alice: User, bob: User, case: str
):
    project = new_project(system, alice)
    if case == "viewer":
        system.services.projects.set_member(act(system, alice), "OPS", bob.id, VIEWER)
    task = new_task(system, alice, "OPS")

    with pytest.raises(InvalidInput):
        new_task(system, alice, "OPS", assignee=bob.id)
    with pytest.raises(InvalidInput):
        system.services.tasks.update(act(system, alice), task.key, {"assignee": "bob"})

    assert [t.key for t in system.fakes.tasks.all() if t.project_id == project.id] == ["OPS-1"]
    assert stored_task(system, task).assignee is None
    system.services.projects.set_member(act(system, alice), "OPS", bob.id, MEMBER)
    assert new_task(system, alice, "OPS", assignee="bob").assignee == bob.id


def test_a_viewer_reads_but_may_not_create(system: FakeSystem, alice: User, bob: User):
    new_project(system, alice)
    system.services.projects.set_member(act(system, alice), "OPS", bob.id, VIEWER)
    task = new_task(system, alice, "OPS")

    assert system.services.tasks.get(act(system, bob), task.key) == task
    with pytest.raises(Forbidden):
        new_task(system, bob, "OPS")
    assert len(system.fakes.tasks.all()) == 1


def test_a_non_member_finds_no_task_and_no_project(system: FakeSystem, alice: User, bob: User):
    new_project(system, alice)
    task = new_task(system, alice, "OPS")
    count = len(events(system))
    tasks = system.services.tasks

    for ref in (task.key, task.id):
        with pytest.raises(NotFound):
            tasks.get(act(system, bob), ref)
        with pytest.raises(NotFound):
            tasks.update(act(system, bob), ref, {"title": "x"})
        with pytest.raises(NotFound):
            tasks.delete(act(system, bob), ref)
    with pytest.raises(NotFound):
        new_task(system, bob, "OPS")

    assert stored_task(system, task) == task
    assert len(events(system)) == count


def test_an_admin_works_in_any_project(system: FakeSystem, alice: User, root: User):
    new_project(system, alice)
    task = new_task(system, root, "OPS", assignee=alice.id)
    system.services.tasks.update(act(system, root), task.key, {"status": Status.IN_PROGRESS})
    system.services.tasks.delete(act(system, root), task.key)
    assert stored_task(system, task) is None


def test_task_events_name_the_project_and_the_key(system: FakeSystem, alice: User):
    project = new_project(system, alice)
    task = new_task(system, alice, "OPS", assignee=alice.id)
    system.services.tasks.update(act(system, alice), task.key, {"status": Status.IN_PROGRESS})

    task_events = [p for t, p in events(system) if str(t).startswith("task.")]
    assert len(task_events) == 4  # created, assigned; updated, status_changed
    for payload in task_events:
        assert (payload["project_id"], payload["project_key"], payload["key"]) == (
            project.id,
            "OPS",
            "OPS-1",
        )


# === TaskQueryService ==========================================================================


@pytest.fixture
def spread(system: FakeSystem, alice: User, bob: User) -> dict[str, Project]:
    """GEN (everyone), OPS (alice owns it), SEC (bob's; alice is not in it), one task each
    assigned to alice (she used to be in SEC) and one each to bob, a second apart."""
    ops = new_project(system, alice, "OPS")
    sec = new_project(system, bob, "SEC")
    system.services.projects.set_member(act(system, bob), "SEC", alice.id, MEMBER)
    system.services.projects.set_member(act(system, alice), "OPS", bob.id, MEMBER)
    for key in ("GEN", "OPS", "SEC"):
        reporter = bob if key == "SEC" else alice
        new_task(system, reporter, key, title=f"{key} alice", assignee=alice.id)
        system.clock.advance(seconds=1)
        new_task(system, reporter, key, title=f"{key} bob", assignee=bob.id)
        system.clock.advance(seconds=1)
    system.services.projects.remove_member(act(system, bob), "SEC", alice.id)
    return {"GEN": system.default_project(), "OPS": ops, "SEC": sec}


def titles(tasks: list[Task]) -> list[str]:
    return [t.title for t in tasks]


def test_lists_show_only_the_callers_projects(system: FakeSystem, alice: User, spread):
    queries = system.services.task_queries
    page = queries.list(act(system, alice), TaskFilter(), "created_at", None, 100)
    assert titles(page.items) == ["GEN alice", "GEN bob", "OPS alice", "OPS bob"]


def test_a_filter_cannot_widen_what_the_caller_sees(system: FakeSystem, alice: User, spread):
    flt = TaskFilter(projects=(spread["SEC"].id,))
    page = system.services.task_queries.list(act(system, alice), flt, "created_at", None, 100)
    assert "SEC alice" not in titles(page.items)


@pytest.mark.parametrize("ref", ["OPS", "ops", "id"])
def test_the_project_filter_takes_a_key_or_an_id(system: FakeSystem, alice: User, spread, ref):
    value = spread["OPS"].id if ref == "id" else ref
    page = system.services.task_queries.list(
        act(system, alice), TaskFilter(), "created_at", None, 100, project=value
    )
    assert titles(page.items) == ["OPS alice", "OPS bob"]


@pytest.mark.parametrize("ref", ["SEC", "NOPE", "f" * 24])
def test_filtering_by_an_invisible_or_unknown_project_is_not_found(
    system: FakeSystem, alice: User, spread, ref: str
):
    with pytest.raises(NotFound):
        system.services.task_queries.list(
            act(system, alice), TaskFilter(), "created_at", None, 100, project=ref
        )


def test_an_admin_sees_every_project(system: FakeSystem, root: User, spread):
    queries = system.services.task_queries
    everything = queries.list(act(system, root), TaskFilter(), "created_at", None, 100)
    assert len(everything.items) == 6
    sec = queries.list(act(system, root), TaskFilter(), "created_at", None, 100, project="sec")
    assert titles(sec.items) == ["SEC alice", "SEC bob"]
    assert queries.summary(act(system, root))["total"] == 6
    assert len(queries.newest(act(system, root), 100)) == 6


def test_mine_leaves_out_projects_the_caller_left(system: FakeSystem, alice: User, spread):
    page = system.services.task_queries.mine(act(system, alice), (), "created_at", None, 100)
    assert titles(page.items) == ["GEN alice", "OPS alice"]


def test_the_summary_counts_the_visible_tasks_only(
    system: FakeSystem, alice: User, bob: User, spread
):
    system.services.tasks.update(act(system, bob), "SEC-1", {"status": Status.IN_PROGRESS})
    system.services.tasks.update(act(system, alice), "OPS-1", {"due_date": system.clock()})
    system.clock.advance(hours=1)
    queries = system.services.task_queries

    assert queries.summary(act(system, alice)) == {
        "open": 4,
        "in_progress": 0,
        "done": 0,
        "total": 4,
        "overdue": 1,
    }
    assert queries.summary(act(system, bob))["total"] == 6
    nobody = system.make_user("nobody", default_project=None)
    assert queries.summary(act(system, nobody))["total"] == 0


def test_newest_and_oldest_show_the_visible_tasks(system: FakeSystem, alice: User, spread):
    queries = system.services.task_queries
    me = act(system, alice)
    assert titles(queries.newest(me, 3)) == ["OPS bob", "OPS alice", "GEN bob"]
    assert titles(queries.oldest(me, 10, alice.id)) == ["GEN alice", "OPS alice"]
    assert titles(queries.newest(me, 10, alice.id)) == ["OPS alice", "GEN alice"]


def test_overdue_lists_follow_the_scope_too(system: FakeSystem, alice: User, bob: User, spread):
    for key in ("GEN-1", "SEC-1"):
        system.services.tasks.update(
            act(system, bob if key == "SEC-1" else alice),
            key,
            {"due_date": system.clock() + timedelta(minutes=1)},
        )
    system.clock.advance(hours=1)
    page = system.services.task_queries.list(
        act(system, alice), TaskFilter(overdue=True), "created_at", None, 100
    )
    assert titles(page.items) == ["GEN alice"]
