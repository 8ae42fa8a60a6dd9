"""Webhooks end to end: API -> outbox -> RabbitMQ (`webhooks`) -> the agent's dispatcher ->
`webhooks.send` -> a real HTTP receiver on 127.0.0.1 that verifies every delivery with
`standardwebhooks`. Retries go through RabbitMQ's per-delay queues (a short schedule here)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection

from tasktracker.adapters.broker import retry_queue
from tasktracker.agent.runner import Background
from tasktracker.api.app import create_app
from tasktracker.bootstrap import bootstrap
from tasktracker.metrics import WEBHOOK_DELIVERIES
from tasktracker.settings import Settings
from tests.support.api import Account, Api
from tests.support.commands import start_agent
from tests.support.smtp import SmtpServer, text_of
from tests.support.waiting import wait_until
from tests.support.webhooks import Receiver

SCHEDULE = "0.2s,0.2s,0.2s"  # WEBHOOK_RETRY_SCHEDULE here: four attempts per delivery
TIMEOUT = 2.0  # WEBHOOK_TIMEOUT here; an attempt's lease is 5 s longer
WEBHOOKS = {
    "webhook_retry_schedule": SCHEDULE,
    "webhook_timeout": TIMEOUT,
    "webhook_allowed_hosts": "127.0.0.1",
    "webhook_workers": 4,
}


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, object]) -> dict[str, object]:
    return {**settings_overrides, **WEBHOOKS}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture(autouse=True)
def empty_retry_queues(direct_amqp_url: str) -> Iterator[None]:
    yield
    with Connection(direct_amqp_url) as conn:
        channel = conn.channel()
        for seconds in (0.2, 1.0):
            retry_queue(seconds)(channel).delete()
        channel.close()


def owner_with_project(api: Api, name: str = "ann") -> Account:
    owner = api.member(name)
    api.create_project(owner, "OPS", "Operations")
    return owner


def add_hook(api: Api, owner: Account, receiver: Receiver, events: list[str] | None = None):
    r = api.client.post(
        "/api/v1/projects/OPS/webhooks",
        json={"url": receiver.url, "events": events or ["*"]},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.get_json()
    hook = r.get_json()
    receiver.secrets = [hook["secret"]]
    return hook


def deliveries(api: Api, owner: Account, hook: dict[str, Any]) -> list[dict[str, Any]]:
    r = api.client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=owner.headers)
    assert r.status_code == 200
    return r.get_json()["items"]


def counted(outcome: str) -> float:
    return WEBHOOK_DELIVERIES.labels(outcome)._value.get()


def test_a_change_reaches_the_receiver_signed_with_the_task_and_its_previous_values(
    api, agent, relay, receiver
):
    ann = owner_with_project(api)
    hook = add_hook(api, ann, receiver)
    task = api.create_task(ann, title="Rotate the keys", project="OPS")
    api.client.patch(
        f"/api/v1/tasks/{task['id']}", json={"title": "Rotate all keys"}, headers=ann.headers
    )
    received = receiver.wait_for(2)
    assert all(r.verified for r in received)
    created, updated = sorted((r.json for r in received), key=lambda b: b["type"])
    assert created["type"] == "task.created" and updated["type"] == "task.updated"
    assert updated["project"] == {"id": task["project_id"], "key": "OPS"}
    assert updated["actor"] == {"id": ann.id, "username": "ann"}
    assert updated["data"]["title"] == "Rotate all keys" and updated["data"]["key"] == task["key"]
    assert updated["previous"] == {"title": "Rotate the keys"}
    logged = wait_until(
        lambda: (
            [d for d in deliveries(api, ann, hook) if d["status"] == "succeeded"][1:]
            and deliveries(api, ann, hook)
        )
    )
    assert {d["type"] for d in logged} == {"task.created", "task.updated"}
    assert all(d["attempts"] == 1 and d["response_status"] == 200 for d in logged)
    assert {d["id"] for d in logged} == {r.webhook_id for r in received}


def test_a_receiver_answering_500_twice_gets_the_event_on_the_third_attempt_with_one_id(
    api, agent, relay, receiver
):
    ann = owner_with_project(api)
    hook = add_hook(api, ann, receiver, ["task.created"])
    retried = counted("retried")
    receiver.answer(500, 500)
    api.create_task(ann, title="Flaky receiver", project="OPS")
    first, second, third = receiver.wait_for(3)
    assert [first.status, second.status, third.status] == [500, 500, 200]
    assert first.webhook_id == second.webhook_id == third.webhook_id
    assert third.verified and third.json["data"]["title"] == "Flaky receiver"
    logged = wait_until(
        lambda: [d for d in deliveries(api, ann, hook) if d["status"] == "succeeded"]
    )
    assert logged[0]["attempts"] == 3 and logged[0]["id"] == third.webhook_id
    assert counted("retried") - retried == 2


def test_a_receiver_down_for_a_while_gets_the_event_once_it_is_back(api, agent, relay, receiver):
    ann = owner_with_project(api)
    hook = add_hook(api, ann, receiver, ["task.created"])
    receiver.stop()
    api.create_task(ann, title="While you were away", project="OPS")
    wait_until(lambda: [d for d in deliveries(api, ann, hook) if d["attempts"] >= 2])
    receiver.start()
    (arrived,) = receiver.wait_for(1)
    assert arrived.verified and arrived.json["data"]["title"] == "While you were away"


def test_a_slow_hook_does_not_hold_up_another(api, agent, relay, receiver):
    ann = owner_with_project(api)
    with Receiver() as fast:
        add_hook(api, ann, receiver, ["task.created"])
        add_hook(api, ann, fast, ["task.created"])
        receiver.hold()
        try:
            api.create_task(ann, title="One event, two hooks", project="OPS")
            receiver.wait_held(1)  # the slow one has it and is not answering
            (quick,) = fast.wait_for(1, timeout=TIMEOUT)
            assert quick.verified
        finally:
            receiver.release()


def test_a_hook_gets_only_the_events_it_subscribed_to(api, agent, relay, receiver):
    ann = owner_with_project(api)
    add_hook(api, ann, receiver, ["comment.created"])
    task = api.create_task(ann, title="Quiet", project="OPS")
    api.client.patch(f"/api/v1/tasks/{task['id']}", json={"title": "Still"}, headers=ann.headers)
    api.client.post(
        f"/api/v1/tasks/{task['id']}/comments", json={"body": "hello"}, headers=ann.headers
    )
    (only,) = receiver.wait_for(1)
    assert only.json["type"] == "comment.created" and only.json["data"]["body"] == "hello"
    # a ping goes through the same queues: once it is here, nothing else is on its way
    ping = api.client.post(f"/api/v1/webhooks/{_hook_id(api, ann)}/ping", headers=ann.headers)
    assert [r.json["type"] for r in receiver.wait_for(2)] == ["comment.created", "webhook.ping"]
    assert receiver.wait_for(2)[1].webhook_id == ping.get_json()["delivery_id"]


def _hook_id(api: Api, owner: Account) -> str:
    r = api.client.get("/api/v1/projects/OPS/webhooks", headers=owner.headers)
    return r.get_json()["items"][0]["id"]


def test_a_change_that_is_rolled_back_sends_nothing(api, agent, relay, receiver):
    ann = owner_with_project(api)
    add_hook(api, ann, receiver, ["task.updated"])
    task = api.create_task(ann, title="Versioned", project="OPS")
    url = f"/api/v1/tasks/{task['id']}"
    stale = {**ann.headers, "If-Match": '"41"'}
    assert api.client.patch(url, json={"title": "lost"}, headers=stale).status_code == 412
    assert api.client.patch(url, json={"title": "kept"}, headers=ann.headers).status_code == 200
    (only,) = receiver.wait_for(1)
    assert only.json["data"]["title"] == "kept" and only.json["previous"] == {"title": "Versioned"}


def test_a_rotated_secret_signs_beside_the_old_one_during_the_overlap(api, agent, relay, receiver):
    ann = owner_with_project(api)
    hook = add_hook(api, ann, receiver, ["task.created"])
    old = hook["secret"]
    r = api.client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=ann.headers)
    new = r.get_json()["secret"]
    assert new != old and new.startswith("whsec_")
    receiver.secrets = [old, new]
    api.create_task(ann, title="Signed twice", project="OPS")
    (arrived,) = receiver.wait_for(1)
    assert len(arrived.headers["webhook-signature"].split(" ")) == 2
    assert set(arrived.verified_by) == {old, new}


def test_ping_and_redeliver_send_the_same_webhook_id_again(api, agent, relay, receiver):
    ann = owner_with_project(api)
    hook = add_hook(api, ann, receiver, ["task.created"])
    ping = api.client.post(f"/api/v1/webhooks/{hook['id']}/ping", headers=ann.headers)
    assert ping.status_code == 202
    (first,) = receiver.wait_for(1)
    assert first.json["type"] == "webhook.ping" and first.verified
    assert first.webhook_id == ping.get_json()["delivery_id"]
    wait_until(lambda: deliveries(api, ann, hook)[0]["status"] == "succeeded")
    again = api.client.post(
        f"/api/v1/webhooks/{hook['id']}/deliveries/{first.webhook_id}/redeliver",
        headers=ann.headers,
    )
    assert again.status_code == 202
    _, second = receiver.wait_for(2)
    assert second.webhook_id == first.webhook_id and second.body == first.body


def test_410_gone_disables_the_hook_at_once(api, agent, relay, receiver, smtp):
    ann = owner_with_project(api)
    hook = add_hook(api, ann, receiver, ["task.created"])
    receiver.answer(410)
    api.create_task(ann, title="Go away", project="OPS")
    receiver.wait_for(1)
    shown = wait_until(lambda: _hook(api, ann, hook)["active"] is False and _hook(api, ann, hook))
    assert "410" in shown["disabled_reason"]
    letter = disabled_letter(smtp, ann)
    assert letter["Subject"] == "Webhook disabled in OPS"
    assert "410 Gone" in text_of(letter) and receiver.url in text_of(letter)


def disabled_letter(smtp: SmtpServer, owner: Account):
    def letters():
        return [m for m in smtp.letters_to(owner.email) if "Webhook disabled" in m["Subject"]]

    (letter,) = wait_until(letters)
    return letter


def _hook(api: Api, owner: Account, hook: dict[str, Any]) -> dict[str, Any]:
    return api.client.get(f"/api/v1/webhooks/{hook['id']}", headers=owner.headers).get_json()


def test_twenty_failures_in_a_row_disable_the_hook_and_mail_its_owner(
    api, agent, relay, receiver, smtp
):
    ann = owner_with_project(api)
    hook = add_hook(api, ann, receiver, ["task.created"])
    receiver.answer(*[503] * 20)
    for number in range(5):  # four attempts each
        api.create_task(ann, title=f"Doomed {number}", project="OPS")
    receiver.wait_for(20)
    shown = wait_until(lambda: _hook(api, ann, hook)["active"] is False and _hook(api, ann, hook))
    assert shown["failures_in_a_row"] >= 20 and "20 failures" in shown["disabled_reason"]
    letter = disabled_letter(smtp, ann)
    assert "20 delivery attempts in a row failed" in text_of(letter)
    # switched off: a new event is not sent; switched on again: it is
    api.create_task(ann, title="Not sent", project="OPS")
    r = api.client.patch(
        f"/api/v1/webhooks/{hook['id']}", json={"active": True}, headers=ann.headers
    )
    assert r.get_json()["failures_in_a_row"] == 0 and r.get_json()["disabled_reason"] is None
    api.create_task(ann, title="Sent", project="OPS")
    arrived = receiver.wait_for(21)
    assert [r.json["data"]["title"] for r in arrived[20:]] == ["Sent"]


def test_an_agent_killed_mid_delivery_leaves_it_to_the_next_with_the_same_id(
    api, relay, receiver, agent_settings, agent_container
):
    ann = owner_with_project(api)
    add_hook(api, ann, receiver, ["task.created"])
    receiver.hold()
    process = start_agent_process(agent_settings)
    try:
        api.create_task(ann, title="Interrupted", project="OPS")
        receiver.wait_held(1, timeout=30)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
        receiver.release()
    background = Background(agent_container, relay=False).start()
    try:
        first, second = receiver.wait_for(2, timeout=30)
    finally:
        background.stop()
    assert second.webhook_id == first.webhook_id and second.verified and second.status == 200


def start_agent_process(agent_settings: Settings) -> subprocess.Popen:
    return start_agent(agent_settings, **WEBHOOKS)


class SwitchableDns:
    """The name service the SSRF guard asks, as a table the test changes (a DNS change)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}

    def resolve(self, host: str, port: int) -> list[str]:
        if host not in self.answers:
            raise OSError(f"{host} does not resolve")
        return list(self.answers[host])


def test_a_host_that_turns_private_after_saving_is_refused_at_send(
    settings: Settings, agent_settings: Settings, clock, relay, receiver
):
    dns = SwitchableDns()
    dns.answers["hooks.example.test"] = ["127.0.0.1"]  # allowed (WEBHOOK_ALLOWED_HOSTS)
    api_side = bootstrap(settings, clock=clock, resolver=dns)
    agent_side = bootstrap(agent_settings, clock=clock, resolver=dns)
    background = Background(agent_side, relay=False).start()
    try:
        api = Api(create_app(api_side.services).test_client(), api_side)
        ann = owner_with_project(api)
        url = receiver.url.replace("127.0.0.1", "hooks.example.test")
        r = api.client.post(
            "/api/v1/projects/OPS/webhooks",
            json={"url": url, "events": ["task.created"]},
            headers=ann.headers,
        )
        assert r.status_code == 201
        hook = r.get_json()
        dns.answers["hooks.example.test"] = ["10.20.30.40"]  # now it points inside
        api.create_task(ann, title="Never leaves", project="OPS")
        (refused,) = wait_until(
            lambda: [d for d in deliveries(api, ann, hook) if d["status"] == "failed"]
        )
        assert "10.20.30.40" in refused["error"] and refused["response_status"] is None
        assert receiver.count == 0
    finally:
        background.stop()
        agent_side.close()
        api_side.close()


def test_metrics_count_deliveries(api, agent, relay, receiver):
    succeeded = counted("succeeded")
    ann = owner_with_project(api)
    add_hook(api, ann, receiver, ["task.created"])
    api.create_task(ann, title="Counted", project="OPS")
    receiver.wait_for(1)
    wait_until(lambda: counted("succeeded") > succeeded)
    body = api.client.get("/metrics").get_data(as_text=True)
    assert "tasktracker_webhook_deliveries_total" in body
    assert "tasktracker_webhook_delivery_duration_seconds_bucket" in body
