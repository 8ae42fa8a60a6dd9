"""Recurrence rules (DESIGN 15): the next due date of a series from its RRULE, DST-correct in the
task's zone, with COUNT and UNTIL ending it; what is refused, and the next task's fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.recurrence import Recurrence, RecurrenceFrom, normalise_rule
from tasktracker.domain.tasks import Status, Task
from tasktracker.domain.time_zones import time_zone

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)  # type: ignore[misc]


def following(
    rule: str,
    due: datetime | None,
    zone: str = "UTC",
    done: datetime | None = None,
    counts_from: RecurrenceFrom = RecurrenceFrom.DUE,
    occurrence: int = 1,
) -> datetime | None:
    series = Recurrence(normalise_rule(rule), counts_from, zone, occurrence)
    series.check(due, NOW)
    return series.next_due(due, done or due or NOW)


def series_of(rule: str, due: datetime, zone: str, count: int) -> list[datetime]:
    """The first `count` due dates of a series started at `due`, as the tasks would get them."""
    dates = [due]
    for occurrence in range(1, count):
        nxt = following(rule, dates[-1], zone, occurrence=occurrence)
        assert nxt is not None
        dates.append(nxt)
    return dates


# --- next due dates ----------------------------------------------------------------------------


def test_weekly_on_two_days_goes_to_the_next_of_them():
    thursday = local(BERLIN, 2026, 3, 5, 9, 0)
    dates = series_of("FREQ=WEEKLY;BYDAY=MO,TH", thursday, "Europe/Berlin", 4)
    assert [d.astimezone(BERLIN) for d in dates] == [
        local(BERLIN, 2026, 3, 5, 9, 0),
        local(BERLIN, 2026, 3, 9, 9, 0),
        local(BERLIN, 2026, 3, 12, 9, 0),
        local(BERLIN, 2026, 3, 16, 9, 0),
    ]


def test_monthly_on_the_last_day_follows_the_month_lengths():
    dates = series_of("FREQ=MONTHLY;BYMONTHDAY=-1", datetime(2028, 1, 31, 17, tzinfo=UTC), "UTC", 4)
    assert [d.date().isoformat() for d in dates] == [
        "2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30",
    ]  # fmt: skip
    assert all(d.tzinfo == UTC and d.hour == 17 for d in dates)


def test_the_local_time_is_kept_across_the_spring_dst_change():
    friday = local(BERLIN, 2026, 3, 27, 9, 0)  # CET, UTC+1; the clocks go forward on the 29th
    [_, saturday, sunday, monday] = series_of("FREQ=DAILY", friday, "Europe/Berlin", 4)
    assert saturday == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)
    assert sunday == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 09:00 CEST, UTC+2
    assert monday.astimezone(BERLIN).hour == 9
    assert sunday.tzinfo == UTC


def test_the_local_time_is_kept_across_the_autumn_dst_change():
    before = local(NEW_YORK, 2026, 10, 26, 8, 30)  # EDT; the clocks go back on Nov 1
    nxt = following("FREQ=WEEKLY", before, "America/New_York")
    assert nxt == datetime(2026, 11, 2, 13, 30, tzinfo=UTC)  # 08:30 EST, UTC-5
    assert nxt - before == timedelta(days=7, hours=1)


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]


@given(
    zone=st.sampled_from(ZONES),
    day=st.dates(min_value=datetime(2024, 1, 1).date(), max_value=datetime(2035, 12, 31).date()),
    hour=st.integers(min_value=4, max_value=23),  # clear of every DST gap (they are 00-03)
    rule=st.sampled_from(["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,TH", "FREQ=MONTHLY;BYMONTHDAY=-1",
                          "FREQ=YEARLY", "FREQ=DAILY;INTERVAL=3"]),
)  # fmt: skip
def test_the_next_due_date_is_later_and_at_the_same_local_time(zone, day, hour, rule):
    zone_info = ZoneInfo(zone)
    due = datetime(day.year, day.month, day.day, hour, 15, tzinfo=zone_info).astimezone(UTC)
    nxt = following(rule, due, zone)
    assert nxt is not None and nxt > due and nxt.tzinfo == UTC
    assert nxt.astimezone(zone_info).time() == due.astimezone(zone_info).time()


# --- the end of a series -----------------------------------------------------------------------


def test_count_ends_the_series_at_its_last_task():
    due = datetime(2030, 1, 1, 9, tzinfo=UTC)
    assert following("FREQ=DAILY;COUNT=3", due, occurrence=2) == due + timedelta(days=1)
    assert following("FREQ=DAILY;COUNT=3", due, occurrence=3) is None
    assert following("FREQ=DAILY;COUNT=1", due) is None


def test_until_as_a_day_includes_that_day_in_the_tasks_zone():
    due = local(BERLIN, 2030, 6, 10, 22, 0)  # 20:00 UTC
    assert following("FREQ=DAILY;UNTIL=20300611", due, "Europe/Berlin") == datetime(
        2030, 6, 11, 20, 0, tzinfo=UTC
    )
    assert following("FREQ=DAILY;UNTIL=20300610", due, "Europe/Berlin") is None


def test_until_in_utc_is_compared_as_an_instant():
    due = datetime(2030, 6, 10, 20, 0, tzinfo=UTC)
    assert following("FREQ=DAILY;UNTIL=20300611T200000Z", due, "Europe/Berlin") is not None
    assert following("FREQ=DAILY;UNTIL=20300611T195959Z", due, "Europe/Berlin") is None


# --- counting from the completion ----------------------------------------------------------------


def test_from_completion_counts_from_the_day_done_at_the_due_time_of_day():
    due = local(BERLIN, 2030, 3, 1, 9, 0)
    done = local(BERLIN, 2030, 3, 12, 18, 45)
    nxt = following("FREQ=WEEKLY;INTERVAL=2", due, "Europe/Berlin", done, RecurrenceFrom.COMPLETION)
    assert nxt == local(BERLIN, 2030, 3, 26, 9, 0)


def test_from_completion_without_a_due_date_counts_from_the_completion_itself():
    done = datetime(2030, 3, 12, 18, 45, tzinfo=UTC)
    nxt = following("FREQ=DAILY", None, "UTC", done, RecurrenceFrom.COMPLETION)
    assert nxt == done + timedelta(days=1)


def test_from_due_needs_a_due_date():
    series = Recurrence("FREQ=DAILY", RecurrenceFrom.DUE, "UTC")
    with pytest.raises(InvalidInput, match="needs a due_date"):
        series.check(None, NOW)


# --- what is refused -----------------------------------------------------------------------------


def test_a_rule_is_normalised():
    assert normalise_rule("  rrule:freq=weekly;byday=mo ") == "FREQ=WEEKLY;BYDAY=MO"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("", "must be an RRULE"),
        ("every monday", "FREQ must be one of"),
        ("FREQ=MINUTELY", "FREQ must be one of"),
        ("FREQ=SECONDLY", "FREQ must be one of"),
        ("FREQ=HOURLY;BYMINUTE=0,30", "one BYMINUTE"),
        ("FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30", "not BYMONTH, BYMONTHDAY"),
        ("FREQ=HOURLY;INTERVAL=2;BYHOUR=1", "not BYHOUR"),
        ("FREQ=DAILY;BYHOUR=9;BYMINUTE=0,45", "more often than hourly"),
        ("FREQ=WEEKLY;BYDAY=MO;BYHOUR=9,10;BYMINUTE=0,59", "more often than hourly"),
        ("FREQ=WEEKLY;BYDAY=XX", "not a valid RRULE"),
        ("FREQ=WEEKLY;FOO=1", "not a valid RRULE"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be a whole number"),
        ("FREQ=DAILY;INTERVAL=-2", "INTERVAL must be a whole number"),
        ("FREQ=DAILY;COUNT=0", "COUNT must be a whole number"),
        ("FREQ=DAILY;UNTIL=20301399", "UNTIL is not a valid"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20300101", "COUNT or with UNTIL, not both"),
        ("FREQ=DAILY;INTERVAL=2;INTERVAL=3", "each part"),
        ("DTSTART:20300101T090000Z\nRRULE:FREQ=DAILY", "without DTSTART"),
        ("FREQ=DAILY;" + "BYHOUR=9;" * 60, "at most 500"),
    ],
)
def test_a_rule_that_cannot_be_followed_is_refused_with_the_reason(rule: str, message: str):
    with pytest.raises(InvalidInput, match=message):
        normalise_rule(rule)


@pytest.mark.parametrize(
    "rule",
    ["FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31",
     "FREQ=DAILY;BYSETPOS=5", "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=7"],
)  # fmt: skip
def test_a_rule_that_never_matches_a_date_is_refused(rule: str):
    series = Recurrence(normalise_rule(rule), RecurrenceFrom.DUE, "UTC")
    with pytest.raises(InvalidInput, match="never matches a date"):
        series.check(datetime(2030, 1, 1, tzinfo=UTC), NOW)


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=HOURLY",
        "FREQ=HOURLY;INTERVAL=4",
        "FREQ=DAILY;BYHOUR=9,10",
        "FREQ=HOURLY;BYMINUTE=30",
        "FREQ=HOURLY;INTERVAL=3;COUNT=5",
    ],
)
def test_hourly_is_as_often_as_a_rule_may_repeat(rule: str):
    assert normalise_rule(rule) == rule


def test_an_hourly_series_follows_the_due_time():
    due = datetime(2030, 1, 1, 9, 30, tzinfo=UTC)
    assert following("FREQ=HOURLY;INTERVAL=4", due) == datetime(2030, 1, 1, 13, 30, tzinfo=UTC)


def test_a_rare_but_real_date_is_found():
    due = datetime(2030, 1, 1, 9, tzinfo=UTC)
    nxt = following("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", due)
    assert nxt == datetime(2044, 2, 29, 9, tzinfo=UTC)


@pytest.mark.parametrize("name", ["Mars/Olympus", "../etc/passwd", "", "UTC+2"])
def test_an_unknown_time_zone_is_refused(name: str):
    with pytest.raises(InvalidInput, match="IANA time zone"):
        time_zone(name)


# --- the next task -------------------------------------------------------------------------------


def recurring_task(**fields: object) -> Task:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    values: dict[str, object] = {
        "id": "t1", "title": "Pay rent", "reporter": "u1", "created_at": now, "updated_at": now,
        "assignee": "u2", "labels": ["home"], "priority": "high", "project_id": "p1",
        "key": "GEN-7", "former_keys": ["OLD-1"], "version": 4,
        "start_date": datetime(2030, 1, 29, tzinfo=UTC),
        "due_date": datetime(2030, 1, 31, 9, tzinfo=UTC),
        "recurrence": "FREQ=MONTHLY;BYMONTHDAY=-1", "timezone": "Europe/Berlin",
    }  # fmt: skip
    values.update(fields)
    return Task(**values)  # type: ignore[arg-type]


def test_the_next_task_copies_the_fields_and_links_back():
    task = recurring_task()
    done_at = datetime(2030, 1, 30, 12, tzinfo=UTC)
    task.change_status(Status.IN_PROGRESS, done_at)
    task.change_status(Status.DONE, done_at)

    nxt = task.next_occurrence_task(done_at)

    assert nxt is not None
    assert (nxt.title, nxt.assignee, nxt.reporter, nxt.labels, nxt.priority) == (
        "Pay rent", "u2", "u1", ["home"], task.priority,
    )  # fmt: skip
    assert nxt.labels is not task.labels
    assert (nxt.status, nxt.completed_at, nxt.version) == (Status.OPEN, None, 1)
    assert (nxt.id, nxt.key, nxt.former_keys) == ("", "", [])
    assert nxt.due_date == datetime(2030, 2, 28, 9, tzinfo=UTC)
    assert nxt.start_date == datetime(2030, 2, 26, tzinfo=UTC)  # as long before the due date
    assert (nxt.recurrence, nxt.timezone) == (task.recurrence, "Europe/Berlin")
    assert (nxt.occurrence, nxt.previous_occurrence, nxt.next_occurrence) == (2, "t1", None)
    assert nxt.created_at == nxt.updated_at == done_at


@pytest.mark.parametrize(
    "fields",
    [
        {"recurrence": None, "status": "done"},
        {"status": "in_progress"},
        {"status": "done", "next_occurrence": "t2"},
        {"status": "done", "recurrence": "FREQ=MONTHLY;COUNT=3", "occurrence": 3},
    ],
    ids=["not recurring", "not done", "next task exists", "series finished"],
)
def test_no_next_task(fields: dict[str, object]):
    assert recurring_task(**fields).next_occurrence_task(datetime(2030, 2, 1, tzinfo=UTC)) is None


def test_a_local_time_in_the_spring_gap_is_read_with_the_offset_before_it():
    saturday = local(BERLIN, 2026, 3, 28, 2, 30)  # 02:30 does not exist on Sunday the 29th
    assert following("FREQ=DAILY", saturday, "Europe/Berlin") == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )  # 02:30 at UTC+1, which the clocks show as 03:30 CEST


def test_a_local_time_that_happens_twice_is_its_first_time():
    saturday = local(BERLIN, 2026, 10, 24, 2, 30)  # 02:30 happens twice on Sunday the 25th
    assert following("FREQ=DAILY", saturday, "Europe/Berlin") == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )  # 02:30 CEST, UTC+2


def test_until_as_a_local_time_is_read_in_the_tasks_zone():
    due = local(BERLIN, 2030, 6, 10, 9, 0)
    assert following("FREQ=DAILY;UNTIL=20300611T090000", due, "Europe/Berlin") is not None
    assert following("FREQ=DAILY;UNTIL=20300611T085959", due, "Europe/Berlin") is None


def test_a_calendar_shows_the_rest_of_the_series_with_until_in_utc():
    counted = Recurrence("FREQ=WEEKLY;BYDAY=MO;COUNT=5", RecurrenceFrom.DUE, "UTC", occurrence=3)
    assert counted.remaining_rule() == "FREQ=WEEKLY;BYDAY=MO;COUNT=3"
    until = Recurrence("FREQ=DAILY;UNTIL=20301231", RecurrenceFrom.DUE, "Europe/Berlin")
    assert until.remaining_rule() == "FREQ=DAILY;UNTIL=20301231T225959Z"
