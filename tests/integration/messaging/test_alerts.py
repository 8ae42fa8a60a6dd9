"""Scheduled alerts end to end: API -> alert_schedules -> the active scheduler (a thread, or
`tasktracker scheduler` processes) -> outbox -> RabbitMQ -> agent -> SMTP digest letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.alerts import (
    ALERTS,
    DIGEST_SUBJECT,
    LEASE,
    POLL,
    SCHEDULES,
    create_schedule,
    digests_to,
    wait_for_run,
    wait_until_delivered,
)
from tests.support.api import Account, Api, raw
from tests.support.scheduler import lease_holder_pid
from tests.support.smtp import html_of, text_of
from tests.support.times import iso
from tests.support.waiting import wait_until


def all_digests(smtp) -> list:
    return [m for m in smtp.collector.messages if m["Subject"] == DIGEST_SUBJECT]


def team(api: Api) -> tuple[Account, Account, Account, Account]:
    """An admin; alice with pending tasks, bob with only a finished one, carol disabled."""
    boss = api.admin("boss")
    alice, bob, carol = (api.member(name) for name in ("alice", "bob", "carol"))
    now = datetime.now(UTC)
    api.create_task(alice, title="write the report", assignee=alice.id)
    api.create_task(
        alice, title="pay the invoice", assignee=alice.id, due_date=iso(now - timedelta(days=2))
    )
    api.create_task(
        alice, title="call the bank", assignee=alice.id, due_date=iso(now + timedelta(hours=5))
    )
    finished = api.create_task(bob, title="bob's finished task", assignee=bob.id)
    api.finish_task(bob, finished)
    api.create_task(carol, title="carol's task", assignee=carol.id)
    r = api.client.patch(f"/api/v1/users/{carol.id}", json={"active": False}, headers=boss.headers)
    assert r.status_code == 200
    return boss, alice, bob, carol


def test_now_mails_one_digest_to_each_member_with_pending_tasks(
    api, container, agent, smtp, scheduler
):
    boss, alice, bob, carol = team(api)
    schedule_id = create_schedule(api, boss, {"type": "now"})

    run = wait_for_run(container, schedule_id)
    assert run["members"] == 1
    wait_until_delivered(container, run)
    [letter] = digests_to(smtp, alice.email)
    text = text_of(letter)
    assert "Hello alice," in text
    assert "you have 3 open task(s): 1 overdue, 1 due soon." in text
    # overdue first, then due soon, then the rest
    order = [text.index(t) for t in ("pay the invoice", "call the bank", "write the report")]
    assert order == sorted(order)
    assert "OVERDUE" in text and "pay the invoice" in html_of(letter)
    assert digests_to(smtp, bob.email) == []  # nothing pending
    assert digests_to(smtp, carol.email) == []  # disabled
    assert digests_to(smtp, boss.email) == []  # nothing assigned
    assert len(all_digests(smtp)) == 1
    # a one-off leaves the schedule list once it fired
    assert api.client.get(SCHEDULES, headers=boss.headers).get_json()["items"] == []


def test_once_in_two_seconds_fires_once(api, container, agent, smtp, scheduler):
    boss, alice, _bob, _carol = team(api)
    run_at = datetime.now(UTC) + timedelta(seconds=2)
    schedule_id = create_schedule(api, boss, {"type": "once", "run_at": iso(run_at)})
    assert container.adapters.db.alert_runs.count_documents({}) == 0

    run = wait_for_run(container, schedule_id)
    assert run["fire_time"] == run_at.replace(microsecond=run_at.microsecond // 1000 * 1000)
    assert run["recorded_at"] >= run["fire_time"]
    wait_until_delivered(container, run)
    assert len(digests_to(smtp, alice.email)) == 1
    # Its job is gone from APScheduler's store, and no run follows.
    wait_until(lambda: container.adapters.db.alert_jobs.count_documents({"_id": schedule_id}) == 0)
    assert container.adapters.db.alert_runs.count_documents({}) == 1


def test_a_deleted_schedule_never_fires(api, container, agent, smtp, scheduler):
    boss, _alice, _bob, _carol = team(api)
    far = iso(datetime.now(UTC) + timedelta(hours=1))
    doomed = create_schedule(api, boss, {"type": "once", "run_at": far})
    wait_until(lambda: container.adapters.db.alert_jobs.find_one({"_id": doomed}))
    assert api.client.delete(f"{SCHEDULES}/{doomed}", headers=boss.headers).status_code == 204
    wait_until(lambda: container.adapters.db.alert_jobs.find_one({"_id": doomed}) is None)


def test_daily_schedule_becomes_a_job_with_its_local_next_run_time(
    api, container, scheduler, scheduler_settings
):
    boss = api.admin()
    body = {"type": "daily", "time": "09:00", "timezone": "Europe/Berlin"}
    schedule_id = create_schedule(api, boss, body)
    job = wait_until(lambda: container.adapters.db.alert_jobs.find_one({"_id": schedule_id}))
    listed = api.client.get(SCHEDULES, headers=boss.headers).get_json()["items"]
    expected = datetime.fromisoformat(listed[0]["next_run_time"])
    assert job["next_run_time"] == expected.timestamp()


def test_two_scheduler_processes_send_one_digest_per_member(
    api, container, agent, smtp, scheduler_processes
):
    boss, alice, _bob, _carol = team(api)
    first, second = scheduler_processes(), scheduler_processes()
    holder = wait_until(lambda: lease_holder_pid(container), timeout=30)
    assert holder in (first.pid, second.pid)

    ids = [create_schedule(api, boss, {"type": "now"}) for _ in range(3)]
    runs = [wait_for_run(container, i) for i in ids]
    for run in runs:
        wait_until_delivered(container, run)
    wait_until(lambda: container.adapters.deliveries.sent_count(ALERTS) == 3)
    assert len(digests_to(smtp, alice.email)) == 3  # one per schedule, never two
    assert container.adapters.db.alert_runs.count_documents({}) == 3
    assert lease_holder_pid(container) == holder  # the standby stayed a standby
    became_active = [p.pid for p in (first, second) if ": active (lease" in p.output()]
    assert became_active == [holder]


def test_killing_the_active_scheduler_hands_over_and_a_pending_once_fires_once(
    api, container, agent, smtp, scheduler_processes
):
    boss, alice, _bob, _carol = team(api)
    processes = [scheduler_processes(), scheduler_processes()]
    holder = wait_until(lambda: lease_holder_pid(container), timeout=30)
    active = next(p for p in processes if p.pid == holder)
    standby = next(p for p in processes if p.pid != holder)

    run_at = datetime.now(UTC) + timedelta(seconds=LEASE * 3)
    schedule_id = create_schedule(api, boss, {"type": "once", "run_at": iso(run_at)})
    wait_until(lambda: container.adapters.db.alert_jobs.find_one({"_id": schedule_id}))
    active.kill()
    killed_at = datetime.now(UTC)

    wait_until(lambda: lease_holder_pid(container) == standby.pid, timeout=LEASE * 3)
    assert datetime.now(UTC) - killed_at <= timedelta(seconds=LEASE + 2 * POLL + 1)
    run = wait_for_run(container, schedule_id)
    wait_until_delivered(container, run)
    assert len(digests_to(smtp, alice.email)) == 1
    assert container.adapters.db.alert_runs.count_documents({}) == 1
    assert "active" in standby.output()


def test_schedules_survive_a_scheduler_restart(api, container, agent, smtp, scheduler_processes):
    boss, alice, _bob, _carol = team(api)
    first = scheduler_processes()
    wait_until(lambda: lease_holder_pid(container) == first.pid, timeout=30)
    run_at = datetime.now(UTC) + timedelta(seconds=3)
    schedule_id = create_schedule(api, boss, {"type": "once", "run_at": iso(run_at)})
    daily_id = create_schedule(api, boss, {"type": "daily", "time": "09:00", "timezone": "UTC"})
    job = wait_until(lambda: container.adapters.db.alert_jobs.find_one({"_id": schedule_id}))
    daily_job = wait_until(lambda: container.adapters.db.alert_jobs.find_one({"_id": daily_id}))
    first.stop()  # SIGTERM before the once job is due: it releases the lease
    assert container.adapters.db.scheduler_leases.count_documents({}) == 0
    assert container.adapters.db.alert_runs.count_documents({}) == 0
    wait_until(lambda: datetime.now(UTC) > run_at + timedelta(seconds=0.5))  # due while down

    second = scheduler_processes()
    run = wait_for_run(container, schedule_id)
    wait_until_delivered(container, run)
    assert lease_holder_pid(container) == second.pid
    assert len(digests_to(smtp, alice.email)) == 1
    # The daily job kept its stored next run time across the restart.
    assert (
        container.adapters.db.alert_jobs.find_one({"_id": daily_id})["next_run_time"]
        == (daily_job["next_run_time"])
    )
    assert (
        job["next_run_time"]
        == run_at.replace(microsecond=run_at.microsecond // 1000 * 1000).timestamp()
    )


def test_legacy_now_payload_mails_the_digest(api, container, agent, smtp, scheduler):
    boss, alice, _bob, _carol = team(api)
    r = api.client.post("/scheduler/scheduler_alert", json={"type": "now"}, headers=raw(boss.token))
    assert r.status_code == 200
    assert r.get_json()["message"] == "Job scheduled successfully"
    run = wait_for_run(container, r.get_json()["job_id"])
    wait_until_delivered(container, run)
    assert len(digests_to(smtp, alice.email)) == 1
