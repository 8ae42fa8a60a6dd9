"""The agent's consumer: one kombu consumer per queue, manual acks, bounded retries with
backoff, dead-lettering, and delivery exactly once per event id.

An event type has either a letter builder (one letter per event, claimed in `deliveries`) or a
handler of its own (the notifier's fan-out into coalesced batches, agent/notifier.py); a queue
may have handlers of its own (the webhook dispatcher's fan-out, agent/webhooks.py)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from functools import partial
from typing import Any

from kombu import Connection
from kombu.message import Message
from kombu.mixins import ConsumerMixin

from tasktracker.adapters.broker import (
    DEAD_LETTER_EXCHANGE,
    QUEUE_BINDINGS,
    Broker,
    work_queue,
)
from tasktracker.adapters.mailer import Mailer, MailError
from tasktracker.adapters.mongo.deliveries import Claim, DeliveryRepository
from tasktracker.agent.letters import LetterBuilder, LetterError
from tasktracker.domain.events import Event, EventType, MalformedEvent, parse_event
from tasktracker.metrics import LETTERS_FAILED, LETTERS_SENT
from tasktracker.services.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    first_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int) -> float:
        return min(self.first_delay * 2 ** (attempt - 1), self.max_delay)


class Outcome(Enum):
    DONE = "done"  # acknowledge
    RETRY = "retry"  # a transient failure: wait, then try again
    POISON = "poison"  # can never succeed: dead-letter


Handler = Callable[[Event], Outcome]


class ReadyConsumer(ConsumerMixin):
    """A kombu consumer loop that says when it consumes (`ready`) and logs a lost broker under
    its `name`; `stop()` ends `run()` after the message in hand."""

    name = "agent"
    ready: threading.Event

    def on_consume_ready(
        self, connection: Connection, channel: Any, consumers: list[Any], **kwargs: Any
    ) -> None:
        self.ready.set()

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        log.warning(
            "%s: broker unavailable (%s); retrying in %.0fs",
            self.name,
            type(exc).__name__,
            interval,
        )

    def stop(self) -> None:
        self.should_stop = True


class Agent(ReadyConsumer):
    def __init__(
        self,
        connection: Connection,
        broker: Broker,
        deliveries: DeliveryRepository,
        builders: dict[EventType, LetterBuilder],
        mailer: Mailer,
        clock: Clock,
        *,
        retry: RetryPolicy,
        prefetch: int = 10,
        lease: timedelta = timedelta(minutes=2),
        handlers: Mapping[EventType, Handler] | None = None,
        queue_handlers: Mapping[str, Mapping[EventType, Handler]] | None = None,
    ) -> None:
        self.connection = connection
        self._broker = broker
        self._deliveries = deliveries
        self._handlers: dict[EventType, Handler] = {
            type_: partial(self.deliver, builder=builder) for type_, builder in builders.items()
        }
        self._handlers.update(handlers or {})
        # a queue whose events are handled its own way (the same event type means a letter on
        # one queue and a webhook delivery on another)
        self._queue_handlers = dict(queue_handlers or {})
        self._mailer = mailer
        self._clock = clock
        self._retry = retry
        self._prefetch = prefetch
        self._lease = lease
        self._stopping = threading.Event()
        self.ready = threading.Event()  # set once the queues are declared and consumed
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    # --- kombu wiring ---------------------------------------------------------------------

    def get_consumers(self, consumer_class: Any, channel: Any) -> list[Any]:
        for entity in self._broker.topology:
            entity(channel).declare()
        return [
            consumer_class(
                queues=[work_queue(name, self._broker.config.delivery_limit)],
                on_message=partial(self.on_message, name),
                prefetch_count=self._prefetch,
                no_ack=False,
            )
            for name in QUEUE_BINDINGS
        ]

    def stop(self) -> None:
        super().stop()
        self._stopping.set()

    # --- one message ----------------------------------------------------------------------

    def on_message(self, queue: str, message: Message) -> None:
        try:
            event = parse_event(message.body)
        except MalformedEvent as exc:
            self.dead_letter(queue, message, str(exc))
            return
        handler = self._queue_handlers.get(queue, self._handlers).get(event.type)
        if handler is None or str(event.type) not in QUEUE_BINDINGS[queue]:
            self.dead_letter(queue, message, f"no handler for {event.type} on {queue}")
            return
        for attempt in range(1, self._retry.max_attempts + 1):
            outcome = handler(event)
            if outcome is Outcome.DONE:
                message.ack()
                return
            if outcome is Outcome.POISON:
                break
            if attempt < self._retry.max_attempts and self._stopping.wait(
                self._retry.delay(attempt)
            ):
                return  # shutting down: unacknowledged, so the broker redelivers it
        self.dead_letter(queue, message, f"gave up on event {event.event_id}")

    def deliver(self, event: Event, builder: LetterBuilder) -> Outcome:
        """Claim the event, send its letter, record it sent — or say what to do instead."""
        try:
            claim = self._deliveries.claim(
                event.event_id, str(event.type), self.owner, self._clock(), self._lease
            )
        except Exception as exc:
            log.warning("agent: cannot claim event %s: %s", event.event_id, type(exc).__name__)
            return Outcome.RETRY
        if claim is Claim.SENT:
            log.info("agent: event %s already delivered; duplicate ignored", event.event_id)
            return Outcome.DONE
        if claim is Claim.BUSY:
            return Outcome.RETRY
        outcome = self.send(event, builder)
        if outcome is not Outcome.DONE:
            LETTERS_FAILED.labels(str(event.type)).inc()
            return outcome
        LETTERS_SENT.labels(str(event.type)).inc()
        try:
            self._deliveries.mark_sent(event.event_id, self.owner, self._clock())
        except Exception as exc:
            # The letter is out: sending it again would be worse than a stale claim.
            log.error("agent: event %s sent but not recorded: %s", event.event_id, exc)
        log.info(
            "agent: %s letter sent for event %s correlation_id=%s",
            event.type,
            event.event_id,
            event.correlation_id or "-",
            extra={"event_id": event.event_id, "correlation_id": event.correlation_id},
        )
        return Outcome.DONE

    def send(self, event: Event, builder: LetterBuilder) -> Outcome:
        """Hand the letter to the mailer; on failure give the claim up."""
        try:
            self._mailer.send(builder(event))
        except LetterError as exc:
            self._deliveries.release(event.event_id, self.owner)
            log.error("agent: event %s cannot become a letter: %s", event.event_id, exc)
            return Outcome.POISON
        except MailError as exc:
            self._deliveries.release(event.event_id, self.owner)
            log.warning("agent: letter for %s not sent: %s", event.event_id, exc)
            return Outcome.RETRY
        except Exception:
            # The lease ends by itself should the release fail too.
            log.exception("agent: letter for %s failed", event.event_id)
            self._deliveries.release(event.event_id, self.owner)
            return Outcome.RETRY
        return Outcome.DONE

    def dead_letter(self, queue: str, message: Message, reason: str) -> None:
        headers = {**(message.headers or {}), "x-tasktracker-reason": reason[:200]}
        try:
            self._broker.publish_raw(
                message.body if isinstance(message.body, bytes) else message.body.encode(),
                DEAD_LETTER_EXCHANGE,
                queue,
                headers=headers,
            )
        except Exception as exc:
            # The broker's own dead-lettering (x-dead-letter-exchange) takes over.
            log.warning("agent: dead-letter publish failed (%s); rejecting", type(exc).__name__)
            message.reject(requeue=False)
            return
        message.ack()
        log.warning("agent: message on %s dead-lettered: %s", queue, reason)
