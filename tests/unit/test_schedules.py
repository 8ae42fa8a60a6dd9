"""Schedules: validation, fire times across DST with a fixed clock, deterministic run ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.schedules import (
    ScheduleKind,
    alert_event_id,
    new_schedule,
    parse_daily_time,
)
from tasktracker.settings import SettingsError, load_settings

BERLIN = ZoneInfo("Europe/Berlin")
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def daily(time: str, timezone: str = "Europe/Berlin"):
    return new_schedule(ScheduleKind.DAILY, CREATED, time=time, timezone=timezone)


def fire_times(schedule, start: datetime, end: datetime) -> list[datetime]:
    """Every fire time in [start, end), following the trigger as APScheduler does."""
    trigger = schedule.trigger()
    fires, fire = [], trigger.get_next_fire_time(None, start)
    while fire is not None and fire < end:
        fires.append(fire.astimezone(UTC))
        fire = trigger.get_next_fire_time(fire, fire)
    return fires


def local_day(year: int, month: int, day: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, day, tzinfo=BERLIN)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def test_daily_at_nine_berlin_follows_summer_time():
    schedule = daily("09:00")
    [winter] = fire_times(schedule, *local_day(2026, 3, 28))
    [summer] = fire_times(schedule, *local_day(2026, 3, 30))
    assert winter == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)
    assert summer == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)


def test_spring_forward_day_a_time_in_the_gap_fires_once_right_after_the_jump():
    # 2026-03-29: Berlin clocks jump from 02:00 to 03:00; 02:30 does not exist.
    fires = fire_times(daily("02:30"), *local_day(2026, 3, 29))
    assert fires == [datetime(2026, 3, 29, 1, 30, tzinfo=UTC)]  # 03:30 CEST
    # and the next days are back at 02:30 local
    assert fire_times(daily("02:30"), *local_day(2026, 3, 30)) == [
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC)
    ]


def test_fall_back_day_a_repeated_time_fires_once():
    # 2026-10-25: Berlin clocks go back from 03:00 to 02:00; 02:30 happens twice.
    fires = fire_times(daily("02:30"), *local_day(2026, 10, 25))
    assert fires == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]  # the first 02:30 (CEST)


def test_fall_back_day_between_the_two_occurrences_the_next_fire_is_tomorrow():
    # A scheduler (re)started at 02:45 CEST must not fire again at 02:30 CET.
    trigger = daily("02:30").trigger()
    after_first = datetime(2026, 10, 25, 0, 45, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, after_first) == datetime(
        2026, 10, 26, 2, 30, tzinfo=BERLIN
    )


def test_daily_run_ids_are_one_per_local_date():
    schedule = daily("02:30")
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # the repeated 02:30
    assert schedule.run_id(first) == schedule.run_id(second) == f"{schedule.id}@2026-10-25"


def test_due_fire_time_is_the_latest_fire_time_at_or_before_now():
    schedule = daily("09:00", "UTC")
    assert schedule.due_fire_time(datetime(2026, 2, 3, 9, 0, 0, tzinfo=UTC)) == datetime(
        2026, 2, 3, 9, 0, tzinfo=UTC
    )
    assert schedule.due_fire_time(datetime(2026, 2, 3, 20, 0, tzinfo=UTC)) == datetime(
        2026, 2, 3, 9, 0, tzinfo=UTC
    )
    assert schedule.due_fire_time(datetime(2026, 2, 3, 8, 0, tzinfo=UTC)) == datetime(
        2026, 2, 2, 9, 0, tzinfo=UTC
    )


def test_a_daily_schedule_is_not_due_before_it_was_created():
    schedule = daily("09:00", "UTC")  # created 2026-01-01 00:00
    assert schedule.due_fire_time(datetime(2026, 1, 1, 8, 0, tzinfo=UTC)) is None


def test_once_is_due_from_run_at_and_its_run_id_is_deterministic():
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    run_at = now + timedelta(hours=1)
    schedule = new_schedule(ScheduleKind.ONCE, now, run_at=run_at)
    assert schedule.due_fire_time(now) is None
    assert schedule.due_fire_time(run_at) == run_at
    assert schedule.next_run_time(now) == run_at
    assert schedule.run_id(run_at) == f"{schedule.id}@2026-05-01T13:00:00.000+00:00"


def test_now_is_due_at_creation():
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    schedule = new_schedule(ScheduleKind.NOW, now)
    assert schedule.due_fire_time(now) == now


def test_event_ids_are_deterministic_per_run_and_member():
    assert alert_event_id("s@1", "u1") == alert_event_id("s@1", "u1")
    assert alert_event_id("s@1", "u1") != alert_event_id("s@1", "u2")
    assert alert_event_id("s@1", "u1") != alert_event_id("s@2", "u1")
    assert len(alert_event_id("s@1", "u1")) == 32


@pytest.mark.parametrize("text", ["24:00", "9", "09:60", "noon", "", "09:00:00", " :30"])
def test_bad_daily_times_are_invalid(text):
    with pytest.raises(InvalidInput):
        parse_daily_time(text)


@pytest.mark.parametrize(("text", "expected"), [("09:00", (9, 0)), ("9:05", (9, 5))])
def test_good_daily_times(text, expected):
    assert parse_daily_time(text) == expected


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../etc/passwd", "Europe/Berlin2", ""])
def test_unknown_zones_are_invalid(zone):
    with pytest.raises(InvalidInput):
        daily("09:00", zone)


def test_once_in_the_past_or_now_is_invalid():
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    for run_at in (now, now - timedelta(seconds=1)):
        with pytest.raises(InvalidInput, match="future"):
            new_schedule(ScheduleKind.ONCE, now, run_at=run_at)


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        (ScheduleKind.ONCE, {}),
        (ScheduleKind.ONCE, {"run_at": CREATED + timedelta(days=1), "time": "09:00"}),
        (ScheduleKind.DAILY, {}),
        (ScheduleKind.DAILY, {"time": "09:00", "run_at": CREATED + timedelta(days=1)}),
        (ScheduleKind.NOW, {"run_at": CREATED + timedelta(days=1)}),
        (ScheduleKind.NOW, {"timezone": "UTC"}),
    ],
)
def test_fields_that_do_not_belong_to_the_kind_are_invalid(kind, fields):
    with pytest.raises(InvalidInput):
        new_schedule(kind, CREATED, **fields)


def test_digest_settings_are_validated(monkeypatch):
    assert load_settings(alert_digest_time="7:30").alert_digest_time == "07:30"
    assert load_settings(alert_digest_time="").alert_digest_time == ""
    with pytest.raises(SettingsError, match="ALERT_DIGEST_TIME"):
        load_settings(alert_digest_time="25:00")
    with pytest.raises(SettingsError, match="ALERT_DIGEST_TIMEZONE"):
        load_settings(alert_digest_timezone="Nowhere/Special")
    with pytest.raises(SettingsError, match="SCHEDULER_POLL_INTERVAL"):
        load_settings(scheduler_lease=2, scheduler_poll_interval=1.5)
