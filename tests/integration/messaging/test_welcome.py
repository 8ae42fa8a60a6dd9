"""Signup -> outbox -> RabbitMQ -> agent -> SMTP: one welcome letter per user."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from kombu import Connection

from tasktracker.adapters.broker import EVENTS_EXCHANGE, dead_letter_queue
from tasktracker.domain.events import EventType
from tests.support.api import signup
from tests.support.smtp import html_of, text_of, wait_for_letters
from tests.support.waiting import wait_until


def test_signup_yields_one_welcome_letter_greeting_the_user_by_name(client, container, agent, smtp):
    r = signup(client, "alice", **{"X-Request-ID": "req-alice-1"})

    [letter] = wait_for_letters(smtp, "alice@example.com")
    assert letter["Subject"] == "Welcome to TaskTracker"
    assert "Hello alice," in text_of(letter)
    assert "Hello alice," in html_of(letter)
    assert "pw pw" not in letter.as_string()

    # The event was written with the user, carries the request id, and was confirmed.
    [entry] = container.adapters.db.outbox.find()
    assert entry["type"] == EventType.USER_REGISTERED
    assert entry["correlation_id"] == r.headers["X-Request-ID"] == "req-alice-1"
    assert entry["payload"]["user_id"] == r.get_json()["id"]
    wait_until(lambda: container.adapters.db.outbox.find_one({"sent_at": {"$ne": None}}))
    wait_until(lambda: container.adapters.deliveries.sent_count() == 1)
    # Nothing left for the relay: still one letter after it runs.
    assert container.relay.run_once() == 0
    assert len(smtp.letters_to("alice@example.com")) == 1


def test_legacy_signup_also_sends_the_welcome_letter(client, agent, smtp):
    body = {"username": "bob", "email": "bob@example.com", "password": "bob's password"}
    assert client.post("/users/signup", json=body).status_code == 201
    [letter] = wait_for_letters(smtp, "bob@example.com")
    assert "Hello bob," in text_of(letter)


def test_fifty_signups_give_fifty_letters_without_duplicates(
    client, container, agent_container, agent, smtp, caplog
):
    from tasktracker.agent.runner import Background

    second_agent = Background(agent_container, relay=False).start()
    try:
        assert second_agent.agent is not None and second_agent.agent.ready.wait(15)
        for i in range(50):
            signup(client, f"crowd{i:02d}")
        wait_until(lambda: smtp.count >= 50, timeout=60)
        wait_until(lambda: container.adapters.outbox.pending_count() == 0)

        # The relay sends every event again (as after a crash before marking them sent).
        long_ago = datetime(2000, 1, 1, tzinfo=UTC)
        container.adapters.db.outbox.update_many(
            {}, {"$set": {"sent_at": None, "lease_until": long_ago}}
        )
        with caplog.at_level("INFO", logger="tasktracker.agent.consumer"):
            assert container.relay.run_once() == 50
            wait_until(lambda: caplog.text.count("duplicate ignored") >= 50, timeout=30)
    finally:
        second_agent.stop()
    recipients = sorted(m["To"] for m in smtp.collector.messages)
    assert recipients == sorted(f"crowd{i:02d}@example.com" for i in range(50))
    assert container.adapters.deliveries.sent_count() == 50


def test_poison_messages_go_to_the_dead_letter_queue_and_the_agent_keeps_running(
    client, agent, smtp, direct_amqp_url
):
    with Connection(direct_amqp_url) as conn:
        producer = conn.Producer()
        for body in (b"{not json", json.dumps({"event_id": "x", "type": "user.registered"})):
            producer.publish(
                body,
                exchange=EVENTS_EXCHANGE,
                routing_key=str(EventType.USER_REGISTERED),
                content_type="application/json",
                delivery_mode=2,
            )
        dlq = dead_letter_queue("welcome")(conn.default_channel)

        def dead_lettered() -> int:
            return dlq.queue_declare(passive=True).message_count

        wait_until(lambda: dead_lettered() == 2)
        first = dlq.get(no_ack=True)
        assert first.body in (b"{not json", "{not json")
        assert "not an event" in first.headers["x-tasktracker-reason"]

    signup(client, "survivor")
    [letter] = wait_for_letters(smtp, "survivor@example.com")
    assert "Hello survivor," in text_of(letter)
