"""The original's scheduler routes, over the alert schedules."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint

from tasktracker.api.legacy.schemas import (
    LegacyJob,
    LegacyJobList,
    LegacyJobScheduled,
    LegacyScheduleIn,
)
from tasktracker.api.presenters import json_response
from tasktracker.api.security import Access, current_user, requires
from tasktracker.domain.schedules import ScheduleKind
from tasktracker.domain.tokens import Scope
from tasktracker.schemas.common import Problem
from tasktracker.services.registry import Services

SECURITY = [{"bearer": []}]
# A legacy `daily` alert without `run_at` while ALERT_DIGEST_TIME is empty (digest disabled).
DEFAULT_DAILY_TIME = "09:00"


def register_scheduler_routes(bp: APIBlueprint, c: Services) -> None:
    @bp.post(
        "/scheduler/scheduler_alert",
        security=SECURITY,
        responses={200: LegacyJobScheduled, 422: Problem},
    )
    @requires(Access.ADMIN, Scope.ADMIN)
    def scheduler_alert(body: LegacyScheduleIn) -> dict:
        """Schedule a digest: `once` at `run_at`; `daily` at `run_at`'s time of day (UTC), or
        at ALERT_DIGEST_TIME in ALERT_DIGEST_TIMEZONE without one; `now` at once."""
        schedule = c.alerts.create_legacy(
            current_user(),
            ScheduleKind(body.type),
            body.run_at_utc(),
            digest_time=c.settings.alert_digest_time or DEFAULT_DAILY_TIME,
            digest_timezone=c.settings.alert_digest_timezone,
        )
        return {"message": "Job scheduled successfully", "job_id": schedule.id}

    @bp.get("/scheduler/scheduler_jobs", security=SECURITY, responses={200: LegacyJobList})
    @requires(Access.ADMIN, Scope.ADMIN)
    def scheduler_jobs() -> Response:
        """Scheduled alerts as `[{id, next_run_time, trigger}]`."""
        now = c.clock()
        jobs = [LegacyJob.of(s, now) for s in c.alerts.list(current_user())]
        return json_response(LegacyJobList(jobs))
