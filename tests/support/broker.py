"""Events to publish and what waits in a queue: for the tests of the broker adapter."""

from __future__ import annotations

from datetime import UTC, datetime

from kombu import Connection

from tasktracker.adapters.broker import work_queue
from tasktracker.domain.events import Event, EventType


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
