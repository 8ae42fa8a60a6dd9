"""Moving RabbitMQ queues to their current declaration, messages included.

RabbitMQ refuses to declare a queue that exists with other arguments (406 PRECONDITION_FAILED):
a classic queue of an earlier version cannot become a quorum queue, nor can a quorum queue get
another `x-delivery-limit`, in place. Such a queue is moved through a holding queue, keeping its
name, with no message lost:

1. the holding queue `<name>.migrating` (quorum) is declared and bound like the queue, which is
   then unbound: new messages wait in the holding queue (a message published in between is in
   both: a duplicate);
2. the old queue's messages are moved into the holding queue (each republished with a publisher
   confirm, then acknowledged: a crash in between leaves a duplicate, never a loss);
3. the old queue is deleted once it is empty and nobody consumes it (`if-unused`, `if-empty`: a
   process of the earlier version still consuming it is waited for);
4. the queue is declared as it is now, with its bindings, and the holding queue unbound;
5. the holding queue's messages are moved into the queue (or, for a webhook retry queue, to
   `webhooks.send`: the attempt is made at once rather than waiting its whole delay again), and
   the holding queue is deleted.

Every step can be interrupted: the next run finds the holding queue, or the old declaration,
and carries on. Duplicates are harmless, as every consumer is idempotent per event id (the
`deliveries` claim, the notification marker, the webhook delivery id, the attempt number).
Only one process migrates at a time: it holds an exclusive queue of its connection as a lock,
which RabbitMQ drops with the connection should the process die.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import amqp
from amqp.exceptions import (
    AMQPNotImplementedError,
    NotFound,
    PreconditionFailed,
    ResourceLocked,
)
from kombu import Connection, Queue

from tasktracker.adapters.broker import (
    DEAD_LETTER_EXCHANGE,
    EVENTS_EXCHANGE,
    NO_WAIT,
    QUEUE_BINDINGS,
    QUORUM,
    SEND_KEY,
    WEBHOOK_SEND,
    WEBHOOKS_EXCHANGE,
    Broker,
    dead_letter_queue,
    retry_queue,
    webhook_send_queue,
    work_queue,
)

log = logging.getLogger(__name__)

HOLDING_SUFFIX = ".migrating"
# An exclusive queue (classic: a quorum queue cannot be exclusive) held while migrating.
LOCK_QUEUE = "tasktracker.queue-migration-lock"
# Rounds per queue: more than one only when a process of the earlier version declared the old
# queue again meanwhile.
ROUNDS = 10

T = TypeVar("T")


class MigrationIncomplete(Exception):
    """The queues could not be brought to their declaration yet (a consumer of the earlier
    version still attached, another process migrating, or the broker away); try again."""


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A durable queue as it is to be declared, and where its waiting messages belong."""

    queue: Queue
    drain_to: tuple[str, str] | None = None  # (exchange, routing key); None: the queue itself

    @property
    def name(self) -> str:
        return str(self.queue.name)

    @property
    def holding(self) -> str:
        return f"{self.name}{HOLDING_SUFFIX}"

    @property
    def target(self) -> tuple[str, str]:
        return self.drain_to or ("", self.name)

    def bindings(self) -> list[tuple[str, str]]:
        if self.queue.bindings:
            return [(b.exchange.name, b.routing_key) for b in self.queue.bindings]
        return [(self.queue.exchange.name, self.queue.routing_key)]


def durable_queues(delivery_limit: int, retry_delays: Iterable[float]) -> list[QueueSpec]:
    """Every durable queue of the topology, and the webhook retry queues of these delays."""
    specs: list[QueueSpec] = []
    for name in QUEUE_BINDINGS:
        specs += [QueueSpec(work_queue(name, delivery_limit)), QueueSpec(dead_letter_queue(name))]
    specs.append(QueueSpec(webhook_send_queue(delivery_limit)))
    specs.append(QueueSpec(dead_letter_queue(WEBHOOK_SEND)))
    for seconds in sorted(set(retry_delays)):
        specs.append(QueueSpec(retry_queue(seconds), drain_to=(WEBHOOKS_EXCHANGE.name, SEND_KEY)))
    return specs


@dataclass(frozen=True, slots=True)
class Migrated:
    queue: str
    moved: int  # messages moved into the new queue (or, from a retry queue, to webhooks.send)


class QueueMigrator:
    """Brings each queue of `specs` to its declaration; see the module's docstring."""

    def __init__(
        self,
        connection: Connection,
        specs: list[QueueSpec],
        *,
        poll: float = 0.5,
        confirm_timeout: float = 10.0,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self._connection = connection
        self._specs = specs
        self._poll = poll
        self._confirm_timeout = confirm_timeout
        self._sleep = sleep
        self._amqp: amqp.Connection | None = None

    # --- the two entry points ----------------------------------------------------------------

    def pending(self) -> list[str]:
        """The queues that need migrating; the others are declared (created when missing)."""
        self._connect()
        self._declare_exchanges()
        return [spec.name for spec in self._specs if not self._in_place(spec)]

    def run(self, timeout: float = 60.0) -> list[Migrated]:
        """Migrate every queue that needs it, holding the lock; raise MigrationIncomplete when
        that cannot be done within `timeout` seconds (nothing is lost: run again)."""
        deadline = time.monotonic() + timeout
        if not self.pending():
            return []
        done: list[Migrated] = []
        with self._lock(deadline):
            for spec in self._specs:
                if not self._in_place(spec):
                    moved = self._migrate(spec, deadline)
                    log.info("queues: %s migrated (%d message(s) moved)", spec.name, moved)
                    done.append(Migrated(spec.name, moved))
        return done

    # --- one queue -----------------------------------------------------------------------------

    def _in_place(self, spec: QueueSpec) -> bool:
        return self._declare(spec) and not self._exists(spec.holding)

    def _migrate(self, spec: QueueSpec, deadline: float) -> int:
        moved = 0
        for _ in range(ROUNDS):
            if not self._declare(spec):
                self._retire_old(spec, deadline)
                continue
            if not self._exists(spec.holding):
                return moved
            moved += self._empty_holding(spec, deadline)
        raise MigrationIncomplete(
            f"{spec.name}: declared with other arguments again and again (is a process of an "
            "earlier version still running?)"
        )

    def _retire_old(self, spec: QueueSpec, deadline: float) -> None:
        """Steps 1-3: the holding queue takes the bindings; the old queue is emptied into it,
        then deleted."""
        self._channel(
            lambda ch: ch.queue_declare(
                spec.holding, durable=True, auto_delete=False, arguments=dict(QUORUM)
            )
        )
        for exchange, key in spec.bindings():
            self._channel(lambda ch, e=exchange, k=key: ch.queue_bind(spec.holding, e, k))
        reported = None
        while True:
            # again each round: a process of the earlier version may have bound it again
            for exchange, key in spec.bindings():
                self._channel(lambda ch, e=exchange, k=key: ch.queue_unbind(spec.name, e, k))
            self._move(spec.name, "", spec.holding)
            if self._delete_if_idle(spec.name):
                return
            consumers = self._consumers(spec.name)
            if time.monotonic() >= deadline:
                raise MigrationIncomplete(
                    f"{spec.name}: {consumers} consumer(s) of its earlier declaration still "
                    "attached (an agent of the earlier version?); stop them"
                )
            if consumers != reported:  # once, and whenever the number changes
                log.warning("queues: %s waits for %d consumer(s) to go", spec.name, consumers)
                reported = consumers
            self._sleep(self._poll)

    def _empty_holding(self, spec: QueueSpec, deadline: float) -> int:
        """Steps 4-5: the queue (declared) takes the bindings back; the holding queue is emptied
        into it and deleted."""
        for exchange, key in spec.bindings():
            self._channel(lambda ch, e=exchange, k=key: ch.queue_unbind(spec.holding, e, k))
        exchange, key = spec.target
        moved = 0
        while True:
            moved += self._move(spec.holding, exchange, key)
            if self._delete_if_idle(spec.holding, quorum=True):
                return moved
            if time.monotonic() >= deadline:
                raise MigrationIncomplete(f"{spec.holding}: cannot be emptied and deleted")
            self._sleep(self._poll)

    # --- broker operations ---------------------------------------------------------------------

    def _move(self, source: str, exchange: str, routing_key: str) -> int:
        """Republish every message waiting in `source`, each confirmed before it is
        acknowledged (a message that cannot be routed is an error, never dropped)."""

        def move(ch: Any) -> int:
            ch.auto_decode = False  # the body's bytes as they are, whatever their encoding
            moved = 0
            while (message := ch.basic_get(source, no_ack=False)) is not None:
                ch.basic_publish_confirm(
                    republished(message),
                    exchange=exchange,
                    routing_key=routing_key,
                    mandatory=True,
                    confirm_timeout=self._confirm_timeout,
                )
                ch.basic_ack(message.delivery_tag)
                moved += 1
            return moved

        return self._channel(move)

    def _declare_exchanges(self) -> None:
        for exchange in (EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE, WEBHOOKS_EXCHANGE):
            self._channel(lambda ch, e=exchange: e(ch).declare())

    def _declare(self, spec: QueueSpec) -> bool:
        """Declare the queue (and its bindings); False when it exists with other arguments."""
        try:
            self._channel(lambda ch: spec.queue(ch).declare())
        except PreconditionFailed:
            return False
        return True

    def _exists(self, name: str) -> bool:
        try:
            self._channel(lambda ch: ch.queue_declare(name, passive=True))
        except NotFound:
            return False
        return True

    def _passive(self, name: str) -> Any:
        """The queue's message and consumer counts; None when it does not exist."""
        try:
            return self._channel(lambda ch: ch.queue_declare(name, passive=True))
        except NotFound:
            return None

    def _consumers(self, name: str) -> int:
        declared = self._passive(name)
        return int(declared.consumer_count) if declared else 0

    def _delete_if_idle(self, name: str, *, quorum: bool = False) -> bool:
        """Delete the (unbound) queue if it is empty and nobody consumes it; True when it is
        gone. A classic queue is deleted with `if-unused` and `if-empty`, so nothing that arrives
        meanwhile is lost; RabbitMQ 3.x refuses those flags for a quorum queue, which is deleted
        right after it was seen idle instead."""
        declared = self._passive(name)
        if declared is None:
            return True
        if declared.message_count or declared.consumer_count:
            return False
        if not quorum:
            deleted = self._delete_atomically(name)
            if deleted is not None:
                return deleted
        left = self._channel(lambda ch: ch.queue_delete(name))
        if left:
            log.error("queues: %d message(s) arrived in %s as it was deleted", left, name)
        return True

    def _delete_atomically(self, name: str) -> bool | None:
        """Delete with `if-unused` and `if-empty`: True when gone, False when refused (not
        idle), None when the queue is a quorum queue. On a connection of its own: RabbitMQ
        answers those flags on a quorum queue by closing the connection (540)."""
        with self._connection.clone() as probe:
            nodes = max(1, len(probe.alt))
            probe.ensure_connection(max_retries=nodes, **NO_WAIT)
            channel = probe.connection.channel()
            try:
                channel.queue_delete(name, if_unused=True, if_empty=True)
            except PreconditionFailed:
                return False
            except NotFound:
                return True
            except AMQPNotImplementedError:
                return None
            return True

    @contextmanager
    def _lock(self, deadline: float) -> Iterator[None]:
        channel = self._raw().channel()
        while True:
            try:
                channel.queue_declare(
                    LOCK_QUEUE,
                    durable=False,
                    exclusive=True,
                    auto_delete=True,
                    arguments={"x-queue-type": "classic"},
                )
                break
            except ResourceLocked:
                if time.monotonic() >= deadline:
                    raise MigrationIncomplete("another process is migrating the queues") from None
                channel = self._raw().channel()
                self._sleep(self._poll)
        try:
            yield
        finally:
            with suppress(Exception):
                channel.queue_delete(LOCK_QUEUE)
                channel.close()

    def _connect(self) -> None:
        """One connection for a whole run (the lock lives as long as it): should it drop, the
        run fails rather than carry on without the lock."""
        if self._amqp is None:
            nodes = max(1, len(self._connection.alt))  # `amqp://a//;amqp://b//`: each once
            self._connection.ensure_connection(max_retries=nodes, **NO_WAIT)
            self._amqp = self._connection.connection

    def _raw(self) -> amqp.Connection:
        assert self._amqp is not None, "pending() or run() connects first"
        return self._amqp

    def _channel(self, operation: Callable[[Any], T]) -> T:
        """Run `operation` on a channel of its own: a refusal (404, 406) closes the channel."""
        channel = self._raw().channel()
        try:
            return operation(channel)
        finally:
            if channel.is_open:
                with suppress(Exception):
                    channel.close()


def republished(message: amqp.Message) -> amqp.Message:
    """The message as it was published: same body and properties, persistent; without the
    delivery count a quorum queue added (the next queue counts afresh)."""
    properties = dict(message.properties)
    headers = dict(properties.pop("application_headers", None) or {})
    headers.pop("x-delivery-count", None)
    properties["delivery_mode"] = 2
    return amqp.Message(message.body, application_headers=headers, **properties)


def migrate_queues(
    broker: Broker, retry_delays: Iterable[float], timeout: float = 60.0
) -> list[Migrated]:
    """Bring the broker's durable queues to their declaration (nothing to do in process)."""
    if broker.in_process:
        return []
    specs = durable_queues(broker.config.delivery_limit, retry_delays)
    with broker.consumer_connection() as connection:
        return QueueMigrator(connection, specs).run(timeout)
