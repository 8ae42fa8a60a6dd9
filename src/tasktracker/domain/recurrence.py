"""Recurring tasks (DESIGN 15): an RFC 5545 RRULE read by python-dateutil, evaluated in the
task's IANA time zone so a 09:00 task stays at 09:00 local time across DST changes."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from dateutil.rrule import rrule, rrulestr

from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.time_zones import time_zone

RULE_MAX_LENGTH = 500
# Occurrences become tasks one completion at a time: nothing more often than hourly (a rule
# whose occurrences can come less than MIN_GAP apart is refused, whatever its FREQ).
ALLOWED_FREQUENCIES = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
MIN_GAP = timedelta(hours=1)
HOURLY_PARTS = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYMINUTE", "BYSECOND", "WKST"}
# dateutil loops forever on INTERVAL=0; the upper bounds keep a series within reach.
BOUNDED_PARTS = {"INTERVAL": (1, 1000), "COUNT": (1, 10_000)}
# Parts of an iCalendar event that are not part of a rule: the task supplies its own start.
FOREIGN_PROPERTIES = ("DTSTART", "RDATE", "EXDATE", "EXRULE", "\n", "\r")
UNTIL_PATTERN = re.compile(r"UNTIL=(\d{8})(T\d{6})?(Z?)")
# The Gregorian calendar repeats itself exactly every 400 years (146 097 days, whole weeks).
GREGORIAN_CYCLE_YEARS = 400
# Where a rule is probed for ever occurring: dateutil gives up only in year 9999, so a rule
# that never matches (`BYMONTH=2;BYMONTHDAY=30`) costs seconds when searched from today, but a
# bounded, cheap search when searched from the same place in the cycle 400-800 years before
# the end.
PROBE_YEAR_FROM = datetime.max.year - 2 * GREGORIAN_CYCLE_YEARS


class RecurrenceFrom(StrEnum):
    """What the next due date counts from: the current due date, or when the task was done."""

    DUE = "due"
    COMPLETION = "completion"


def normalise_rule(text: str) -> str:
    """The rule in its canonical spelling (upper case, no `RRULE:` prefix); InvalidInput when
    it is not a rule a recurring task can follow."""
    rule = text.strip().upper().removeprefix("RRULE:")
    if not rule:
        raise InvalidInput("recurrence must be an RRULE such as FREQ=WEEKLY;BYDAY=MO")
    if len(rule) > RULE_MAX_LENGTH:
        raise InvalidInput(f"recurrence must be at most {RULE_MAX_LENGTH} characters")
    if any(part in rule for part in FOREIGN_PROPERTIES):
        raise InvalidInput(
            "recurrence must be a single RRULE (FREQ=…;…) without DTSTART, RDATE or EXDATE: "
            "the task's due date is the series' start"
        )
    parts = _parts(rule)
    if len(parts) < rule.count(";") + 1:
        raise InvalidInput("recurrence must name each part (FREQ, BYDAY, …) once")
    if "COUNT" in parts and "UNTIL" in parts:
        raise InvalidInput("recurrence may end with COUNT or with UNTIL, not both (RFC 5545)")
    if parts.get("FREQ") not in ALLOWED_FREQUENCIES:
        raise InvalidInput(f"recurrence FREQ must be one of: {', '.join(ALLOWED_FREQUENCIES)}")
    for name, (low, high) in BOUNDED_PARTS.items():
        if name in parts and not (parts[name].isdigit() and low <= int(parts[name]) <= high):
            raise InvalidInput(f"recurrence {name} must be a whole number from {low} to {high}")
    if parts["FREQ"] == "HOURLY":
        _check_hourly(parts)
    _parse(rule, datetime(2000, 1, 1, tzinfo=UTC), UTC)
    if _min_gap(rule) < MIN_GAP:
        raise InvalidInput(
            "recurrence must not repeat more often than hourly: its occurrences come less than "
            "an hour apart"
        )
    return rule


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A task's series: its rule, what it counts from, its zone and its place in the series
    (1 for the first task), which `COUNT` is measured against."""

    rule: str
    counts_from: RecurrenceFrom
    zone_name: str
    occurrence: int = 1

    def check(self, due_date: datetime | None, now: datetime) -> None:
        """InvalidInput when this series cannot be followed from a task due at `due_date`
        (or, counted from completion and without a due date, from `now`)."""
        if self.counts_from is RecurrenceFrom.DUE and due_date is None:
            raise InvalidInput(
                "a recurring task needs a due_date when recurrence_from is 'due' "
                "(or set recurrence_from to 'completion')"
            )
        start = self._start(due_date, due_date or now)
        if not _ever_occurs(self.rule, start):
            raise InvalidInput(f"recurrence '{self.rule}' never matches a date")

    def next_due(self, due_date: datetime | None, completed_at: datetime) -> datetime | None:
        """The next occurrence's due date (UTC) after a task due at `due_date` was done at
        `completed_at`; None when the series is finished (COUNT reached, past UNTIL)."""
        count = _parts(self.rule).get("COUNT")
        if count is not None and self.occurrence >= int(count):
            return None
        start = self._start(due_date, completed_at)
        if not _ever_occurs(self.rule, start):
            return None
        rule = _parse(_without(self.rule, "COUNT"), start, time_zone(self.zone_name))
        following = rule.after(start)
        return following.astimezone(UTC) if following else None

    def remaining_rule(self) -> str:
        """The rule for the rest of the series from this task on, as a calendar shows it with
        this task's due date as its start: COUNT less the occurrences already done, UNTIL in
        UTC (RFC 5545 3.3.10 wants it so when the start has a time zone)."""
        parts = _parts(_until_in_utc(self.rule, time_zone(self.zone_name)))
        if "COUNT" in parts:
            parts["COUNT"] = str(max(int(parts["COUNT"]) - self.occurrence + 1, 1))
        return ";".join(f"{name}={value}" for name, value in parts.items())

    def _start(self, due_date: datetime | None, completed_at: datetime) -> datetime:
        """The series' point to count from, as a wall-clock time in the task's zone: the due
        date, or the day of completion at the due date's time of day."""
        zone = time_zone(self.zone_name)
        if self.counts_from is RecurrenceFrom.DUE and due_date is not None:
            return due_date.astimezone(zone)
        done = completed_at.astimezone(zone)
        at = due_date.astimezone(zone).timetz() if due_date else done.timetz()
        return datetime.combine(done.date(), at.replace(tzinfo=None), zone)


def _parse(rule: str, start: datetime, zone: tzinfo) -> rrule:
    try:
        parsed = rrulestr(_until_in_utc(rule, zone), dtstart=start)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as error:
        raise InvalidInput(f"recurrence is not a valid RRULE: {error}") from None
    if not isinstance(parsed, rrule):
        raise InvalidInput("recurrence must be a single RRULE")
    return parsed


def _until_in_utc(rule: str, zone: tzinfo) -> str:
    """RFC 5545 wants UNTIL in UTC (`…Z`) for a zoned start; `UNTIL=20261231` (a day, through
    its end) or a local time are read in the task's zone and rewritten so."""

    def in_utc(match: re.Match[str]) -> str:
        day, clock, utc = match.groups()
        if utc or not day:
            return match.group(0)
        local = (
            datetime.strptime(day + clock, "%Y%m%dT%H%M%S")
            if clock
            else datetime.combine(date.fromisoformat(day), time.max.replace(microsecond=0))
        )
        return f"UNTIL={local.replace(tzinfo=zone).astimezone(UTC):%Y%m%dT%H%M%S}Z"

    try:
        return UNTIL_PATTERN.sub(in_utc, rule)
    except (ValueError, OverflowError):
        raise InvalidInput("recurrence UNTIL is not a valid date or time") from None


def _parts(rule: str) -> dict[str, str]:
    """`FREQ=WEEKLY;COUNT=3` as {"FREQ": "WEEKLY", "COUNT": "3"} (a rule dateutil parsed)."""
    return {name: value for name, _, value in (part.partition("=") for part in rule.split(";"))}


def _without(rule: str, *names: str) -> str:
    """The rule without the parts `names` (COUNT is counted by the series, not by dateutil)."""
    kept = {name: value for name, value in _parts(rule).items() if name not in names}
    return ";".join(f"{name}={value}" for name, value in kept.items())


def _min_gap(rule: str) -> timedelta:
    """The shortest time between two occurrences of the rule (ignoring COUNT and UNTIL). Only
    a rule with several hours, minutes or seconds in a day can repeat within the hour (an
    hourly one is every INTERVAL hours, see `_check_hourly`); theirs is found over two years
    from two starts (a leap and a common year): BY* parts give the same pattern every period,
    so the closest pair shows up in that window. The starts lie in the calendar's last 400-year
    cycle, where dateutil gives up soon on a rule that never matches (as in `_ever_occurs`)."""
    parts = _parts(rule)
    if not any("," in parts.get(name, "") for name in ("BYHOUR", "BYMINUTE", "BYSECOND")):
        return timedelta(days=1)
    free = _parse(_without(rule, "COUNT", "UNTIL"), datetime(2000, 1, 1, tzinfo=UTC), UTC)
    gaps = [timedelta(days=1)]
    last_cycle = datetime.max.year - datetime.max.year % GREGORIAN_CYCLE_YEARS  # a leap year
    for year in (last_cycle, last_cycle + 1):
        start = datetime(year, 1, 1, tzinfo=UTC)
        window = free.replace(dtstart=start).between(start, start.replace(year=year + 2), True)
        gaps += [later - earlier for earlier, later in itertools.pairwise(window)]
    return min(gaps)


def _check_hourly(parts: dict[str, str]) -> None:
    """An hourly rule is every INTERVAL hours at a fixed minute: any other part could make it
    match rarely or never, which dateutil would search for hour by hour."""
    extra = sorted(set(parts) - HOURLY_PARTS)
    single = all("," not in parts.get(name, "") for name in ("BYMINUTE", "BYSECOND"))
    if extra or not single:
        raise InvalidInput(
            "an hourly recurrence takes INTERVAL, COUNT or UNTIL and one BYMINUTE (every few "
            f"hours at a fixed minute){'; not ' + ', '.join(extra) if extra else ''}"
        )


def _ever_occurs(rule: str, start: datetime) -> bool:
    """Whether the rule (ignoring COUNT and UNTIL) has any occurrence after `start`.

    Searched from the same place in the 400-year Gregorian cycle near the end of the calendar:
    weekdays, month lengths and leap days there are exactly those after `start`, and dateutil
    stops at year 9999 instead of scanning millions of days for a rule that never matches."""
    naive = start.replace(tzinfo=None)
    cycles = (PROBE_YEAR_FROM - naive.year) // GREGORIAN_CYCLE_YEARS + 1
    shift = cycles * GREGORIAN_CYCLE_YEARS
    if shift <= 0:
        return True
    probe_start = naive.replace(year=naive.year + shift)  # Feb 29 too: a leap year again
    return _parse(_without(rule, "COUNT", "UNTIL"), probe_start, UTC).after(probe_start) is not None
