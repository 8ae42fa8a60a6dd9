"""The calendar feed (DESIGN 14): the caller's secret feed URL, and the feed itself at that URL
(public: the token in the path is the credential)."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from tasktracker.api.presenters import json_response
from tasktracker.api.security import SESSION_ONLY, Access, current_user, requires
from tasktracker.schemas.calendar import CalendarFeedUrl, CalendarTokenPath, calendar_feed
from tasktracker.schemas.common import Problem
from tasktracker.services.registry import Services

TAG = Tag(name="calendar", description="An iCalendar feed of the caller's assigned tasks")
SECURITY = [{"bearer": []}]
TEXT_CALENDAR = "text/calendar; charset=utf-8"
FEED_RESPONSE = {
    "description": "an iCalendar document (RFC 5545): one VTODO per task",
    "content": {"text/calendar": {"schema": {"type": "string"}}},
}


def calendar_api(c: Services) -> APIBlueprint:
    bp = APIBlueprint("calendar", __name__, abp_tags=[TAG])

    @bp.post(
        "/api/v1/users/me/calendar",
        security=SECURITY,
        responses={201: CalendarFeedUrl, 401: Problem, 403: Problem},
    )
    @requires(Access.USER, SESSION_ONLY)
    def issue_calendar_url() -> Response:
        """A new secret URL of the caller's calendar feed: their assigned, not-done tasks with
        due dates as VTODOs. Posting again replaces it; the old URL then answers 404."""
        return json_response(CalendarFeedUrl(url=c.calendar.issue(current_user())), 201)

    @bp.get("/ical/<token>.ics", responses={200: FEED_RESPONSE, 404: Problem})
    @requires(Access.PUBLIC)
    def calendar_feed_ics(path: CalendarTokenPath) -> Response:
        """The feed at a secret URL (`text/calendar`), for calendar clients to subscribe to."""
        feed = c.calendar.feed(path.token)
        name = f"TaskTracker: {feed.user.username}"
        body = calendar_feed(feed.tasks, name, c.calendar.public_url)
        return Response(body, status=200, content_type=TEXT_CALENDAR)

    return bp
