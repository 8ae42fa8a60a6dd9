"""TokenService on the fakes: a token is created for its owner within what they may hold, kept
as a digest, listed and revoked by its owner or an admin, and authenticates to the user with
their project roles as stored now — never a malformed, unknown, revoked or expired one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tasktracker.domain.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
)
from tasktracker.domain.projects import ProjectRole
from tasktracker.domain.tokens import MAX_TOKENS_PER_USER, Scope, digest, new_token, well_formed
from tasktracker.domain.users import Role, User
from tasktracker.services.tokens import EXPIRED, INVALID
from tests.fakes import FakeSystem


def create(system: FakeSystem, owner: User, *scopes: str, days: int = 30) -> str:
    _, secret = system.services.tokens.create(owner, "ci", list(scopes or ["tasks:read"]), days)
    return secret


def test_a_created_token_is_kept_only_as_its_digest(system: FakeSystem, alice: User):
    token, secret = system.services.tokens.create(alice, " ci ", ["tasks:write", "tasks:read"], 7)

    assert well_formed(secret)
    stored = system.fakes.access_tokens.tokens[token.id]
    assert stored.digest == digest(secret) and secret not in repr(stored)
    assert (stored.user_id, stored.name) == (alice.id, "ci")
    assert stored.scopes == {Scope.TASKS_READ, Scope.TASKS_WRITE}
    assert stored.created_at == system.clock()
    assert stored.expires_at == system.clock() + timedelta(days=7)
    assert stored.last_used_at is None
    assert system.services.tokens.list(alice.id) == [stored]


def test_the_admin_scope_is_for_admins_only(system: FakeSystem, alice: User, root: User):
    with pytest.raises(Forbidden, match="admin"):
        system.services.tokens.create(alice, "x", ["admin"], 30)
    assert system.fakes.access_tokens.tokens == {}
    token, _ = system.services.tokens.create(root, "x", ["admin", "tasks:read"], 30)
    assert Scope.ADMIN in token.scopes


@pytest.mark.parametrize(
    ("scopes", "days", "name"),
    [([], 30, "x"), (["nope"], 30, "x"), (["tasks:read"], 0, "x"), (["tasks:read"], 366, "x"),
     (["tasks:read"], 30, "  ")],
)  # fmt: skip
def test_bad_requests_are_invalid_input(system: FakeSystem, alice: User, scopes, days, name):
    with pytest.raises(InvalidInput):
        system.services.tokens.create(alice, name, scopes, days)


def test_a_user_holds_a_bounded_number_of_tokens(system: FakeSystem, alice: User):
    for _ in range(MAX_TOKENS_PER_USER):
        create(system, alice)
    with pytest.raises(Conflict):
        create(system, alice)


def test_a_token_authenticates_as_its_owner_with_current_roles(system: FakeSystem, alice: User):
    secret = create(system, alice)
    project = system.make_project("OPS")

    principal = system.services.tokens.authenticate(secret)
    assert principal.actor.id == alice.id
    assert principal.actor.user.password_hash is None
    assert project.id not in principal.actor.roles

    system.add_member(project, alice, ProjectRole.MAINTAINER)  # no cache to drop
    principal = system.services.tokens.authenticate(secret)
    assert principal.actor.role_in(project.id) is ProjectRole.MAINTAINER


def test_a_malformed_token_is_refused_without_a_lookup(system: FakeSystem, alice: User):
    secret = create(system, alice)
    for bad in (secret[:-1] + ("A" if secret[-1] != "A" else "B"), "ttp_x", ""):
        with pytest.raises(AuthenticationFailed, match=INVALID):
            system.services.tokens.authenticate(bad)
    assert system.fakes.access_tokens.digest_reads == 0


def test_an_unknown_token_is_refused(system: FakeSystem, alice: User):
    create(system, alice)
    with pytest.raises(AuthenticationFailed, match=INVALID):
        system.services.tokens.authenticate(new_token())


def test_a_token_expires(system: FakeSystem, alice: User):
    secret = create(system, alice, days=1)
    system.clock.advance(days=1, seconds=-1)
    system.services.tokens.authenticate(secret)
    system.clock.advance(seconds=1)
    with pytest.raises(AuthenticationFailed, match=EXPIRED):
        system.services.tokens.authenticate(secret)


def test_last_used_is_written_at_most_once_a_minute(system: FakeSystem, alice: User):
    secret = create(system, alice)
    t0 = system.clock()
    [token] = system.services.tokens.list(alice.id)

    system.services.tokens.authenticate(secret)
    system.clock.advance(seconds=59)
    system.services.tokens.authenticate(secret)
    assert system.fakes.access_tokens.tokens[token.id].last_used_at == t0

    system.clock.advance(seconds=1)
    system.services.tokens.authenticate(secret)
    assert system.fakes.access_tokens.tokens[token.id].last_used_at == t0 + timedelta(minutes=1)


def test_a_disabled_users_token_names_them_inactive_and_is_not_marked_used(
    system: FakeSystem, alice: User
):
    secret = create(system, alice)
    system.fakes.users.set_role_and_active(alice.id, Role.MEMBER, False, system.clock())
    principal = system.services.tokens.authenticate(secret)
    assert principal.actor.user.active is False  # the API refuses it: "this account is disabled"
    assert system.services.tokens.list(alice.id)[0].last_used_at is None


def test_the_owner_revokes_a_token_and_it_stops_at_once(system: FakeSystem, alice: User, bob: User):
    secret = create(system, alice)
    [token] = system.services.tokens.list(alice.id)

    with pytest.raises(NotFound):
        system.services.tokens.revoke(bob.id, token.id)
    system.services.tokens.authenticate(secret)

    system.services.tokens.revoke(alice.id, token.id)
    with pytest.raises(AuthenticationFailed):
        system.services.tokens.authenticate(secret)
    with pytest.raises(NotFound):
        system.services.tokens.revoke(alice.id, token.id)


def test_an_admin_lists_and_revokes_anyones_tokens(
    system: FakeSystem, alice: User, bob: User, root: User
):
    secret = create(system, alice)
    [token] = system.services.tokens.list_for(root, alice.id)
    with pytest.raises(Forbidden):
        system.services.tokens.list_for(bob, alice.id)
    with pytest.raises(Forbidden):
        system.services.tokens.revoke_for(bob, alice.id, token.id)
    with pytest.raises(NotFound):
        system.services.tokens.list_for(root, "f" * 24)
    with pytest.raises(NotFound):  # the token must be the named user's
        system.services.tokens.revoke_for(root, bob.id, token.id)

    system.services.tokens.revoke_for(root, alice.id, token.id)
    with pytest.raises(AuthenticationFailed):
        system.services.tokens.authenticate(secret)
    assert system.services.tokens.list_for(root, alice.id) == []
