"""The message broker (kombu): topology, and a pooled, confirmed publisher.

The same code runs on RabbitMQ (`amqp://`) and on kombu's in-process `memory://` transport;
the composition root picks the URL. Dead-lettering is done by the agent publishing to the
dead-letter exchange, which works on both transports; on RabbitMQ the queues also name that
exchange in `x-dead-letter-exchange`, so a message rejected by any other consumer, or handed out
more than `x-delivery-limit` times without an acknowledgement, lands there too.

Every durable queue is a quorum queue (`x-queue-type: quorum`): replicated on a cluster, so a
confirmed message survives the loss of a node. The in-process transport ignores the arguments.
A queue that exists with other arguments (a classic queue of an earlier version) cannot be
declared over; `adapters/queue_migration.py` moves it, messages included.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Exchange, Producer, Queue, binding
from kombu.common import maybe_declare

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
    "reminders": (str(EventType.TASK_REMINDER),),
    # the dispatcher's fan-out: one delivery per event and subscribed hook (agent/webhooks.py)
    WEBHOOKS_QUEUE: (
        *(str(t) for t in WEBHOOK_EVENTS),
        str(EventType.WEBHOOK_PING),
        str(EventType.WEBHOOK_REDELIVER),
    ),
}

# A message handed out this many times more without an acknowledgement (its consumer crashed,
# was killed or lost its connection before acknowledging, again and again) is dead-lettered
# instead of being handed out for ever: RabbitMQ's `x-delivery-limit` (QUEUE_DELIVERY_LIMIT).
DELIVERY_LIMIT = 20

QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}
# Dead-lettering that cannot lose the message: the queue keeps it until the dead-letter queue
# confirmed it (quorum queues only; RabbitMQ needs `reject-publish` overflow for it).
AT_LEAST_ONCE_DEAD_LETTERING: dict[str, Any] = {
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
}


def _dead_letters_to(exchange: Exchange, routing_key: str) -> dict[str, Any]:
    return {
        "x-dead-letter-exchange": exchange.name,
        "x-dead-letter-routing-key": routing_key,
        **AT_LEAST_ONCE_DEAD_LETTERING,
    }


# Webhook attempts: a message per attempt on `webhooks.send`; an attempt to be made later waits
# in the retry queue of its delay, whose TTL dead-letters it back to `webhooks.send`.
WEBHOOKS_EXCHANGE = Exchange("tasktracker.webhooks", type="direct", durable=True)
SEND_KEY = "send"
WEBHOOK_SEND = "webhooks.send"


def webhook_send_queue(delivery_limit: int = DELIVERY_LIMIT) -> Queue:
    return Queue(
        WEBHOOK_SEND,
        exchange=WEBHOOKS_EXCHANGE,
        routing_key=SEND_KEY,
        durable=True,
        queue_arguments={
            **QUORUM,
            **_dead_letters_to(DEAD_LETTER_EXCHANGE, WEBHOOK_SEND),
            "x-delivery-limit": delivery_limit,
        },
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
            **QUORUM,
            "x-message-ttl": round(seconds * 1000),
            **_dead_letters_to(WEBHOOKS_EXCHANGE, SEND_KEY),
        },
    )


def work_queue(name: str, delivery_limit: int = DELIVERY_LIMIT) -> Queue:
    return Queue(
        name,
        bindings=[binding(EVENTS_EXCHANGE, routing_key=key) for key in QUEUE_BINDINGS[name]],
        durable=True,
        queue_arguments={
            **QUORUM,
            **_dead_letters_to(DEAD_LETTER_EXCHANGE, name),
            "x-delivery-limit": delivery_limit,
        },
    )


def dead_letter_queue(name: str) -> Queue:
    """Where `name`'s dead letters wait (for a person to look at): no consumer, no limit."""
    return Queue(
        f"{name}.dlq",
        exchange=DEAD_LETTER_EXCHANGE,
        routing_key=name,
        durable=True,
        queue_arguments=dict(QUORUM),
    )


def topology(delivery_limit: int = DELIVERY_LIMIT) -> list[Exchange | Queue]:
    """Everything to declare before publishing, so no event is routed to nowhere."""
    entities: list[Exchange | Queue] = [EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE, WEBHOOKS_EXCHANGE]
    for name in QUEUE_BINDINGS:
        entities += [work_queue(name, delivery_limit), dead_letter_queue(name)]
    return [*entities, webhook_send_queue(delivery_limit), dead_letter_queue(WEBHOOK_SEND)]


# Every message: a JSON body, persistent (it survives a broker restart in a durable queue).
PERSISTENT_JSON: dict[str, Any] = {
    "content_type": "application/json",
    "content_encoding": "utf-8",
    "delivery_mode": 2,
}


def _body(event: Event) -> bytes:
    return json.dumps(event.to_message()).encode()


def _ids(event: Event) -> dict[str, str]:
    """An event's message id, and its correlation id when it has one."""
    ids = {"message_id": event.event_id}
    return ids | ({"correlation_id": event.correlation_id} if event.correlation_id else {})


# Failing over to the next node of a cluster: no pause in between.
NO_WAIT = {"interval_start": 0, "interval_step": 0, "interval_max": 0}


class PublishFailed(Exception):
    """The broker did not confirm the message (unreachable, timed out, refused)."""


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    url: str
    connect_timeout: float = 0.5
    publish_timeout: float = 2.0
    confirms: bool = True
    pool_limit: int = 16
    delivery_limit: int = DELIVERY_LIMIT  # QUEUE_DELIVERY_LIMIT: the same in every process


class Broker:
    """Pooled connections: a request borrows one to publish; nothing retries on that path.

    `publish` waits for the broker's confirm of its one message (py-amqp's `confirm_publish`: a
    round trip per message). `publish_many` publishes a batch on a channel of its own in confirm
    mode, then waits for the confirms of all of them: one round trip for the batch (RabbitMQ's
    "publishing messages in batches" strategy)."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.topology = topology(config.delivery_limit)
        # `amqp://node-1//;amqp://node-2//;…` (a cluster): a connection that cannot reach one
        # node tries the next at once; with one node, nothing retries.
        self._failover = {"max_retries": config.url.count(";"), **NO_WAIT}
        options: dict[str, Any] = dict(self._failover)
        if config.confirms:
            options["confirm_publish"] = True
        self._connection = Connection(
            config.url, connect_timeout=config.connect_timeout, transport_options=options
        )
        self._pool = self._connection.Pool(limit=config.pool_limit)
        # Batches: connections whose channels are put in confirm mode by `publish_many` itself
        # (with `confirm_publish`, py-amqp would wait for each message's confirm in turn).
        self._batching = config.confirms and self._connection.transport.driver_type == "amqp"
        self._batch_connection = Connection(
            config.url, connect_timeout=config.connect_timeout, transport_options=self._failover
        )
        self._batch_pool = self._batch_connection.Pool(limit=config.pool_limit)
        self.connection_errors = self._connection.connection_errors
        self.channel_errors = self._connection.channel_errors

    @property
    def in_process(self) -> bool:
        """kombu's in-process transport (the embedded default): no RabbitMQ, no queue types."""
        return self.config.url.startswith("memory")

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
            self.publish_raw(_body(event), EVENTS_EXCHANGE, str(event.type), **_ids(event))
        except PublishFailed:
            EVENTS_FAILED.labels(str(event.type)).inc()
            raise
        EVENTS_PUBLISHED.labels(str(event.type)).inc()

    def publish_many(self, events: Sequence[Event]) -> None:
        """Publish every event, persistent, and return once the broker confirmed all of them;
        raise PublishFailed otherwise (then none may be taken as sent, though some may be)."""
        if not events:
            return
        try:
            if self._batching:
                self._publish_confirmed_batch(events)
            else:  # kombu's in-process transport, or confirms off: one at a time
                for event in events:
                    self.publish_raw(_body(event), EVENTS_EXCHANGE, str(event.type), **_ids(event))
        except PublishFailed:
            for event in events:
                EVENTS_FAILED.labels(str(event.type)).inc()
            raise
        for event in events:
            EVENTS_PUBLISHED.labels(str(event.type)).inc()

    def _publish_confirmed_batch(self, events: Sequence[Event]) -> None:
        timeout = self.config.publish_timeout
        try:
            with self._batch_pool.acquire(block=True, timeout=timeout) as conn:
                try:
                    conn.ensure_connection(**self._failover)  # also after a `collect()`
                    nacked = self._publish_on_new_channel(conn, events, timeout)
                except Exception:
                    conn.collect()  # as in publish_raw: never back to the pool broken
                    raise
        except Exception as exc:
            raise PublishFailed(f"{type(exc).__name__}: {exc}") from exc
        if nacked:
            raise PublishFailed(f"the broker refused {nacked} of {len(events)} message(s)")

    def _publish_on_new_channel(
        self, conn: Connection, events: Sequence[Event], timeout: float
    ) -> int:
        """Publish on a fresh channel in confirm mode and wait for every confirm; answer how
        many the broker refused. A fresh channel numbers the confirms (delivery tags) from 1, so
        each matches one of the batch's messages and nothing is left over from an earlier use."""
        channel = conn.channel()
        channel.confirm_select()
        unconfirmed = set(range(1, len(events) + 1))
        nacked: list[int] = []

        def on_ack(tag: int, multiple: bool) -> None:
            unconfirmed.difference_update(
                [t for t in unconfirmed if t <= tag] if multiple else [tag]
            )

        def on_nack(tag: int, multiple: bool) -> None:
            before = len(unconfirmed)
            on_ack(tag, multiple)
            nacked.append(before - len(unconfirmed))

        channel.events["basic_ack"].add(on_ack)
        channel.events["basic_nack"].add(on_nack)
        for entity in self.topology:
            maybe_declare(entity, channel)
        producer = Producer(channel)
        for event in events:
            producer.publish(
                _body(event),
                exchange=EVENTS_EXCHANGE,
                routing_key=str(event.type),
                retry=False,
                timeout=timeout,
                **PERSISTENT_JSON,
                **_ids(event),
            )
        deadline = time.monotonic() + timeout
        while unconfirmed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(unconfirmed)} of {len(events)} message(s) unconfirmed")
            conn.drain_events(timeout=remaining)
        channel.close()
        return sum(nacked)

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
                        **PERSISTENT_JSON,
                        declare=[*self.topology, *(declare or [])],
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
                    # A round trip: a pooled connection may look open after the broker left
                    # (and one collected after a failure must connect again first).
                    conn.ensure_connection(**self._failover)
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
        self._batch_pool.force_close_all()
