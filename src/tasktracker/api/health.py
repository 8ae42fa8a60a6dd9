"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from tasktracker.services.registry import Services


def health_api(c: Services) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz() -> dict:
        """The process is up."""
        return {"status": "ok"}

    @bp.get("/readyz")
    def readyz() -> tuple[Response, int]:
        """Ready to serve when MongoDB answers; a cache or broker outage is `degraded` (200)."""
        readiness = c.health.readiness()
        body = {"status": readiness.status, "checks": readiness.checks}
        return jsonify(body), 200 if readiness.serving else 503

    return bp
