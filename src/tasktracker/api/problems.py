"""RFC 9457 problem responses, and the error handlers that turn every failure into one."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, json, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from tasktracker.domain.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    NotImplementedYet,
    PreconditionFailed,
    ServiceUnavailable,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

DOMAIN_STATUS: dict[type[DomainError], int] = {
    InvalidInput: 422,
    AuthenticationFailed: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    NotImplementedYet: 501,
    ServiceUnavailable: 503,
}


def problem(
    status: int, detail: str | None = None, title: str | None = None, **extra: Any
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body["instance"] = request.path if request else None
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="tasktracker"'
    return response


def status_for(error: DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in DOMAIN_STATUS:
            return DOMAIN_STATUS[cls]
    return 400


def validation_problem(error: ValidationError) -> Response:
    """422 listing what is wrong where; the submitted values are never echoed back."""
    errors = [
        {"loc": [str(part) for part in e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in error.errors(include_url=False, include_input=False, include_context=False)
    ]
    return problem(
        422,
        "the request does not match the expected schema",
        title="Validation failed",
        errors=errors,
    )


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> Response:
        return problem(status_for(error), error.detail, title=error.title)

    @app.errorhandler(ValidationError)
    def _validation(error: ValidationError) -> Response:
        return validation_problem(error)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(error: RequestEntityTooLarge) -> Response:
        limit = app.config.get("MAX_CONTENT_LENGTH")
        return problem(413, f"the request body is larger than {limit} bytes")

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        if error.response is not None:  # abort(response), e.g. a validation problem
            return error.response
        code = error.code or 500
        response = problem(code, error.description)
        if code == 405 and error.response is None:
            response.headers["Allow"] = ", ".join(getattr(error, "valid_methods", None) or [])
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "an unexpected error occurred; it has been logged")
