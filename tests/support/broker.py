"""Events to publish and what waits in a queue: for the tests of the broker adapter; a classic
vhost with the queues as the version before quorum queues declared them, for the migration."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from kombu import Connection, Exchange, Queue, binding

from tasktracker.adapters.broker import (
    DEAD_LETTER_EXCHANGE,
    EVENTS_EXCHANGE,
    QUEUE_BINDINGS,
    SEND_KEY,
    WEBHOOKS_EXCHANGE,
    delay_label,
    work_queue,
)
from tasktracker.domain.events import Event, EventType
from tests.support.services import rabbitmqctl


def welcome_events(count: int, prefix: str = "user", at: datetime | None = None) -> list[Event]:
    now = at or datetime.now(UTC)
    return [
        Event(
            EventType.USER_REGISTERED,
            {"username": f"{prefix}{n}", "email": f"{prefix}{n}@example.com"},
            now,
            correlation_id=f"batch-{n}",
        )
        for n in range(count)
    ]


def queued(url: str, queue: str = "welcome") -> list[tuple[dict, dict]]:
    """What waits in the queue (body and properties), taken off it."""
    taken = []
    with Connection(url) as conn:
        simple = conn.SimpleQueue(work_queue(queue), no_ack=True)
        while True:
            try:
                message = simple.get(timeout=0.5)
            except simple.Empty:
                break
            taken.append((message.payload, message.properties))
        simple.close()
    return taken


# --- the topology of the version before quorum queues (for the migration tests) ----------------


def previous_topology(retry_delays: tuple[float, ...] = ()) -> list[Exchange | Queue]:
    """The queues exactly as the previous version declared them: classic (no type), the work
    queues naming the dead-letter exchange, the retry queues with their TTL."""
    entities: list[Exchange | Queue] = [EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE, WEBHOOKS_EXCHANGE]
    for name, keys in QUEUE_BINDINGS.items():
        entities.append(
            Queue(
                name,
                bindings=[binding(EVENTS_EXCHANGE, routing_key=key) for key in keys],
                durable=True,
                queue_arguments={
                    "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE.name,
                    "x-dead-letter-routing-key": name,
                },
            )
        )
        entities.append(
            Queue(f"{name}.dlq", exchange=DEAD_LETTER_EXCHANGE, routing_key=name, durable=True)
        )
    entities.append(
        Queue("webhooks.send", exchange=WEBHOOKS_EXCHANGE, routing_key=SEND_KEY, durable=True)
    )
    for seconds in retry_delays:
        label = delay_label(seconds)
        entities.append(
            Queue(
                f"webhooks.retry.{label}",
                exchange=WEBHOOKS_EXCHANGE,
                routing_key=f"retry.{label}",
                durable=True,
                queue_arguments={
                    "x-message-ttl": round(seconds * 1000),
                    "x-dead-letter-exchange": WEBHOOKS_EXCHANGE.name,
                    "x-dead-letter-routing-key": SEND_KEY,
                },
            )
        )
    return entities


def declare(url: str, entities: list[Exchange | Queue]) -> None:
    with Connection(url) as conn:
        channel = conn.channel()
        for entity in entities:
            entity(channel).declare()
        channel.close()


def publish(url: str, body: bytes, exchange: str, routing_key: str, **properties: object) -> None:
    """One persistent JSON message, confirmed by the broker."""
    with Connection(url, transport_options={"confirm_publish": True}) as conn:
        conn.Producer().publish(
            body,
            exchange=exchange,
            routing_key=routing_key,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            retry=False,
            **properties,
        )


def queue_types(vhost: str) -> dict[str, str]:
    """Every queue of the vhost and its type (`classic`, `quorum`), from rabbitmqctl."""
    listed = rabbitmqctl("list_queues", "-p", vhost, "--no-table-headers", "name", "type")
    return dict(line.split("\t")[:2] for line in listed.strip().splitlines() if line)


def queue_arguments(vhost: str) -> dict[str, str]:
    """Every queue of the vhost and its arguments as rabbitmqctl prints them."""
    listed = rabbitmqctl("list_queues", "-p", vhost, "--no-table-headers", "name", "arguments")
    return dict(line.split("\t", 1) for line in listed.strip().splitlines() if line)


def waiting(url: str, queue: str) -> int:
    """Messages ready in the queue (RabbitMQ's own answer, not its delayed statistics)."""
    with Connection(url) as conn:
        channel = conn.channel()
        return int(channel.queue_declare(queue, passive=True).message_count)


@contextmanager
def classic_vhost() -> Iterator[str]:
    """A vhost of its own whose default queue type is classic (RabbitMQ's own default, as on a
    broker the previous version ran on); deleted at the end."""
    vhost = f"tasktracker-classic-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield vhost
    finally:
        rabbitmqctl("delete_vhost", vhost)
