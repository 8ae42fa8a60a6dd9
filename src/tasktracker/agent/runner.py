"""Background work of a process: the SOA agent, its notification flusher, its webhook senders
and the outbox relay, each in its own thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from tasktracker import __version__
from tasktracker.adapters.broker import (
    QUEUE_BINDINGS,
    WEBHOOKS_QUEUE,
    Broker,
    webhook_send_queue,
)
from tasktracker.adapters.mongo.alerts import NewestCommentReader
from tasktracker.adapters.mongo.notifications import NotificationStore
from tasktracker.adapters.mongo.projects import ProjectRepository
from tasktracker.adapters.mongo.webhooks import WebhookDeliveryRepository, WebhookRepository
from tasktracker.adapters.queue_migration import Migrated, migrate_queues
from tasktracker.adapters.webhook_http import WebhookSender
from tasktracker.agent.consumer import Agent, RetryPolicy
from tasktracker.agent.letters import LetterWriter
from tasktracker.agent.notifier import Notifier, NotifyPolicy
from tasktracker.agent.webhooks import Dispatcher, SendWorker, WebhookPolicy, make_requeue
from tasktracker.bootstrap import Container
from tasktracker.settings import Settings

log = logging.getLogger(__name__)


def retry_policy(c: Container) -> RetryPolicy:
    s = c.settings
    return RetryPolicy(s.agent_max_attempts, s.agent_retry_delay, s.agent_retry_delay_max)


def build_writer(c: Container) -> LetterWriter:
    return LetterWriter(
        c.services.password_resets,
        c.settings.resolved_public_url,
        comments=NewestCommentReader(c.adapters.db),
    )


def build_notifier(c: Container, writer: LetterWriter) -> Notifier:
    s = c.settings
    policy = NotifyPolicy(
        window=timedelta(seconds=s.notify_coalesce_seconds),
        lease=timedelta(seconds=s.delivery_lease),
        retry=retry_policy(c),
    )
    store = NotificationStore(c.adapters.client, c.adapters.db)
    return Notifier(store, writer, c.adapters.mailer, c.clock, policy)


def webhook_policy(s: Settings) -> WebhookPolicy:
    return WebhookPolicy(
        delays=s.webhook_retry_delays,
        disable_after=s.webhook_disable_after,
        lease=timedelta(seconds=s.webhook_timeout + 5),
        per_hook=max(1, s.webhook_workers // 2),
    )


def prepare_queues(broker: Broker, settings: Settings, timeout: float = 60.0) -> list[Migrated]:
    """Migrate the broker's durable queues that an earlier version (or another
    QUEUE_DELIVERY_LIMIT) declared otherwise: adapters/queue_migration.py."""
    policy = webhook_policy(settings)
    delays = [d.total_seconds() for d in (*policy.delays, policy.wait)]
    return migrate_queues(broker, delays, timeout)


def build_dispatcher(c: Container) -> Dispatcher:
    s, a = c.settings, c.adapters
    policy = webhook_policy(s)
    sender = WebhookSender(
        a.webhook_targets, s.webhook_timeout, f"TaskTracker-Webhooks/{__version__}"
    )
    return Dispatcher(
        WebhookRepository(a.db),
        WebhookDeliveryRepository(a.db),
        a.users,
        ProjectRepository(a.db),
        sender,
        make_requeue(a.broker),
        c.events,
        c.clock,
        policy,
    )


def build_senders(c: Container, dispatcher: Dispatcher) -> list[SendWorker]:
    broker = c.adapters.broker
    requeue = make_requeue(broker)
    queue = webhook_send_queue(broker.config.delivery_limit)
    wait = dispatcher.policy.wait
    return [
        SendWorker(broker.consumer_connection(), queue, dispatcher, requeue, wait)
        for _ in range(c.settings.webhook_workers)
    ]


def build_agent(
    c: Container, writer: LetterWriter, notifier: Notifier, dispatcher: Dispatcher
) -> Agent:
    s = c.settings
    return Agent(
        c.adapters.broker.consumer_connection(),
        c.adapters.broker,
        c.adapters.deliveries,
        writer.builders(),
        c.adapters.mailer,
        c.clock,
        retry=retry_policy(c),
        prefetch=s.agent_prefetch,
        lease=timedelta(seconds=s.delivery_lease),
        handlers=notifier.handlers(),
        queue_handlers={WEBHOOKS_QUEUE: dispatcher.handlers()},
    )


class Background:
    """Starts the relay and (optionally) the agent with its flusher; `stop()` ends them all."""

    def __init__(self, container: Container, *, agent: bool = True, relay: bool = True) -> None:
        self._container = container
        self._stop = threading.Event()
        self.agent: Agent | None = None
        self.notifier: Notifier | None = None
        self.dispatcher: Dispatcher | None = None
        self.senders: list[SendWorker] = []
        self._threads: list[threading.Thread] = []
        # Set once the durable queues are as this version declares them (migrated when needed):
        # the agent and the webhook senders consume only then.
        self.queues_ready = threading.Event()
        if agent:
            writer = build_writer(container)
            self.notifier = build_notifier(container, writer)
            self.dispatcher = build_dispatcher(container)
            self.agent = build_agent(container, writer, self.notifier, self.dispatcher)
            self.senders = build_senders(container, self.dispatcher)
            self._thread(self._run_agent, "agent")
            self._thread(self._run_flusher, "notification-flusher")
            for number, sender in enumerate(self.senders, 1):
                self._thread(partial(self._run_sender, sender), f"webhook-sender-{number}")
        if relay:
            self._thread(self._run_relay, "outbox-relay")

    def _thread(self, target: Callable[[], None], name: str) -> None:
        self._threads.append(threading.Thread(target=target, name=name, daemon=True))

    def start(self) -> Background:
        for thread in self._threads:
            thread.start()
        return self

    def _prepare_queues(self) -> None:
        """Migrate the queues if they need it, trying again until it is done or we stop: a
        consumer of the earlier version still attached, or another agent migrating, is waited
        for (nothing is consumed meanwhile, nothing is lost)."""
        while not self._stop.is_set():
            try:
                prepare_queues(self._container.adapters.broker, self._container.settings)
            except Exception as exc:
                log.warning("agent: queues not ready (%s); trying again in 5s", exc)
                self._stop.wait(5.0)
                continue
            self.queues_ready.set()
            return

    def _run_agent(self) -> None:
        assert self.agent is not None
        self._prepare_queues()
        log.info("agent: consuming %s", ", ".join(QUEUE_BINDINGS))
        while not self._stop.is_set():
            try:
                self.agent.run()
            except Exception:
                log.exception("agent: unexpected error; restarting the consumer")
                self._stop.wait(1.0)

    def _run_sender(self, sender: SendWorker) -> None:
        while not self.queues_ready.wait(1.0):
            if self._stop.is_set():
                return
        while not self._stop.is_set():
            try:
                sender.run()
            except Exception:
                log.exception("webhooks: unexpected error; restarting the sender")
                self._stop.wait(1.0)

    def _run_flusher(self) -> None:
        assert self.notifier is not None
        self.notifier.run_forever(self._stop, self._container.settings.notify_flush_interval)

    def _run_relay(self) -> None:
        # Beside this process's agent, publish once the queues are migrated: until then a
        # queue of the earlier declaration refuses this version's (406), and nothing is lost by
        # waiting (the entries stay in the outbox).
        while self.agent is not None and not self.queues_ready.wait(1.0):
            if self._stop.is_set():
                return
        interval = self._container.settings.outbox_relay_interval
        self._container.relay.run_forever(self._stop, interval)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self.agent:
            self.agent.stop()
        for sender in self.senders:
            sender.stop()
        for thread in self._threads:
            thread.join(timeout)
