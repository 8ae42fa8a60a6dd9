"""Every durable queue is a quorum queue, declared so explicitly (also on a broker whose default
queue type is classic), with at-least-once dead-lettering; the agent's queues and webhooks.send
carry `x-delivery-limit`, so a message whose consumer keeps dying before it acknowledges ends in
the dead-letter queue instead of being handed out for ever."""

from __future__ import annotations

import json

from kombu import Connection

from tasktracker.adapters.broker import (
    DELIVERY_LIMIT,
    QUEUE_BINDINGS,
    WEBHOOK_SEND,
    Broker,
    BrokerConfig,
    retry_queue,
)
from tasktracker.settings import Settings
from tests.support.broker import (
    classic_vhost,
    declare,
    queue_arguments,
    queue_types,
    waiting,
    welcome_events,
)
from tests.support.commands import start_agent
from tests.support.services import RABBIT_PORT, amqp_url
from tests.support.smtp import SmtpServer
from tests.support.waiting import wait_until

DEAD_LETTERS = '{"x-dead-letter-strategy","at-least-once"},{"x-overflow","reject-publish"}'


def test_every_durable_queue_is_a_quorum_queue_even_where_the_default_is_classic():
    with classic_vhost() as vhost:
        url = amqp_url(RABBIT_PORT, vhost)
        broker = Broker(BrokerConfig(url=url, delivery_limit=7))
        try:
            broker.publish_many(welcome_events(2))  # declares the topology
        finally:
            broker.close()
        declare(url, [retry_queue(1.5)])  # as a webhook attempt waiting 1.5 s declares it
        types, arguments = queue_types(vhost), queue_arguments(vhost)
        dead_letter_queues = {f"{name}.dlq" for name in [*QUEUE_BINDINGS, WEBHOOK_SEND]}
        consumed = {*QUEUE_BINDINGS, WEBHOOK_SEND}
        assert set(types) == consumed | dead_letter_queues | {"webhooks.retry.1500ms"}
        assert set(types.values()) == {"quorum"}
        for name in consumed:  # dead-lettered after 7 returns, without losing the message
            assert '{"x-delivery-limit",7}' in arguments[name], name
            assert DEAD_LETTERS in arguments[name], name
            assert '{"x-dead-letter-exchange","tasktracker.dead-letter"}' in arguments[name]
            assert f'{{"x-dead-letter-routing-key","{name}"}}' in arguments[name]
        for name in dead_letter_queues:  # kept for a person to look at: no limit, no consumer
            assert arguments[name] == '[{"x-queue-type","quorum"}]', name
        retry = arguments["webhooks.retry.1500ms"]
        assert '{"x-message-ttl",1500}' in retry and DEAD_LETTERS in retry
        assert '{"x-dead-letter-exchange","tasktracker.webhooks"}' in retry
        assert "x-delivery-limit" not in retry  # nobody consumes it: its messages expire
        assert waiting(url, "welcome") == 2


def test_the_default_delivery_limit_is_the_settings_default(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert Settings(jwt_secret="x" * 40).queue_delivery_limit == DELIVERY_LIMIT


def test_a_message_whose_consumer_keeps_dying_before_acknowledging_is_dead_lettered():
    with classic_vhost() as vhost:
        url = amqp_url(RABBIT_PORT, vhost)
        broker = Broker(BrokerConfig(url=url, delivery_limit=2))
        [event] = welcome_events(1, "doomed")
        try:
            broker.publish(event)
        finally:
            broker.close()
        counts = []
        for _ in range(3):  # handed out once, then again at each of its 2 returns
            with Connection(url) as conn:  # a consumer that dies before acknowledging
                channel = conn.channel()
                message = wait_until(lambda ch=channel: ch.basic_get("welcome", no_ack=False))
                counts.append(message.properties["application_headers"]["x-delivery-count"])
        assert counts == [0, 1, 2]
        dead = wait_until(lambda: take(url, "welcome.dlq"))
        assert json.loads(dead.body)["event_id"] == event.event_id
        assert dead.properties["message_id"] == event.event_id
        assert dead.properties["application_headers"]["x-first-death-reason"] == "delivery_limit"
        assert waiting(url, "welcome") == 0


def test_an_agent_killed_on_the_same_letter_again_and_again_leaves_it_in_the_dead_letter_queue(
    agent_settings: Settings, smtp: SmtpServer
):
    with classic_vhost() as vhost:
        url = amqp_url(RABBIT_PORT, vhost)
        settings = agent_settings.model_copy(update={"amqp_url": url})
        broker = Broker(BrokerConfig(url=url, delivery_limit=1))
        [event] = welcome_events(1, "crasher")
        try:
            broker.publish(event)  # declares the queues with x-delivery-limit 1
        finally:
            broker.close()
        try:
            for _ in range(2):  # the letter crashes its agent: here, killed while sending it
                smtp.collector.held.clear()
                smtp.collector.hold = True
                process = start_agent(
                    settings,
                    queue_delivery_limit=1,
                    delivery_lease=settings.delivery_lease,
                    agent_retry_delay=settings.agent_retry_delay,
                    agent_retry_delay_max=settings.agent_retry_delay_max,
                )
                try:
                    assert smtp.collector.held.wait(30), "the agent never started sending"
                finally:
                    process.kill()
                    process.wait(10)
        finally:
            smtp.collector.release()
        dead = wait_until(lambda: take(url, "welcome.dlq"), timeout=15)
        assert json.loads(dead.body)["event_id"] == event.event_id
        assert waiting(url, "welcome") == 0
        assert smtp.letters_to("crasher0@example.com") == []


def take(url: str, queue: str):
    """The next message of `queue`, taken off it (None when it is empty)."""
    with Connection(url) as conn:
        channel = conn.channel()
        return channel.basic_get(queue, no_ack=True)
