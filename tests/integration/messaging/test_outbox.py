"""The outbox: events written with their change, and relays that share the work safely."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from tasktracker.domain.events import Event, EventType
from tasktracker.services.events import OutboxRelay
from tests.support.api import Api


def test_task_changes_write_their_events_with_the_request_id(api: Api, client, container):
    reporter, assignee = api.member(), api.member()
    r = client.post(
        "/api/v1/tasks",
        json={"title": "ship it", "assignee": assignee.username},
        headers={**reporter.headers, "X-Request-ID": "req-create"},
    )
    assert r.status_code == 201
    task = r.get_json()
    r = client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"status": "in_progress"},
        headers={**assignee.headers, "X-Request-ID": "req-start"},
    )
    assert r.status_code == 200

    events = list(
        container.adapters.db.outbox.find({"type": {"$regex": "^task"}}).sort("occurred_at")
    )
    by_type = {(e["type"], e["correlation_id"]) for e in events}
    assert by_type == {
        (EventType.TASK_CREATED, "req-create"),
        (EventType.TASK_ASSIGNED, "req-create"),
        (EventType.TASK_UPDATED, "req-start"),
        (EventType.TASK_STATUS_CHANGED, "req-start"),
    }
    changed = next(e for e in events if e["type"] == EventType.TASK_STATUS_CHANGED)
    assert changed["payload"]["task_id"] == task["id"]
    assert changed["payload"]["previous_status"] == "open"
    assert changed["payload"]["status"] == "in_progress"


def test_a_failed_change_writes_no_event(client, container):
    body = {"username": "twin", "email": "twin@example.com", "password": "twin password"}
    assert client.post("/api/v1/auth/signup", json=body).status_code == 201
    again = {**body, "username": "twin2"}
    assert client.post("/api/v1/auth/signup", json=again).status_code == 409
    assert container.adapters.db.outbox.count_documents({}) == 1


class RecordingPublisher:
    """Stands in for the broker to count what each relay published."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self._lock = threading.Lock()

    def publish(self, event: Event) -> None:
        self.publish_many([event])

    def publish_many(self, events: Sequence[Event]) -> None:
        with self._lock:
            self.published += [e.event_id for e in events]


@pytest.mark.parametrize(("entries", "batch"), [(60, 100), (400, 30)])
def test_relays_in_parallel_publish_each_entry_once(container, entries, batch):
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    events = [Event(EventType.TASK_CREATED, {"n": i}, occurred_at=long_ago) for i in range(entries)]
    container.adapters.outbox.add(events)
    publisher = RecordingPublisher()
    relays = [
        OutboxRelay(container.adapters.outbox, publisher, container.clock, timedelta(minutes=5))
        for _ in range(4)
    ]
    threads = [threading.Thread(target=relay.run_once, kwargs={"batch": batch}) for relay in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(publisher.published) == sorted(e.event_id for e in events)
    assert container.adapters.outbox.pending_count() == 0
    sent = container.adapters.db.outbox.find_one({"_id": events[0].event_id})
    assert sent["expire_at"] > sent["sent_at"]
