"""IANA time zones by name, for the places a user names one (alert schedules, recurring tasks)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tasktracker.domain.errors import InvalidInput


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone `name` (`Europe/Berlin`); InvalidInput when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"timezone '{name}' is not an IANA time zone name such as Europe/Berlin or UTC"
        ) from None
