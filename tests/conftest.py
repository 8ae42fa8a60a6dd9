"""Test fixtures: a real MongoDB-wire server for the session (SecantusDB, or MONGO_URL), a fresh
database per test, and the Flask app built by the same composition root as production."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasktracker.api.app import create_app
from tasktracker.bootstrap import Container, bootstrap
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


def make_settings(mongo_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "mongo_url": mongo_url,
        "mongo_db": f"tt_{uuid.uuid4().hex[:12]}",
        "jwt_secret": TEST_JWT_SECRET,
        "data_dir": data_dir,
        "admin_email": None,
        "admin_password": None,
        **FAST_HASHING,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(mongo_url: str, tmp_path: Path) -> Settings:
    return make_settings(mongo_url, tmp_path)


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    c = bootstrap(settings)
    try:
        yield c
    finally:
        c.client.drop_database(settings.mongo_db)
        c.close()


@pytest.fixture
def app(container: Container):
    app = create_app(container)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client, container: Container) -> Api:
    return Api(client, container)
