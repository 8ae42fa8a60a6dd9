"""Test fixtures: a real MongoDB-wire server for the session (SecantusDB, or MONGO_URL), a fresh
database per test, and the Flask app built by the same composition root as production."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasktracker.api.app import create_app
from tasktracker.bootstrap import Container, bootstrap
from tasktracker.deploy.stack import free_port
from tasktracker.settings import Settings, load_settings
from tests.helpers import Api

IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_JWT_SECRET = "test-secret-" + "x" * 40
# Cheap argon2 parameters keep the suite fast; production uses argon2-cffi's defaults.
FAST_HASHING = {"password_hash_time_cost": 1, "password_hash_memory_kib": 8192}


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


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class MemcachedProcess:
    """A real memcached the tests can stop and start again on the same port."""

    def __init__(self) -> None:
        binary = shutil.which("memcached") or "/usr/bin/memcached"
        if not os.path.exists(binary):
            raise RuntimeError("memcached is not installed; `make test` installs it")
        self.binary = binary
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [self.binary, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "64"]
        if os.geteuid() == 0:
            args += ["-u", "root"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
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


# Rate limits high enough that only the rate-limit tests reach them.
GENEROUS_LIMITS = {
    "rate_limit_login_ip": "10000/minute",
    "rate_limit_login_account": "10000/minute",
    "rate_limit_signup": "10000/minute",
    "rate_limit_password_reset": "10000/minute",
    "rate_limit_api": "100000/minute",
}


def make_settings(mongo_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "mongo_url": mongo_url,
        "mongo_db": f"tt_{uuid.uuid4().hex[:12]}",
        "jwt_secret": TEST_JWT_SECRET,
        "data_dir": data_dir,
        "admin_email": None,
        "admin_password": None,
        **FAST_HASHING,
        **GENEROUS_LIMITS,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(mongo_url: str, memcached_servers: str, tmp_path: Path) -> Settings:
    return make_settings(mongo_url, tmp_path, memcached_servers=memcached_servers)


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    c = bootstrap(settings)
    try:
        yield c
    finally:
        c.adapters.client.drop_database(settings.mongo_db)
        c.close()


@pytest.fixture
def app(container: Container):
    app = create_app(container.services)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client, container: Container) -> Api:
    return Api(client, container)
