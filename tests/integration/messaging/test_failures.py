"""Nothing is lost and nothing is sent twice when the broker, the agent or SMTP fail."""

from __future__ import annotations

import signal
import subprocess
import time

from tasktracker.agent.runner import Background
from tests.support.api import signup
from tests.support.commands import start_agent
from tests.support.smtp import text_of, wait_for_letters
from tests.support.waiting import wait_until


def test_signup_answers_promptly_with_the_broker_cut_off_and_the_letter_follows(
    client, container, broker_proxy, agent, relay, smtp
):
    # A first signup leaves a pooled connection, which the cut then breaks.
    signup(client, "before")
    wait_for_letters(smtp, "before@example.com")

    broker_proxy.stop()
    started = time.perf_counter()
    signup(client, "during")
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"signup took {elapsed:.2f}s with the broker down"

    # A signup with a broker that never answered at all is just as quick.
    started = time.perf_counter()
    signup(client, "during2")
    assert time.perf_counter() - started < 0.5
    assert container.adapters.outbox.pending_count() == 2
    assert container.relay.run_once() == 0  # the broker is still unreachable
    assert smtp.letters_to("during@example.com") == []

    broker_proxy.start()
    for name in ("during", "during2"):
        [letter] = wait_for_letters(smtp, f"{name}@example.com", timeout=20)
        assert f"Hello {name}," in text_of(letter)
    wait_until(lambda: container.adapters.outbox.pending_count() == 0)
    assert len(smtp.letters_to("during@example.com")) == 1
    assert len(smtp.letters_to("before@example.com")) == 1


def test_readiness_reports_the_broker(client, broker_proxy):
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["status"] == "ok"
    assert ready.get_json()["checks"]["broker"] == "ok"

    # Without the broker the API still serves (events wait in the outbox): degraded, not down.
    broker_proxy.stop()
    down = client.get("/readyz")
    assert down.status_code == 200
    assert down.get_json()["status"] == "degraded"
    assert down.get_json()["checks"]["broker"] == "unavailable"


def start_agent_process(agent_settings) -> subprocess.Popen:
    return start_agent(agent_settings, delivery_lease=agent_settings.delivery_lease)


def test_agent_killed_mid_message_redelivers_and_still_sends_one_letter(
    client, container, agent_settings, agent_container, smtp
):
    smtp.collector.hold = True  # the first letter stalls inside the SMTP conversation
    process = start_agent_process(agent_settings)
    try:
        signup(client, "kenny")
        assert smtp.collector.held.wait(30), "the agent never started sending"
        process.send_signal(signal.SIGKILL)  # killed after receiving, before acknowledging
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    smtp.collector.release()  # the half-sent letter is refused: it was never delivered
    assert smtp.letters_to("kenny@example.com") == []

    # RabbitMQ redelivers the unacknowledged message to a new agent, which takes over the
    # dead agent's claim once its lease ran out.
    background = Background(agent_container, relay=False).start()
    try:
        [letter] = wait_for_letters(smtp, "kenny@example.com", timeout=30)
        assert "Hello kenny," in text_of(letter)
        wait_until(lambda: container.adapters.deliveries.sent_count() == 1)
    finally:
        background.stop()
    assert len(smtp.letters_to("kenny@example.com")) == 1


def test_letters_wait_for_a_refusing_smtp_server_and_arrive_once(
    client, container, agent, smtp, caplog
):
    smtp.stop()
    with caplog.at_level("WARNING", logger="tasktracker.agent.consumer"):
        signup(client, "patient")
        wait_until(lambda: caplog.text.count("not sent") >= 2)
    assert container.adapters.deliveries.sent_count() == 0

    smtp.start()
    [letter] = wait_for_letters(smtp, "patient@example.com", timeout=20)
    assert "Hello patient," in text_of(letter)
    wait_until(lambda: container.adapters.deliveries.sent_count() == 1)
    assert len(smtp.letters_to("patient@example.com")) == 1
