"""Upgrading a broker whose queues the previous version declared as classic queues: this
version's agent (or `tasktracker migrate-queues`) moves every queue to its quorum declaration,
keeping its name and its waiting messages. Each test has a vhost of its own whose default queue
type is classic, as on such a broker, holding the queues exactly as the previous version
declared them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kombu import Connection

from tasktracker.adapters.broker import Broker, BrokerConfig
from tasktracker.adapters.queue_migration import (
    HOLDING_SUFFIX,
    MigrationIncomplete,
    QueueMigrator,
    durable_queues,
)
from tasktracker.agent.runner import Background
from tasktracker.bootstrap import Container
from tasktracker.domain.events import Event, EventType
from tasktracker.settings import Settings
from tests.support.api import Account, Api
from tests.support.broker import (
    classic_vhost,
    declare,
    previous_topology,
    publish,
    queue_arguments,
    queue_types,
    queued,
    waiting,
    welcome_events,
)
from tests.support.notifications import letters_about, status_change, task_event
from tests.support.services import RABBIT_PORT, amqp_url
from tests.support.settings import process_env
from tests.support.smtp import SmtpServer, wait_for_letters
from tests.support.waiting import wait_until
from tests.support.webhooks import Receiver

RETRY_DELAYS = (0.2, 60.0)  # WEBHOOK_RETRY_SCHEDULE below (its waits: 0.2 s): the retry queues
SETTINGS = {
    "webhook_retry_schedule": "0.2s,60s",
    "webhook_allowed_hosts": "127.0.0.1",
    "webhook_workers": 2,
    "notify_coalesce_seconds": 0.5,
    "notify_flush_interval": 0.05,
}


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, object]) -> dict[str, object]:
    return {**settings_overrides, **SETTINGS}


@pytest.fixture
def old_broker() -> Iterator[str]:
    """A classic-default vhost with the previous version's queues; its URL."""
    with classic_vhost() as vhost:
        url = amqp_url(RABBIT_PORT, vhost)
        declare(url, previous_topology(RETRY_DELAYS))
        assert set(queue_types(vhost).values()) == {"classic"}
        yield url


def vhost_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def send(url: str, event: Event, times: int = 1) -> None:
    """Publish the event as the previous version did (`times` > 1: duplicates, as a relay or
    a migration's overlap may make)."""
    for _ in range(times):
        body = json.dumps(event.to_message()).encode()
        publish(url, body, "tasktracker.events", str(event.type), message_id=event.event_id)


def migrator(url: str, limit: int = 20) -> Callable[..., Any]:
    """Run the migration of the broker at `url` once, as the agent does at start."""

    def run(timeout: float = 30.0) -> list[Any]:
        with Connection(url) as connection:
            return QueueMigrator(connection, durable_queues(limit, RETRY_DELAYS)).run(timeout)

    return run


def assert_all_quorum(url: str) -> None:
    types = queue_types(vhost_of(url))
    assert set(types.values()) == {"quorum"}, types
    assert not [name for name in types if name.endswith(HOLDING_SUFFIX)]


# --- the broker alone ----------------------------------------------------------------------------


def test_every_queue_becomes_a_quorum_queue_with_its_messages_and_a_second_run_changes_nothing(
    old_broker: str, settings: Settings
):
    url = old_broker
    events = welcome_events(3, "waiting")
    for event in events:
        send(url, event)
    publish(url, b'{"dead": 1}', "tasktracker.dead-letter", "welcome", headers={"why": "bad"})
    publish(url, b'{"delivery_id": "d1", "attempt": 1}', "tasktracker.webhooks", "send")
    publish(url, b'{"delivery_id": "d2", "attempt": 3}', "tasktracker.webhooks", "retry.60000ms")

    migrated = {m.queue: m.moved for m in migrator(url)()}

    assert migrated["welcome"] == 3 and migrated["welcome.dlq"] == 1
    # the waiting attempt is made at once rather than waiting its whole delay again
    assert migrated["webhooks.retry.60000ms"] == 1 and migrated["webhooks.send"] == 1
    assert_all_quorum(url)
    assert '{"x-delivery-limit",20}' in queue_arguments(vhost_of(url))["welcome"]
    assert waiting(url, "webhooks.send") == 2 and waiting(url, "webhooks.retry.60000ms") == 0
    # the same messages, properties and all
    assert waiting(url, "welcome") == 3
    taken = queued(url, "welcome")
    assert [body["event_id"] for body, _ in taken] == [e.event_id for e in events]
    assert [props["message_id"] for _, props in taken] == [e.event_id for e in events]
    with Connection(url) as conn:
        dead = conn.channel().basic_get("welcome.dlq", no_ack=True)
    assert json.loads(dead.body) == {"dead": 1}
    assert dead.properties["application_headers"]["why"] == "bad"

    # again, as `tasktracker migrate-queues`: nothing to do, nothing moved
    again = subprocess.run(
        [sys.executable, "-m", "tasktracker", "migrate-queues"],
        env=process_env(settings, amqp_url=url, webhook_retry_schedule="0.2s,60s"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    assert "queues up to date (0 migrated)" in again.stdout
    assert migrator(url)() == []
    assert_all_quorum(url)
    assert waiting(url, "webhooks.send") == 2


def test_a_consumer_of_the_old_queue_is_waited_for_and_none_of_its_messages_is_lost(
    old_broker: str,
):
    url = old_broker
    first = welcome_events(3, "early")
    for event in first:
        send(url, event)
    got: list[Any] = []
    old_agent = Connection(url)  # an agent of the previous version, busy with all three
    channel = old_agent.channel()
    channel.basic_qos(0, 10, False)
    channel.basic_consume("welcome", callback=got.append)
    wait_until(lambda: old_agent.drain_events(timeout=0.1) or len(got) == 3)

    with pytest.raises(MigrationIncomplete, match="welcome: 1 consumer"):
        migrator(url)(timeout=1.0)
    # meanwhile new events wait in the holding queue
    later = welcome_events(1, "late")
    send(url, later[0])
    old_agent.close()  # it stops without acknowledging: its three go back to the old queue

    migrated = {m.queue: m.moved for m in migrator(url)()}
    assert migrated["welcome"] == 4
    assert_all_quorum(url)
    ids = sorted(body["event_id"] for body, _ in queued(url, "welcome"))
    assert ids == sorted(e.event_id for e in [*first, *later])


def test_a_run_interrupted_after_the_holding_queue_took_over_is_finished_by_the_next(
    old_broker: str,
):
    url = old_broker
    send(url, welcome_events(1, "before")[0])
    with Connection(url) as conn:  # what a run killed after its step 1 leaves
        channel = conn.channel()
        holding = f"welcome{HOLDING_SUFFIX}"
        channel.queue_declare(
            holding, durable=True, auto_delete=False, arguments={"x-queue-type": "quorum"}
        )
        channel.queue_bind(holding, "tasktracker.events", "user.registered")
        channel.queue_unbind("welcome", "tasktracker.events", "user.registered")
    after = welcome_events(1, "after")[0]
    send(url, after)  # in the holding queue only
    assert waiting(url, holding) == 1 and waiting(url, "welcome") == 1

    migrated = {m.queue: m.moved for m in migrator(url)()}
    assert migrated["welcome"] == 2
    assert_all_quorum(url)
    assert len(queued(url, "welcome")) == 2


def test_another_delivery_limit_is_a_migration_too(old_broker: str):
    url = old_broker
    before = set(queue_types(vhost_of(url)))
    assert {m.queue for m in migrator(url, limit=20)()} == before
    send(url, welcome_events(1)[0])
    migrated = {m.queue for m in migrator(url, limit=5)()}
    assert migrated == {"welcome", "password_reset", "alerts", "notifications",
                        "webhook_letters", "reminders", "webhooks", "webhooks.send"}  # fmt: skip
    assert '{"x-delivery-limit",5}' in queue_arguments(vhost_of(url))["webhooks.send"]
    assert waiting(url, "welcome") == 1
    assert Broker(BrokerConfig(url=url, delivery_limit=5)).ping()


# --- upgrading with the agent ---------------------------------------------------------------------


def team(api: Api) -> tuple[Account, Account]:
    ann, bob = api.member("ann"), api.member("bob")
    api.create_project(ann, "OPS", "Operations")
    api.set_role(ann, "OPS", bob, "member")
    return ann, bob


def add_hook(api: Api, owner: Account, receiver: Receiver) -> None:
    r = api.client.post(
        "/api/v1/projects/OPS/webhooks",
        json={"url": receiver.url, "events": ["task.created"]},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.get_json()
    receiver.secrets = [r.get_json()["secret"]]


def reminder(container: Container, task: dict[str, Any], who: Account) -> Event:
    return task_event(
        container,
        EventType.TASK_REMINDER,
        task,
        None,
        [],
        reminder_id=f"{task['id']}:0",
        remind_at=container.clock().isoformat(),
        username=who.username,
        email=who.email,
    )


def test_two_agents_of_this_version_start_on_the_old_queues_and_every_waiting_event_is_handled_once(
    api: Api,
    container: Container,
    agent_settings: Settings,
    make_container: Callable[[Settings], Container],
    old_broker: str,
    smtp: SmtpServer,
    caplog: pytest.LogCaptureFixture,
):
    url = old_broker
    ann, bob = team(api)
    with Receiver() as receiver:
        add_hook(api, ann, receiver)
        task = api.create_task(ann, title="Rotate the keys", project="OPS", assignee=bob.id)
        welcome = welcome_events(2, "newcomer")
        events = [
            *welcome,  # letters
            status_change(container, task, ann, [ann, bob], "open", "in_progress"),  # notification
            reminder(container, task, bob),  # a reminder letter
            task_event(container, EventType.TASK_CREATED, task, ann, [ann]),  # a webhook
        ]
        for event in events:
            send(url, event, times=2)  # each with a duplicate

        settings = agent_settings.model_copy(update={"amqp_url": url})
        agents = [Background(make_container(settings), relay=False) for _ in range(2)]
        with caplog.at_level("INFO", logger="tasktracker"):
            for agent in agents:
                agent.start()  # at once: one migrates, the other waits for it
            try:
                for agent in agents:
                    assert agent.agent is not None and agent.agent.ready.wait(30)
                for event in welcome:
                    wait_for_letters(smtp, event.payload["email"])
                wait_until(lambda: letters_about(smtp, bob.email, task["key"]), timeout=20)
                wait_until(lambda: len(letters_about(smtp, bob.email, task["key"])) >= 2, 20)
                receiver.wait_for(1)
                # every duplicate came through too, and was recognised
                wait_until(lambda: caplog.text.count("already delivered; duplicate ignored") >= 3)
                wait_until(lambda: "already fanned out; duplicate ignored" in caplog.text)
                wait_until(lambda: "fanned out already; duplicate ignored" in caplog.text)
            finally:
                for agent in agents:
                    agent.stop()
        assert receiver.count == 1
    for event in welcome:
        assert len(smtp.letters_to(event.payload["email"])) == 1
    subjects = [m["Subject"] for m in letters_about(smtp, bob.email, task["key"])]
    assert sorted("Reminder" in subject for subject in subjects) == [False, True], subjects
    assert smtp.letters_to(ann.email) == []
    assert caplog.text.count("queues: welcome migrated") == 1
    assert_all_quorum(url)
    assert migrator(url)() == []
