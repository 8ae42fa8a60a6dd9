"""WSGI entry point for production servers: each worker process calls `create()`, which reads
the settings from the environment and builds the app through the composition root.

    granian --interface wsgi --factory tasktracker.wsgi:create      (what `tasktracker api` runs)
    gunicorn 'tasktracker.wsgi:create()'                            (the documented alternative)

A replica serves requests only: the agent and the outbox relay run in `tasktracker agent`.
"""

from __future__ import annotations

import atexit

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
    return create_app(container.services)
