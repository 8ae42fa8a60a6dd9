"""Request ids and the one log line per request (never a body, password or token)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from tasktracker.services.correlation import set_correlation_id

log = logging.getLogger("tasktracker.request")

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id() -> str:
    return g.get("request_id", "-")


def init_request_logging(app: Flask) -> None:
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
        elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        log.info(
            "%s %s %s %.1fms user=%s request_id=%s",
            request.method,
            request.path,
            response.status_code,
            elapsed_ms,
            g.get("user_id", "-"),
            request_id(),
        )
        return response
