"""The webhook management API (DESIGN 14): owners only, secrets shown once, the SSRF guard at
save, rotation, ping and redelivery requests through the outbox. Sending is covered end to end
in tests/integration/messaging/test_webhooks.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Account, Api
from tests.support.problems import assert_problem

HOOKS = "/api/v1/projects/OPS/webhooks"
# A public address (nothing is sent in these tests: no agent runs). Names would need DNS.
PUBLIC_URL = "https://93.184.215.14/tasktracker"


def team(api: Api) -> tuple[Account, Account, Account]:
    owner, maintainer, outsider = api.member("ann"), api.member("max"), api.member("ozzy")
    api.create_project(owner, "OPS", "Operations")
    api.set_role(owner, "OPS", maintainer, "maintainer")
    return owner, maintainer, outsider


def create(api: Api, who: Account, **body: Any):
    return api.client.post(
        HOOKS, json={"url": PUBLIC_URL, "events": ["*"], **body}, headers=who.headers
    )


def outbox_types(container) -> list[str]:
    return [doc["type"] for doc in container.adapters.db.outbox.find().sort("occurred_at", 1)]


def test_an_owner_creates_a_hook_and_sees_its_secret_once(api):
    owner, _, _ = team(api)
    r = create(api, owner, events=["task.created", "comment.created"])
    assert r.status_code == 201
    hook = r.get_json()
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 30
    assert hook["events"] == ["task.created", "comment.created"] and hook["active"] is True
    assert r.headers["Location"] == f"/api/v1/webhooks/{hook['id']}"
    shown = api.client.get(f"/api/v1/webhooks/{hook['id']}", headers=owner.headers).get_json()
    listed = api.client.get(HOOKS, headers=owner.headers).get_json()["items"]
    assert "secret" not in shown and all("secret" not in h for h in listed)
    assert [h["id"] for h in listed] == [hook["id"]]


def test_only_the_owner_manages_hooks_and_outsiders_do_not_see_them(api):
    owner, maintainer, outsider = team(api)
    hook = create(api, owner).get_json()
    assert_problem(create(api, maintainer), 403)
    assert_problem(create(api, outsider), 404)
    url = f"/api/v1/webhooks/{hook['id']}"
    assert_problem(api.client.get(url, headers=maintainer.headers), 403)
    assert_problem(api.client.get(url, headers=outsider.headers), 404)
    assert_problem(api.client.delete(url, headers=outsider.headers), 404)
    assert_problem(api.client.post(f"{url}/ping", headers=maintainer.headers), 403)
    assert_problem(api.client.get(f"{url}/deliveries", headers=outsider.headers), 404)


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("ftp://93.184.215.14/x", "http"),
        ("https://user:pw@93.184.215.14/x", "credentials"),
        ("http://127.0.0.1:9/hook", "127.0.0.1"),
        ("http://localhost/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://10.1.2.3/hook", "10.1.2.3"),
        ("http://[::1]/hook", "::1"),
        ("not a url", "http"),
    ],
)
def test_a_url_a_hook_may_not_reach_is_refused_at_save(api, url, detail):
    owner, _, _ = team(api)
    problem = assert_problem(create(api, owner, url=url), 422)
    assert detail in problem["detail"]
    assert api.client.get(HOOKS, headers=owner.headers).get_json()["items"] == []


def test_changing_the_url_is_checked_too(api):
    owner, _, _ = team(api)
    hook = create(api, owner).get_json()
    r = api.client.patch(
        f"/api/v1/webhooks/{hook['id']}",
        json={"url": "http://192.168.1.10/x"},
        headers=owner.headers,
    )
    assert "192.168.1.10" in assert_problem(r, 422)["detail"]


@pytest.mark.parametrize(
    "events",
    [[], ["task.exploded"], ["*", "task.created"], ["user.registered"], "task.created"],
)
def test_unknown_or_empty_event_lists_are_refused(api, events):
    owner, _, _ = team(api)
    assert_problem(create(api, owner, events=events), 422)


def test_a_project_has_at_most_twenty_hooks(api):
    owner, _, _ = team(api)
    for _ in range(20):
        assert create(api, owner).status_code == 201
    assert "20 webhooks" in assert_problem(create(api, owner), 409)["detail"]


def test_patch_changes_events_and_active_and_delete_removes_the_hook(api):
    owner, _, _ = team(api)
    hook = create(api, owner).get_json()
    url = f"/api/v1/webhooks/{hook['id']}"
    r = api.client.patch(
        url, json={"events": ["task.deleted"], "active": False}, headers=owner.headers
    )
    assert r.status_code == 200
    assert r.get_json()["events"] == ["task.deleted"] and r.get_json()["active"] is False
    assert_problem(api.client.patch(url, json={"secret": "x"}, headers=owner.headers), 422)
    assert api.client.delete(url, headers=owner.headers).status_code == 204
    assert_problem(api.client.get(url, headers=owner.headers), 404)


def test_rotation_answers_a_new_secret_and_when_the_old_one_stops(api):
    owner, _, _ = team(api)
    hook = create(api, owner).get_json()
    r = api.client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=owner.headers)
    assert r.status_code == 200
    rotated = r.get_json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != hook["secret"]
    assert rotated["previous_secret_expires_at"]


def test_ping_and_redeliver_go_through_the_outbox(api, container):
    owner, _, _ = team(api)
    hook = create(api, owner).get_json()
    r = api.client.post(f"/api/v1/webhooks/{hook['id']}/ping", headers=owner.headers)
    assert r.status_code == 202 and len(r.get_json()["delivery_id"]) == 24
    assert outbox_types(container)[-1] == "webhook.ping"
    missing = f"/api/v1/webhooks/{hook['id']}/deliveries/{'0' * 24}/redeliver"
    assert_problem(api.client.post(missing, headers=owner.headers), 404)


def test_the_delivery_log_starts_empty_and_pages(api):
    owner, _, _ = team(api)
    hook = create(api, owner).get_json()
    r = api.client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=owner.headers)
    assert r.status_code == 200 and r.get_json() == {"items": [], "next_cursor": None}


def test_an_archived_projects_hooks_can_be_read_but_not_changed(api):
    owner, _, _ = team(api)
    hook = create(api, owner).get_json()
    archive = api.client.patch(
        "/api/v1/projects/OPS", json={"archived": True}, headers=owner.headers
    )
    assert archive.status_code == 200
    assert api.client.get(HOOKS, headers=owner.headers).status_code == 200
    assert_problem(create(api, owner), 409)
    r = api.client.patch(
        f"/api/v1/webhooks/{hook['id']}", json={"active": False}, headers=owner.headers
    )
    assert_problem(r, 409)
