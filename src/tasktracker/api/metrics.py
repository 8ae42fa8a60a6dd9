"""Prometheus `/metrics`: request counts and latencies of every worker of this server, event
publishing, and the outbox backlog read at scrape time. Scraped per replica, not through nginx."""

from __future__ import annotations

import logging

from flask import Blueprint, Response
from pymongo.errors import PyMongoError

from tasktracker import metrics
from tasktracker.bootstrap import Container

log = logging.getLogger(__name__)


def metrics_api(c: Container) -> Blueprint:
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


def outbox_backlog(c: Container) -> float:
    try:
        return float(c.outbox.pending_count())
    except PyMongoError as exc:
        log.warning("metrics: outbox backlog unavailable: %s", type(exc).__name__)
        return float("nan")
