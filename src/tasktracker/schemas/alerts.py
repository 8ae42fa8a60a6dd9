"""Alert schedule models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, Field

from tasktracker.domain.schedules import Schedule
from tasktracker.schemas.common import Strict
from tasktracker.schemas.types import ObjectKey, UtcDatetime

ScheduleType = Literal["once", "daily", "now"]


class ScheduleIn(Strict):
    """`once` takes `run_at` (in the future); `daily` takes `time` ('HH:MM') and `timezone`
    (an IANA zone, default UTC); `now` takes nothing else."""

    type: ScheduleType
    run_at: UtcDatetime | None = None
    time: Annotated[str | None, Field(max_length=5, examples=["09:00"])] = None
    timezone: Annotated[str | None, Field(max_length=64, examples=["Europe/Berlin"])] = None


class SchedulePublic(BaseModel):
    id: str
    type: ScheduleType
    run_at: datetime | None
    time: str | None
    timezone: str | None
    next_run_time: datetime | None
    last_run_at: datetime | None
    builtin: bool
    created_at: datetime

    @classmethod
    def of(cls, schedule: Schedule, now: datetime) -> Self:
        return cls(
            id=schedule.id,
            type=schedule.kind.value,
            run_at=schedule.run_at,
            time=schedule.time,
            timezone=schedule.timezone,
            next_run_time=schedule.next_run_time(now),
            last_run_at=schedule.last_run_at,
            builtin=schedule.builtin,
            created_at=schedule.created_at,
        )


class SchedulePage(BaseModel):
    items: list[SchedulePublic]
    next_cursor: str | None


class ScheduleIdPath(BaseModel):
    schedule_id: ObjectKey
