"""Readiness: which dependencies answer, and how many events wait in the outbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tasktracker.services.ports import Outbox, Probe

log = logging.getLogger(__name__)

OK, UNAVAILABLE, DEGRADED = "ok", "unavailable", "degraded"


@dataclass(frozen=True, slots=True)
class Readiness:
    status: str  # ok | degraded | unavailable
    checks: dict[str, str]

    @property
    def serving(self) -> bool:
        return self.status != UNAVAILABLE


class HealthService:
    def __init__(self, database: Probe, broker: Probe, cache: Probe, outbox: Outbox) -> None:
        self._probes = {"mongodb": database, "broker": broker, "cache": cache}
        self._outbox = outbox

    def readiness(self) -> Readiness:
        """Ready when MongoDB answers. Without the cache requests are served from MongoDB,
        without the broker events wait in the outbox: either outage is `degraded`."""
        checks = {name: OK if probe.ping() else UNAVAILABLE for name, probe in self._probes.items()}
        if checks["mongodb"] != OK:
            return Readiness(UNAVAILABLE, checks)
        if any(value != OK for value in checks.values()):
            return Readiness(DEGRADED, checks)
        return Readiness(OK, checks)

    def outbox_backlog(self) -> int | None:
        """Events not yet confirmed by the broker; None when the database does not answer
        (a metrics scrape must not fail for it)."""
        try:
            return self._outbox.pending_count()
        except Exception as exc:
            log.warning("metrics: outbox backlog unavailable: %s", type(exc).__name__)
            return None
