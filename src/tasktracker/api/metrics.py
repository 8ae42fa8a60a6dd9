"""Prometheus `/metrics`: request counts and latencies of every worker of this server, event
publishing, and the outbox backlog read at scrape time. Scraped per replica, not through nginx."""

from __future__ import annotations

from flask import Blueprint, Response

from tasktracker import metrics
from tasktracker.services.registry import Services


def metrics_api(c: Services) -> Blueprint:
    bp = Blueprint("metrics", __name__)
    backlog = metrics.GaugeCollector(
        "tasktracker_outbox_pending",
        "Events in the outbox not yet confirmed by the broker",
        lambda: outbox_backlog(c),
    )

    @bp.get("/metrics")
    def scrape() -> Response:
        """Prometheus text exposition."""
        return Response(metrics.exposition(backlog), content_type=metrics.CONTENT_TYPE)

    return bp


def outbox_backlog(c: Services) -> float:
    backlog = c.health.outbox_backlog()
    return float("nan") if backlog is None else float(backlog)
