"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from pymongo.errors import PyMongoError

from tasktracker.bootstrap import Container

log = logging.getLogger(__name__)


def health_api(c: Container) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz() -> dict:
        """The process is up."""
        return {"status": "ok"}

    @bp.get("/readyz")
    def readyz() -> tuple[Response, int]:
        """Ready to serve when MongoDB answers. The API keeps serving without the cache (from
        MongoDB) and without the broker (events wait in the outbox), so either outage reports
        `degraded` with 200."""
        checks = {
            "mongodb": check_mongo(c),
            "broker": check_broker(c),
            "cache": "ok" if c.cache.ping() else "unavailable",
        }
        if checks["mongodb"] != "ok":
            status, code = "unavailable", 503
        elif any(value != "ok" for value in checks.values()):
            status, code = "degraded", 200
        else:
            status, code = "ok", 200
        return jsonify({"status": status, "checks": checks}), code

    return bp


def check_mongo(c: Container) -> str:
    try:
        c.client.admin.command("ping")
    except PyMongoError as exc:
        log.warning("readiness: MongoDB ping failed: %s", type(exc).__name__)
        return "unavailable"
    return "ok"


def check_broker(c: Container) -> str:
    return "ok" if c.broker.ping() else "unavailable"
