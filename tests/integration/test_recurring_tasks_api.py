"""Recurring tasks through the API on the real database (DESIGN 15): the rule's fields, the next
occurrence created when a task is set to done (DST-correct, linked both ways, one only however
many requests race), a finished series, and 422s naming what is wrong."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from tasktracker.domain.events import EventType
from tests.support.api import Account, Api
from tests.support.problems import assert_problem
from tests.support.times import parse_time

TASKS = "/api/v1/tasks"
# Friday 27 March 2026, 09:00 in Berlin (CET, UTC+1); Berlin moves to CEST (UTC+2) on the 29th.
FRIDAY_0900_BERLIN = "2026-03-27T08:00:00Z"
WEEKLY_MO_TH = {
    "recurrence": "FREQ=WEEKLY;BYDAY=MO,TH",
    "timezone": "Europe/Berlin",
    "due_date": FRIDAY_0900_BERLIN,
}


def patch(api: Api, who: Account, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    r = api.client.patch(f"{TASKS}/{ref}", json=body, headers=who.headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def finish(api: Api, who: Account, ref: str) -> dict[str, Any]:
    """Set the task to done (through in_progress); answer it as it is then."""
    api.finish_task(who, {"id": ref})
    return get(api, who, ref)


def get(api: Api, who: Account, ref: str) -> dict[str, Any]:
    r = api.client.get(f"{TASKS}/{ref}", headers=who.headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def series(api: Api, task: dict[str, Any]) -> list[dict[str, Any]]:
    """Every stored task with this title, first created first."""
    return list(api.container.adapters.db.tasks.find({"title": task["title"]}).sort("_id", 1))


def test_a_recurring_task_shows_its_rule_zone_and_place_in_the_series(api: Api):
    alice = api.member()
    task = api.create_task(alice, **{**WEEKLY_MO_TH, "recurrence": "rrule:freq=weekly;byday=mo,th"})
    assert task["recurrence"] == "FREQ=WEEKLY;BYDAY=MO,TH"
    assert (task["recurrence_from"], task["timezone"], task["occurrence"]) == (
        "due", "Europe/Berlin", 1,
    )  # fmt: skip
    assert task["previous_occurrence"] is None and task["next_occurrence"] is None

    plain = api.create_task(alice)
    assert (plain["recurrence"], plain["recurrence_from"], plain["timezone"]) == (
        None, "due", "UTC",
    )  # fmt: skip


def test_done_creates_the_next_occurrence_at_the_same_local_time_after_dst(api: Api):
    alice, bob = api.member(), api.member()
    task = api.create_task(alice, assignee=bob.id, labels=["ops"], **WEEKLY_MO_TH)

    done = finish(api, bob, task["key"])

    assert done["status"] == "done" and done["next_occurrence"]
    nxt = get(api, alice, done["next_occurrence"])
    # Monday 30 March, 09:00 in Berlin, now CEST: 07:00 UTC.
    assert parse_time(nxt["due_date"]) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert (nxt["status"], nxt["completed_at"], nxt["version"]) == ("open", None, 1)
    assert (nxt["title"], nxt["assignee"], nxt["reporter"], nxt["labels"]) == (
        task["title"], bob.id, alice.id, ["ops"],
    )  # fmt: skip
    assert (nxt["previous_occurrence"], nxt["occurrence"]) == (task["id"], 2)
    assert nxt["key"] != task["key"] and nxt["project_id"] == task["project_id"]
    assert (nxt["recurrence"], nxt["timezone"]) == ("FREQ=WEEKLY;BYDAY=MO,TH", "Europe/Berlin")


def test_the_next_occurrence_is_announced_and_in_the_activity(api: Api):
    alice = api.member()
    task = api.create_task(alice, **WEEKLY_MO_TH)
    nxt_id = finish(api, alice, task["key"])["next_occurrence"]

    created = api.container.adapters.db.outbox.find({"type": str(EventType.TASK_CREATED)})
    announced = [e["payload"] for e in created if e["payload"]["task_id"] == nxt_id]
    assert len(announced) == 1 and announced[0]["actor"] == alice.id
    r = api.client.get(f"{TASKS}/{nxt_id}/activity", headers=alice.headers)
    assert [e["verb"] for e in r.get_json()["items"]] == ["created"]


def test_a_series_ends_with_its_count(api: Api):
    alice = api.member()
    task = api.create_task(alice, recurrence="FREQ=DAILY;COUNT=2", due_date="2030-01-01T09:00Z")
    second = finish(api, alice, task["key"])["next_occurrence"]
    assert finish(api, alice, second)["next_occurrence"] is None
    assert [t["due_date"].day for t in series(api, task)] == [1, 2]


def test_removing_the_rule_ends_the_series(api: Api):
    alice = api.member()
    task = api.create_task(alice, **WEEKLY_MO_TH)
    patch(api, alice, task["key"], {"recurrence": None})
    assert finish(api, alice, task["key"])["next_occurrence"] is None
    assert len(series(api, task)) == 1


def test_done_again_after_a_reopen_creates_no_second_occurrence(api: Api):
    alice = api.member()
    task = api.create_task(alice, **WEEKLY_MO_TH)
    first = finish(api, alice, task["key"])["next_occurrence"]
    patch(api, alice, task["key"], {"status": "open"})
    assert finish(api, alice, task["key"])["next_occurrence"] == first
    assert len(series(api, task)) == 2


def test_racing_completions_create_one_next_occurrence(api: Api, app: Flask):
    alice = api.member()
    task = api.create_task(alice, **WEEKLY_MO_TH)
    patch(api, alice, task["key"], {"status": "in_progress"})

    def complete(_: int) -> int:
        with app.test_client() as client:
            url = f"{TASKS}/{task['id']}"
            return client.patch(url, json={"status": "done"}, headers=alice.headers).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(complete, range(6)))

    assert set(statuses) <= {200, 409} and 200 in statuses
    stored = series(api, task)
    assert len(stored) == 2
    assert stored[0]["next_occurrence"] == str(stored[1]["_id"])
    assert stored[1]["previous_occurrence"] == task["id"]


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"recurrence": "FREQ=MINUTELY", "due_date": "2030-01-01T09:00Z"}, "recurrence"),
        ({"recurrence": "FREQ=DAILY;INTERVAL=0", "due_date": "2030-01-01T09:00Z"}, "recurrence"),
        ({"recurrence": "every day", "due_date": "2030-01-01T09:00Z"}, "recurrence"),
        ({"recurrence": 7, "due_date": "2030-01-01T09:00Z"}, "recurrence"),
        ({**WEEKLY_MO_TH, "timezone": "Mars/Olympus"}, "timezone"),
        ({**WEEKLY_MO_TH, "recurrence_from": "whenever"}, "recurrence_from"),
    ],
)
def test_a_bad_rule_zone_or_basis_is_a_422_naming_the_field(
    api: Api, fields: dict[str, Any], where: str
):
    alice = api.member()
    r = api.client.post(TASKS, json={"title": "t", **fields}, headers=alice.headers)
    body = assert_problem(r, 422)
    assert [where] in [e["loc"][-1:] for e in body["errors"]]


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"recurrence": "FREQ=DAILY"}, "needs a due_date"),
        ({**WEEKLY_MO_TH, "recurrence": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "never matches"),
    ],
)
def test_a_rule_that_cannot_be_followed_is_a_422_saying_why(
    api: Api, fields: dict[str, Any], detail: str
):
    alice = api.member()
    r = api.client.post(TASKS, json={"title": "t", **fields}, headers=alice.headers)
    assert detail in assert_problem(r, 422)["detail"]


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"due_date": None}, "needs a due_date"),
        ({"timezone": None}, "timezone cannot be null"),
        ({"recurrence_from": None}, "recurrence_from cannot be null"),
        ({"timezone": "Nowhere/Land"}, "the request does not match"),
    ],
)
def test_a_patch_that_breaks_a_recurring_task_is_a_422(
    api: Api, change: dict[str, Any], detail: str
):
    alice = api.member()
    task = api.create_task(alice, **WEEKLY_MO_TH)
    r = api.client.patch(f"{TASKS}/{task['key']}", json=change, headers=alice.headers)
    assert detail in assert_problem(r, 422)["detail"]
    assert get(api, alice, task["key"]) == task
