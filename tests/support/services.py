"""The real services the tests use, and their session fixtures (a pytest plugin, registered by
the root conftest): a MongoDB-wire server (SecantusDB, or MONGO_URL), memcached (a process of
our own, or MEMCACHED_SERVERS) and a RabbitMQ vhost of the test run's own.

Under CI=true a service that is missing fails the tests that need it; elsewhere they skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tasktracker.deploy.processes import free_port, port_open, stop_process, wait_for_port
from tasktracker.deploy.stack import memcached_command

IN_CI = os.environ.get("CI", "").lower() == "true"
RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672


def unavailable(reason: str) -> None:
    """Skip the test for want of a service; under CI=true, fail it instead."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(reason)


# --- MongoDB -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := os.environ.get("MONGO_URL"):
        yield url
        return
    from secantus import SecantusDBServer  # the test extra installs it; a failure here is fatal

    server = SecantusDBServer(storage_path=str(tmp_path_factory.mktemp("secantus")), port=0)
    server.start()
    try:
        yield server.uri
    finally:
        server.stop()


# --- memcached ---------------------------------------------------------------------------------


class MemcachedProcess:
    """A real memcached the tests can stop and start again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.command = memcached_command(self.port)  # fails at once when it is not installed
        self.proc: subprocess.Popen | None = None

    @property
    def servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port("127.0.0.1", self.port)

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc)
        self.proc = None


@pytest.fixture(scope="session")
def memcached() -> Iterator[MemcachedProcess]:
    server = MemcachedProcess()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def memcached_servers(memcached: MemcachedProcess) -> str:
    return os.environ.get("MEMCACHED_SERVERS") or memcached.servers


# --- RabbitMQ ----------------------------------------------------------------------------------


def amqp_url(port: int, vhost: str) -> str:
    """The test RabbitMQ's URL, through `port` (the broker's own, or a proxy's)."""
    return f"amqp://guest:guest@{RABBIT_HOST}:{port}/{vhost}"


def _rabbitmqctl(*args: str) -> None:
    rabbitmqctl(*args)


def rabbitmqctl(*args: str) -> str:
    """What `rabbitmqctl -q ARGS` printed (it fails the test when the command fails)."""
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=60
    )
    return done.stdout


@pytest.fixture(scope="session")
def rabbitmq_vhost() -> Iterator[str]:
    """A vhost of this test run's own on the real RabbitMQ, deleted at the end. Its default queue
    type is quorum, as on the three-node cluster of docker-compose.cluster.yml (TaskTracker
    declares its queues as quorum queues anyway; the migration tests make classic vhosts)."""
    if not port_open(RABBIT_HOST, RABBIT_PORT, timeout=2):
        unavailable(f"RabbitMQ is not reachable at {RABBIT_HOST}:{RABBIT_PORT}")
    if shutil.which("rabbitmqctl") is None:
        unavailable("rabbitmqctl is not installed (needed to create the test vhost)")
    vhost = f"tasktracker-test-{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", vhost, "--default-queue-type", "quorum")
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield vhost
    finally:
        _rabbitmqctl("delete_vhost", vhost)
