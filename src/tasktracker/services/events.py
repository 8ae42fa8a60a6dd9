"""Events through the outbox: written in the state change's transaction, published after commit,
and republished by the relay when publishing did not happen (broker down, process killed)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from tasktracker.domain.events import Event, EventType
from tasktracker.domain.projects import Actor
from tasktracker.services.clock import Clock
from tasktracker.services.correlation import correlation_id
from tasktracker.services.ports import Outbox, Publisher, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


def make_event(type_: EventType, payload: dict[str, Any], now: datetime) -> Event:
    return Event(type=type_, payload=payload, occurred_at=now, correlation_id=correlation_id())


def webhook_fields(
    actor: Actor,
    project_id: str,
    project_key: str,
    data: BaseModel,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the payload of every event in WEBHOOK_EVENTS carries besides its own keys (DESIGN
    14): the project, who acted, `data` (the object as the API shows it) and `previous` (the old
    values of the fields that changed; empty for a creation, a deletion, an addition or a
    removal)."""
    return {
        "project_id": project_id,
        "project_key": project_key,
        "actor": actor.id,
        "actor_name": actor.user.username,
        "data": api_json(data),
        "previous": previous or {},
    }


def api_json(model: BaseModel) -> dict[str, Any]:
    """A response model as the API's JSON (api/presenters.json_response)."""
    return model.model_dump(mode="json", by_alias=True)


def changed_values(
    before: dict[str, Any], after: dict[str, Any], ignore: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """`previous`: the old values of the fields that differ between two API views of one
    object (but those in `ignore`)."""
    return {name: old for name, old in before.items() if name not in ignore and after[name] != old}


class OutboxEventRecorder:
    """Commits a change together with its events, then publishes them once, without retrying.

    After a failed publish the request path skips publishing for `cooldown` seconds, so a
    broker outage costs requests nothing; the relay sends what was left.
    """

    def __init__(
        self,
        new_uow: UnitOfWorkFactory,
        outbox: Outbox,
        publisher: Publisher,
        clock: Clock,
        cooldown: float = 5.0,
    ) -> None:
        self._new_uow = new_uow
        self._outbox = outbox
        self._publisher = publisher
        self._clock = clock
        self._cooldown = cooldown
        self._skip_until = 0.0

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        """`with recorder.transaction() as uow:` the change and `uow.record(...)`ed events
        commit together; the events are published once the block has committed."""
        with self._new_uow() as uow:
            yield uow
        self.publish(uow.events)

    def publish(self, events: list[Event]) -> None:
        if not events or time.monotonic() < self._skip_until:
            return
        try:
            if len(events) == 1:
                self._publisher.publish(events[0])
            else:  # one round trip for the confirms of the lot (a scheduler's batch, a fan-out)
                self._publisher.publish_many(events)
        except Exception as exc:
            log.warning(
                "%d event(s) (first: %s %s) left to the outbox relay: %s",
                len(events),
                events[0].type,
                events[0].event_id,
                type(exc).__name__,
            )
            self._skip_until = time.monotonic() + self._cooldown
            return
        self._mark_sent(events)

    def _mark_sent(self, events: list[Event]) -> None:
        try:
            if len(events) == 1:
                self._outbox.mark_sent(events[0].event_id, self._clock())
            else:
                self._outbox.mark_sent_many([e.event_id for e in events], self._clock())
        except Exception as exc:
            # The events are out; the relay may send them again, which the agent tolerates.
            log.warning(
                "%d outbox entry(ies) (first: %s) not marked sent: %s",
                len(events),
                events[0].event_id,
                type(exc).__name__,
            )


class OutboxRelay:
    """Publishes outbox entries nobody confirmed. Several relays may run at once: each entry is
    claimed atomically with a lease."""

    def __init__(
        self,
        outbox: Outbox,
        publisher: Publisher,
        clock: Clock,
        lease: timedelta = timedelta(seconds=30),
    ) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self._clock = clock
        self._lease = lease

    def run_once(self, limit: int = 500, batch: int = 100) -> int:
        """Publish up to `limit` pending entries, claimed and published `batch` at a time;
        stop at the first failure. Answer the count."""
        published = 0
        while published < limit:
            events = self._outbox.claim_pending(
                self._clock(), self._lease, min(batch, limit - published)
            )
            if not events:
                break
            ids = [e.event_id for e in events]
            try:
                self._publisher.publish_many(events)
            except Exception as exc:
                self._outbox.release(ids, self._clock())
                log.warning("outbox relay: broker unavailable: %s", type(exc).__name__)
                break
            self._outbox.mark_sent_many(ids, self._clock())
            published += len(events)
        if published:
            log.info("outbox relay published %d event(s)", published)
        return published

    def run_forever(self, stop: threading.Event, interval: float) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("outbox relay round failed")
            stop.wait(interval)
