"""Service tests run on the fakes, wired by the composition root (tests/fakes.py)."""

from __future__ import annotations

import pytest

from tasktracker.domain.users import Role, User
from tests.fakes import FakeSystem, build_fake_services


@pytest.fixture
def system() -> FakeSystem:
    return build_fake_services()


@pytest.fixture
def alice(system: FakeSystem) -> User:
    return system.make_user("alice")


@pytest.fixture
def bob(system: FakeSystem) -> User:
    return system.make_user("bob")


@pytest.fixture
def root(system: FakeSystem) -> User:
    return system.make_user("root", role=Role.ADMIN)


@pytest.fixture
def member(system: FakeSystem) -> User:
    return system.make_user("member")
