"""The tests' controllable clock answers like the application's own clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tasktracker.services.clock import utc_now
from tests.support.clock import Clock


def test_unset_it_is_the_real_utc_clock_at_millisecond_precision():
    clock = Clock()
    before = utc_now()
    now = clock()
    assert before <= now <= utc_now()
    assert now.tzinfo is UTC and now.microsecond % 1000 == 0


def test_advancing_shifts_the_real_clock():
    clock = Clock()
    clock.advance(timedelta(hours=1), minutes=30, microseconds=1500)
    assert clock.offset == timedelta(hours=1, minutes=30, microseconds=1500)
    ahead = clock() - utc_now()
    assert timedelta(hours=1, minutes=29) < ahead <= timedelta(hours=1, minutes=30, seconds=1)
    assert clock().microsecond % 1000 == 0


def test_set_freezes_it_and_advance_moves_the_frozen_instant():
    start = datetime(2030, 6, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    clock = Clock(start)
    assert clock() == clock() == datetime(2030, 6, 1, 12, 0, 0, 123000, tzinfo=UTC)
    clock.advance(seconds=1.5)
    assert clock() == datetime(2030, 6, 1, 12, 0, 1, 623000, tzinfo=UTC)
    clock.set(datetime(2031, 1, 1, tzinfo=UTC))
    assert clock() == datetime(2031, 1, 1, tzinfo=UTC)


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError):
        Clock(datetime(2030, 1, 1))
