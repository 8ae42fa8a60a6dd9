"""AccountService: sign-up, login, password changes and admin management of users."""

from __future__ import annotations

import pytest

from tasktracker.domain.errors import (
    AuthenticationFailed,
    ConcurrentChange,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
)
from tasktracker.domain.events import EventType
from tasktracker.domain.projects import Action, ProjectRole
from tasktracker.domain.tasks import Status, Task
from tasktracker.domain.users import Role
from tasktracker.services import accounts as accounts_module
from tasktracker.services.accounts import BOOTSTRAP_ATTEMPTS, LOGIN_FAILED, UserChanges
from tests.fakes import DEFAULT_PASSWORD, FakeSystem

# --- sign-up -----------------------------------------------------------------------------------


def test_signup_stores_the_user_and_one_registered_event_in_one_commit(system: FakeSystem):
    user = system.services.accounts.signup("alice", "Alice@Example.COM", DEFAULT_PASSWORD)

    stored = system.fakes.users.get(user.id)
    assert stored is not None
    assert (stored.username, stored.email, stored.role, stored.active) == (
        "alice",
        "alice@example.com",
        Role.MEMBER,
        True,
    )
    assert stored.password_hash != DEFAULT_PASSWORD
    assert system.fakes.uow.committed == 1
    [event] = system.fakes.outbox.events()
    assert event.type is EventType.USER_REGISTERED
    assert event.payload == {"user_id": user.id, "username": "alice", "email": "alice@example.com"}
    assert system.fakes.publisher.published == [event]
    assert system.fakes.outbox.pending() == []


def test_signup_makes_the_user_a_member_of_the_default_project_in_the_same_commit(
    system: FakeSystem,
):
    user = system.services.accounts.signup("alice", "alice@example.com", DEFAULT_PASSWORD)

    default = system.default_project()
    assert system.fakes.memberships.roles_of(user.id) == {default.id: ProjectRole.MEMBER}
    assert system.fakes.uow.committed == 1
    assert system.actor(user).may(Action.CREATE_TASK, default.id)


def test_a_signup_whose_commit_fails_leaves_no_user_and_no_membership(system: FakeSystem):
    system.fakes.uow.fail_next_commit = ConnectionError("no primary")

    with pytest.raises(ConnectionError):
        system.services.accounts.signup("alice", "alice@example.com", DEFAULT_PASSWORD)

    assert system.fakes.users.all() == []
    assert system.fakes.memberships.all() == []
    assert system.fakes.outbox.events() == []


@pytest.mark.parametrize(
    ("username", "email"),
    [("alice", "other@example.com"), ("ALICE", "other@example.com"), ("bob", "ALICE@example.com")],
)
def test_a_taken_username_or_email_is_a_conflict_and_records_nothing(
    system: FakeSystem, username: str, email: str
):
    system.services.accounts.signup("alice", "alice@example.com", DEFAULT_PASSWORD)

    with pytest.raises(Conflict):
        system.services.accounts.signup(username, email, DEFAULT_PASSWORD)

    assert [u.username for u in system.fakes.users.all()] == ["alice"]
    assert system.outbox_types() == ["user.registered"]
    assert system.fakes.uow.committed == 1
    assert len(system.fakes.memberships.all()) == 1  # alice's only


@pytest.mark.parametrize(
    ("username", "password"),
    [("a", DEFAULT_PASSWORD), ("-bad", DEFAULT_PASSWORD), ("bob", "short")],
)
def test_signup_refuses_a_bad_username_or_password(system: FakeSystem, username, password):
    with pytest.raises(InvalidInput):
        system.services.accounts.signup(username, "bob@example.com", password)
    assert system.fakes.users.all() == []
    assert system.fakes.outbox.events() == []


# --- login -------------------------------------------------------------------------------------


def test_login_answers_the_user(system: FakeSystem):
    alice = system.make_user("alice")
    assert (
        system.services.accounts.authenticate("ALICE@example.com", DEFAULT_PASSWORD).id == alice.id
    )


@pytest.mark.parametrize("case", ["unknown email", "wrong password", "disabled"])
def test_login_fails_the_same_way_for_every_reason(system: FakeSystem, case: str):
    system.make_user("alice")
    system.make_user("carol", active=False)
    email, password = {
        "unknown email": ("nobody@example.com", DEFAULT_PASSWORD),
        "wrong password": ("alice@example.com", "not the password"),
        "disabled": ("carol@example.com", DEFAULT_PASSWORD),
    }[case]

    with pytest.raises(AuthenticationFailed) as caught:
        system.services.accounts.authenticate(email, password)

    assert str(caught.value) == LOGIN_FAILED
    # The unknown account spends a verification too, so timing tells nothing.
    assert system.fakes.hasher.verifications == 1


def test_login_rehashes_an_outdated_hash(system: FakeSystem):
    alice = system.make_user("alice", password_hash="legacy:" + DEFAULT_PASSWORD)

    system.services.accounts.authenticate("alice@example.com", DEFAULT_PASSWORD)

    assert system.fakes.users.get(alice.id).password_hash == "hashed:" + DEFAULT_PASSWORD
    assert system.services.accounts.authenticate("alice@example.com", DEFAULT_PASSWORD)


def test_login_keeps_a_current_hash_and_a_failed_login_rehashes_nothing(system: FakeSystem):
    alice = system.make_user("alice", password_hash="legacy:" + DEFAULT_PASSWORD)
    bob = system.make_user("bob")

    system.clock.advance(minutes=5)
    with pytest.raises(AuthenticationFailed):
        system.services.accounts.authenticate("alice@example.com", "wrong password")
    system.services.accounts.authenticate("bob@example.com", DEFAULT_PASSWORD)

    assert system.fakes.users.get(alice.id).password_hash == "legacy:" + DEFAULT_PASSWORD
    assert system.fakes.users.get(bob.id).updated_at == bob.updated_at


# --- password change ---------------------------------------------------------------------------


def test_change_password_ends_other_sessions_but_keeps_the_current_one(system: FakeSystem):
    alice = system.make_user("alice")
    sessions = system.services.sessions
    here, elsewhere = sessions.start(alice), sessions.start(alice)

    system.services.accounts.change_password(
        alice.id, DEFAULT_PASSWORD, "a brand new password", keep_session=here.id
    )

    assert sessions.principal(here.id, alice.id) is not None
    assert sessions.principal(elsewhere.id, alice.id) is None
    assert system.services.accounts.authenticate("alice@example.com", "a brand new password")
    with pytest.raises(AuthenticationFailed):
        system.services.accounts.authenticate("alice@example.com", DEFAULT_PASSWORD)


def test_change_password_without_a_session_to_keep_ends_them_all(system: FakeSystem):
    alice = system.make_user("alice")
    session = system.services.sessions.start(alice)

    system.services.accounts.change_password(alice.id, DEFAULT_PASSWORD, "a brand new password")

    assert system.services.sessions.principal(session.id, alice.id) is None


def test_change_password_needs_the_current_password(system: FakeSystem):
    alice = system.make_user("alice")
    session = system.services.sessions.start(alice)

    with pytest.raises(Forbidden):
        system.services.accounts.change_password(alice.id, "wrong password", "a new password!")

    assert system.services.accounts.authenticate("alice@example.com", DEFAULT_PASSWORD)
    assert system.services.sessions.principal(session.id, alice.id) is not None


def test_change_password_refuses_a_bad_new_password(system: FakeSystem):
    alice = system.make_user("alice")
    with pytest.raises(InvalidInput):
        system.services.accounts.change_password(alice.id, DEFAULT_PASSWORD, "short")
    assert system.services.accounts.authenticate("alice@example.com", DEFAULT_PASSWORD)


def test_change_password_of_an_unknown_user_is_not_found(system: FakeSystem):
    with pytest.raises(NotFound):
        system.services.accounts.change_password("f" * 24, DEFAULT_PASSWORD, "a new password!")


# --- admin management --------------------------------------------------------------------------


def test_a_member_may_not_manage_users(system: FakeSystem):
    alice, bob = system.make_user("alice"), system.make_user("bob")
    accounts = system.services.accounts

    with pytest.raises(Forbidden):
        accounts.update_user(alice, bob.id, UserChanges(active=False))
    with pytest.raises(Forbidden):
        accounts.find_by_email(alice, "bob@example.com")
    with pytest.raises(Forbidden):
        accounts.list_users(alice, cursor=None, limit=10)
    assert system.fakes.users.get(bob.id).active is True


def test_an_admin_promotes_a_member_and_its_session_sees_the_new_role(system: FakeSystem):
    root, bob = system.make_user("root", role=Role.ADMIN), system.make_user("bob")
    session = system.services.sessions.start(bob)

    updated = system.services.accounts.update_user(root, bob.id, UserChanges(role=Role.ADMIN))

    assert updated.role is Role.ADMIN
    assert system.services.sessions.principal(session.id, bob.id).user.role is Role.ADMIN


def test_disabling_a_user_ends_their_sessions_and_their_login(system: FakeSystem):
    root, bob = system.make_user("root", role=Role.ADMIN), system.make_user("bob")
    session = system.services.sessions.start(bob)

    updated = system.services.accounts.update_user(root, bob.id, UserChanges(active=False))

    assert updated.active is False
    assert system.services.sessions.principal(session.id, bob.id) is None
    assert not system.fakes.sessions.get(session.id).is_live(system.clock())
    with pytest.raises(AuthenticationFailed):
        system.services.accounts.authenticate("bob@example.com", DEFAULT_PASSWORD)


@pytest.mark.parametrize(
    "changes", [UserChanges(role=Role.MEMBER), UserChanges(active=False)], ids=["demote", "disable"]
)
def test_the_last_active_admin_is_protected(system: FakeSystem, changes: UserChanges):
    root = system.make_user("root", role=Role.ADMIN)
    system.make_user("former", role=Role.ADMIN, active=False)

    with pytest.raises(Conflict):
        system.services.accounts.update_user(root, root.id, changes)

    stored = system.fakes.users.get(root.id)
    assert (stored.role, stored.active) == (Role.ADMIN, True)


def test_an_admin_may_step_down_while_another_remains(system: FakeSystem):
    root, other = system.make_user("root", role=Role.ADMIN), system.make_user("other")
    system.services.accounts.update_user(root, other.id, UserChanges(role=Role.ADMIN))

    system.services.accounts.update_user(root, root.id, UserChanges(role=Role.MEMBER))

    assert system.fakes.users.get(root.id).role is Role.MEMBER
    assert system.fakes.users.count_active_admins() == 1


def test_updating_an_unknown_user_is_not_found(system: FakeSystem):
    root = system.make_user("root", role=Role.ADMIN)
    with pytest.raises(NotFound):
        system.services.accounts.update_user(root, "f" * 24, UserChanges(active=False))


def _assign(system: FakeSystem, assignee: str, status: Status) -> None:
    now = system.clock()
    task = Task("", "t", "someone", now, now, status=status, assignee=assignee)
    system.fakes.tasks.add(task)


def test_find_by_email_counts_the_users_tasks(system: FakeSystem):
    root, bob = system.make_user("root", role=Role.ADMIN), system.make_user("bob")
    _assign(system, bob.id, Status.OPEN)
    _assign(system, bob.id, Status.DONE)
    _assign(system, root.id, Status.OPEN)

    found = system.services.accounts.find_by_email(root, "BOB@example.com")

    assert found.user.id == bob.id
    assert found.task_counts == {"open": 1, "in_progress": 0, "done": 1, "total": 2}
    with pytest.raises(NotFound):
        system.services.accounts.find_by_email(root, "nobody@example.com")


def test_list_users_pages_through_everyone_once(system: FakeSystem):
    root = system.make_user("root", role=Role.ADMIN)
    others = [system.make_user(f"user{i}") for i in range(4)]
    _assign(system, others[0].id, Status.IN_PROGRESS)

    seen, cursor = [], None
    while True:
        page = system.services.accounts.list_users(root, cursor=cursor, limit=2)
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [u.user.id for u in seen] == [root.id] + [u.id for u in others]
    assert seen[1].task_counts["in_progress"] == 1
    with pytest.raises(InvalidInput):
        system.services.accounts.list_users(root, cursor="not-a-cursor", limit=2)


def test_usernames_leaves_unknown_ids_out(system: FakeSystem):
    alice = system.make_user("alice")
    assert system.services.accounts.usernames([alice.id, "f" * 24]) == {alice.id: "alice"}


# --- the bootstrap admin -----------------------------------------------------------------------


def test_ensure_admin_creates_the_first_admin_once(system: FakeSystem):
    accounts = system.services.accounts

    admin = accounts.ensure_admin("root@example.com", DEFAULT_PASSWORD)
    again = accounts.ensure_admin("root2@example.com", DEFAULT_PASSWORD)

    assert admin is not None and admin.role is Role.ADMIN and admin.username == "root"
    assert again is None
    assert [u.email for u in system.fakes.users.all()] == ["root@example.com"]
    assert system.outbox_types() == ["user.registered"]


def test_create_admin_promotes_an_existing_account(system: FakeSystem):
    bob = system.make_user("bob", active=False)
    session = system.services.sessions.start(bob)

    admin = system.services.accounts.create_admin("bob@example.com", "ignored password")

    assert admin.id == bob.id
    assert (admin.role, admin.active) == (Role.ADMIN, True)
    assert system.services.sessions.principal(session.id, bob.id).user.role is Role.ADMIN
    assert system.fakes.outbox.events() == []


class FakeSleep:
    """Stands in for the `time` module of accounts.py: records waits, runs `then` in each."""

    def __init__(self, then=None) -> None:
        self.waits: list[float] = []
        self.then = then

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.then is not None:
            self.then()


def test_ensure_admin_retries_a_colliding_transaction(system: FakeSystem, monkeypatch):
    sleep = FakeSleep()
    monkeypatch.setattr(accounts_module, "time", sleep)
    system.fakes.uow.fail_next_commit = ConcurrentChange("another replica is writing")

    admin = system.services.accounts.ensure_admin("root@example.com", DEFAULT_PASSWORD)

    assert admin is not None and admin.role is Role.ADMIN
    assert [u.email for u in system.fakes.users.all()] == ["root@example.com"]
    assert len(sleep.waits) == 1
    assert system.outbox_types() == ["user.registered"]


def test_ensure_admin_accepts_the_admin_another_replica_created(system: FakeSystem, monkeypatch):
    def other_replica() -> None:
        system.make_user("other", role=Role.ADMIN)

    monkeypatch.setattr(accounts_module, "time", FakeSleep(then=other_replica))
    system.fakes.uow.fail_next_commit = ConcurrentChange("another replica is writing")

    assert system.services.accounts.ensure_admin("root@example.com", DEFAULT_PASSWORD) is None
    assert [u.username for u in system.fakes.users.all()] == ["other"]


def test_ensure_admin_gives_up_after_its_attempts(system: FakeSystem, monkeypatch):
    def collide_again() -> None:
        system.fakes.uow.fail_next_commit = ConcurrentChange("still busy")

    sleep = FakeSleep(then=collide_again)
    monkeypatch.setattr(accounts_module, "time", sleep)
    collide_again()

    with pytest.raises(ConcurrentChange):
        system.services.accounts.ensure_admin("root@example.com", DEFAULT_PASSWORD)

    assert len(sleep.waits) == BOOTSTRAP_ATTEMPTS - 1
    assert system.fakes.users.all() == []


# --- the original's routes ---------------------------------------------------------------------


@pytest.mark.parametrize("actor", [None, "member"])
def test_register_by_a_non_admin_makes_an_active_member(system: FakeSystem, actor):
    caller = system.make_user("member") if actor else None

    user = system.services.accounts.register(
        caller, "eve", "eve@example.com", DEFAULT_PASSWORD, role=Role.ADMIN, active=False
    )

    assert (user.role, user.active) == (Role.MEMBER, True)
    assert system.fakes.users.count_active_admins() == 0
    assert system.outbox_types() == ["user.registered"]


def test_register_by_an_admin_sets_role_and_active(system: FakeSystem):
    root = system.make_user("root", role=Role.ADMIN)

    user = system.services.accounts.register(
        root, "ops", "ops@example.com", DEFAULT_PASSWORD, role=Role.ADMIN, active=False
    )

    assert (user.role, user.active) == (Role.ADMIN, False)


def test_change_password_with_credentials_ends_every_session(system: FakeSystem):
    alice = system.make_user("alice")
    session = system.services.sessions.start(alice)

    system.services.accounts.change_password_with_credentials(
        "alice@example.com", DEFAULT_PASSWORD, "a brand new password"
    )

    assert system.services.sessions.principal(session.id, alice.id) is None
    assert system.services.accounts.authenticate("alice@example.com", "a brand new password")


@pytest.mark.parametrize("case", ["unknown email", "wrong password", "disabled"])
def test_change_password_with_credentials_fails_like_a_login(system: FakeSystem, case: str):
    system.make_user("alice")
    system.make_user("carol", active=False)
    email, password = {
        "unknown email": ("nobody@example.com", DEFAULT_PASSWORD),
        "wrong password": ("alice@example.com", "not the password"),
        "disabled": ("carol@example.com", DEFAULT_PASSWORD),
    }[case]

    with pytest.raises(AuthenticationFailed) as caught:
        system.services.accounts.change_password_with_credentials(
            email, password, "a brand new password"
        )

    assert str(caught.value) == LOGIN_FAILED
    hashes = {u.password_hash for u in system.fakes.users.all()}
    assert hashes == {"hashed:" + DEFAULT_PASSWORD}


def test_change_password_with_credentials_refuses_a_bad_new_password(system: FakeSystem):
    system.make_user("alice")
    with pytest.raises(InvalidInput):
        system.services.accounts.change_password_with_credentials(
            "alice@example.com", DEFAULT_PASSWORD, "short"
        )
    assert system.services.accounts.authenticate("alice@example.com", DEFAULT_PASSWORD)
