"""Times as the API writes and reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def iso(value: datetime) -> str:
    """ISO 8601 with a `Z` for UTC, as the API answers times."""
    return value.isoformat().replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    """A time the API answered, as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def soon(seconds: float = 3600) -> datetime:
    """`seconds` from now, in UTC, in whole seconds."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)
