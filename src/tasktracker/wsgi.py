"""WSGI entry point for production servers: each worker process calls `create()`, which reads
the settings from the environment and builds the app through the composition root.

    granian --interface wsgi --factory tasktracker.wsgi:create      (what `tasktracker api` runs)
    gunicorn 'tasktracker.wsgi:create()'                            (the documented alternative)

A replica serves requests only: the agent and the outbox relay run in `tasktracker agent`.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from tasktracker.bootstrap import bootstrap
from tasktracker.logging_setup import configure_logging
from tasktracker.settings import load_settings


def create() -> Flask:
    from tasktracker.api.app import create_app

    settings = load_settings()
    configure_logging(settings, process_name=settings.instance_name or "api")
    container = bootstrap(settings)
    atexit.register(container.close)
    app = create_app(container.services)
    app.wsgi_app = WholeBodies(app.wsgi_app)  # type: ignore[method-assign]
    return app


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class WholeBodies:
    """WSGI middleware answering every body as one `bytes` in a list. granian sends a list in
    one call (`response_bytes`) but walks any other iterable (what Flask returns) chunk by
    chunk (`response_iter`): a page of 50 tasks costs a tenth less API CPU this way (README:
    "The hot path"); a small body gains nothing measurable. The API never streams a body."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        body = self._app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if (close := getattr(body, "close", None)) is not None:
                close()
