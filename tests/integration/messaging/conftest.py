"""Messaging fixtures: the real RabbitMQ (a vhost of its own for the test run), a TCP proxy the
tests can cut, a real SMTP server (aiosmtpd), and the API and agent as two containers on the same
database — like an API process and an agent process."""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from kombu import Connection

from tasktracker.adapters.broker import topology
from tasktracker.agent.runner import Background
from tasktracker.bootstrap import Container, bootstrap
from tasktracker.services.clock import utc_now
from tasktracker.settings import Settings
from tests.conftest import IN_CI, make_settings
from tests.integration.messaging.proxy import TcpProxy
from tests.integration.messaging.smtp import SmtpServer

RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672

# Fast retries and short leases keep the failure scenarios quick.
FAST_MESSAGING = {
    "agent_retry_delay": 0.05,
    "agent_retry_delay_max": 0.5,
    "agent_max_attempts": 60,
    "outbox_relay_interval": 0.2,
    "outbox_relay_grace": 0.5,
    "delivery_lease": 2.0,
    "public_url": "https://tasks.example.com",
}


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(reason)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def rabbitmq_vhost() -> Iterator[str]:
    try:
        socket.create_connection((RABBIT_HOST, RABBIT_PORT), timeout=2).close()
    except OSError:
        _unavailable(f"RabbitMQ is not reachable at {RABBIT_HOST}:{RABBIT_PORT}")
    if shutil.which("rabbitmqctl") is None:
        _unavailable("rabbitmqctl is not installed (needed to create the test vhost)")
    vhost = f"tasktracker-test-{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield vhost
    finally:
        _rabbitmqctl("delete_vhost", vhost)


def amqp_url(port: int, vhost: str) -> str:
    return f"amqp://guest:guest@{RABBIT_HOST}:{port}/{vhost}"


@pytest.fixture
def direct_amqp_url(rabbitmq_vhost: str) -> Iterator[str]:
    url = amqp_url(RABBIT_PORT, rabbitmq_vhost)
    yield url
    # Each test starts with empty queues: drop what this one declared.
    with Connection(url) as conn:
        channel = conn.channel()
        for entity in topology():
            if hasattr(entity, "queue_arguments"):
                entity(channel).delete()
        channel.close()


@pytest.fixture
def broker_proxy(direct_amqp_url: str) -> Iterator[TcpProxy]:
    proxy = TcpProxy(RABBIT_HOST, RABBIT_PORT)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


class ShiftableClock:
    """The real UTC clock, moved forward on demand (token expiry without sleeping)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utc_now() + self.offset


@pytest.fixture
def clock() -> ShiftableClock:
    return ShiftableClock()


@pytest.fixture
def settings(
    mongo_url: str, tmp_path: Path, broker_proxy: TcpProxy, rabbitmq_vhost: str, smtp: SmtpServer
) -> Settings:
    """The API's settings: it reaches RabbitMQ through the proxy."""
    return make_settings(
        mongo_url,
        tmp_path / "api",
        amqp_url=amqp_url(broker_proxy.port, rabbitmq_vhost),
        smtp_url=smtp.url,
        **FAST_MESSAGING,
    )


@pytest.fixture
def container(settings: Settings, clock: ShiftableClock) -> Iterator[Container]:
    c = bootstrap(settings, clock=clock)
    try:
        yield c
    finally:
        c.adapters.client.drop_database(settings.mongo_db)
        c.close()


@pytest.fixture
def agent_settings(settings: Settings, direct_amqp_url: str, tmp_path: Path) -> Settings:
    """The agent's settings: the same database, RabbitMQ directly."""
    return settings.model_copy(update={"amqp_url": direct_amqp_url, "data_dir": tmp_path / "agent"})


@pytest.fixture
def agent_container(
    agent_settings: Settings, clock: ShiftableClock, container: Container
) -> Iterator[Container]:
    c = bootstrap(agent_settings, clock=clock)
    yield c
    c.close()


@pytest.fixture
def agent(agent_container: Container) -> Iterator[Background]:
    """The SOA agent, consuming in a thread (no relay: that runs on the API side)."""
    background = Background(agent_container, relay=False).start()
    assert background.agent is not None
    assert background.agent.ready.wait(15), "the agent did not start consuming"
    yield background
    background.stop()


@pytest.fixture
def relay(container: Container) -> Iterator[Background]:
    """The outbox relay of the API process (it reaches the broker through the proxy)."""
    background = Background(container, agent=False).start()
    yield background
    background.stop()
