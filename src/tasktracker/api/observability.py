"""Request ids, request metrics and the one log line per request (never a body, password or
token)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from tasktracker.metrics import HTTP_LATENCY, HTTP_REQUESTS
from tasktracker.services.correlation import set_correlation_id

log = logging.getLogger("tasktracker.request")

REQUEST_ID_HEADER = "X-Request-ID"
SERVED_BY_HEADER = "X-Served-By"
UNMATCHED_ROUTE = "<unmatched>"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id() -> str:
    return g.get("request_id", "-")


def route_template() -> str:
    """The URL rule that matched (`/api/v1/tasks/<task_id>`), never the raw path: bounded
    label values."""
    return request.url_rule.rule if request.url_rule else UNMATCHED_ROUTE


def logged_path() -> str:
    """The path for the log line; a route whose path is itself a secret (the calendar feed's
    `/ical/<token>.ics`) is logged as its template."""
    rule = request.url_rule.rule if request.url_rule else ""
    return rule if "<token>" in rule else request.path


def init_request_logging(app: Flask, instance_name: str | None = None) -> None:
    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        set_correlation_id(g.request_id)

    @app.after_request
    def _finish(response: Response) -> Response:
        set_correlation_id(None)
        response.headers[REQUEST_ID_HEADER] = request_id()
        if instance_name:
            response.headers[SERVED_BY_HEADER] = instance_name
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        record_request(response.status_code, elapsed)
        return response


def record_request(status: int, elapsed: float) -> None:
    labels = (request.method, route_template(), str(status))
    HTTP_REQUESTS.labels(*labels).inc()
    HTTP_LATENCY.labels(*labels).observe(elapsed)
    fields = {
        "request_id": request_id(),
        "method": request.method,
        "path": logged_path(),
        "status": status,
        "duration_ms": round(elapsed * 1000, 1),
        "user_id": g.get("user_id", "-"),
    }
    log.info(
        "%s %s %s %.1fms user=%s request_id=%s",
        fields["method"],
        fields["path"],
        status,
        fields["duration_ms"],
        fields["user_id"],
        fields["request_id"],
        extra=fields,
    )
