"""Comments, the activity history, watchers and notification preferences through the API, on
the real MongoDB-wire server (DESIGN 13). Letters: tests/integration/messaging."""

from __future__ import annotations

from typing import Any

import pytest

from tasktracker.adapters.mongo.unit_of_work import MongoUnitOfWork
from tasktracker.domain.errors import ConcurrentChange
from tasktracker.domain.events import EventType
from tests.support.api import Account, Api, make_team, raw
from tests.support.problems import assert_problem

TASKS = "/api/v1/tasks"
COMMENTS = "/api/v1/comments"


@pytest.fixture
def team(api: Api) -> dict[str, Account]:
    return make_team(api)


@pytest.fixture
def task(api: Api, team: dict[str, Account]) -> dict[str, Any]:
    return api.create_task(team["memb"], project="OPS", title="Rotate the keys")


def comment(api: Api, who: Account, task_ref: str, body: str) -> Any:
    return api.client.post(f"{TASKS}/{task_ref}/comments", json={"body": body}, headers=who.headers)


def feed(api: Api, who: Account, url: str, **query: Any) -> list[dict[str, Any]]:
    r = api.client.get(url, query_string=query, headers=who.headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()["items"]


def watcher_ids(api: Api, who: Account, task_ref: str) -> set[str]:
    return {w["user_id"] for w in feed(api, who, f"{TASKS}/{task_ref}/watchers")}


def triples(entry: dict[str, Any]) -> set[tuple[str, Any, Any]]:
    """An entry's changes as (field, old, new), lists as tuples."""

    def frozen(value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    return {(c["field"], frozen(c["old"]), frozen(c["new"])) for c in entry["changes"]}


def outbox(api: Api, kind: EventType) -> list[dict[str, Any]]:
    return [e["payload"] for e in api.container.adapters.db.outbox.find({"type": str(kind)})]


# --- comments ----------------------------------------------------------------------------------


def test_a_comment_is_created_with_its_shape_location_and_etag(api: Api, team, task):
    r = comment(api, team["viewer"], task["key"], "Looks **fine** to me")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert set(body) == {
        "id", "task_id", "author", "body", "created_at", "edited_at", "deleted_at", "mentions",
        "version",
    }  # fmt: skip
    assert (body["task_id"], body["author"], body["body"]) == (
        task["id"], team["viewer"].id, "Looks **fine** to me",
    )  # fmt: skip
    assert body["edited_at"] is None and body["deleted_at"] is None and body["mentions"] == []
    assert r.headers["Location"] == f"{COMMENTS}/{body['id']}"
    assert r.headers["ETag"] == '"1"'


@pytest.mark.parametrize(
    ("body", "status"),
    [("", 422), ("   ", 422), ("x" * 10_001, 422), ("x" * 10_000, 201), (None, 422), (7, 422)],
)
def test_the_body_is_1_to_10000_characters(api: Api, team, task, body, status):
    r = api.client.post(
        f"{TASKS}/{task['id']}/comments", json={"body": body}, headers=team["memb"].headers
    )
    assert r.status_code == status, r.get_json()
    if status == 422:
        assert_problem(r, 422)


def test_unknown_fields_are_refused(api: Api, team, task):
    r = api.client.post(
        f"{TASKS}/{task['id']}/comments",
        json={"body": "hi", "author": team["owner"].id},
        headers=team["memb"].headers,
    )
    assert_problem(r, 422)


def test_comments_list_oldest_first_with_a_cursor(api: Api, team, task):
    for n in range(5):
        assert comment(api, team["memb"], task["key"], f"note {n}").status_code == 201
    url = f"{TASKS}/{task['key']}/comments"
    first = api.client.get(url, query_string={"limit": 2}, headers=team["viewer"].headers)
    page = first.get_json()
    seen = [c["body"] for c in page["items"]]
    while page["next_cursor"]:
        page = api.client.get(
            url, query_string={"limit": 2, "cursor": page["next_cursor"]},
            headers=team["viewer"].headers,
        ).get_json()  # fmt: skip
        seen += [c["body"] for c in page["items"]]
    assert seen == [f"note {n}" for n in range(5)]
    bad = api.client.get(url, query_string={"cursor": "nonsense"}, headers=team["memb"].headers)
    assert_problem(bad, 422)


def test_an_outsider_cannot_comment_or_read_comments(api: Api, team, task):
    assert_problem(comment(api, team["outsider"], task["key"], "hello"), 404)
    r = api.client.get(f"{TASKS}/{task['key']}/comments", headers=team["outsider"].headers)
    assert_problem(r, 404)


def test_an_archived_project_takes_no_comment(api: Api, team, task):
    r = api.client.patch(
        "/api/v1/projects/OPS", json={"archived": True}, headers=team["owner"].headers
    )
    assert r.status_code == 200
    assert_problem(comment(api, team["memb"], task["key"], "too late"), 409)


def test_mentions_resolve_to_members_only(api: Api, team, task):
    body = "@maint please look; cc @viewer, not @outsider nor @nobody; mail memb@example.com"
    r = comment(api, team["memb"], task["key"], body)
    assert r.status_code == 201
    assert set(r.get_json()["mentions"]) == {team["maint"].id, team["viewer"].id}


def test_the_author_edits_with_if_match(api: Api, team, task):
    created = comment(api, team["memb"], task["key"], "first draft").get_json()
    url = f"{COMMENTS}/{created['id']}"
    stale = api.client.patch(
        url, json={"body": "x"}, headers={**team["memb"].headers, "If-Match": '"7"'}
    )
    assert_problem(stale, 412)
    r = api.client.patch(
        url, json={"body": "second @viewer"}, headers={**team["memb"].headers, "If-Match": '"1"'}
    )
    assert r.status_code == 200, r.get_json()
    edited = r.get_json()
    assert edited["body"] == "second @viewer" and edited["version"] == 2
    assert edited["edited_at"] is not None and edited["mentions"] == [team["viewer"].id]
    assert r.headers["ETag"] == '"2"'
    for other in ("owner", "maint", "viewer"):
        assert_problem(api.client.patch(url, json={"body": "y"}, headers=team[other].headers), 403)


def test_deleting_leaves_a_tombstone_and_takes_the_text_out_of_the_history(api: Api, team, task):
    created = comment(api, team["memb"], task["key"], "the secret is 1234").get_json()
    edit = api.client.patch(
        f"{COMMENTS}/{created['id']}", json={"body": "the secret is 5678"},
        headers=team["memb"].headers,
    )  # fmt: skip
    assert edit.status_code == 200
    r = api.client.delete(f"{COMMENTS}/{created['id']}", headers=team["memb"].headers)
    assert r.status_code == 204
    [tombstone] = feed(api, team["memb"], f"{TASKS}/{task['key']}/comments")
    assert tombstone["body"] is None and tombstone["deleted_at"] is not None
    history = api.client.get(f"{TASKS}/{task['key']}/activity", headers=team["memb"].headers)
    assert "1234" not in history.get_data(as_text=True)
    assert "5678" not in history.get_data(as_text=True)
    again = api.client.delete(f"{COMMENTS}/{created['id']}", headers=team["memb"].headers)
    assert_problem(again, 409)
    edit_gone = api.client.patch(
        f"{COMMENTS}/{created['id']}", json={"body": "back"}, headers=team["memb"].headers
    )
    assert_problem(edit_gone, 409)


@pytest.mark.parametrize(
    ("who", "status"), [("viewer", 403), ("memb", 403), ("maint", 204), ("owner", 204)]
)
def test_who_may_delete_someone_elses_comment(api: Api, team, task, who, status):
    created = comment(api, team["owner" if who != "owner" else "maint"], task["key"], "x")
    r = api.client.delete(f"{COMMENTS}/{created.get_json()['id']}", headers=team[who].headers)
    assert r.status_code == status, r.get_json()


def test_an_admin_may_delete_any_comment(api: Api, team, task):
    created = comment(api, team["memb"], task["key"], "x").get_json()
    r = api.client.delete(f"{COMMENTS}/{created['id']}", headers=api.admin().headers)
    assert r.status_code == 204


def test_a_comment_of_a_deleted_task_is_gone(api: Api, team, task):
    created = comment(api, team["memb"], task["key"], "x").get_json()
    assert (
        api.client.delete(f"{TASKS}/{task['id']}", headers=team["memb"].headers).status_code == 204
    )
    assert api.container.adapters.db.comments.count_documents({"task_id": task["id"]}) == 0
    r = api.client.patch(
        f"{COMMENTS}/{created['id']}", json={"body": "y"}, headers=team["memb"].headers
    )
    assert_problem(r, 404)


def test_a_new_comment_is_an_event_for_the_watchers(api: Api, team, task):
    created = comment(api, team["viewer"], task["key"], "ping @maint").get_json()
    [payload] = outbox(api, EventType.COMMENT_CREATED)
    assert payload["comment_id"] == created["id"] and payload["task_id"] == task["id"]
    assert (payload["actor"], payload["actor_name"]) == (team["viewer"].id, "viewer")
    assert payload["excerpt"] == "ping @maint" and payload["mentions"] == [team["maint"].id]
    assert set(payload["watchers"]) == {team["memb"].id, team["viewer"].id, team["maint"].id}


# --- activity ----------------------------------------------------------------------------------


def test_each_change_is_one_entry_with_old_and_new_values(api: Api, team, task):
    memb, url = team["memb"], f"{TASKS}/{task['key']}"
    steps = [
        ({"title": "Rotate all keys", "priority": "high"}, "updated"),
        ({"status": "in_progress"}, "status_changed"),
        ({"assignee": team["maint"].id}, "assigned"),
        ({"labels": ["security"], "due_date": "2031-01-02T03:04:05Z"}, "updated"),
    ]
    for change, _ in steps:
        r = api.client.patch(url, json=change, headers=memb.headers)
        assert r.status_code == 200, r.get_json()
    entries = feed(api, memb, f"{url}/activity")
    assert [e["verb"] for e in entries] == [verb for _, verb in reversed(steps)] + ["created"]
    changes = [triples(e) for e in entries]
    assert changes[:4] == [
        {("labels", (), ("security",)), ("due_date", None, "2031-01-02T03:04:05Z")},
        {("assignee", None, team["maint"].id)},
        {("status", "open", "in_progress")},
        {("title", "Rotate the keys", "Rotate all keys"), ("priority", "medium", "high")},
    ]
    assert ("title", None, "Rotate the keys") in changes[4]
    assert all(e["actor"] == memb.id and e["task_id"] == task["id"] for e in entries)


def test_an_entry_carries_the_request_id(api: Api, team, task):
    r = api.client.patch(
        f"{TASKS}/{task['key']}", json={"title": "t2"},
        headers={**team["memb"].headers, "X-Request-ID": "req-abc-123"},
    )  # fmt: skip
    assert r.status_code == 200
    [latest] = feed(api, team["memb"], f"{TASKS}/{task['key']}/activity", limit=1)
    assert latest["request_id"] == "req-abc-123"


def test_a_change_to_nothing_writes_no_entry(api: Api, team, task):
    r = api.client.patch(
        f"{TASKS}/{task['key']}", json={"title": task["title"]}, headers=team["memb"].headers
    )
    assert r.status_code == 200
    assert [e["verb"] for e in feed(api, team["memb"], f"{TASKS}/{task['key']}/activity")] == [
        "created"
    ]


def test_a_refused_update_leaves_no_entry(api: Api, team, task):
    url = f"{TASKS}/{task['key']}"
    stale = api.client.patch(
        url, json={"title": "x"}, headers={**team["memb"].headers, "If-Match": '"9"'}
    )
    assert_problem(stale, 412)
    assert_problem(api.client.patch(url, json={"title": "x"}, headers=team["viewer"].headers), 403)
    assert_problem(
        api.client.patch(url, json={"status": "done"}, headers=team["memb"].headers), 409
    )
    assert [e["verb"] for e in feed(api, team["memb"], f"{url}/activity")] == ["created"]


def test_a_rolled_back_update_leaves_neither_the_change_nor_its_entry(
    api: Api, team, task, monkeypatch
):
    """The transaction fails after the task and its entry were written (as when a concurrent
    write collides at commit): MongoDB rolls both back."""
    original = MongoUnitOfWork.record

    def collide(self: MongoUnitOfWork, *events: Any) -> None:
        original(self, *events)
        raise ConcurrentChange("a concurrent change got in the way; retry")

    monkeypatch.setattr(MongoUnitOfWork, "record", collide)
    url = f"{TASKS}/{task['key']}"
    r = api.client.patch(url, json={"status": "in_progress"}, headers=team["memb"].headers)
    assert_problem(r, 409)
    monkeypatch.undo()
    stored = api.client.get(url, headers=team["memb"].headers).get_json()
    assert (stored["status"], stored["version"]) == ("open", 1)
    assert [e["verb"] for e in feed(api, team["memb"], f"{url}/activity")] == ["created"]
    db = api.container.adapters.db
    assert db.activity.count_documents({"task_id": task["id"]}) == 1
    assert outbox(api, EventType.TASK_STATUS_CHANGED) == []


def test_a_move_is_one_entry_in_the_target_projects_feed(api: Api, team, task):
    api.create_project(team["owner"], "DEV")
    api.set_role(team["owner"], "DEV", team["maint"], "member")
    r = api.client.patch(
        f"{TASKS}/{task['id']}", json={"project": "DEV"}, headers=team["maint"].headers
    )
    assert r.status_code == 200, r.get_json()
    [moved] = feed(api, team["owner"], "/api/v1/projects/DEV/activity")
    assert moved["verb"] == "moved"
    fields = {c["field"]: (c["old"], c["new"]) for c in moved["changes"]}
    assert fields["key"] == ("OPS-1", "DEV-1")
    assert [e["verb"] for e in feed(api, team["owner"], "/api/v1/projects/OPS/activity")] == [
        "created"
    ]


def test_a_deleted_tasks_entries_stay_in_the_project_feed(api: Api, team, task):
    assert comment(api, team["viewer"], task["key"], "x").status_code == 201
    r = api.client.delete(f"{TASKS}/{task['key']}", headers=team["memb"].headers)
    assert r.status_code == 204
    assert_problem(
        api.client.get(f"{TASKS}/{task['id']}/activity", headers=team["memb"].headers), 404
    )
    entries = feed(api, team["viewer"], "/api/v1/projects/OPS/activity")
    assert [e["verb"] for e in entries] == ["deleted", "commented", "created"]
    assert {(c["field"], c["old"]) for c in entries[0]["changes"]} == {
        ("key", "OPS-1"), ("title", "Rotate the keys"),
    }  # fmt: skip
    assert all(e["task_id"] == task["id"] for e in entries)


def test_comment_verbs_are_in_the_history(api: Api, team, task):
    created = comment(api, team["memb"], task["key"], "one").get_json()
    api.client.patch(
        f"{COMMENTS}/{created['id']}", json={"body": "two"}, headers=team["memb"].headers
    )
    api.client.delete(f"{COMMENTS}/{created['id']}", headers=team["memb"].headers)
    entries = feed(api, team["memb"], f"{TASKS}/{task['key']}/activity")
    assert [e["verb"] for e in entries] == [
        "comment_deleted", "comment_edited", "commented", "created",
    ]  # fmt: skip
    assert {e["comment_id"] for e in entries[:3]} == {created["id"]}


def test_feeds_are_newest_first_and_paginate(api: Api, team, task):
    for n in range(6):
        r = api.client.patch(
            f"{TASKS}/{task['key']}", json={"title": f"t{n}"}, headers=team["memb"].headers
        )
        assert r.status_code == 200
    for url in (f"{TASKS}/{task['key']}/activity", "/api/v1/projects/OPS/activity"):
        page = api.client.get(url, query_string={"limit": 4}, headers=team["viewer"].headers)
        body = page.get_json()
        ids = [e["id"] for e in body["items"]]
        rest = feed(api, team["viewer"], url, limit=4, cursor=body["next_cursor"])
        ids += [e["id"] for e in rest]
        every = feed(api, team["viewer"], url, limit=100)
        assert ids == [e["id"] for e in every] and len(ids) == 7
        titles = [e["changes"][0]["new"] for e in every[:6]]
        assert titles == [f"t{n}" for n in reversed(range(6))]


def test_the_legacy_routes_changes_are_recorded(api: Api):
    admin = api.admin()
    r = api.client.post(
        "/tasks/add_task", json={"summary": "From the old client", "task_type": "bug"},
        headers=raw(admin.token),
    )  # fmt: skip
    assert r.status_code == 200, r.get_json()
    entries = feed(api, admin, "/api/v1/projects/GEN/activity")
    assert [e["verb"] for e in entries] == ["created"]
    assert ("title", None, "From the old client") in triples(entries[0])


def test_an_outsider_reads_no_feed(api: Api, team, task):
    for url in (f"{TASKS}/{task['key']}/activity", "/api/v1/projects/OPS/activity"):
        assert_problem(api.client.get(url, headers=team["outsider"].headers), 404)


# --- watchers ----------------------------------------------------------------------------------


def test_the_reporter_assignee_commenters_and_mentioned_watch(api: Api, team, task):
    assert watcher_ids(api, team["viewer"], task["key"]) == {team["memb"].id}
    api.client.patch(
        f"{TASKS}/{task['key']}", json={"assignee": team["maint"].id}, headers=team["memb"].headers
    )
    assert comment(api, team["viewer"], task["key"], "hi @owner").status_code == 201
    assert watcher_ids(api, team["viewer"], task["key"]) == {
        team["memb"].id, team["maint"].id, team["viewer"].id, team["owner"].id,
    }  # fmt: skip


def test_watch_and_unwatch_also_as_the_reporter(api: Api, team, task):
    url = f"{TASKS}/{task['key']}/watchers/me"
    assert api.client.put(url, headers=team["viewer"].headers).status_code == 204
    assert api.client.put(url, headers=team["viewer"].headers).status_code == 204
    assert api.client.delete(url, headers=team["memb"].headers).status_code == 204
    assert watcher_ids(api, team["owner"], task["key"]) == {team["viewer"].id}
    assert_problem(api.client.put(url, headers=team["outsider"].headers), 404)


def test_a_former_assignee_keeps_watching_and_a_mention_does_not_undo_an_unwatch(
    api: Api, team, task
):
    url = f"{TASKS}/{task['key']}"
    api.client.patch(url, json={"assignee": team["maint"].id}, headers=team["memb"].headers)
    api.client.patch(url, json={"assignee": team["owner"].id}, headers=team["memb"].headers)
    api.client.delete(f"{url}/watchers/me", headers=team["viewer"].headers)
    assert comment(api, team["memb"], task["key"], "@viewer fyi").status_code == 201
    assert watcher_ids(api, team["memb"], task["key"]) == {
        team["memb"].id, team["maint"].id, team["owner"].id,
    }  # fmt: skip


def test_a_member_who_left_is_no_longer_listed(api: Api, team, task):
    api.client.put(f"{TASKS}/{task['key']}/watchers/me", headers=team["viewer"].headers)
    r = api.client.delete(
        f"/api/v1/projects/OPS/members/{team['viewer'].id}", headers=team["owner"].headers
    )
    assert r.status_code == 204
    assert watcher_ids(api, team["owner"], task["key"]) == {team["memb"].id}


def test_a_status_change_event_names_the_actor_and_the_watchers(api: Api, team, task):
    api.client.put(f"{TASKS}/{task['key']}/watchers/me", headers=team["viewer"].headers)
    r = api.client.patch(
        f"{TASKS}/{task['key']}", json={"status": "in_progress"}, headers=team["maint"].headers
    )
    assert r.status_code == 200
    [payload] = outbox(api, EventType.TASK_STATUS_CHANGED)
    assert (payload["actor"], payload["actor_name"]) == (team["maint"].id, "maint")
    assert payload["previous_status"] == "open" and payload["status"] == "in_progress"
    assert set(payload["watchers"]) == {team["memb"].id, team["viewer"].id}


# --- notification preferences ------------------------------------------------------------------

NOTIFICATIONS = "/api/v1/users/me/notifications"
ALL_ON = {"assigned": True, "status_changed": True, "commented": True, "mentioned": True,
          "digest": True}  # fmt: skip


def test_preferences_default_on_and_change_one_at_a_time(api: Api):
    alice = api.member("alice")
    assert api.client.get(NOTIFICATIONS, headers=alice.headers).get_json() == ALL_ON
    r = api.client.patch(NOTIFICATIONS, json={"commented": False}, headers=alice.headers)
    assert r.status_code == 200 and r.get_json() == {**ALL_ON, "commented": False}
    r = api.client.patch(NOTIFICATIONS, json={"digest": False}, headers=alice.headers)
    assert r.get_json() == {**ALL_ON, "commented": False, "digest": False}
    assert api.client.get(NOTIFICATIONS, headers=alice.headers).get_json() == r.get_json()
    bob = api.member("bob")
    assert api.client.get(NOTIFICATIONS, headers=bob.headers).get_json() == ALL_ON


@pytest.mark.parametrize(
    "body", [{"commented": None}, {"commented": "no"}, {"sms": True}, {"digest": 3}]
)
def test_bad_preferences_are_422(api: Api, body):
    alice = api.member("alice")
    assert_problem(api.client.patch(NOTIFICATIONS, json=body, headers=alice.headers), 422)
    assert api.client.get(NOTIFICATIONS, headers=alice.headers).get_json() == ALL_ON


def test_preferences_need_a_login(api: Api):
    assert_problem(api.client.get(NOTIFICATIONS), 401)
