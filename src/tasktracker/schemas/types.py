"""Field types, declared once: every model that carries a task's title, a password or a UTC
time uses these, so a limit or a normalisation lives in one place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.recurrence import RULE_MAX_LENGTH, normalise_rule
from tasktracker.domain.time_zones import time_zone
from tasktracker.domain.users import PASSWORD_MAX_LENGTH


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; stored at millisecond precision like MongoDB."""
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def split_commas(value: Any) -> Any:
    """`?status=open,done` and `?status=open&status=done` mean the same."""
    if isinstance(value, str):
        return [part for part in value.split(",") if part]
    if isinstance(value, list):
        return [part for item in value for part in str(item).split(",") if part]
    return value


def rrule_text(value: str) -> str:
    """A recurrence rule in its canonical spelling; a ValueError (so a 422 naming the field)
    when it is not one."""
    try:
        return normalise_rule(value)
    except InvalidInput as error:
        raise ValueError(error.detail) from None


def zone_name(value: str | None) -> str | None:
    """An IANA zone name; a ValueError when there is no such zone. None passes: in a PATCH
    the validator sees the whole optional field, and the service refuses a null zone."""
    if value is None:
        return None
    try:
        return time_zone(value).key
    except InvalidInput as error:
        raise ValueError(error.detail) from None


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
Password = Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)]
EmailText = Annotated[str, Field(min_length=1, max_length=320)]
Username = Annotated[str, Field(min_length=3, max_length=64)]
ObjectKey = Annotated[str, Field(max_length=64)]  # an id (or username) in a path or filter

Title = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=10_000)]
TaskType = Annotated[str, Field(min_length=1, max_length=50)]
EstimateHours = Annotated[float, Field(ge=0, le=100_000)]
Label = Annotated[str, Field(min_length=1, max_length=50)]
Labels = Annotated[list[Label], Field(max_length=20)]
AssigneeRef = Annotated[str, Field(max_length=64, description="user id or username")]
ProjectRef = Annotated[
    str, Field(min_length=1, max_length=64, description="project id or key (e.g. OPS)")
]
RecurrenceRule = Annotated[
    str,
    Field(
        max_length=RULE_MAX_LENGTH + len("RRULE:"),
        description="an RFC 5545 RRULE (FREQ DAILY, WEEKLY, MONTHLY or YEARLY), e.g. "
        "FREQ=WEEKLY;BYDAY=MO,TH or FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=12",
        examples=["FREQ=WEEKLY;BYDAY=MO,TH"],
    ),
    AfterValidator(rrule_text),
]
TimeZoneName = Annotated[
    str,
    Field(min_length=1, max_length=64, description="IANA time zone, e.g. Europe/Berlin"),
    AfterValidator(zone_name),
]
TaskRef = Annotated[str, Field(max_length=64, description="task id or key (e.g. OPS-42)")]

Cursor = Annotated[str, Field(max_length=1000)]
Limit = Annotated[int, Field(ge=1, le=100)]
CommaList = BeforeValidator(split_commas)
