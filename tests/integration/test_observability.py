"""Serving behind a proxy: /metrics, X-Served-By, the trusted X-Forwarded-For, JSON log fields."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tasktracker.logging_setup import JsonFormatter, configure_logging, stop_log_writer
from tests.support.api import Api


def samples(client, name: str) -> dict[tuple, float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_metrics_count_requests_by_route_template_and_status(api, client):
    member = api.member()
    task = api.create_task(member)
    before = samples(client, "tasktracker_http_requests_total")
    for _ in range(3):
        assert client.get(f"/api/v1/tasks/{task['id']}", headers=member.headers).status_code == 200
    assert (
        client.get("/api/v1/tasks/000000000000000000000000", headers=member.headers).status_code
        == 404
    )
    after = samples(client, "tasktracker_http_requests_total")

    def grew(route: str, status: str) -> float:
        key = (("method", "GET"), ("route", route), ("status", status))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("/api/v1/tasks/<task_id>", "200") == 3
    assert grew("/api/v1/tasks/<task_id>", "404") == 1
    # Raw paths never become labels: their number is unbounded.
    assert not any(task["id"] in str(key) for key in after)
    latency = samples(client, "tasktracker_http_request_duration_seconds_count")
    assert (
        latency[(("method", "GET"), ("route", "/api/v1/tasks/<task_id>"), ("status", "200"))] >= 3
    )


def test_metrics_show_the_outbox_backlog_and_published_events(api, client, container):
    api.member()
    pending = samples(client, "tasktracker_outbox_pending")
    assert pending == {(): float(container.adapters.outbox.pending_count())}
    published = samples(client, "tasktracker_events_published_total")
    assert published.get((("type", "user.registered"),), 0) >= 1


def test_metrics_and_probes_are_exempt_from_rate_limits(make_api):
    api = make_api(rate_limit_api="2/minute")
    alice = api.member("alice")
    for _ in range(2):
        assert api.client.get("/api/v1/tasks", headers=alice.headers).status_code == 200
    assert api.client.get("/api/v1/tasks", headers=alice.headers).status_code == 429
    for _ in range(5):
        assert api.client.get("/metrics").status_code == 200
        assert api.client.get("/healthz").status_code == 200


def test_the_instance_name_is_named_in_x_served_by(make_api):
    assert make_api(instance_name="api-7").client.get("/healthz").headers["X-Served-By"] == "api-7"
    assert "X-Served-By" not in make_api().client.get("/healthz").headers


def signup_from(api: Api, name: str, forwarded_for: str) -> int:
    body = {"username": name, "email": f"{name}@example.com", "password": "pw " * 4}
    return api.client.post(
        "/api/v1/auth/signup",
        json=body,
        headers={"X-Forwarded-For": forwarded_for},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    ).status_code


def test_behind_a_trusted_proxy_limits_count_the_forwarded_client_address(make_api):
    api = make_api(rate_limit_signup="1/minute", trusted_proxies=1)
    assert signup_from(api, "fwd1", "203.0.113.1") == 201
    assert signup_from(api, "fwd2", "203.0.113.2") == 201
    assert signup_from(api, "fwd3", "203.0.113.2") == 429


def test_without_trusted_proxies_a_forwarded_address_is_ignored(make_api):
    api = make_api(rate_limit_signup="1/minute")
    assert signup_from(api, "direct1", "203.0.113.1") == 201
    # A client cannot escape its limit by making up X-Forwarded-For.
    assert signup_from(api, "direct2", "203.0.113.2") == 429


def test_json_request_lines_carry_the_request_id_as_a_field(client, caplog):
    with caplog.at_level(logging.INFO, logger="tasktracker.request"):
        client.get("/healthz", headers={"X-Request-ID": "json-req-1"})
    [record] = [r for r in caplog.records if r.name == "tasktracker.request"]
    entry = json.loads(JsonFormatter().format(record))
    assert entry["request_id"] == "json-req-1"
    assert entry["method"] == "GET" and entry["path"] == "/healthz" and entry["status"] == 200
    assert "duration_ms" in entry


@pytest.fixture
def log_file(settings, tmp_path: Path) -> Iterator[Path]:
    """Logging as a served process has it (JSON lines, written by the writer thread) into a
    file of this test's; the root logger's handlers are put back afterwards."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    configured = settings.model_copy(update={"log_dir": tmp_path / "log", "log_format": "json"})
    configure_logging(configured, process_name="api")
    try:
        yield tmp_path / "log" / "api.log"
    finally:
        stop_log_writer()
        root.handlers[:] = saved
        root.setLevel(level)


def test_the_request_line_is_written_when_the_handler_crashes_without_its_body(app, log_file):
    def crash() -> None:
        raise RuntimeError("the handler failed")

    app.add_url_rule("/crash", "crash", crash, methods=["POST"])
    app.config["TESTING"] = False  # let Flask answer 500 as in production
    secret = "correct horse battery staple"
    r = app.test_client().post(
        "/crash", json={"password": secret}, headers={"X-Request-ID": "crash-1"}
    )
    assert r.status_code == 500
    stop_log_writer()  # what was queued is written
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    [request_line] = [e for e in lines if e["logger"] == "tasktracker.request"]
    assert request_line["request_id"] == "crash-1" and request_line["status"] == 500
    assert request_line["method"] == "POST" and request_line["path"] == "/crash"
    assert any("RuntimeError: the handler failed" in e.get("exception", "") for e in lines)
    assert secret not in log_file.read_text()
