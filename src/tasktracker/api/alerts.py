"""Resource API: scheduled alerts (`/api/v1/alerts/schedules`), admins only."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from tasktracker.api.presenters import json_response
from tasktracker.api.security import Access, current_user, requires
from tasktracker.domain.schedules import ScheduleKind
from tasktracker.domain.tokens import Scope
from tasktracker.schemas.alerts import (
    ScheduleIdPath,
    ScheduleIn,
    SchedulePage,
    SchedulePublic,
)
from tasktracker.schemas.common import Problem
from tasktracker.services.registry import Services

TAG = Tag(name="alerts", description="Scheduled digest letters to members about pending tasks")
SECURITY = [{"bearer": []}]
ADMIN_ONLY = {401: Problem, 403: Problem}


def alerts_api(c: Services) -> APIBlueprint:
    bp = APIBlueprint(
        "alerts",
        __name__,
        url_prefix="/api/v1/alerts/schedules",
        abp_tags=[TAG],
        abp_security=SECURITY,
    )

    @bp.post("", responses={201: SchedulePublic, 422: Problem, **ADMIN_ONLY})
    @requires(Access.ADMIN, Scope.ADMIN)
    def create_schedule(body: ScheduleIn) -> Response:
        """Schedule a digest: `once` at `run_at`, `daily` at a local `time`, or `now`.
        The active scheduler picks it up within a few seconds."""
        schedule = c.alerts.create(
            current_user(),
            ScheduleKind(body.type),
            run_at=body.run_at,
            time=body.time,
            timezone=body.timezone,
        )
        response = json_response(SchedulePublic.of(schedule, c.clock()), 201)
        response.headers["Location"] = f"{bp.url_prefix}/{schedule.id}"
        return response

    @bp.get("", responses={200: SchedulePage, **ADMIN_ONLY})
    @requires(Access.ADMIN, Scope.ADMIN)
    def list_schedules() -> Response:
        """Every pending schedule with its next run time (one-offs leave once they fired)."""
        now = c.clock()
        items = [SchedulePublic.of(s, now) for s in c.alerts.list(current_user())]
        return json_response(SchedulePage(items=items, next_cursor=None))

    @bp.delete("/<schedule_id>", responses={204: None, 404: Problem, **ADMIN_ONLY})
    @requires(Access.ADMIN, Scope.ADMIN)
    def delete_schedule(path: ScheduleIdPath) -> tuple[str, int]:
        """Delete a schedule; the active scheduler drops its job within a few seconds."""
        c.alerts.delete(current_user(), path.schedule_id)
        return "", 204

    return bp
