"""PasswordResetService: a request is silent for unknown and disabled accounts; a token works
once, until it expires; confirming ends every session and voids the user's other tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tasktracker.domain.errors import AuthenticationFailed, InvalidInput
from tasktracker.domain.events import EventType
from tasktracker.domain.users import User
from tasktracker.services.password_reset import InvalidResetToken, token_hash
from tests.fakes import DEFAULT_PASSWORD, FakeSystem

NEW_PASSWORD = "a whole new password"


def login(system: FakeSystem, password: str) -> User:
    return system.services.accounts.authenticate("alice@example.com", password)


# --- request -----------------------------------------------------------------------------------


def test_a_request_for_an_active_account_records_one_event(system: FakeSystem, alice: User):
    system.services.password_resets.request("ALICE@example.com")

    [event] = system.fakes.outbox.events()
    assert event.type is EventType.PASSWORD_RESET_REQUESTED
    assert event.payload == {"user_id": alice.id, "username": "alice", "email": "alice@example.com"}
    assert system.fakes.publisher.published == [event]
    assert system.fakes.password_resets.tokens == []  # the agent issues the token, not the API


@pytest.mark.parametrize("email", ["nobody@example.com", "carol@example.com"])
def test_a_request_for_an_unknown_or_disabled_account_is_silent(system: FakeSystem, email: str):
    system.make_user("carol", active=False)

    assert system.services.password_resets.request(email) is None

    assert system.fakes.outbox.events() == []
    assert system.fakes.publisher.published == []
    assert system.fakes.uow.committed == 0


# --- tokens ------------------------------------------------------------------------------------


def test_a_token_sets_a_new_password(system: FakeSystem, alice: User):
    issued = system.services.password_resets.issue_token(alice.id)

    assert system.services.password_resets.confirm(issued.token, NEW_PASSWORD) == alice.id

    assert login(system, NEW_PASSWORD).id == alice.id
    with pytest.raises(AuthenticationFailed):
        login(system, DEFAULT_PASSWORD)


def test_only_a_hash_of_the_token_is_stored(system: FakeSystem, alice: User):
    issued = system.services.password_resets.issue_token(alice.id)

    [stored] = system.fakes.password_resets.tokens
    assert stored.token_hash == token_hash(issued.token) != issued.token
    assert issued.expires_at == system.clock() + timedelta(
        seconds=system.settings.password_reset_ttl
    )


def test_a_token_works_once(system: FakeSystem, alice: User):
    issued = system.services.password_resets.issue_token(alice.id)
    system.services.password_resets.confirm(issued.token, NEW_PASSWORD)

    with pytest.raises(InvalidResetToken):
        system.services.password_resets.confirm(issued.token, "yet another password")

    assert login(system, NEW_PASSWORD)


def test_an_expired_token_is_refused(system: FakeSystem, alice: User):
    issued = system.services.password_resets.issue_token(alice.id)
    system.clock.set(issued.expires_at)

    with pytest.raises(InvalidResetToken):
        system.services.password_resets.confirm(issued.token, NEW_PASSWORD)

    assert login(system, DEFAULT_PASSWORD)


def test_a_token_just_before_expiry_works(system: FakeSystem, alice: User):
    issued = system.services.password_resets.issue_token(alice.id)
    system.clock.set(issued.expires_at - timedelta(milliseconds=1))
    assert system.services.password_resets.confirm(issued.token, NEW_PASSWORD) == alice.id


def test_an_unknown_token_changes_nothing(system: FakeSystem, alice: User):
    with pytest.raises(InvalidResetToken) as caught:
        system.services.password_resets.confirm("made-up", NEW_PASSWORD)
    assert isinstance(caught.value, InvalidInput)
    assert login(system, DEFAULT_PASSWORD)
    assert system.fakes.uow.committed == 0


def test_a_bad_new_password_does_not_spend_the_token(system: FakeSystem, alice: User):
    issued = system.services.password_resets.issue_token(alice.id)

    with pytest.raises(InvalidInput):
        system.services.password_resets.confirm(issued.token, "short")

    assert system.services.password_resets.confirm(issued.token, NEW_PASSWORD) == alice.id


def test_confirming_ends_every_session_and_voids_other_tokens(system: FakeSystem, alice: User):
    bob = system.make_user("bob")
    resets, sessions = system.services.password_resets, system.services.sessions
    first, second = resets.issue_token(alice.id), resets.issue_token(alice.id)
    bobs_token = resets.issue_token(bob.id)
    mine, theirs = sessions.start(alice), sessions.start(alice)
    bobs_session = sessions.start(bob)

    resets.confirm(second.token, NEW_PASSWORD)

    assert sessions.principal(mine.id, alice.id) is None
    assert sessions.principal(theirs.id, alice.id) is None
    with pytest.raises(InvalidResetToken):
        resets.confirm(first.token, "yet another password")
    # Other users are untouched.
    assert sessions.principal(bobs_session.id, bob.id) is not None
    assert resets.confirm(bobs_token.token, NEW_PASSWORD) == bob.id


def test_a_failed_commit_leaves_the_token_and_the_password(system: FakeSystem, alice: User):
    issued = system.services.password_resets.issue_token(alice.id)
    session = system.services.sessions.start(alice)
    system.fakes.uow.fail_next_commit = ConnectionError("primary stepped down")

    with pytest.raises(ConnectionError):
        system.services.password_resets.confirm(issued.token, NEW_PASSWORD)

    assert login(system, DEFAULT_PASSWORD)
    assert system.services.sessions.principal(session.id, alice.id) is not None
    assert system.services.password_resets.confirm(issued.token, NEW_PASSWORD) == alice.id
