"""Visibility (DESIGN 12; OWASP API1, broken object-level authorization): a task or project of a
project the caller is not in answers 404 on every route that names one, and shows up in no
list, summary, search, legacy route or metric."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.api import Account, Api, raw

SECRET = "Quarterly layoffs plan"

# Every route that names a task or a project, with a valid body for each method: the sweep
# below fails when a route is added without an entry here.
BODIES: dict[tuple[str, str], dict[str, Any] | None] = {
    ("/api/v1/tasks/<task_id>", "GET"): None,
    ("/api/v1/tasks/<task_id>", "PATCH"): {"title": "pwned"},
    ("/api/v1/tasks/<task_id>", "DELETE"): None,
    ("/api/v1/projects/<project>", "GET"): None,
    ("/api/v1/projects/<project>", "PATCH"): {"name": "pwned"},
    ("/api/v1/projects/<project>", "DELETE"): None,
    ("/api/v1/projects/<project>/tasks", "GET"): None,
    ("/api/v1/projects/<project>/members", "GET"): None,
    ("/api/v1/projects/<project>/members/<user_id>", "PUT"): {"role": "owner"},
    ("/api/v1/projects/<project>/members/<user_id>", "DELETE"): None,
    ("/api/v1/projects/<project>/activity", "GET"): None,
    ("/api/v1/tasks/<task_id>/comments", "GET"): None,
    ("/api/v1/tasks/<task_id>/comments", "POST"): {"body": "pwned"},
    ("/api/v1/comments/<comment_id>", "PATCH"): {"body": "pwned"},
    ("/api/v1/comments/<comment_id>", "DELETE"): None,
    ("/api/v1/tasks/<task_id>/activity", "GET"): None,
    ("/api/v1/tasks/<task_id>/watchers", "GET"): None,
    ("/api/v1/tasks/<task_id>/watchers/me", "PUT"): None,
    ("/api/v1/tasks/<task_id>/watchers/me", "DELETE"): None,
    ("/api/v1/projects/<project>/webhooks", "GET"): None,
    ("/api/v1/projects/<project>/webhooks", "POST"): {
        "url": "https://93.184.215.14/x",
        "events": ["*"],
    },
    ("/api/v1/webhooks/<webhook_id>", "GET"): None,
    ("/api/v1/webhooks/<webhook_id>", "PATCH"): {"active": False},
    ("/api/v1/webhooks/<webhook_id>", "DELETE"): None,
    ("/api/v1/webhooks/<webhook_id>/rotate-secret", "POST"): None,
    ("/api/v1/webhooks/<webhook_id>/ping", "POST"): None,
    ("/api/v1/webhooks/<webhook_id>/deliveries", "GET"): None,
    ("/api/v1/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver", "POST"): None,
}
OBJECT_PARAMS = ("<task_id>", "<project>", "<comment_id>", "<webhook_id>")


@pytest.fixture
def victim(api: Api) -> dict[str, Any]:
    """SEC, a project the outsider does not belong to (any more), with a task assigned to the
    outsider back when they were a member, and the owner's comment on it."""
    owner, outsider = api.member("owner"), api.member("outsider")
    project = api.create_project(owner, "SEC", "Secret")
    api.set_role(owner, "SEC", outsider, "member")
    task = api.create_task(owner, project="SEC", title=SECRET, assignee=outsider.id)
    comment = api.client.post(
        f"/api/v1/tasks/{task['id']}/comments", json={"body": SECRET}, headers=owner.headers
    ).get_json()
    hook = api.client.post(
        "/api/v1/projects/SEC/webhooks",
        json={"url": "https://93.184.215.14/hook", "events": ["*"]},
        headers=owner.headers,
    ).get_json()
    r = api.client.delete(f"/api/v1/projects/SEC/members/{outsider.id}", headers=owner.headers)
    assert r.status_code == 204
    return {
        "webhook": hook,
        "owner": owner,
        "outsider": outsider,
        "project": project,
        "task": task,
        "comment": comment,
    }


def object_routes(api: Api) -> list[tuple[str, str]]:
    app = api.client.application
    return sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if any(param in rule.rule for param in OBJECT_PARAMS)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


def test_every_object_route_is_in_the_sweep(api: Api):
    missing = set(object_routes(api)) - set(BODIES)
    assert not missing, f"add these routes to BODIES (and so to the BOLA sweep): {missing}"


@pytest.mark.parametrize("ref", ["id", "key"])
def test_bola_sweep_every_object_route_answers_404_to_an_outsider(api: Api, victim, ref: str):
    outsider, owner = victim["outsider"], victim["owner"]
    values = {
        "<task_id>": victim["task"][ref],
        "<project>": victim["project"][ref],
        "<comment_id>": victim["comment"]["id"],
        "<user_id>": owner.id,
        "<webhook_id>": victim["webhook"]["id"],
        "<delivery_id>": "0" * 24,
    }
    for rule, method in object_routes(api):
        url = re.sub(r"<\w+>", lambda m: values[m.group(0)], rule)
        r = api.client.open(
            url, method=method, json=BODIES[(rule, method)], headers=outsider.headers
        )
        assert r.status_code == 404, (method, url, r.status_code, r.get_json())
        assert SECRET not in r.get_data(as_text=True)
        assert "Secret" not in r.get_data(as_text=True)

    task = api.client.get(f"/api/v1/tasks/{victim['task']['id']}", headers=owner.headers)
    assert task.get_json()["title"] == SECRET and task.get_json()["version"] == 1
    project = api.client.get("/api/v1/projects/SEC", headers=owner.headers).get_json()
    assert project["name"] == "Secret" and project["my_role"] == "owner"
    comments = api.client.get(
        f"/api/v1/tasks/{victim['task']['id']}/comments", headers=owner.headers
    ).get_json()["items"]
    assert [(c["body"], c["version"]) for c in comments] == [(SECRET, 1)]
    watchers = api.client.get(
        f"/api/v1/tasks/{victim['task']['id']}/watchers", headers=owner.headers
    ).get_json()["items"]
    assert [w["user_id"] for w in watchers] == [owner.id]


def visible_text(api: Api, who: Account) -> dict[str, str]:
    bearer = who.headers
    answers = {
        "list": api.client.get("/api/v1/tasks", headers=bearer),
        "search": api.client.get("/api/v1/tasks", query_string={"q": "layoffs"}, headers=bearer),
        "assignee filter": api.client.get(
            "/api/v1/tasks", query_string={"assignee": "me"}, headers=bearer
        ),
        "mine": api.client.get("/api/v1/tasks/mine", headers=bearer),
        "projects": api.client.get("/api/v1/projects", headers=bearer),
        "legacy get_tasks": api.client.get("/tasks/get_tasks", headers=raw(who.token)),
        "legacy get_my_task": api.client.get("/tasks/get_my_task", headers=raw(who.token)),
        "legacy recent": api.client.get("/tasks/recent", headers=raw(who.token)),
    }
    for name, r in answers.items():
        assert r.status_code == 200, (name, r.get_json())
    return {name: r.get_data(as_text=True) for name, r in answers.items()}


def test_no_list_search_or_legacy_route_shows_another_projects_task(api: Api, victim):
    outsider = victim["outsider"]
    api.create_task(outsider, title="my own work", assignee=outsider.id)
    for name, text in visible_text(api, outsider).items():
        assert SECRET not in text, name
        assert victim["task"]["id"] not in text and "SEC-1" not in text, name
    assert "my own work" in visible_text(api, outsider)["mine"]
    # the owner does see it, on the same routes
    owner_view = visible_text(api, victim["owner"])
    assert SECRET in owner_view["list"] and SECRET in owner_view["legacy get_tasks"]


def test_summaries_count_only_the_callers_projects(api: Api, victim):
    outsider = victim["outsider"]
    api.create_task(outsider, title="mine")
    summary = api.client.get("/api/v1/tasks/summary", headers=outsider.headers).get_json()
    assert summary["total"] == 1 and summary["open"] == 1
    legacy = api.client.get("/tasks/status_summary", headers=raw(outsider.token)).get_json()
    assert legacy == {"open": 1, "in_progress": 0, "done": 0}
    owner_summary = api.client.get("/api/v1/tasks/summary", headers=victim["owner"].headers)
    assert owner_summary.get_json()["total"] == 2


def test_metrics_name_no_task_or_project(api: Api, victim):
    outsider = victim["outsider"]
    api.client.get(f"/api/v1/tasks/{victim['task']['key']}", headers=outsider.headers)
    api.client.get("/api/v1/projects/SEC/tasks", headers=outsider.headers)
    text = api.client.get("/metrics").get_data(as_text=True)
    assert (
        "SEC" not in text
        and victim["task"]["id"] not in text
        and victim["project"]["id"] not in text
    )


def test_an_admin_sees_every_project(api: Api, victim):
    admin = api.admin()
    r = api.client.get(f"/api/v1/tasks/{victim['task']['key']}", headers=admin.headers)
    assert r.status_code == 200
    assert SECRET in api.client.get("/tasks/get_tasks", headers=raw(admin.token)).get_data(
        as_text=True
    )
