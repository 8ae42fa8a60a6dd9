"""CalendarService (DESIGN 14) on the fakes: a secret URL per user, kept only as a digest and
replaced by the next one; the feed's tasks; who gets NotFound."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from tasktracker.domain.errors import NotFound
from tasktracker.domain.projects import ProjectRole
from tasktracker.domain.tasks import Status
from tasktracker.domain.users import Role, User
from tasktracker.schemas.tasks import TaskCreate
from tasktracker.services.calendar import FEED_MAX_TASKS
from tests.fakes import FakeSystem, build_fake_services, fake_settings


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1].removesuffix(".ics")


def assigned(system: FakeSystem, user: User, days: float | None = 1, **fields: object) -> str:
    due = system.clock() + timedelta(days=days) if days is not None else None
    data = TaskCreate(title="t", assignee=user.id, due_date=due, **fields)
    return system.services.tasks.create(system.actor(user), data).id


def test_the_url_is_under_the_public_url_and_only_its_digest_is_kept():
    system = build_fake_services(settings=fake_settings(public_url="https://t.example/"))
    alice = system.make_user("alice")

    url = system.services.calendar.issue(alice)

    assert url.startswith("https://t.example/ical/") and url.endswith(".ics")
    token = token_of(url)
    assert system.fakes.calendar_feeds.digests == {
        alice.id: hashlib.sha256(token.encode()).hexdigest()
    }


def test_a_new_url_replaces_the_old_one(system, alice):
    old = system.services.calendar.issue(alice)
    new = system.services.calendar.issue(alice)

    assert new != old
    with pytest.raises(NotFound):
        system.services.calendar.feed(token_of(old))
    assert system.services.calendar.feed(token_of(new)).user.id == alice.id


def test_the_feed_holds_the_users_not_done_dated_tasks_soonest_first(system, alice, bob):
    later = assigned(system, alice, days=3)
    sooner = assigned(system, alice, days=1, status=Status.IN_PROGRESS)
    assigned(system, alice, days=2, status=Status.DONE)
    assigned(system, alice, days=None)
    assigned(system, bob)
    ops = system.make_project("OPS", owner=bob, members={alice.id: ProjectRole.MEMBER})
    left = system.services.tasks.create(
        system.actor(bob),
        TaskCreate(title="x", project="OPS", assignee=alice.id, due_date=system.clock()),
    )
    system.fakes.memberships.remove(ops.id, alice.id)

    feed = system.services.calendar.feed(token_of(system.services.calendar.issue(alice)))

    assert [t.id for t in feed.tasks] == [sooner, later]
    assert left.id not in [t.id for t in feed.tasks]


def test_the_feed_is_capped(system, alice, monkeypatch):
    monkeypatch.setattr("tasktracker.services.calendar.FEED_MAX_TASKS", 2)
    for _ in range(3):
        assigned(system, alice)
    feed = system.services.calendar.feed(token_of(system.services.calendar.issue(alice)))
    assert len(feed.tasks) == 2 < FEED_MAX_TASKS


def test_unknown_tokens_and_disabled_users_find_nothing(system, alice):
    url = system.services.calendar.issue(alice)
    with pytest.raises(NotFound):
        system.services.calendar.feed("nope")
    system.fakes.users.set_role_and_active(alice.id, Role.MEMBER, False, system.clock())
    with pytest.raises(NotFound):
        system.services.calendar.feed(token_of(url))
