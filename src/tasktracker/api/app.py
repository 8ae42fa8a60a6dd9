"""Flask app factory: wires blueprints, security, request checks and error handling."""

from __future__ import annotations

from flask import Flask, Response, redirect, request, url_for
from flask.json.provider import DefaultJSONProvider
from flask_cors import CORS
from flask_openapi3 import Info, OpenAPI
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as BaseResponse

from tasktracker import __version__
from tasktracker.api.alerts import alerts_api
from tasktracker.api.auth import auth_api
from tasktracker.api.calendar import calendar_api
from tasktracker.api.collaboration import collaboration_api
from tasktracker.api.health import health_api
from tasktracker.api.legacy import legacy_api
from tasktracker.api.metrics import metrics_api
from tasktracker.api.observability import init_request_logging
from tasktracker.api.problems import problem, register_error_handlers, validation_problem
from tasktracker.api.projects import projects_api
from tasktracker.api.rate_limits import init_rate_limits
from tasktracker.api.security import init_security
from tasktracker.api.tasks import tasks_api
from tasktracker.api.tokens import tokens_api
from tasktracker.api.users import users_api
from tasktracker.api.webhooks import webhooks_api
from tasktracker.services.registry import Services

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "Either a session's access token (a JWT from `/api/v1/auth/login`; it holds every "
            "scope) or a personal access token (`ttp_…`, from `POST /api/v1/users/me/tokens`; "
            "it may call only the routes its scopes allow, never the session-only ones)."
        ),
    }
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class JSONProvider(DefaultJSONProvider):
    sort_keys = False


def create_app(services: Services) -> OpenAPI:
    """The WSGI app over `services` (built by bootstrap.py); it talks to nothing else."""
    settings = services.settings
    app = OpenAPI(
        "tasktracker",
        info=Info(title="TaskTracker API", version=__version__),
        security_schemes=SECURITY_SCHEMES,
        validation_error_status=422,
        validation_error_callback=validation_problem,
        doc_prefix="/docs",
        doc_url="/openapi.json",
    )
    app.json = JSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["tasktracker"] = services

    init_proxy_fix(app, settings.trusted_proxies)
    init_request_logging(app, settings.instance_name)
    app.before_request(reject_unparsable_body)
    init_security(app, services)
    limits = init_rate_limits(app, settings)
    init_cors(app, settings.cors_origin_list)
    register_error_handlers(app)

    app.register_api(auth_api(services, limits))
    app.register_api(users_api(services))
    app.register_api(tokens_api(services))
    app.register_api(projects_api(services))
    app.register_api(tasks_api(services))
    app.register_api(collaboration_api(services))
    app.register_api(calendar_api(services))
    app.register_api(webhooks_api(services))
    app.register_api(alerts_api(services))
    app.register_api(legacy_api(services, limits))
    app.register_blueprint(health_api(services))
    app.register_blueprint(metrics_api(services))
    app.add_url_rule("/openapi.json", "openapi_json", lambda: app.api_doc)
    init_docs(app)
    app.after_request(add_security_headers)
    return app


def init_docs(app: Flask) -> None:
    """`/docs` and `/docs/` open Swagger UI at once: flask-openapi3 would show a page choosing
    among its installed UI plugins, and only Swagger is installed. The page and its static files
    come from the flask-openapi3-swagger package (no CDN)."""

    def swagger() -> BaseResponse:
        return redirect(url_for("swagger.swagger"))

    app.view_functions["openapi.openapi"] = swagger
    app.add_url_rule("/docs", "docs", swagger)


def init_proxy_fix(app: Flask, trusted_proxies: int) -> None:
    """Behind nginx (TRUSTED_PROXIES=1) the client address and scheme come from the
    X-Forwarded-For/-Proto headers the proxy sets; with 0 those headers are ignored, so a client
    cannot pick the address its rate limits count against."""
    if trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies
        )


def init_cors(app: Flask, origins: list[str]) -> None:
    """Cross-origin access only for the configured origins (none by default)."""
    if origins:
        CORS(
            app,
            origins=origins,
            allow_headers=["Authorization", "Content-Type", "If-Match", "X-Request-ID"],
            expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
            max_age=600,
        )


def reject_unparsable_body() -> Response | None:
    """415 for a body that is not JSON, 400 for malformed JSON — before any handler runs."""
    if request.method not in BODY_METHODS or not (request.content_length or request.data):
        return None
    if not request.is_json:
        return problem(415, "send the body as application/json")
    try:
        request.get_json()
    except RecursionError:
        return problem(400, "the JSON body is nested too deeply")
    return None


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
