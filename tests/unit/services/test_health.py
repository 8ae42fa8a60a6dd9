"""HealthService: ready while MongoDB answers (degraded without the cache or the broker), and
the outbox backlog for metrics, None when it cannot be read."""

from __future__ import annotations

import pytest

from tasktracker.domain.events import EventType
from tasktracker.services.events import make_event
from tasktracker.services.health import DEGRADED, OK, UNAVAILABLE
from tests.fakes import FakeSystem


def test_ready_when_everything_answers(system: FakeSystem):
    readiness = system.services.health.readiness()
    assert readiness.status == OK
    assert readiness.checks == {"mongodb": OK, "broker": OK, "cache": OK}
    assert readiness.serving


@pytest.mark.parametrize("down", ["broker", "cache"])
def test_without_the_cache_or_the_broker_it_is_degraded_but_serving(system: FakeSystem, down):
    getattr(system.fakes, {"broker": "publisher", "cache": "cache"}[down]).down = True

    readiness = system.services.health.readiness()

    assert readiness.status == DEGRADED
    assert readiness.checks[down] == UNAVAILABLE
    assert readiness.checks["mongodb"] == OK
    assert readiness.serving


def test_without_mongodb_it_is_unavailable(system: FakeSystem):
    system.fakes.database.up = False
    system.fakes.cache.down = True

    readiness = system.services.health.readiness()

    assert readiness.status == UNAVAILABLE
    assert readiness.checks == {"mongodb": UNAVAILABLE, "broker": OK, "cache": UNAVAILABLE}
    assert not readiness.serving


def test_the_backlog_counts_unpublished_events(system: FakeSystem):
    system.fakes.publisher.down = True
    with system.recorder.transaction() as uow:
        uow.record(*(make_event(EventType.TASK_CREATED, {}, system.clock()) for _ in range(2)))
    assert system.services.health.outbox_backlog() == 2

    system.fakes.publisher.down = False
    system.clock.advance(seconds=system.settings.outbox_relay_grace)
    system.relay.run_once()
    assert system.services.health.outbox_backlog() == 0


def test_the_backlog_is_none_when_the_outbox_cannot_be_read(system: FakeSystem):
    system.fakes.outbox.down = True
    assert system.services.health.outbox_backlog() is None
