"""Event payloads for webhooks (DESIGN 14) through the API on the real services: what a change
writes to the outbox collection in its own transaction, with `data` as the API answered and
`previous` the old values of exactly what changed; a request that fails writes nothing."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api
from tests.support.problems import assert_problem

TASKS = "/api/v1/tasks"


def outbox(api: Api, kind: str | None = None) -> list[dict[str, Any]]:
    query = {"type": kind} if kind else {}
    return list(api.container.adapters.db.outbox.find(query).sort("occurred_at", 1))


def test_a_patch_records_task_updated_with_the_old_values_of_the_changed_fields(api: Api):
    alice = api.member("alice")
    task = api.create_task(alice, title="Deploy", priority="low", labels=["ops"])

    r = api.client.patch(
        f"{TASKS}/{task['id']}",
        json={"title": "Deploy v2", "priority": "high", "labels": ["ops"]},  # labels unchanged
        headers={**alice.headers, "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.get_json()

    [entry] = outbox(api, "task.updated")
    payload = entry["payload"]
    assert payload["previous"] == {"title": "Deploy", "priority": "low"}
    assert payload["data"] == r.get_json()  # the task exactly as the PATCH answered it
    assert (payload["actor"], payload["actor_name"]) == (alice.id, "alice")
    assert (payload["project_id"], payload["project_key"]) == (task["project_id"], "GEN")
    [created] = outbox(api, "task.created")
    assert created["payload"]["data"] == task
    assert created["payload"]["previous"] == {}


def test_a_failed_request_records_nothing(api: Api):
    alice = api.member("alice")
    task = api.create_task(alice, title="Deploy")
    url = f"{TASKS}/{task['id']}"
    before = [e["type"] for e in outbox(api)]

    stale = {**alice.headers, "If-Match": '"7"'}
    assert_problem(api.client.patch(url, json={"title": "lost"}, headers=stale), 412)
    assert_problem(api.client.delete(url, headers=stale), 412)
    bad_transition = api.client.patch(url, json={"status": "done"}, headers=alice.headers)
    assert_problem(bad_transition, 409)  # open -> done skips in_progress

    assert [e["type"] for e in outbox(api)] == before
    assert [t for t in before if t.startswith("task.")] == ["task.created"]


def test_status_change_delete_and_comments_carry_data_and_previous(api: Api):
    alice = api.member("alice")
    task = api.create_task(alice, title="Deploy")
    url = f"{TASKS}/{task['id']}"

    moved = api.client.patch(url, json={"status": "in_progress"}, headers=alice.headers)
    [changed] = outbox(api, "task.status_changed")
    assert changed["payload"]["previous"] == {"status": "open"}
    assert changed["payload"]["data"] == moved.get_json()

    r = api.client.post(f"{url}/comments", json={"body": "first"}, headers=alice.headers)
    assert r.status_code == 201, r.get_json()
    comment = r.get_json()
    r = api.client.patch(
        f"/api/v1/comments/{comment['id']}", json={"body": "second"}, headers=alice.headers
    )
    assert r.status_code == 200, r.get_json()
    edited = r.get_json()
    [created] = outbox(api, "comment.created")
    [updated] = outbox(api, "comment.updated")
    assert (created["payload"]["data"], created["payload"]["previous"]) == (comment, {})
    assert (updated["payload"]["data"], updated["payload"]["previous"]) == (
        edited,
        {"body": "first"},
    )

    shown = api.client.get(url, headers=alice.headers).get_json()
    assert api.client.delete(url, headers=alice.headers).status_code == 204
    [deleted] = outbox(api, "task.deleted")
    assert (deleted["payload"]["data"], deleted["payload"]["previous"]) == (shown, {})
