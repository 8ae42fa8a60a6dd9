"""Schedules: validation, fire times across DST with a fixed clock, deterministic run ids; digests:
the merge of a member's per-project parts (membership, order, cap) and the letter grouped by
project."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tasktracker.agent.letters import LetterWriter, digest_projects, digest_task
from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.events import Event, EventType
from tasktracker.domain.schedules import (
    DigestGroup,
    DigestTask,
    MemberDigest,
    Recipient,
    ScheduleKind,
    alert_event_id,
    merge_digests,
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


# --- digests: merging a member's parts -----------------------------------------------------------

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
ANN, BEN, GONE = "a" * 24, "b" * 24, "c" * 24
OPS, WEB = "1" * 24, "2" * 24
PROJECTS = {OPS: ("OPS", "Operations"), WEB: ("WEB", "Website")}
RECIPIENTS = {ANN: Recipient("ann", "ann@example.com"), BEN: Recipient("ben", "ben@example.com")}


def dtask(n: int, project: str, due: timedelta | None = None) -> DigestTask:
    key, name = PROJECTS[project]
    due_date = NOW + due if due is not None else None
    return DigestTask(
        id=f"{n:024x}",
        title=f"t{n}",
        status="open",
        priority="medium",
        due_date=due_date,
        overdue=due_date is not None and due_date < NOW,
        due_soon=due_date is not None and NOW <= due_date < NOW + timedelta(hours=48),
        key=f"{key}-{n}",
        project_id=project,
        project_key=key,
        project_name=name,
        created_key=f"2026{n:016d}",
    )


def part(user: str, project: str, *tasks: DigestTask, total: int | None = None) -> DigestGroup:
    return DigestGroup(
        user_id=user,
        project_id=project,
        total=len(tasks) if total is None else total,
        overdue=sum(t.overdue for t in tasks),
        due_soon=sum(t.due_soon for t in tasks),
        tasks=list(tasks),
    )


def titles(digest: MemberDigest) -> list[str]:
    return [t.title for t in digest.tasks]


def test_parts_of_projects_the_member_left_are_neither_listed_nor_counted():
    groups = [
        part(ANN, OPS, dtask(1, OPS, timedelta(days=-1)), dtask(2, OPS)),
        part(ANN, WEB, dtask(3, WEB, timedelta(days=-2)), dtask(4, WEB, timedelta(hours=3))),
        part(BEN, WEB, dtask(5, WEB)),
    ]
    memberships = {(OPS, ANN), (WEB, BEN)}  # ann left WEB, her WEB tasks still assigned to her
    [ann, ben] = merge_digests(groups, RECIPIENTS, memberships, cap=20)
    assert (ann.user_id, ann.username, ann.email) == (ANN, "ann", "ann@example.com")
    assert titles(ann) == ["t1", "t2"]
    assert (ann.total, ann.overdue, ann.due_soon) == (2, 1, 0)
    assert titles(ben) == ["t5"] and ben.total == 1


def test_a_member_of_no_project_of_their_tasks_gets_no_digest():
    groups = [part(ANN, OPS, dtask(1, OPS)), part(BEN, OPS, dtask(2, OPS))]
    assert [d.user_id for d in merge_digests(groups, RECIPIENTS, {(OPS, BEN)}, 20)] == [BEN]


def test_inactive_or_unknown_members_get_no_digest():
    groups = [part(GONE, OPS, dtask(1, OPS)), part(ANN, OPS, dtask(2, OPS))]
    memberships = {(OPS, GONE), (OPS, ANN)}
    assert [d.user_id for d in merge_digests(groups, RECIPIENTS, memberships, 20)] == [ANN]


def test_parts_merge_in_digest_order_across_projects_undated_last():
    groups = [
        # as the aggregation answers them: per (project, dated), in no particular order
        part(ANN, WEB, dtask(7, WEB), dtask(8, WEB)),
        part(ANN, OPS, dtask(1, OPS, timedelta(days=9)), dtask(2, OPS, timedelta(hours=5))),
        part(ANN, OPS, dtask(6, OPS)),
        part(ANN, WEB, dtask(3, WEB, timedelta(days=-3)), dtask(4, WEB, timedelta(hours=5))),
    ]
    [ann] = merge_digests(groups, RECIPIENTS, {(OPS, ANN), (WEB, ANN)}, cap=20)
    # overdue, due soon (equal due dates: the older first), later; then undated by age
    assert titles(ann) == ["t3", "t2", "t4", "t1", "t6", "t7", "t8"]
    assert (ann.total, ann.overdue, ann.due_soon) == (7, 1, 2)
    assert [t.project_key for t in ann.tasks] == ["WEB", "OPS", "WEB", "OPS", "OPS", "WEB", "WEB"]


def test_the_cap_cuts_the_merged_list_but_not_the_counts():
    groups = [
        part(ANN, OPS, dtask(1, OPS, timedelta(days=1)), dtask(2, OPS, timedelta(days=3)), total=9),
        part(ANN, WEB, dtask(3, WEB, timedelta(days=2)), dtask(4, WEB, timedelta(days=4)), total=5),
        part(ANN, WEB, dtask(5, WEB), total=4),
    ]
    [ann] = merge_digests(groups, RECIPIENTS, {(OPS, ANN), (WEB, ANN)}, cap=3)
    assert titles(ann) == ["t1", "t3", "t2"]
    assert ann.total == 18
    assert ann.to_payload("r")["more"] == 15


def test_digests_come_in_user_id_order():
    groups = [part(BEN, OPS, dtask(1, OPS)), part(ANN, OPS, dtask(2, OPS))]
    digests = merge_digests(groups, RECIPIENTS, {(OPS, ANN), (OPS, BEN)}, 20)
    assert [d.user_id for d in digests] == [ANN, BEN]


def test_a_digest_task_payload_carries_its_key_and_project():
    payload = dtask(3, OPS, timedelta(days=-1)).to_payload()
    assert payload == {
        "id": f"{3:024x}",
        "key": "OPS-3",
        "title": "t3",
        "status": "open",
        "priority": "medium",
        "due_date": (NOW - timedelta(days=1)).isoformat(),
        "overdue": True,
        "due_soon": False,
        "project_id": OPS,
        "project_key": "OPS",
        "project_name": "Operations",
    }
    assert "created_key" not in payload


# --- digests: the letter -------------------------------------------------------------------------


def digest_letter(tasks: list[dict], *, total: int | None = None, more: int = 0):
    payload = {
        "user_id": ANN,
        "username": "ann",
        "email": "ann@example.com",
        "run_id": "r",
        "counts": {"total": len(tasks) if total is None else total, "overdue": 1, "due_soon": 0},
        "tasks": tasks,
        "more": more,
    }
    writer = LetterWriter(resets=None, public_url="http://x")  # type: ignore[arg-type]
    return writer.pending_tasks(Event(EventType.ALERTS_PENDING_TASKS, payload, NOW))


def test_the_letter_groups_tasks_by_project_most_urgent_project_first():
    ann = MemberDigest(
        ANN,
        "ann",
        "ann@example.com",
        5,
        1,
        0,
        [dtask(3, WEB, timedelta(days=-1)), dtask(1, OPS), dtask(4, WEB), dtask(2, OPS)],
    )
    letter = digest_letter(ann.to_payload("r")["tasks"], total=5, more=1)
    text = letter.text
    assert text.startswith("Hello ann,\n\nyou have 5 open task(s): 1 overdue, 0 due soon.\n")
    assert (
        "\n\nWEB — Website\n"
        "- WEB-3 t3 [open] due 2026-04-30 12:00 UTC — OVERDUE\n"
        "- WEB-4 t4 [open]\n"
        "\nOPS — Operations\n"
        "- OPS-1 t1 [open]\n"
        "- OPS-2 t2 [open]\n"
        "… and 1 more.\n"
    ) in text
    html = letter.html
    assert html.count("<h3") == 2 and html.count("<ul>") == 2
    assert html.index("WEB — Website") < html.index("WEB-4") < html.index("OPS — Operations")
    assert html.index("OPS — Operations") < html.index("<strong>OPS-1</strong> t1")


def test_project_names_are_escaped_in_the_html_letter():
    task = {**dtask(1, OPS).to_payload(), "project_name": "<b>Ops</b>"}
    html = digest_letter([task]).html
    assert "<b>Ops</b>" not in html and "OPS — &lt;b&gt;Ops&lt;/b&gt;" in html


def test_a_payload_from_before_projects_renders_as_one_unnamed_list():
    old = [
        {"id": "x", "title": "pay the invoice", "status": "open", "priority": "high",
         "due_date": "2026-04-30T12:00:00+00:00", "overdue": True, "due_soon": False},
        {"id": "y", "title": "write the report", "status": "in_progress", "priority": "medium",
         "due_date": None, "overdue": False, "due_soon": False},
    ]  # fmt: skip
    letter = digest_letter(old)
    assert letter.text == (
        "Hello ann,\n\nyou have 2 open task(s): 1 overdue, 0 due soon.\n"
        "- pay the invoice [open] due 2026-04-30 12:00 UTC — OVERDUE\n"
        "- write the report [in_progress]\n\n— TaskTracker\n"
    )
    assert "<h3" not in letter.html and letter.html.count("<li>") == 2


def test_unnamed_tasks_beside_named_ones_get_a_heading_of_their_own():
    lines = [
        digest_task(dtask(1, OPS).to_payload()),
        digest_task({"title": "old", "status": "open"}),
    ]
    groups = digest_projects(lines)
    assert [g["heading"] for g in groups] == ["OPS — Operations", "Other tasks"]
    unnamed = digest_task({**dtask(1, OPS).to_payload(), "project_name": ""})
    assert [g["heading"] for g in digest_projects([unnamed])] == ["OPS"]
