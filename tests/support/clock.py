"""The application's clock under the test's control."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tasktracker.services.clock import utc_now


def _millis(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


class Clock:
    """The real UTC clock shifted by `offset` (token expiry without sleeping), or, once `set`,
    frozen at an instant that only `advance` moves (exact ties and exact 'now').

    Like `tasktracker.services.clock.utc_now`, it answers aware UTC datetimes at millisecond
    precision; pass it to `bootstrap(settings, clock=...)`.
    """

    def __init__(self, now: datetime | None = None) -> None:
        self.offset = timedelta()
        self.frozen: datetime | None = None
        if now is not None:
            self.set(now)

    def __call__(self) -> datetime:
        if self.frozen is not None:
            return self.frozen
        return _millis(utc_now() + self.offset)

    def set(self, now: datetime) -> None:
        """Freeze the clock at `now` (an aware datetime)."""
        if now.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        self.frozen = _millis(now.astimezone(UTC))

    def advance(self, delta: timedelta = timedelta(), **parts: float) -> None:
        """Move the clock forward by `delta` and/or timedelta keywords (`seconds=5`)."""
        step = delta + timedelta(**parts)
        if self.frozen is not None:
            self.frozen = _millis(self.frozen + step)
        else:
            self.offset += step
