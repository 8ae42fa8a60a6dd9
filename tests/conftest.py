"""The one fixture chain of the tests: clock, settings_overrides -> settings -> container -> app ->
client -> api, on the real services of `tests.support.services` (a MongoDB-wire server for the
session with a fresh database per test, memcached). The app is built by the same composition
root as production. A directory's conftest changes the chain only by overriding `clock` or
`settings_overrides`; this file is the only one that registers plugins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tasktracker.api.app import create_app
from tasktracker.bootstrap import Container, bootstrap
from tasktracker.settings import Settings
from tests.support.api import Api
from tests.support.clock import Clock
from tests.support.settings import make_settings

pytest_plugins = ["tests.support.services"]


@pytest.fixture
def clock() -> Clock:
    """The application's clock: real time until a test moves or freezes it."""
    return Clock()


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Settings a directory or module changes for all of its tests (none by default)."""
    return {}


@pytest.fixture
def settings(
    mongo_url: str, memcached_servers: str, tmp_path: Path, settings_overrides: dict[str, object]
) -> Settings:
    return make_settings(
        mongo_url, tmp_path, memcached_servers=memcached_servers, **settings_overrides
    )


@pytest.fixture
def make_container(clock: Clock) -> Iterator[Callable[[Settings], Container]]:
    """Builds containers as production does, on the test clock; after the test each one's
    database is dropped and it is closed (the last built first)."""
    built: list[tuple[Container, Settings]] = []

    def make(settings: Settings) -> Container:
        c = bootstrap(settings, clock=clock)
        built.append((c, settings))
        return c

    yield make
    for c, settings in reversed(built):
        c.adapters.client.drop_database(settings.mongo_db)
        c.close()


@pytest.fixture
def container(make_container: Callable[[Settings], Container], settings: Settings) -> Container:
    return make_container(settings)


@pytest.fixture
def app(container: Container) -> Flask:
    app = create_app(container.services)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def api(client: FlaskClient, container: Container) -> Api:
    return Api(client, container)


@pytest.fixture
def make_api(
    mongo_url: str,
    memcached_servers: str,
    tmp_path: Path,
    settings_overrides: dict[str, object],
    make_container: Callable[[Settings], Container],
) -> Callable[..., Api]:
    """Another app in the same test, with these settings changed; each has its own database
    (and so its own rate-limit counters)."""

    def make(**overrides: object) -> Api:
        settings = make_settings(
            mongo_url,
            tmp_path,
            memcached_servers=memcached_servers,
            **{**settings_overrides, **overrides},
        )
        container = make_container(settings)
        return Api(create_app(container.services).test_client(), container)

    return make
