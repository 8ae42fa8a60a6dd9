"""Messaging fixtures: the real RabbitMQ (the test run's vhost), a TCP proxy the tests can cut, a
real SMTP server (aiosmtpd), and the API and agent as two containers on the same database —
like an API process and an agent process. The API's container is the root chain's, with these
settings: RabbitMQ through the proxy, the test SMTP server, fast retries and short leases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kombu import Connection

from tasktracker.adapters.broker import topology
from tasktracker.agent.runner import Background
from tasktracker.bootstrap import Container
from tasktracker.scheduler.runner import AlertScheduler
from tasktracker.settings import Settings
from tests.support.alerts import LEASE, POLL
from tests.support.proxy import TcpProxy
from tests.support.scheduler import SchedulerProcess
from tests.support.services import RABBIT_HOST, RABBIT_PORT, amqp_url
from tests.support.smtp import SmtpServer

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
    with TcpProxy(RABBIT_HOST, RABBIT_PORT) as proxy:
        yield proxy


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def settings_overrides(
    tmp_path: Path, broker_proxy: TcpProxy, rabbitmq_vhost: str, smtp: SmtpServer
) -> dict[str, object]:
    """The API's settings: it reaches RabbitMQ through the proxy."""
    return {
        "data_dir": tmp_path / "api",
        "amqp_url": amqp_url(broker_proxy.port, rabbitmq_vhost),
        "smtp_url": smtp.url,
        **FAST_MESSAGING,
    }


@pytest.fixture
def agent_settings(settings: Settings, direct_amqp_url: str, tmp_path: Path) -> Settings:
    """The agent's settings: the same database, RabbitMQ directly."""
    return settings.model_copy(update={"amqp_url": direct_amqp_url, "data_dir": tmp_path / "agent"})


@pytest.fixture
def agent_container(
    agent_settings: Settings,
    make_container: Callable[[Settings], Container],
    container: Container,
) -> Container:
    return make_container(agent_settings)


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


@pytest.fixture
def scheduler_settings(settings: Settings, direct_amqp_url: str, tmp_path: Path) -> Settings:
    """A scheduler's settings: the API's database, RabbitMQ directly, a short lease, and no
    built-in daily digest (the tests create what they fire)."""
    return settings.model_copy(
        update={
            "amqp_url": direct_amqp_url,
            "data_dir": tmp_path / "scheduler",
            "scheduler_lease": LEASE,
            "scheduler_poll_interval": POLL,
            "reminder_poll_interval": POLL,
            "alert_digest_time": "",
        }
    )


@pytest.fixture
def scheduler(
    scheduler_settings: Settings,
    make_container: Callable[[Settings], Container],
    container: Container,
) -> Iterator[AlertScheduler]:
    """The scheduler as a thread (as in `tasktracker run`), with its own container."""
    runner = AlertScheduler(make_container(scheduler_settings)).start_thread()
    assert runner.active.wait(10), "the scheduler did not become active"
    yield runner
    runner.stop()


@pytest.fixture
def scheduler_processes(scheduler_settings: Settings, tmp_path: Path, container: Container):
    """`start()` starts one more `tasktracker scheduler` process; all are stopped at the end."""
    started: list[SchedulerProcess] = []

    def start() -> SchedulerProcess:
        process = SchedulerProcess(scheduler_settings, tmp_path / f"scheduler{len(started)}.log")
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.stop()
