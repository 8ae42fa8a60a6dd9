"""The webhook dispatcher: fans each event out into one delivery per subscribed hook, and makes
each delivery's attempts.

- Fan-out (on the `webhooks` queue, through the agent's consumer): the deliveries are written
  with ids stable per event and hook, so an event handled twice writes nothing new; each new
  delivery gets a message on `webhooks.send` for its first attempt.
- Attempts (WEBHOOK_WORKERS consumers of `webhooks.send`, one message at a time each): an
  attempt is claimed with a lease for its attempt number, posted, and recorded. An attempt to be
  made later goes to the retry queue of its delay (RabbitMQ dead-letters it back when its TTL
  ends), so nobody sleeps and one slow receiver holds at most `per_hook` workers.
- At least once: a worker killed mid-attempt leaves its message unacknowledged; RabbitMQ hands
  it to another worker, which waits out the lease and posts again with the same `webhook-id`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Protocol

from kombu import Connection, Queue
from kombu.message import Message
from pymongo.errors import PyMongoError

from tasktracker.adapters.broker import (
    SEND_KEY,
    WEBHOOKS_EXCHANGE,
    Broker,
    PublishFailed,
    delay_label,
    retry_queue,
)
from tasktracker.adapters.mongo.projects import ProjectRepository
from tasktracker.adapters.mongo.users import UserRepository
from tasktracker.adapters.mongo.webhooks import WebhookDeliveryRepository, WebhookRepository
from tasktracker.adapters.webhook_http import SendResult, WebhookSender
from tasktracker.agent.consumer import Outcome, ReadyConsumer
from tasktracker.domain.events import WEBHOOK_EVENTS, Event, EventType
from tasktracker.domain.webhooks import (
    Delivery,
    DeliveryStatus,
    Webhook,
    body_of,
    delivery_id,
    retriable,
)
from tasktracker.metrics import WEBHOOK_DELIVERIES, WEBHOOK_LATENCY
from tasktracker.services.clock import Clock
from tasktracker.services.events import make_event
from tasktracker.services.ports import EventRecorder

log = logging.getLogger(__name__)

GONE = 410


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    delays: tuple[timedelta, ...]  # WEBHOOK_RETRY_SCHEDULE: before the 2nd, 3rd, ... attempt
    disable_after: int  # WEBHOOK_DISABLE_AFTER failed attempts in a row
    lease: timedelta  # how long an attempt is reserved: longer than WEBHOOK_TIMEOUT
    per_hook: int  # most attempts posting to one hook at once

    @property
    def wait(self) -> timedelta:
        """How long an attempt that found its hook busy, or its lease held, waits."""
        return min(self.delays[0], timedelta(seconds=1))


class Requeue(Protocol):
    def now(self, delivery: str, attempt: int) -> None: ...
    def later(self, delivery: str, attempt: int, delay: timedelta) -> None: ...


def send_message(delivery: str, attempt: int) -> bytes:
    return json.dumps({"delivery_id": delivery, "attempt": attempt}).encode()


class BrokerRequeue:
    """Attempts as messages: on `webhooks.send` now, or in the retry queue of their delay."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    def now(self, delivery: str, attempt: int) -> None:
        self._broker.publish_raw(send_message(delivery, attempt), WEBHOOKS_EXCHANGE, SEND_KEY)

    def later(self, delivery: str, attempt: int, delay: timedelta) -> None:
        seconds = delay.total_seconds()
        self._broker.publish_raw(
            send_message(delivery, attempt),
            WEBHOOKS_EXCHANGE,
            f"retry.{delay_label(seconds)}",
            declare=[retry_queue(seconds)],
        )


class InProcessRequeue(BrokerRequeue):
    """For kombu's in-process transport (the embedded default), which has no message TTL: a
    timer publishes the attempt when its delay is over. Like that transport's queues, waiting
    attempts live only as long as the process."""

    def later(self, delivery: str, attempt: int, delay: timedelta) -> None:
        timer = threading.Timer(delay.total_seconds(), self.now, (delivery, attempt))
        timer.daemon = True
        timer.start()


def make_requeue(broker: Broker) -> BrokerRequeue:
    if broker.in_process:
        return InProcessRequeue(broker)
    return BrokerRequeue(broker)


class Dispatcher:
    def __init__(
        self,
        hooks: WebhookRepository,
        deliveries: WebhookDeliveryRepository,
        users: UserRepository,
        projects: ProjectRepository,
        sender: WebhookSender,
        requeue: Requeue,
        events: EventRecorder,
        clock: Clock,
        policy: WebhookPolicy,
    ) -> None:
        self._hooks = hooks
        self._deliveries = deliveries
        self._users = users
        self._projects = projects
        self._sender = sender
        self._requeue = requeue
        self._events = events
        self._clock = clock
        self.policy = policy
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def handlers(self) -> Mapping[EventType, Callable[[Event], Outcome]]:
        """The agent consumer's handler of each event on the `webhooks` queue."""
        handlers: dict[EventType, Callable[[Event], Outcome]] = dict.fromkeys(
            (*WEBHOOK_EVENTS, EventType.WEBHOOK_PING), self.fan_out
        )
        handlers[EventType.WEBHOOK_REDELIVER] = self.redeliver
        return handlers

    # --- fan-out -------------------------------------------------------------------------------

    def fan_out(self, event: Event) -> Outcome:
        try:
            made = [self._delivery(event, hook) for hook in self._targets(event)]
            if made and not self._deliveries.add_missing(made):
                log.info("webhooks: event %s fanned out already; duplicate ignored", event.event_id)
            for delivery in made:
                self._start(delivery.id)
        except (PyMongoError, PublishFailed) as exc:
            log.warning("webhooks: event %s not fanned out yet: %s", event.event_id, exc)
            return Outcome.RETRY
        return Outcome.DONE

    def redeliver(self, event: Event) -> Outcome:
        found = event.payload.get("delivery_id")
        if not isinstance(found, str):
            return Outcome.POISON
        try:
            self._deliveries.restart(found, event.event_id, self._clock())
            self._start(found)
        except (PyMongoError, PublishFailed) as exc:
            log.warning("webhooks: redelivery of %s not started yet: %s", found, exc)
            return Outcome.RETRY
        return Outcome.DONE

    def _targets(self, event: Event) -> list[Webhook]:
        if event.type is EventType.WEBHOOK_PING:
            hook = self._hooks.get(str(event.payload.get("webhook_id", "")))
            return [hook] if hook else []
        project_id = event.payload.get("project_id")
        if not isinstance(project_id, str):
            return []
        return [h for h in self._hooks.for_project(project_id) if h.wants(str(event.type))]

    def _delivery(self, event: Event, hook: Webhook) -> Delivery:
        now = self._clock()
        return Delivery(
            id=delivery_id(event.event_id, hook.id),
            webhook_id=hook.id,
            project_id=hook.project_id,
            event_id=event.event_id,
            type=str(event.type),
            body=json.dumps(asdict(body_of(event)), separators=(",", ":")),
            status=DeliveryStatus.PENDING,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )

    def _start(self, delivery: str) -> None:
        """The first attempt's message, unless that attempt was made already."""
        current = self._deliveries.get(delivery)
        if current and current.status is DeliveryStatus.PENDING and current.attempts == 0:
            self._requeue.now(delivery, 1)

    # --- one attempt ---------------------------------------------------------------------------

    def attempt(self, delivery: str, attempt: int) -> None:
        """Make attempt number `attempt` of a delivery, if it is still due."""
        now = self._clock()
        claimed = self._deliveries.claim(delivery, attempt, self.owner, now, self.policy.lease)
        if claimed is None:
            self._wait_if_leased(delivery, attempt)
            return
        hook = self._hooks.get(claimed.webhook_id)
        if hook is None or not (hook.active or claimed.type == EventType.WEBHOOK_PING):
            self._give_up(claimed, "the webhook is disabled" if hook else "the webhook is gone")
            return
        if self._deliveries.in_flight(hook.id, now) > self.policy.per_hook:
            self._deliveries.release(claimed.id, self.owner)
            self._requeue.later(claimed.id, attempt, self.policy.wait)
            return
        result = self._sender.post(
            hook.url, claimed.body, claimed.id, hook.signing_secrets(now), now
        )
        WEBHOOK_LATENCY.observe(result.duration_ms / 1000)
        self._record(claimed, hook, attempt, result)

    def _wait_if_leased(self, delivery: str, attempt: int) -> None:
        """Another worker holds this attempt (or held it and died): look again later. Any other
        reason means the message is stale: drop it."""
        current = self._deliveries.get(delivery)
        if current and current.status is DeliveryStatus.PENDING and current.attempts == attempt - 1:
            self._requeue.later(delivery, attempt, self.policy.wait)

    def _record(self, d: Delivery, hook: Webhook, attempt: int, result: SendResult) -> None:
        now = self._clock()
        d.attempts = attempt
        d.response_status, d.duration_ms = result.status, result.duration_ms
        d.response_excerpt, d.error = result.excerpt, result.error
        d.next_attempt_at = None
        status = result.status
        if status is not None and 200 <= status < 300:
            d.status = DeliveryStatus.SUCCEEDED
            self._deliveries.record_attempt(d, self.owner)
            self._hooks.count_success(hook.id)
            WEBHOOK_DELIVERIES.labels("succeeded").inc()
            return
        again = not result.refused and status != GONE and retriable(status)
        if again and attempt <= len(self.policy.delays):
            delay = self.policy.delays[attempt - 1]
            d.status, d.next_attempt_at = DeliveryStatus.PENDING, now + delay
            # the next attempt's message first: should this worker die now, its own message
            # comes back, finds this attempt not recorded, and makes it again
            self._requeue.later(d.id, attempt + 1, delay)
            WEBHOOK_DELIVERIES.labels("retried").inc()
        else:
            d.status = DeliveryStatus.FAILED
            WEBHOOK_DELIVERIES.labels("failed").inc()
        self._deliveries.record_attempt(d, self.owner)
        self._count_failure(hook, status)

    def _count_failure(self, hook: Webhook, status: int | None) -> None:
        if status == GONE:
            disabled = self._hooks.disable(hook.id, "the receiver answered 410 Gone")
            reason = "The receiver answered 410 Gone: it asked not to get deliveries any more."
        else:
            reason = (
                f"Its last {self.policy.disable_after} delivery attempts in a row failed "
                f"(the last one: {describe(status)})."
            )
            disabled = self._hooks.count_failure(
                hook.id,
                self.policy.disable_after,
                f"{self.policy.disable_after} failures in a row",
            )
        if disabled:
            log.warning("webhooks: hook %s disabled: %s", hook.id, reason)
            self._tell_owner(hook, reason)

    def _give_up(self, d: Delivery, error: str) -> None:
        d.status, d.error, d.next_attempt_at = DeliveryStatus.FAILED, error, None
        self._deliveries.record_attempt(d, self.owner)
        WEBHOOK_DELIVERIES.labels("failed").inc()

    def _tell_owner(self, hook: Webhook, reason: str) -> None:
        """A letter to whoever created the hook (through the outbox, so it is not lost)."""
        owner = self._users.get(hook.created_by)
        if owner is None or not owner.active:
            return
        payload: dict[str, Any] = {
            "webhook_id": hook.id,
            "url": hook.url,
            "project_id": hook.project_id,
            "project_key": self._project_key(hook),
            "reason": reason,
            "user_id": owner.id,
            "username": owner.username,
            "email": owner.email,
        }
        with self._events.transaction() as uow:
            uow.record(make_event(EventType.WEBHOOK_DISABLED, payload, self._clock()))

    def _project_key(self, hook: Webhook) -> str:
        project = self._projects.get(hook.project_id)
        return project.key if project else "a deleted project"


def describe(status: int | None) -> str:
    return "no answer" if status is None else f"HTTP {status}"


class SendWorker(ReadyConsumer):
    """One consumer of `webhooks.send`, one attempt at a time."""

    name = "webhooks"

    def __init__(
        self,
        connection: Connection,
        queue: Queue,
        dispatcher: Dispatcher,
        requeue: Requeue,
        wait: timedelta,
    ) -> None:
        self.connection = connection
        self._queue = queue  # webhooks.send, as the broker declares it
        self._dispatcher = dispatcher
        self._requeue = requeue
        self._wait = wait
        self.ready = threading.Event()

    def get_consumers(self, consumer_class: Any, channel: Any) -> list[Any]:
        self._queue(channel).declare()  # with its exchange and binding
        return [
            consumer_class(
                queues=[self._queue],
                on_message=self.on_message,
                prefetch_count=1,
                no_ack=False,
            )
        ]

    def on_message(self, message: Message) -> None:
        try:
            data = json.loads(message.body)
            delivery, attempt = str(data["delivery_id"]), int(data["attempt"])
        except (ValueError, KeyError, TypeError) as exc:
            log.error("webhooks: dropped a malformed send message: %s", type(exc).__name__)
            message.ack()
            return
        try:
            self._dispatcher.attempt(delivery, attempt)
        except Exception:
            log.exception(
                "webhooks: attempt %d of %s failed; trying again later", attempt, delivery
            )
            try:
                self._requeue.later(delivery, attempt, self._wait)
            except Exception:
                message.requeue()
                return
        message.ack()
