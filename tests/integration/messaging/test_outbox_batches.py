"""Many events at once (a scheduler's batch): published with one wait for all the broker's
confirms, marked sent together, relayed in batches — and nothing lost when the broker or the mail
server goes away meanwhile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasktracker.adapters.broker import PublishFailed
from tasktracker.bootstrap import Container
from tasktracker.services.events import OutboxRelay
from tests.support.broker import queued, welcome_events
from tests.support.proxy import TcpProxy
from tests.support.smtp import SmtpServer
from tests.support.waiting import wait_until

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def test_publish_many_returns_once_the_broker_has_every_message(
    container: Container, direct_amqp_url: str
):
    events = welcome_events(250)

    container.adapters.broker.publish_many(events)

    messages = queued(direct_amqp_url)
    assert [body["event_id"] for body, _ in messages] == [e.event_id for e in events]
    _, properties = messages[0]
    assert properties["delivery_mode"] == 2  # persistent
    assert properties["message_id"] == events[0].event_id
    assert properties["correlation_id"] == "batch-0"


def test_publish_many_raises_when_the_broker_is_unreachable(
    container: Container, broker_proxy: TcpProxy
):
    container.adapters.broker.publish_many(welcome_events(3))  # a pooled connection, then cut
    broker_proxy.stop()

    with pytest.raises(PublishFailed):
        container.adapters.broker.publish_many(welcome_events(3))


def test_a_transaction_whose_batch_was_not_confirmed_leaves_every_entry_to_the_relay(
    container: Container, broker_proxy: TcpProxy, direct_amqp_url: str
):
    events = welcome_events(120, at=LONG_AGO)  # the relay's grace is long over
    broker_proxy.stop()

    with container.events.transaction() as uow:
        uow.record(*events)  # committed; the publish fails quietly

    assert container.adapters.outbox.pending_count() == 120
    broker_proxy.start()
    relay = OutboxRelay(container.adapters.outbox, container.adapters.broker, container.clock)
    assert relay.run_once(batch=50) == 120
    assert container.adapters.outbox.pending_count() == 0
    assert sorted(body["event_id"] for body, _ in queued(direct_amqp_url)) == sorted(
        e.event_id for e in events
    )


def test_a_transaction_of_many_events_is_published_and_marked_sent(
    container: Container, direct_amqp_url: str
):
    events = welcome_events(210)

    with container.events.transaction() as uow:
        uow.record(*events)

    assert container.adapters.outbox.pending_count() == 0
    assert len(queued(direct_amqp_url)) == 210


def test_mark_sent_many_marks_exactly_the_given_entries(container: Container):
    outbox = container.adapters.outbox
    events = welcome_events(130)
    outbox.add(events)
    now = datetime.now(UTC)

    outbox.mark_sent_many([e.event_id for e in events[:120]], now)  # more than one `$in`

    db = container.adapters.db.outbox
    assert db.count_documents({"sent_at": {"$ne": None}}) == 120
    assert {d["_id"] for d in db.find({"sent_at": None})} == {e.event_id for e in events[120:]}
    assert db.find_one({"_id": events[0].event_id})["expire_at"] > now


def test_claims_are_batched_leased_and_released(container: Container):
    outbox = container.adapters.outbox
    events = welcome_events(120, at=LONG_AGO)
    outbox.add(events)
    now = datetime.now(UTC)

    first = outbox.claim_pending(now, timedelta(minutes=1), 70)
    second = outbox.claim_pending(now, timedelta(minutes=1), 70)

    assert len(first) == 70 and len(second) == 50
    assert {e.event_id for e in first} | {e.event_id for e in second} == {
        e.event_id for e in events
    }
    assert outbox.claim_pending(now, timedelta(minutes=1), 70) == []
    outbox.release([e.event_id for e in first], now)
    assert len(outbox.claim_pending(now, timedelta(minutes=1), 200)) == 70


def test_no_letter_of_a_batch_is_lost_when_the_mail_server_goes_away(
    container: Container, agent, smtp: SmtpServer
):
    events = welcome_events(150, prefix="many")
    with container.events.transaction() as uow:
        uow.record(*events)
    wait_until(lambda: smtp.count >= 20, timeout=30)

    smtp.stop()  # mid-stream: the kept connections are dropped, the letters in hand retried
    smtp.start()

    expected = {f"many{n}@example.com" for n in range(150)}
    wait_until(lambda: {m["To"] for m in smtp.collector.messages} >= expected, timeout=60)
    deliveries = container.adapters.db.deliveries
    wait_until(lambda: deliveries.count_documents({"state": "sent"}) == 150, timeout=30)
