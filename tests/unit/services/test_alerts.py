"""AlertService: only admins manage schedules, the built-in digest follows its settings, and a
firing happens once per run id, its run record and its events committed together."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tasktracker.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from tasktracker.domain.events import EventType
from tasktracker.domain.schedules import (
    DEFAULT_DIGEST_ID,
    DigestTask,
    MemberDigest,
    ScheduleKind,
    alert_event_id,
)
from tasktracker.domain.users import User
from tests.fakes import FakeSystem


def digest(user_id: str, name: str, total: int = 1) -> MemberDigest:
    task = DigestTask("t" * 24, "write report", "open", "high", None, False, False)
    return MemberDigest(user_id, name, f"{name}@example.com", total, 0, 0, [task])


@pytest.fixture
def two_members(system: FakeSystem) -> list[MemberDigest]:
    digests = [digest("a" * 24, "ann"), digest("b" * 24, "ben", total=3)]
    system.fakes.digests.result = digests
    return digests


# --- managing schedules ------------------------------------------------------------------------


def test_a_member_may_not_manage_schedules(system: FakeSystem, root: User, member: User):
    alerts = system.services.alerts
    existing = alerts.create(root, ScheduleKind.DAILY, time="08:00")

    with pytest.raises(Forbidden):
        alerts.create(member, ScheduleKind.NOW)
    with pytest.raises(Forbidden):
        alerts.list(member)
    with pytest.raises(Forbidden):
        alerts.delete(member, existing.id)

    assert [s.id for s in system.fakes.schedules.all()] == [existing.id]
    assert system.fakes.alert_runs.runs == {}


def test_an_admin_creates_lists_and_deletes_schedules(system: FakeSystem, root: User):
    alerts = system.services.alerts
    once = alerts.create(root, ScheduleKind.ONCE, run_at=system.clock() + timedelta(hours=1))
    system.clock.advance(seconds=1)
    daily = alerts.create(root, ScheduleKind.DAILY, time="7:30", timezone="Europe/Berlin")

    assert [s.id for s in alerts.list(root)] == [once.id, daily.id]
    assert (daily.time, daily.timezone, daily.created_by) == ("07:30", "Europe/Berlin", root.id)
    assert alerts.get(once.id) == once

    alerts.delete(root, once.id)

    assert [s.id for s in alerts.list(root)] == [daily.id]
    with pytest.raises(NotFound):
        alerts.delete(root, once.id)
    with pytest.raises(NotFound):
        alerts.get(once.id)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": ScheduleKind.ONCE},
        {"kind": ScheduleKind.ONCE, "run_at": "past"},
        {"kind": ScheduleKind.DAILY, "time": "25:00"},
        {"kind": ScheduleKind.DAILY, "time": "08:00", "timezone": "Mars/Olympus"},
    ],
    ids=["once without run_at", "once in the past", "bad time", "bad zone"],
)
def test_an_invalid_schedule_is_refused(system: FakeSystem, root: User, kwargs: dict):
    if kwargs.get("run_at") == "past":
        kwargs["run_at"] = system.clock() - timedelta(minutes=1)
    with pytest.raises(InvalidInput):
        system.services.alerts.create(root, **kwargs)
    assert system.fakes.schedules.all() == []


def test_the_builtin_digest_follows_its_settings(system: FakeSystem, root: User):
    alerts = system.services.alerts

    first = alerts.ensure_default_digest("09:00", "UTC")
    system.clock.advance(days=1)
    same = alerts.ensure_default_digest("09:00", "UTC")
    moved = alerts.ensure_default_digest("10:15", "Europe/Paris")

    assert first.builtin and first.id == DEFAULT_DIGEST_ID
    assert same == first
    assert (moved.time, moved.timezone) == ("10:15", "Europe/Paris")
    assert alerts.get(DEFAULT_DIGEST_ID) == moved
    assert alerts.ensure_default_digest("", "UTC") is None
    assert system.fakes.schedules.get(DEFAULT_DIGEST_ID) is None


def test_the_builtin_digest_cannot_be_deleted(system: FakeSystem, root: User):
    system.services.alerts.ensure_default_digest("09:00", "UTC")

    with pytest.raises(Conflict):
        system.services.alerts.delete(root, DEFAULT_DIGEST_ID)

    assert system.fakes.schedules.get(DEFAULT_DIGEST_ID) is not None


# --- firing ------------------------------------------------------------------------------------


def test_firing_publishes_one_digest_event_per_member(
    system: FakeSystem, root: User, two_members: list[MemberDigest]
):
    schedule = system.services.alerts.create(root, ScheduleKind.NOW)

    result = system.services.alerts.fire(schedule.id)

    assert result is not None and result.members == 2
    events = system.fakes.outbox.events()
    assert [e.type for e in events] == [EventType.ALERTS_PENDING_TASKS] * 2
    assert [e.event_id for e in events] == [
        alert_event_id(result.run_id, d.user_id) for d in two_members
    ]
    assert {e.correlation_id for e in events} == {result.run_id}
    assert events[1].payload["counts"]["total"] == 3
    assert events[1].payload["more"] == 2
    assert system.fakes.publisher.published == events
    run = system.fakes.alert_runs.runs[result.run_id]
    assert (run.schedule_id, run.members) == (schedule.id, 2)
    assert system.fakes.schedules.get(schedule.id) is None  # a one-off is done


def test_a_digest_covers_what_the_settings_say(system: FakeSystem, root: User):
    schedule = system.services.alerts.create(root, ScheduleKind.NOW)
    system.services.alerts.fire(schedule.id)
    now = system.clock()
    hours, cap = system.settings.alert_due_soon_hours, system.settings.alert_max_tasks
    assert system.fakes.digests.calls == [(now, now + timedelta(hours=hours), cap)]


def test_firing_twice_runs_once(system: FakeSystem, root: User, two_members):
    schedule = system.services.alerts.create(root, ScheduleKind.DAILY, time="09:00")
    system.clock.advance(minutes=1)

    first = system.services.alerts.fire(schedule.id)
    second = system.services.alerts.fire(schedule.id)
    direct = system.services.alerts.run(schedule, first.run_id, schedule.created_at)

    assert first is not None and second is None and direct is None
    assert list(system.fakes.alert_runs.runs) == [first.run_id]
    assert len(system.fakes.digests.calls) == 1  # a duplicate does not gather digests again
    assert len(system.fakes.outbox.events()) == 2
    assert system.fakes.schedules.get(schedule.id).last_run_at == system.clock()


def test_a_daily_schedule_fires_again_the_next_day(system: FakeSystem, root: User, two_members):
    schedule = system.services.alerts.create(root, ScheduleKind.DAILY, time="09:00")
    first = system.services.alerts.fire(schedule.id)
    system.clock.advance(days=1)

    second = system.services.alerts.fire(schedule.id)

    assert second is not None and second.run_id != first.run_id
    assert len(system.fakes.alert_runs.runs) == 2
    assert len({e.event_id for e in system.fakes.outbox.events()}) == 4


def test_a_schedule_not_yet_due_or_gone_fires_nothing(system: FakeSystem, root: User, two_members):
    run_at = system.clock() + timedelta(hours=1)
    schedule = system.services.alerts.create(root, ScheduleKind.ONCE, run_at=run_at)

    assert system.services.alerts.fire(schedule.id) is None
    assert system.services.alerts.fire("no-such-schedule") is None
    assert system.fakes.alert_runs.runs == {}
    assert system.fakes.outbox.events() == []

    system.clock.set(run_at)
    assert system.services.alerts.fire(schedule.id).members == 2


def test_the_run_record_and_its_events_commit_together(system: FakeSystem, root: User, two_members):
    schedule = system.services.alerts.create(root, ScheduleKind.NOW)
    system.fakes.uow.fail_next_commit = ConnectionError("primary stepped down")

    with pytest.raises(ConnectionError):
        system.services.alerts.fire(schedule.id)

    assert system.fakes.alert_runs.runs == {}
    assert system.fakes.outbox.events() == []
    assert system.fakes.publisher.published == []
    assert system.fakes.schedules.get(schedule.id) is not None  # still there to retry
    assert system.services.alerts.fire(schedule.id).members == 2
    assert len(system.fakes.outbox.events()) == 2


def test_a_run_another_scheduler_recorded_meanwhile_is_dropped(
    system: FakeSystem, root: User, two_members
):
    schedule = system.services.alerts.create(root, ScheduleKind.DAILY, time="09:00")
    fire_time = schedule.due_fire_time(system.clock())
    run_id = schedule.run_id(fire_time)

    def other_scheduler_fires() -> None:
        system.fakes.alert_runs.record(run_id, schedule.id, fire_time, 5, system.clock())

    system.fakes.digests.before = other_scheduler_fires

    assert system.services.alerts.fire(schedule.id) is None

    assert system.fakes.alert_runs.runs[run_id].members == 5  # the other one's record
    assert system.fakes.outbox.events() == []
    assert system.fakes.schedules.get(schedule.id).last_run_at is None


def test_a_run_without_pending_tasks_is_still_recorded(system: FakeSystem, root: User):
    schedule = system.services.alerts.create(root, ScheduleKind.NOW)

    result = system.services.alerts.fire(schedule.id)

    assert result is not None and result.members == 0
    assert result.run_id in system.fakes.alert_runs.runs
    assert system.services.alerts.fire(schedule.id) is None


def test_pending_lists_every_schedule_for_the_scheduler(system: FakeSystem, root: User):
    system.services.alerts.ensure_default_digest("09:00", "UTC")
    created = system.services.alerts.create(root, ScheduleKind.DAILY, time="18:00")
    ids = {s.id for s in system.services.alerts.pending()}
    assert ids == {DEFAULT_DIGEST_ID, created.id}


# --- the original's route ----------------------------------------------------------------------


def legacy(system: FakeSystem, actor: User, kind: ScheduleKind, run_at=None):
    return system.services.alerts.create_legacy(
        actor, kind, run_at, digest_time="09:00", digest_timezone="Europe/Berlin"
    )


def test_legacy_schedules_map_to_their_kinds(system: FakeSystem, root: User):
    run_at = system.clock() + timedelta(hours=5, minutes=30)

    once = legacy(system, root, ScheduleKind.ONCE, run_at)
    daily_at = legacy(system, root, ScheduleKind.DAILY, run_at)
    daily = legacy(system, root, ScheduleKind.DAILY)
    now = legacy(system, root, ScheduleKind.NOW)

    assert (once.kind, once.run_at) == (ScheduleKind.ONCE, run_at)
    assert (daily_at.time, daily_at.timezone) == ("14:30", "UTC")
    assert (daily.time, daily.timezone) == ("09:00", "Europe/Berlin")
    assert (now.kind, now.run_at) == (ScheduleKind.NOW, system.clock())
    assert len(system.fakes.schedules.all()) == 4


def test_a_member_may_not_create_a_legacy_schedule(system: FakeSystem, member: User):
    with pytest.raises(Forbidden):
        legacy(system, member, ScheduleKind.NOW)
    assert system.fakes.schedules.all() == []


def test_a_legacy_daily_run_at_in_another_zone_is_taken_at_its_utc_time(
    system: FakeSystem, root: User
):
    run_at = datetime(2024, 5, 2, 11, 0, tzinfo=timezone(timedelta(hours=2)))  # 09:00 UTC
    schedule = legacy(system, root, ScheduleKind.DAILY, run_at)
    assert (schedule.time, schedule.timezone) == ("09:00", "UTC")
