"""Background work of a process: the SOA agent and the outbox relay, each in its own thread."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from tasktracker.adapters.broker import QUEUE_BINDINGS
from tasktracker.agent.consumer import Agent, RetryPolicy
from tasktracker.agent.letters import LetterWriter
from tasktracker.bootstrap import Container

log = logging.getLogger(__name__)


def build_agent(c: Container) -> Agent:
    s = c.settings
    writer = LetterWriter(c.services.password_resets, s.resolved_public_url)
    return Agent(
        c.adapters.broker.consumer_connection(),
        c.adapters.broker,
        c.adapters.deliveries,
        writer.builders(),
        c.adapters.mailer,
        c.clock,
        retry=RetryPolicy(s.agent_max_attempts, s.agent_retry_delay, s.agent_retry_delay_max),
        prefetch=s.agent_prefetch,
        lease=timedelta(seconds=s.delivery_lease),
    )


class Background:
    """Starts the relay and (optionally) the agent; `stop()` ends both."""

    def __init__(self, container: Container, *, agent: bool = True, relay: bool = True) -> None:
        self._container = container
        self._stop = threading.Event()
        self.agent = build_agent(container) if agent else None
        self._threads: list[threading.Thread] = []
        if self.agent:
            self._threads.append(
                threading.Thread(target=self._run_agent, name="agent", daemon=True)
            )
        if relay:
            self._threads.append(
                threading.Thread(target=self._run_relay, name="outbox-relay", daemon=True)
            )

    def start(self) -> Background:
        for thread in self._threads:
            thread.start()
        return self

    def _run_agent(self) -> None:
        assert self.agent is not None
        log.info("agent: consuming %s", ", ".join(QUEUE_BINDINGS))
        while not self._stop.is_set():
            try:
                self.agent.run()
            except Exception:
                log.exception("agent: unexpected error; restarting the consumer")
                self._stop.wait(1.0)

    def _run_relay(self) -> None:
        interval = self._container.settings.outbox_relay_interval
        self._container.relay.run_forever(self._stop, interval)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self.agent:
            self.agent.stop()
        for thread in self._threads:
            thread.join(timeout)
