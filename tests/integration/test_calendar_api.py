"""The calendar feed (DESIGN 14): `POST /users/me/calendar` answers a secret URL; the URL serves
the caller's assigned, not-done tasks with due dates as iCalendar VTODOs, read here with the
`icalendar` package; posting again replaces it; only the token's digest is stored."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from icalendar import Calendar

from tests.support.api import Account, Api
from tests.support.problems import assert_problem
from tests.support.times import iso, parse_time

PUBLIC_URL = "https://tasks.example.com"
CALENDAR = "/api/v1/users/me/calendar"
DUE = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"public_url": PUBLIC_URL}


def feed_url(api: Api, who: Account) -> str:
    r = api.client.post(CALENDAR, headers=who.headers)
    assert r.status_code == 201, r.get_json()
    assert set(r.get_json()) == {"url"}
    return r.get_json()["url"]


def path_of(url: str) -> str:
    assert url.startswith(f"{PUBLIC_URL}/ical/") and url.endswith(".ics"), url
    return url.removeprefix(PUBLIC_URL)


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1].removesuffix(".ics")


def read_feed(api: Api, url: str) -> dict[str, Any]:
    """The feed's VTODOs by UID (no Authorization header: the URL is the credential)."""
    r = api.client.get(path_of(url))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(r.get_data())
    assert (calendar["VERSION"], calendar["PRODID"]) == ("2.0", "-//TaskTracker//Calendar feed//EN")
    return {str(todo["UID"]): todo for todo in calendar.walk("VTODO")}


def uid(task: dict[str, Any]) -> str:
    return f"{task['id']}@tasktracker"


def test_the_feed_holds_the_callers_open_dated_tasks_with_every_field(api: Api):
    alice = api.member("alice")
    bob = api.member("bob")
    open_task = api.create_task(
        alice, title="Renew certificates", assignee="alice", due_date=iso(DUE), priority="critical"
    )
    started = api.create_task(
        bob, title="Rotate keys", assignee="alice", due_date=iso(DUE + timedelta(days=1))
    )
    r = api.client.patch(
        f"/api/v1/tasks/{started['id']}", json={"status": "in_progress"}, headers=alice.headers
    )
    started = r.get_json()
    done = api.create_task(alice, title="Done one", assignee="alice", due_date=iso(DUE))
    api.finish_task(alice, done)
    api.create_task(alice, title="No due date", assignee="alice")
    api.create_task(alice, title="Unassigned", due_date=iso(DUE))
    api.create_task(alice, title="Bob's", assignee="bob", due_date=iso(DUE))

    todos = read_feed(api, feed_url(api, alice))

    assert set(todos) == {uid(open_task), uid(started)}
    todo = todos[uid(open_task)]
    assert str(todo["SUMMARY"]) == f"{open_task['key']} Renew certificates"
    assert todo.decoded("DUE") == DUE
    assert (str(todo["STATUS"]), int(todo["PRIORITY"])) == ("NEEDS-ACTION", 1)
    assert str(todo["URL"]) == f"{PUBLIC_URL}/api/v1/tasks/{open_task['id']}"
    assert todo.decoded("LAST-MODIFIED") == parse_time(open_task["updated_at"]).replace(
        microsecond=0
    )
    assert todo.decoded("DTSTAMP") == todo.decoded("LAST-MODIFIED")
    other = todos[uid(started)]
    assert (str(other["STATUS"]), int(other["PRIORITY"])) == ("IN-PROCESS", 5)
    assert str(other["SUMMARY"]) == f"{started['key']} Rotate keys"
    assert other.decoded("LAST-MODIFIED") == parse_time(started["updated_at"]).replace(
        microsecond=0
    )


@pytest.mark.parametrize(("priority", "value"), [("high", 3), ("medium", 5), ("low", 7)])
def test_priorities_map_to_icalendar_values(api: Api, priority: str, value: int):
    alice = api.member("alice")
    task = api.create_task(alice, assignee="alice", due_date=iso(DUE), priority=priority)
    assert int(read_feed(api, feed_url(api, alice))[uid(task)]["PRIORITY"]) == value


def test_tasks_of_a_project_the_user_left_drop_out(api: Api):
    owner, alice = api.member("owner"), api.member("alice")
    api.create_project(owner, "OPS")
    api.set_role(owner, "OPS", alice, "member")
    ops_task = api.create_task(owner, project="OPS", assignee="alice", due_date=iso(DUE))
    url = feed_url(api, alice)
    assert set(read_feed(api, url)) == {uid(ops_task)}

    r = api.client.delete(f"/api/v1/projects/OPS/members/{alice.id}", headers=alice.headers)
    assert r.status_code == 204

    assert read_feed(api, url) == {}


def test_posting_again_replaces_the_url(api: Api):
    alice = api.member("alice")
    task = api.create_task(alice, assignee="alice", due_date=iso(DUE))
    old = feed_url(api, alice)
    assert set(read_feed(api, old)) == {uid(task)}

    new = feed_url(api, alice)

    assert new != old
    assert_problem(api.client.get(path_of(old)), 404)
    assert set(read_feed(api, new)) == {uid(task)}
    assert api.container.adapters.db.calendar_feeds.count_documents({}) == 1


def test_only_a_digest_of_the_token_is_stored(api: Api):
    alice = api.member("alice")
    token = token_of(feed_url(api, alice))
    assert len(token) >= 43  # 32 random bytes

    [doc] = api.container.adapters.db.calendar_feeds.find()

    assert doc["_id"] == alice.id
    assert doc["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(doc)


def test_unknown_tokens_and_disabled_users_get_404(api: Api):
    alice = api.member("alice")
    admin = api.admin()
    api.create_task(alice, assignee="alice", due_date=iso(DUE))
    url = feed_url(api, alice)
    assert_problem(api.client.get("/ical/not-a-token.ics"), 404)
    assert_problem(api.client.get(f"/ical/{token_of(url)[:-1]}x.ics"), 404)

    r = api.client.patch(f"/api/v1/users/{alice.id}", json={"active": False}, headers=admin.headers)
    assert r.status_code == 200, r.get_json()

    assert_problem(api.client.get(path_of(url)), 404)


def test_issuing_a_url_needs_a_signed_in_user(api: Api):
    assert_problem(api.client.post(CALENDAR), 401)


def test_the_feed_token_is_never_logged(api: Api, caplog):
    alice = api.member("alice")
    url = feed_url(api, alice)
    with caplog.at_level("DEBUG"):
        read_feed(api, url)
        assert api.client.get("/ical/not-a-feed.ics").status_code == 404
    assert token_of(url) not in caplog.text and "not-a-feed" not in caplog.text
    assert "/ical/<token>.ics" in caplog.text


def test_a_recurring_task_shows_its_rule_on_its_time_zones_wall_clock(api: Api):
    alice = api.member("alice")
    due = datetime(2031, 3, 27, 8, tzinfo=UTC)  # Thursday 09:00 in Berlin (winter time)
    weekly = api.create_task(
        alice, title="Water the plants", assignee=alice.id, due_date=iso(due),
        recurrence="FREQ=WEEKLY;BYDAY=MO,TH;COUNT=5", timezone="Europe/Berlin",
    )  # fmt: skip
    once = api.create_task(alice, title="Once", assignee=alice.id, due_date=iso(DUE))
    url = feed_url(api, alice)
    for status in ("in_progress", "done"):  # the second of five is now the open one
        r = api.client.patch(
            f"/api/v1/tasks/{weekly['id']}", json={"status": status}, headers=alice.headers
        )
        assert r.status_code == 200, r.get_json()
    second = api.client.get(f"/api/v1/tasks/{weekly['key']}", headers=alice.headers).get_json()
    second = api.client.get(
        f"/api/v1/tasks/{second['next_occurrence']}", headers=alice.headers
    ).get_json()

    r = api.client.get(path_of(url))
    calendar = Calendar.from_ical(r.get_data())
    todos = {str(todo["UID"]): todo for todo in calendar.walk("VTODO")}
    assert set(todos) == {uid(second), uid(once)}
    item = todos[uid(second)]
    rule = item["RRULE"]
    assert (rule["FREQ"], rule["BYDAY"], rule["COUNT"]) == (["WEEKLY"], ["MO", "TH"], [4])
    start = item["DTSTART"].dt
    assert str(start.tzinfo) == "Europe/Berlin" and (start.hour, start.minute) == (9, 0)
    assert (
        start.astimezone(UTC)
        == parse_time(second["due_date"])
        == datetime(2031, 3, 31, 7, tzinfo=UTC)
    )  # Monday 09:00 in Berlin, summer time by then
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert "RRULE" not in todos[uid(once)]
    assert todos[uid(once)]["DUE"].dt == DUE
