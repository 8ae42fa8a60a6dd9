"""Prometheus metrics: one definition per metric, shared by the API, the relay and the agent.

Under several worker processes (`tasktracker api` with API_WORKERS > 1) prometheus_client's
multiprocess mode is on: `PROMETHEUS_MULTIPROC_DIR` is set before the workers start, each worker
writes its values to files there, and a scrape adds them up. The variable must be set before
this module is first imported in a process, which is why `tasktracker api` spawns its workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_REQUESTS = Counter(
    "tasktracker_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "tasktracker_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS_PUBLISHED = Counter(
    "tasktracker_events_published", "Events the broker confirmed, by type", ["type"]
)
EVENTS_FAILED = Counter(
    "tasktracker_events_publish_failed",
    "Event publishes that failed (left to the outbox relay), by type",
    ["type"],
)
LETTERS_SENT = Counter("tasktracker_letters_sent", "Letters the mail server accepted", ["type"])
LETTERS_FAILED = Counter(
    "tasktracker_letters_failed", "Letter attempts that failed (retried or dead-lettered)", ["type"]
)
NOTIFICATIONS_QUEUED = Counter(
    "tasktracker_notifications_queued",
    "Notifications added to a recipient's batch (coalesced into letters), by kind",
    ["kind"],
)

WEBHOOK_DELIVERIES = Counter(
    "tasktracker_webhook_deliveries",
    "Webhook delivery attempts by outcome: succeeded, retried (to be sent again) or failed",
    ["outcome"],
)
WEBHOOK_LATENCY = Histogram(
    "tasktracker_webhook_delivery_duration_seconds",
    "Time from sending a webhook delivery to the receiver's answer (or the error)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def prepare_multiprocess_dir(default: Path) -> Path:
    """Turn multiprocess mode on for the workers this process starts: PROMETHEUS_MULTIPROC_DIR
    when set, else `default`, emptied of a previous run's files."""
    path = Path(os.environ.get(MULTIPROC_ENV) or default)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    return path


class GaugeCollector(Collector):
    """A gauge read at scrape time (e.g. the outbox backlog, counted in MongoDB)."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self._name = name
        self._documentation = documentation
        self._read = read

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self._name, self._documentation, value=self._read())


def registry(*collectors: Collector) -> CollectorRegistry:
    """This process's metrics (every worker's, in multiprocess mode) plus `collectors`."""
    if multiprocess_mode():
        combined = CollectorRegistry()
        MultiProcessCollector(combined)
    else:
        combined = CollectorRegistry()
        combined.register(_Delegate(REGISTRY))
    for collector in collectors:
        combined.register(collector)
    return combined


class _Delegate(Collector):
    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        return self._source.collect()


def exposition(*collectors: Collector) -> bytes:
    return generate_latest(registry(*collectors))
