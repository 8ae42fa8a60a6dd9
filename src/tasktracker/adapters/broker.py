"""The message broker (kombu): topology, and a pooled, confirmed publisher.

The same code runs on RabbitMQ (`amqp://`) and on kombu's in-process `memory://` transport;
the composition root picks the URL. Dead-lettering is done by the agent publishing to the
dead-letter exchange, which works on both transports; on RabbitMQ the queues also name that
exchange in `x-dead-letter-exchange`, so a message rejected by any other consumer lands there too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Exchange, Queue, binding

from tasktracker.domain.events import WEBHOOK_EVENTS, Event, EventType
from tasktracker.metrics import EVENTS_FAILED, EVENTS_PUBLISHED

log = logging.getLogger(__name__)

EVENTS_EXCHANGE = Exchange("tasktracker.events", type="topic", durable=True)
DEAD_LETTER_EXCHANGE = Exchange("tasktracker.dead-letter", type="direct", durable=True)

WEBHOOKS_QUEUE = "webhooks"

# queue name -> the routing keys it is bound to (a message of any other type on it is refused)
QUEUE_BINDINGS: dict[str, tuple[str, ...]] = {
    "welcome": (str(EventType.USER_REGISTERED),),
    "password_reset": (str(EventType.PASSWORD_RESET_REQUESTED),),
    "alerts": (str(EventType.ALERTS_PENDING_TASKS),),
    "notifications": (
        str(EventType.TASK_ASSIGNED),
        str(EventType.TASK_STATUS_CHANGED),
        str(EventType.COMMENT_CREATED),
    ),
    "webhook_letters": (str(EventType.WEBHOOK_DISABLED),),
    # the dispatcher's fan-out: one delivery per event and subscribed hook (agent/webhooks.py)
    WEBHOOKS_QUEUE: (
        *(str(t) for t in WEBHOOK_EVENTS),
        str(EventType.WEBHOOK_PING),
        str(EventType.WEBHOOK_REDELIVER),
    ),
}

# Webhook attempts: a message per attempt on `webhooks.send`; an attempt to be made later waits
# in the retry queue of its delay, whose TTL dead-letters it back to `webhooks.send`.
WEBHOOKS_EXCHANGE = Exchange("tasktracker.webhooks", type="direct", durable=True)
SEND_KEY = "send"
WEBHOOK_SEND_QUEUE = Queue(
    "webhooks.send", exchange=WEBHOOKS_EXCHANGE, routing_key=SEND_KEY, durable=True
)


def delay_label(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def retry_queue(seconds: float) -> Queue:
    """The queue an attempt waits in for `seconds` before going back to `webhooks.send`. One
    queue per delay, named by it, so every message in it expires in order."""
    label = delay_label(seconds)
    return Queue(
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


def work_queue(name: str) -> Queue:
    return Queue(
        name,
        bindings=[binding(EVENTS_EXCHANGE, routing_key=key) for key in QUEUE_BINDINGS[name]],
        durable=True,
        queue_arguments={
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE.name,
            "x-dead-letter-routing-key": name,
        },
    )


def dead_letter_queue(name: str) -> Queue:
    return Queue(f"{name}.dlq", exchange=DEAD_LETTER_EXCHANGE, routing_key=name, durable=True)


def topology() -> list[Exchange | Queue]:
    """Everything to declare before publishing, so no event is routed to nowhere."""
    entities: list[Exchange | Queue] = [EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE, WEBHOOKS_EXCHANGE]
    for name in QUEUE_BINDINGS:
        entities += [work_queue(name), dead_letter_queue(name)]
    return [*entities, WEBHOOK_SEND_QUEUE]


class PublishFailed(Exception):
    """The broker did not confirm the message (unreachable, timed out, refused)."""


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    url: str
    connect_timeout: float = 0.5
    publish_timeout: float = 2.0
    confirms: bool = True
    pool_limit: int = 16


class Broker:
    """Pooled connections: a request borrows one to publish; nothing retries on that path."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        options: dict[str, Any] = {"max_retries": 0}
        if config.confirms:
            options["confirm_publish"] = True
        self._connection = Connection(
            config.url, connect_timeout=config.connect_timeout, transport_options=options
        )
        self._pool = self._connection.Pool(limit=config.pool_limit)
        self.connection_errors = self._connection.connection_errors
        self.channel_errors = self._connection.channel_errors

    def consumer_connection(self) -> Connection:
        """A long-lived connection of its own (the agent), which may retry reconnecting."""
        options = {"confirm_publish": True} if self.config.confirms else {}
        return Connection(
            self.config.url,
            connect_timeout=max(self.config.connect_timeout, 5.0),
            transport_options=options,
            heartbeat=0,
        )

    def publish(self, event: Event) -> None:
        try:
            self.publish_raw(
                json.dumps(event.to_message()).encode(),
                EVENTS_EXCHANGE,
                str(event.type),
                message_id=event.event_id,
                correlation_id=event.correlation_id,
            )
        except PublishFailed:
            EVENTS_FAILED.labels(str(event.type)).inc()
            raise
        EVENTS_PUBLISHED.labels(str(event.type)).inc()

    def publish_raw(
        self,
        body: bytes,
        exchange: Exchange,
        routing_key: str,
        declare: list[Queue] | None = None,
        **properties: Any,
    ) -> None:
        """Publish once, persistent, and wait for the broker's confirm; raise PublishFailed."""
        try:
            with self._pool.acquire(block=True, timeout=self.config.publish_timeout) as conn:
                try:
                    conn.Producer().publish(
                        body,
                        exchange=exchange,
                        routing_key=routing_key,
                        content_type="application/json",
                        content_encoding="utf-8",
                        delivery_mode=2,
                        declare=[*topology(), *(declare or [])],
                        retry=False,
                        timeout=self.config.publish_timeout,
                        confirm_timeout=self.config.publish_timeout,
                        **{k: v for k, v in properties.items() if v is not None},
                    )
                except Exception:
                    # A broken connection must not go back to the pool as if it were healthy.
                    conn.collect()
                    raise
        except Exception as exc:
            raise PublishFailed(f"{type(exc).__name__}: {exc}") from exc

    def ping(self) -> bool:
        try:
            with self._pool.acquire(block=True, timeout=self.config.connect_timeout) as conn:
                try:
                    # A round trip: a pooled connection may look open after the broker left.
                    channel = conn.channel()
                    EVENTS_EXCHANGE(channel).declare()
                    channel.close()
                    return True
                except Exception:
                    conn.collect()
                    raise
        except Exception as exc:
            log.warning("readiness: broker unavailable: %s", type(exc).__name__)
            return False

    def close(self) -> None:
        self._pool.force_close_all()
