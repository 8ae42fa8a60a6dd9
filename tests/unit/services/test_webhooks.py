"""The webhook service (DESIGN 14) on the fakes: who may manage a hook, what it stores, what a
rotation keeps signing, and that a ping or a redelivery is an event committed to the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tasktracker.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from tasktracker.domain.events import EventType
from tasktracker.domain.projects import Project, ProjectRole
from tasktracker.domain.users import User
from tasktracker.domain.webhooks import SECRET_OVERLAP, delivery_id
from tests.fakes import FakeSystem

URL = "https://hooks.example.com/in"


@pytest.fixture
def ops(system: FakeSystem, alice: User, bob: User) -> Project:
    """OPS: alice owns it, bob maintains it."""
    return system.make_project("OPS", owner=alice, members={bob.id: ProjectRole.MAINTAINER})


def test_the_owner_creates_a_hook_whose_secret_is_stored_to_sign(system, ops, alice):
    hook, secret = system.services.webhooks.create(system.actor(alice), "OPS", URL, ["*"])
    stored = system.fakes.webhooks.get(hook.id)
    assert stored is not None and stored.signing_secrets(system.clock()) == [secret]
    assert stored.project_id == ops.id and stored.created_by == alice.id and stored.active


def test_a_maintainer_may_not_and_an_outsider_does_not_see_the_project(system, ops, bob, member):
    with pytest.raises(Forbidden):
        system.services.webhooks.create(system.actor(bob), "OPS", URL, ["*"])
    with pytest.raises(NotFound):
        system.services.webhooks.create(system.actor(member), "OPS", URL, ["*"])


def test_the_target_guard_is_asked_at_save_and_on_a_url_change(system, ops, alice):
    actor = system.actor(alice)
    with pytest.raises(InvalidInput):
        system.services.webhooks.create(actor, "OPS", "http://10.0.0.1/x", ["*"])
    hook, _ = system.services.webhooks.create(actor, "OPS", URL, ["*"])
    with pytest.raises(InvalidInput):
        system.services.webhooks.update(actor, hook.id, {"url": "http://localhost/x"})
    assert system.fakes.webhooks.get(hook.id).url == URL


def test_a_rotated_out_secret_signs_for_the_overlap_only(system, ops, alice):
    actor = system.actor(alice)
    hook, old = system.services.webhooks.create(actor, "OPS", URL, ["*"])
    _, new, ends = system.services.webhooks.rotate_secret(actor, hook.id)
    assert ends == system.clock() + SECRET_OVERLAP
    stored = system.fakes.webhooks.get(hook.id)
    assert stored.signing_secrets(system.clock()) == [new, old]
    assert stored.signing_secrets(ends + timedelta(seconds=1)) == [new]


def test_switching_a_disabled_hook_on_clears_its_failures(system, ops, alice):
    actor = system.actor(alice)
    hook, _ = system.services.webhooks.create(actor, "OPS", URL, ["task.created"])
    stored = system.fakes.webhooks.get(hook.id)
    stored.active, stored.failures_in_a_row, stored.disabled_reason = False, 20, "20 failures"
    system.fakes.webhooks.save(stored)
    again = system.services.webhooks.update(actor, hook.id, {"active": True})
    assert again.active and again.failures_in_a_row == 0 and again.disabled_reason is None


def test_a_ping_is_an_event_in_the_outbox_naming_its_delivery(system, ops, alice):
    actor = system.actor(alice)
    hook, _ = system.services.webhooks.create(actor, "OPS", URL, ["task.created"])
    answered = system.services.webhooks.ping(actor, hook.id)
    (event,) = [e for e in system.fakes.outbox.events() if e.type is EventType.WEBHOOK_PING]
    assert answered == delivery_id(event.event_id, hook.id)
    assert event.payload["webhook_id"] == hook.id and event.payload["project_key"] == "OPS"
    assert event.payload["actor"] == alice.id


def test_redelivering_a_delivery_of_another_hook_is_not_found(system, ops, alice):
    actor = system.actor(alice)
    hook, _ = system.services.webhooks.create(actor, "OPS", URL, ["*"])
    with pytest.raises(NotFound):
        system.services.webhooks.redeliver(actor, hook.id, "0" * 24)
    assert system.outbox_types() == []


def test_an_archived_project_keeps_its_hooks_readable_but_frozen(system, alice):
    system.make_project("OLD", owner=alice, archived=True)
    actor = system.actor(alice)
    assert system.services.webhooks.list(actor, "OLD") == []
    with pytest.raises(Conflict):
        system.services.webhooks.create(actor, "OLD", URL, ["*"])
