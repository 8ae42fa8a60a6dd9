"""Scheduled alerts in tests: the schedules route, the digest letters, waiting for a run."""

from __future__ import annotations

from tasktracker.bootstrap import Container
from tasktracker.domain.events import EventType
from tests.support.api import Account, Api
from tests.support.waiting import wait_until

SCHEDULES = "/api/v1/alerts/schedules"
DIGEST_SUBJECT = "Your open TaskTracker tasks"
ALERTS = str(EventType.ALERTS_PENDING_TASKS)
LEASE = 2.0
POLL = 0.2


def digests_to(smtp, address: str) -> list:
    return [m for m in smtp.letters_to(address) if m["Subject"] == DIGEST_SUBJECT]


def create_schedule(api: Api, admin: Account, body: dict) -> str:
    r = api.client.post(SCHEDULES, json=body, headers=admin.headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def wait_for_run(container: Container, schedule_id: str, timeout: float = 20.0) -> dict:
    return wait_until(
        lambda: container.adapters.db.alert_runs.find_one({"schedule_id": schedule_id}), timeout
    )


def wait_until_delivered(container: Container, run: dict, timeout: float = 20.0) -> None:
    """Every event of the run has become a letter: nothing more can arrive for it."""
    wait_until(lambda: container.adapters.deliveries.sent_count(ALERTS) >= run["members"], timeout)
