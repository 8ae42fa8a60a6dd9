"""Alert schedules through the resource API and the legacy routes, and the digest aggregation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tasktracker.adapters.mongo.alerts import PENDING_INDEX, pending_digest_pipeline
from tasktracker.domain.events import EventType
from tasktracker.domain.schedules import ScheduleKind
from tasktracker.services.alerts import DigestPolicy
from tests.support.api import raw
from tests.support.commands import run_cli
from tests.support.problems import assert_problem
from tests.support.times import iso, soon

SCHEDULES = "/api/v1/alerts/schedules"
ALERTS = str(EventType.ALERTS_PENDING_TASKS)
ZONE_BERLIN = ZoneInfo("Europe/Berlin")


# --- resource API ------------------------------------------------------------------------------


def test_schedules_are_admin_only(api):
    alice = api.member()
    assert_problem(api.client.get(SCHEDULES), 401)
    assert_problem(api.client.post(SCHEDULES, json={"type": "now"}), 401)
    assert_problem(api.client.delete(f"{SCHEDULES}/x"), 401)
    assert_problem(api.client.get(SCHEDULES, headers=alice.headers), 403)
    assert_problem(api.client.post(SCHEDULES, json={"type": "now"}, headers=alice.headers), 403)
    assert_problem(api.client.delete(f"{SCHEDULES}/x", headers=alice.headers), 403)
    assert api.container.adapters.db.alert_schedules.count_documents({}) == 0


def test_create_list_and_delete_schedules(api):
    boss = api.admin()
    run_at = soon()
    once = api.client.post(
        SCHEDULES, json={"type": "once", "run_at": iso(run_at)}, headers=boss.headers
    )
    assert once.status_code == 201, once.get_json()
    assert once.headers["Location"] == f"{SCHEDULES}/{once.get_json()['id']}"
    assert once.get_json()["next_run_time"] == iso(run_at)
    daily = api.client.post(
        SCHEDULES,
        json={"type": "daily", "time": "09:00", "timezone": "Europe/Berlin"},
        headers=boss.headers,
    ).get_json()
    assert (daily["type"], daily["time"], daily["timezone"]) == ("daily", "09:00", "Europe/Berlin")
    next_daily = datetime.fromisoformat(daily["next_run_time"])
    assert next_daily.astimezone(ZONE_BERLIN).strftime("%H:%M") == "09:00"
    assert timedelta(0) < next_daily - datetime.now(UTC) <= timedelta(days=1)

    items = api.client.get(SCHEDULES, headers=boss.headers).get_json()
    assert [i["id"] for i in items["items"]] == [once.get_json()["id"], daily["id"]]
    assert items["next_cursor"] is None

    assert api.client.delete(f"{SCHEDULES}/{daily['id']}", headers=boss.headers).status_code == 204
    assert_problem(api.client.delete(f"{SCHEDULES}/{daily['id']}", headers=boss.headers), 404)
    items = api.client.get(SCHEDULES, headers=boss.headers).get_json()["items"]
    assert [i["id"] for i in items] == [once.get_json()["id"]]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "once", "run_at": "2001-01-01T00:00:00Z"},
        {"type": "once"},
        {"type": "daily", "time": "25:00", "timezone": "UTC"},
        {"type": "daily", "time": "9am", "timezone": "UTC"},
        {"type": "daily", "time": "09:00", "timezone": "Mars/Olympus"},
        {"type": "daily"},
        {"type": "now", "run_at": "2999-01-01T00:00:00Z"},
        {"type": "weekly"},
        {"type": "now", "extra": 1},
        {"type": "daily", "time": {"$ne": None}},
    ],
)
def test_invalid_schedules_are_422_problems(api, body):
    boss = api.admin()
    r = api.client.post(SCHEDULES, json=body, headers=boss.headers)
    problem = assert_problem(r, 422)
    assert "detail" in problem
    assert api.container.adapters.db.alert_schedules.count_documents({}) == 0


# --- legacy routes -----------------------------------------------------------------------------


def legacy_alert(api, token: str, body: dict):
    return api.client.post("/scheduler/scheduler_alert", json=body, headers=raw(token))


def test_legacy_payloads_schedule_jobs_listed_in_the_original_shape(api):
    boss = api.admin()
    run_at = soon()
    naive = run_at.replace(tzinfo=None).isoformat(sep=" ")  # '2026-05-01 10:00:00', no zone
    answers = [
        legacy_alert(api, boss.token, {"type": "once", "run_at": naive}),
        legacy_alert(api, boss.token, {"type": "daily", "run_at": naive}),
        legacy_alert(api, boss.token, {"type": "daily"}),
    ]
    for r in answers:
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["message"] == "Job scheduled successfully"
    ids = [r.get_json()["job_id"] for r in answers]

    jobs = api.client.get("/scheduler/scheduler_jobs", headers=raw(boss.token)).get_json()
    assert [j["id"] for j in jobs] == ids
    assert all(set(j) == {"id", "next_run_time", "trigger"} for j in jobs)
    once, daily_at, daily_default = jobs
    assert once["next_run_time"] == iso(run_at)  # a naive run_at is UTC
    assert once["trigger"].startswith("date[")
    assert daily_at["trigger"] == f"cron[hour='{run_at.hour}', minute='{run_at.minute}'] UTC"
    # without run_at: ALERT_DIGEST_TIME in ALERT_DIGEST_TIMEZONE (09:00 UTC by default)
    assert daily_default["trigger"] == "cron[hour='9', minute='0'] UTC"
    assert daily_default["next_run_time"].endswith("T09:00:00Z")


def test_legacy_now_and_its_errors(api):
    boss = api.admin()
    r = legacy_alert(api, boss.token, {"type": "now"})
    assert r.status_code == 200
    [doc] = api.container.adapters.db.alert_schedules.find()
    assert doc["_id"] == r.get_json()["job_id"] and doc["kind"] == "now"
    assert_problem(legacy_alert(api, boss.token, {"type": "once"}), 422)
    assert_problem(legacy_alert(api, boss.token, {"type": "once", "run_at": "tomorrow"}), 422)
    past = {"type": "once", "run_at": "2001-01-01 00:00:00"}
    assert_problem(legacy_alert(api, boss.token, past), 422)
    assert_problem(legacy_alert(api, boss.token, {"type": "hourly"}), 422)
    assert api.container.adapters.db.alert_schedules.count_documents({}) == 1


# --- the digest aggregation --------------------------------------------------------------------


def test_one_run_publishes_one_digest_per_active_member_in_digest_order(api, container):
    boss = api.admin()
    alice, bob, carol, idle = (api.member(n) for n in ("alice", "bob", "carol", "idle"))
    now = datetime.now(UTC)
    later = api.create_task(
        alice, title="later", assignee=alice.id, due_date=iso(now + timedelta(days=9))
    )
    undated = api.create_task(alice, title="undated", assignee=alice.id)
    soon_ = api.create_task(
        alice, title="soon", assignee=alice.id, due_date=iso(now + timedelta(hours=3))
    )
    late = api.create_task(
        alice, title="late", assignee=alice.id, due_date=iso(now - timedelta(days=1))
    )
    started = api.create_task(alice, title="started", assignee=alice.id, status="in_progress")
    done = api.create_task(alice, title="done", assignee=alice.id)
    api.finish_task(alice, done)
    api.create_task(bob, title="bob's", assignee=bob.id)
    api.create_task(carol, title="carol's", assignee=carol.id)
    api.create_task(idle, title="unassigned")
    r = api.client.patch(f"/api/v1/users/{carol.id}", json={"active": False}, headers=boss.headers)
    assert r.status_code == 200
    container.adapters.db.outbox.delete_many({})

    schedule = container.services.alerts.create(
        container.adapters.users.get(boss.id), ScheduleKind.NOW
    )
    result = container.services.alerts.fire(schedule.id)
    assert result is not None and result.members == 2

    entries = {e["payload"]["username"]: e for e in container.adapters.db.outbox.find()}
    assert set(entries) == {"alice", "bob"}  # carol is inactive, idle has nothing assigned
    assert all(e["type"] == EventType.ALERTS_PENDING_TASKS for e in entries.values())
    payload = entries["alice"]["payload"]
    assert payload["counts"] == {"total": 5, "overdue": 1, "due_soon": 1}
    titles = [t["title"] for t in payload["tasks"]]
    assert titles[:3] == ["late", "soon", "later"]
    assert set(titles[3:]) == {"undated", "started"}
    assert payload["tasks"][0]["overdue"] and payload["tasks"][1]["due_soon"]
    assert payload["email"] == "alice@example.com" and payload["more"] == 0
    assert {later["id"], undated["id"], soon_["id"], late["id"], started["id"]} == {
        t["id"] for t in payload["tasks"]
    }

    # The same run again is dropped; so is the run of a deleted schedule.
    assert container.services.alerts.fire(schedule.id) is None
    assert container.services.alerts.run(schedule, result.run_id, schedule.run_at) is None
    assert container.adapters.db.outbox.count_documents({}) == 2
    assert container.adapters.db.alert_runs.count_documents({}) == 1
    assert container.adapters.db.alert_schedules.count_documents({}) == 0  # one-offs leave


def test_digests_are_capped_but_counts_are_not(api, container):
    container.services.alerts._policy = DigestPolicy(max_tasks=3)
    alice = api.member("alice")
    now = datetime.now(UTC)
    for i in range(5):
        due = iso(now + timedelta(days=10 + i))
        api.create_task(alice, title=f"t{i}", assignee=alice.id, due_date=due)
    [digest] = container.services.alerts._digests.digests(now, now + timedelta(hours=48), 3)
    assert digest.total == 5 and [t.title for t in digest.tasks] == ["t0", "t1", "t2"]
    assert digest.to_payload("r")["more"] == 2


def test_the_digest_aggregation_reads_pending_tasks_through_an_index(container):
    now = datetime.now(UTC)
    plan = container.adapters.db.command(
        "explain",
        {
            "aggregate": "tasks",
            "pipeline": pending_digest_pipeline(now, now + timedelta(hours=48), 20),
            "cursor": {},
            "hint": PENDING_INDEX,
        },
    )
    text = str(plan)
    assert "IXSCAN" in text and PENDING_INDEX in text
    assert "COLLSCAN" not in text


def test_the_built_in_digest_follows_its_settings_and_cannot_be_deleted(api, container):
    boss = api.admin()
    digest = container.services.alerts.ensure_default_digest("07:30", "Europe/Berlin")
    assert digest is not None and digest.builtin
    [item] = api.client.get(SCHEDULES, headers=boss.headers).get_json()["items"]
    assert (item["id"], item["time"], item["timezone"]) == (
        "daily-digest",
        "07:30",
        "Europe/Berlin",
    )
    assert_problem(api.client.delete(f"{SCHEDULES}/daily-digest", headers=boss.headers), 409)

    container.services.alerts.ensure_default_digest("08:00", "UTC")  # the settings changed
    [item] = api.client.get(SCHEDULES, headers=boss.headers).get_json()["items"]
    assert (item["time"], item["timezone"]) == ("08:00", "UTC")
    assert container.services.alerts.ensure_default_digest("", "UTC") is None  # disabled
    assert api.client.get(SCHEDULES, headers=boss.headers).get_json()["items"] == []


def test_the_scheduler_command_refuses_a_bad_digest_time_in_one_line(settings, monkeypatch):
    monkeypatch.setenv("ALERT_DIGEST_TIME", "25:00")
    result = run_cli(settings, "scheduler")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "tasktracker: invalid setting ALERT_DIGEST_TIME: "
        "Value error, expected 'HH:MM' (00:00-23:59), or empty to disable"
    ]


def test_a_failed_daily_firing_is_retried_and_runs_once(api, container, monkeypatch):
    """A daily run has no second chance from the reconcile (its next job is tomorrow): the
    firing itself must retry."""
    from tasktracker.adapters.mongo.alerts import ScheduleRepository
    from tasktracker.domain.schedules import new_schedule
    from tasktracker.scheduler.runner import AlertScheduler

    # Only the schedule below: no built-in daily digest.
    monkeypatch.setattr(
        container, "settings", container.settings.model_copy(update={"alert_digest_time": ""})
    )
    alice = api.member("alice")
    api.create_task(alice, title="pending", assignee=alice.id)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    daily = new_schedule(ScheduleKind.DAILY, yesterday, time="00:00", timezone="UTC")
    ScheduleRepository(container.adapters.db).add(daily)  # due: today's 00:00 UTC has passed
    real_fire, calls = container.services.alerts.fire, []

    def flaky_fire(schedule_id: str):
        calls.append(schedule_id)
        if len(calls) == 1:
            raise ConnectionError("the database went away")
        return real_fire(schedule_id)

    monkeypatch.setattr(container.services.alerts, "fire", flaky_fire)
    runner = AlertScheduler(container).start_thread()
    try:
        assert runner.active.wait(10)
        runner._fire(daily.id)  # what the APScheduler job calls
    finally:
        runner.stop()
    assert calls == [daily.id, daily.id]
    [run] = container.adapters.db.alert_runs.find()
    assert run["_id"] == daily.run_id(run["fire_time"]) and run["members"] == 1
    assert run["fire_time"].hour == 0 and run["fire_time"].minute == 0
    assert container.adapters.db.outbox.count_documents({"type": ALERTS}) == 1
