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
        """Ready to serve: MongoDB answers a ping and the broker accepts a connection."""
        checks = {"mongodb": check_mongo(c), "broker": check_broker(c)}
        ready = all(v == "ok" for v in checks.values())
        body = jsonify({"status": "ok" if ready else "unavailable", "checks": checks})
        return body, 200 if ready else 503

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
