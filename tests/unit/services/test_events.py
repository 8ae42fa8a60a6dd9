"""OutboxEventRecorder and OutboxRelay: events commit with their change, are published once
after the commit, and whatever was not confirmed is left to the relay."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tasktracker.domain.events import Event, EventType
from tasktracker.domain.users import Role
from tasktracker.services.correlation import set_correlation_id
from tasktracker.services.events import make_event
from tests.fakes import FakeSystem, build_fake_services


@pytest.fixture
def system() -> FakeSystem:
    return build_fake_services(cooldown=3600)


def event(system: FakeSystem, n: int = 0) -> Event:
    return make_event(EventType.TASK_CREATED, {"n": n}, system.clock())


def add_user(system: FakeSystem, uow, name: str) -> None:
    uow.users.add(
        username=name,
        email=f"{name}@example.com",
        password_hash="h",
        role=Role.MEMBER,
        active=True,
        now=system.clock(),
    )


def after_grace(system: FakeSystem) -> None:
    system.clock.advance(seconds=system.settings.outbox_relay_grace)


# --- the recorder ------------------------------------------------------------------------------


def test_events_are_published_after_the_commit_only(system: FakeSystem):
    e = event(system)
    with system.recorder.transaction() as uow:
        add_user(system, uow, "alice")
        uow.record(e)
        assert system.fakes.publisher.published == []
        assert system.fakes.outbox.events() == []

    assert system.fakes.publisher.published == [e]
    assert system.fakes.outbox.sent() == [e]
    assert system.fakes.outbox.pending() == []


def test_a_block_that_raises_publishes_nothing_and_writes_nothing(system: FakeSystem):
    with pytest.raises(RuntimeError), system.recorder.transaction() as uow:
        add_user(system, uow, "alice")
        uow.record(event(system))
        raise RuntimeError("the change failed half-way")

    assert system.fakes.publisher.published == []
    assert system.fakes.outbox.events() == []
    assert system.fakes.users.all() == []
    assert system.fakes.uow.committed == 0


def test_a_failed_commit_publishes_nothing(system: FakeSystem):
    system.fakes.uow.fail_next_commit = ConnectionError("no primary")
    with pytest.raises(ConnectionError), system.recorder.transaction() as uow:
        add_user(system, uow, "alice")
        uow.record(event(system))

    assert system.fakes.publisher.published == []
    assert system.fakes.outbox.events() == []
    assert system.fakes.users.all() == []


def test_every_event_of_a_transaction_is_published_in_order(system: FakeSystem):
    events = [event(system, n) for n in range(3)]
    with system.recorder.transaction() as uow:
        uow.record(*events[:2])
        uow.record(events[2])
    assert system.fakes.publisher.published == events
    assert system.fakes.outbox.pending_count() == 0


def test_events_carry_the_correlation_id_of_the_work(system: FakeSystem):
    set_correlation_id("req-42")
    try:
        system.services.accounts.signup("alice", "alice@example.com", "long enough pw")
    finally:
        set_correlation_id(None)
    assert system.fakes.publisher.published[0].correlation_id == "req-42"


def test_a_failed_publish_leaves_the_entry_pending_and_the_caller_unaffected(system: FakeSystem):
    system.fakes.publisher.down = True
    e = event(system)

    with system.recorder.transaction() as uow:
        add_user(system, uow, "alice")
        uow.record(e)

    assert [u.username for u in system.fakes.users.all()] == ["alice"]
    assert system.fakes.outbox.pending() == [e]
    assert system.fakes.publisher.published == []


def test_a_transaction_of_several_events_is_published_as_one_batch(system: FakeSystem):
    events = [event(system, n) for n in range(3)]
    with system.recorder.transaction() as uow:
        uow.record(*events)
    with system.recorder.transaction() as uow:
        uow.record(single := event(system, 3))

    assert system.fakes.publisher.batches == [3]  # the single event went by `publish`
    assert system.fakes.publisher.published == [*events, single]
    assert system.fakes.outbox.sent() == [*events, single]


def test_a_batch_published_but_not_marked_sent_does_not_fail_the_caller(system: FakeSystem):
    events = [event(system, n) for n in range(3)]
    system.fakes.outbox.down = True

    with system.recorder.transaction() as uow:
        uow.record(*events)

    assert system.fakes.publisher.published == events
    system.fakes.outbox.down = False
    assert system.fakes.outbox.pending() == events  # the relay may send them again


def test_publishing_stops_at_the_first_failure(system: FakeSystem):
    events = [event(system, n) for n in range(3)]
    system.fakes.publisher.fail_next(1)
    with system.recorder.transaction() as uow:
        uow.record(*events)

    assert system.fakes.publisher.published == []
    assert system.fakes.outbox.pending() == events


def test_after_a_failed_publish_the_request_path_skips_publishing(system: FakeSystem):
    system.fakes.publisher.fail_next(1)
    with system.recorder.transaction() as uow:
        uow.record(event(system, 1))
    second = event(system, 2)

    with system.recorder.transaction() as uow:  # the broker is back, but within the cooldown
        uow.record(second)

    assert system.fakes.publisher.published == []
    assert second in system.fakes.outbox.pending()


def test_after_the_cooldown_publishing_resumes():
    system = build_fake_services(cooldown=0)
    system.fakes.publisher.fail_next(1)
    with system.recorder.transaction() as uow:
        uow.record(event(system, 1))
    second = event(system, 2)

    with system.recorder.transaction() as uow:
        uow.record(second)

    assert system.fakes.publisher.published == [second]
    assert system.fakes.outbox.sent() == [second]


def test_a_published_event_not_marked_sent_does_not_fail_the_caller(system: FakeSystem):
    e = event(system)
    system.fakes.outbox.down = True  # mark_sent fails; the commit itself went through

    with system.recorder.transaction() as uow:
        uow.record(e)

    assert system.fakes.publisher.published == [e]
    system.fakes.outbox.down = False
    assert system.fakes.outbox.pending() == [e]  # the relay may send it again


# --- the relay ---------------------------------------------------------------------------------


def test_the_relay_publishes_what_was_left_once(system: FakeSystem):
    system.fakes.publisher.down = True
    events = [event(system, n) for n in range(3)]
    with system.recorder.transaction() as uow:
        uow.record(*events)
    system.fakes.publisher.down = False
    after_grace(system)

    assert system.relay.run_once() == 3
    assert system.relay.run_once() == 0

    assert system.fakes.publisher.published == events
    assert system.fakes.outbox.pending_count() == 0


def test_the_relay_leaves_fresh_entries_to_their_writer(system: FakeSystem):
    system.fakes.publisher.down = True
    with system.recorder.transaction() as uow:
        uow.record(event(system))
    system.fakes.publisher.down = False

    system.clock.advance(seconds=system.settings.outbox_relay_grace - 1)
    assert system.relay.run_once() == 0
    system.clock.advance(seconds=1)
    assert system.relay.run_once() == 1


def test_the_relay_does_not_resend_what_the_writer_published(system: FakeSystem):
    with system.recorder.transaction() as uow:
        uow.record(event(system))
    after_grace(system)
    assert system.relay.run_once() == 0
    assert len(system.fakes.publisher.published) == 1


def test_the_relay_stops_at_a_failure_and_releases_the_entry(system: FakeSystem):
    system.fakes.publisher.down = True
    events = [event(system, n) for n in range(2)]
    with system.recorder.transaction() as uow:
        uow.record(*events)
    after_grace(system)

    assert system.relay.run_once() == 0
    assert system.fakes.outbox.pending_count() == 2

    system.fakes.publisher.down = False
    assert system.relay.run_once() == 2  # released at once, not held for a lease
    assert system.fakes.publisher.published == events


def test_the_relay_honours_the_limit(system: FakeSystem):
    system.fakes.publisher.down = True
    with system.recorder.transaction() as uow:
        uow.record(*[event(system, n) for n in range(5)])
    system.fakes.publisher.down = False
    after_grace(system)

    assert system.relay.run_once(limit=2) == 2
    assert system.fakes.outbox.pending_count() == 3


def test_an_entry_claimed_by_a_relay_that_died_waits_for_its_lease(system: FakeSystem):
    system.fakes.publisher.down = True
    with system.recorder.transaction() as uow:
        uow.record(event(system))
    system.fakes.publisher.down = False
    after_grace(system)
    lease = timedelta(seconds=30)
    claimed = system.fakes.outbox.claim_pending(system.clock(), lease, 10)  # then it crashed
    assert len(claimed) == 1

    assert system.relay.run_once() == 0
    system.clock.advance(lease)
    assert system.relay.run_once() == 1
    assert system.fakes.publisher.published == claimed


def test_the_relay_claims_and_publishes_in_batches(system: FakeSystem):
    system.fakes.publisher.down = True
    events = [event(system, n) for n in range(5)]
    with system.recorder.transaction() as uow:
        uow.record(*events)
    system.fakes.publisher.down = False
    system.fakes.publisher.batches.clear()
    after_grace(system)

    assert system.relay.run_once(batch=2) == 5
    assert system.fakes.publisher.batches == [2, 2, 1]
    assert system.fakes.publisher.published == events
    assert system.fakes.outbox.sent() == events
