"""Projects through the API: creation, listing, settings, archive, delete, members and roles,
tasks with keys, moves, and the events they record (DESIGN 12)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Account, Api, make_team
from tests.support.problems import assert_problem

PROJECTS = "/api/v1/projects"
TASKS = "/api/v1/tasks"


@pytest.fixture
def team(api: Api) -> dict[str, Account]:
    return make_team(api)


def outbox_payloads(api: Api, kind: str) -> list[dict[str, Any]]:
    return [e["payload"] for e in api.container.adapters.db.outbox.find({"type": kind})]


# --- projects ----------------------------------------------------------------------------------


def test_create_answers_the_project_with_the_caller_as_owner(api: Api):
    alice = api.member("alice")
    r = api.client.post(
        PROJECTS, json={"key": "OPS", "name": "Operations", "description": "on call"},
        headers=alice.headers,
    )  # fmt: skip
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert set(body) == {"id", "key", "name", "description", "archived", "created_at", "my_role"}
    assert (body["key"], body["name"], body["description"]) == ("OPS", "Operations", "on call")
    assert body["archived"] is False and body["my_role"] == "owner"
    assert r.headers["Location"] == f"{PROJECTS}/OPS"
    created = outbox_payloads(api, "project.created")
    assert created == [
        {"project_id": body["id"], "project_key": "OPS", "name": "Operations", "owner": alice.id}
    ]
    [added] = [p for p in outbox_payloads(api, "project.member_added") if p["user_id"] == alice.id]
    assert (added["project_id"], added["project_key"]) == (body["id"], "OPS")
    assert added["role"] == "owner"
    assert (added["actor"], added["actor_name"], added["previous"]) == (alice.id, "alice", {})
    assert added["data"] == {
        "user_id": alice.id,
        "username": "alice",
        "role": "owner",
        "joined_at": body["created_at"],
    }


@pytest.mark.parametrize("key", ["O", "ops", "1OPS", "OPS-1", "ABCDEFGHIJK", "OP S"])
def test_a_malformed_key_is_422(api: Api, key: str):
    r = api.client.post(PROJECTS, json={"key": key, "name": "x"}, headers=api.member().headers)
    assert_problem(r, 422)


def test_a_taken_key_is_409(api: Api):
    api.create_project(api.member(), "OPS")
    r = api.client.post(
        PROJECTS, json={"key": "OPS", "name": "again"}, headers=api.member().headers
    )
    assert_problem(r, 409)
    r = api.client.post(
        PROJECTS, json={"key": "GEN", "name": "again"}, headers=api.member().headers
    )
    assert_problem(r, 409)


def test_project_creation_can_be_limited_to_admins(make_api):
    api = make_api(project_creation="admins")
    r = api.client.post(PROJECTS, json={"key": "OPS", "name": "x"}, headers=api.member().headers)
    assert_problem(r, 403)
    assert api.create_project(api.admin(), "OPS")["my_role"] == "owner"


def test_the_list_shows_the_callers_projects_and_admins_see_all(api: Api, team):
    def keys(who: Account) -> list[str]:
        items = api.client.get(PROJECTS, headers=who.headers).get_json()["items"]
        return [p["key"] for p in items]

    assert sorted(keys(team["viewer"])) == ["GEN", "OPS"]
    assert keys(team["outsider"]) == ["GEN"]
    api.create_project(team["outsider"], "DEV")
    admin = api.admin()
    items = api.client.get(PROJECTS, headers=admin.headers).get_json()["items"]
    assert sorted(p["key"] for p in items) == ["DEV", "GEN", "OPS"]
    assert {p["key"]: p["my_role"] for p in items}["OPS"] is None


def test_the_list_is_cursor_paginated(api: Api):
    alice = api.member("alice")
    for key in ("AAA", "BBB", "CCC"):
        api.create_project(alice, key)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.client.get(PROJECTS, query_string=params, headers=alice.headers).get_json()
        seen += [p["key"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == ["AAA", "BBB", "CCC", "GEN"] and len(seen) == 4
    assert_problem(
        api.client.get(PROJECTS, query_string={"cursor": "junk"}, headers=alice.headers), 422
    )


def test_get_by_id_or_key_in_any_case(api: Api, team):
    ops = api.client.get(f"{PROJECTS}/OPS", headers=team["viewer"].headers).get_json()
    assert ops["my_role"] == "viewer"
    for ref in (ops["id"], "ops", "Ops"):
        r = api.client.get(f"{PROJECTS}/{ref}", headers=team["memb"].headers)
        assert r.status_code == 200 and r.get_json()["id"] == ops["id"]


def test_a_project_the_caller_is_not_in_answers_like_one_that_does_not_exist(api: Api, team):
    hidden = assert_problem(
        api.client.get(f"{PROJECTS}/OPS", headers=team["outsider"].headers), 404
    )
    missing = assert_problem(
        api.client.get(f"{PROJECTS}/NOPE", headers=team["outsider"].headers), 404
    )
    assert hidden["title"] == missing["title"]
    assert hidden["detail"].replace("OPS", "X") == missing["detail"].replace("NOPE", "X")


def test_the_owner_renames_and_describes(api: Api, team):
    r = api.client.patch(
        f"{PROJECTS}/OPS", json={"name": "Ops team", "description": "24/7"},
        headers=team["owner"].headers,
    )  # fmt: skip
    assert r.status_code == 200 and (r.get_json()["name"], r.get_json()["description"]) == (
        "Ops team", "24/7",
    )  # fmt: skip
    for who in ("maint", "memb", "viewer"):
        r = api.client.patch(f"{PROJECTS}/OPS", json={"name": "x"}, headers=team[who].headers)
        assert_problem(r, 403)
    assert_problem(
        api.client.patch(f"{PROJECTS}/OPS", json={"name": "x"}, headers=team["outsider"].headers),
        404,
    )
    assert_problem(
        api.client.patch(f"{PROJECTS}/OPS", json={"key": "NEW"}, headers=team["owner"].headers), 422
    )


def test_an_archived_project_is_read_only_until_unarchived(api: Api, team):
    owner, memb = team["owner"], team["memb"]
    task = api.create_task(memb, project="OPS", title="before")
    r = api.client.patch(f"{PROJECTS}/OPS", json={"archived": True}, headers=owner.headers)
    assert r.status_code == 200 and r.get_json()["archived"] is True

    assert api.client.get(f"{TASKS}/{task['key']}", headers=memb.headers).status_code == 200
    writes = [
        api.client.post(TASKS, json={"title": "x", "project": "OPS"}, headers=memb.headers),
        api.client.patch(f"{TASKS}/{task['id']}", json={"title": "y"}, headers=memb.headers),
        api.client.delete(f"{TASKS}/{task['id']}", headers=memb.headers),
        api.client.patch(f"{PROJECTS}/OPS", json={"name": "y"}, headers=owner.headers),
        api.client.put(
            f"{PROJECTS}/OPS/members/{team['outsider'].id}",
            json={"role": "member"},
            headers=owner.headers,
        ),
    ]
    for r in writes:
        assert_problem(r, 409)

    r = api.client.patch(f"{PROJECTS}/OPS", json={"archived": False}, headers=owner.headers)
    assert r.status_code == 200 and r.get_json()["archived"] is False
    assert (
        api.client.patch(
            f"{TASKS}/{task['id']}", json={"title": "y"}, headers=memb.headers
        ).status_code
        == 200
    )


def test_delete_needs_an_archived_project_and_takes_its_tasks(api: Api, team):
    owner = team["owner"]
    task = api.create_task(team["memb"], project="OPS")
    r = api.client.post(
        f"{TASKS}/{task['id']}/comments", json={"body": "hi"}, headers=team["viewer"].headers
    )
    assert r.status_code == 201
    assert_problem(api.client.delete(f"{PROJECTS}/OPS", headers=owner.headers), 409)
    api.client.patch(f"{PROJECTS}/OPS", json={"archived": True}, headers=owner.headers)
    assert_problem(api.client.delete(f"{PROJECTS}/OPS", headers=team["maint"].headers), 403)

    assert api.client.delete(f"{PROJECTS}/OPS", headers=owner.headers).status_code == 204

    assert_problem(api.client.get(f"{PROJECTS}/OPS", headers=owner.headers), 404)
    assert_problem(api.client.get(f"{TASKS}/{task['id']}", headers=owner.headers), 404)
    db = api.container.adapters.db
    assert db.tasks.count_documents({"project_id": task["project_id"]}) == 0
    assert db.memberships.count_documents({"project_id": task["project_id"]}) == 0
    for collection in (db.comments, db.watchers, db.activity):
        assert collection.count_documents({"project_id": task["project_id"]}) == 0
    # the members' sessions no longer carry the project
    keys = [
        p["key"] for p in api.client.get(PROJECTS, headers=team["memb"].headers).get_json()["items"]
    ]
    assert keys == ["GEN"]


def test_an_admin_may_delete_any_archived_project(api: Api, team):
    api.client.patch(f"{PROJECTS}/OPS", json={"archived": True}, headers=team["owner"].headers)
    assert api.client.delete(f"{PROJECTS}/OPS", headers=api.admin().headers).status_code == 204


def test_the_default_project_cannot_be_archived_or_deleted(api: Api):
    admin = api.admin()
    assert_problem(
        api.client.patch(f"{PROJECTS}/GEN", json={"archived": True}, headers=admin.headers), 409
    )
    assert_problem(api.client.delete(f"{PROJECTS}/GEN", headers=admin.headers), 409)


# --- members -----------------------------------------------------------------------------------


def test_members_are_listed_with_roles(api: Api, team):
    r = api.client.get(f"{PROJECTS}/OPS/members", headers=team["viewer"].headers)
    assert r.status_code == 200
    roles = {m["username"]: m["role"] for m in r.get_json()["items"]}
    assert roles == {"owner": "owner", "maint": "maintainer", "memb": "member", "viewer": "viewer"}
    assert set(r.get_json()["items"][0]) == {"user_id", "username", "role", "joined_at"}
    page = api.client.get(
        f"{PROJECTS}/OPS/members", query_string={"limit": 3}, headers=team["viewer"].headers
    ).get_json()
    rest = api.client.get(
        f"{PROJECTS}/OPS/members", query_string={"limit": 3, "cursor": page["next_cursor"]},
        headers=team["viewer"].headers,
    ).get_json()  # fmt: skip
    assert len(page["items"]) == 3 and len(rest["items"]) == 1 and rest["next_cursor"] is None


def test_put_adds_201_then_changes_200_each_recording_member_added(api: Api, team):
    owner, new = team["owner"], team["outsider"]
    url = f"{PROJECTS}/OPS/members/{new.id}"
    r = api.client.put(url, json={"role": "viewer"}, headers=owner.headers)
    assert r.status_code == 201 and r.get_json()["role"] == "viewer"
    r = api.client.put(url, json={"role": "maintainer"}, headers=owner.headers)
    assert r.status_code == 200 and r.get_json()["role"] == "maintainer"
    r = api.client.put(url, json={"role": "maintainer"}, headers=owner.headers)
    assert r.status_code == 200  # the same role again: no change, no event
    added = [p for p in outbox_payloads(api, "project.member_added") if p["user_id"] == new.id]
    assert [(p["project_key"], p["role"], p["previous"]) for p in added] == [
        ("OPS", "viewer", {}),
        ("OPS", "maintainer", {"role": "viewer"}),  # a role change carries the old role
    ]
    assert added[1]["data"] == r.get_json()
    assert {p["actor"] for p in added} == {owner.id}
    # the new role applies to the next request on the same token
    assert (
        api.client.get(f"{PROJECTS}/OPS", headers=new.headers).get_json()["my_role"] == "maintainer"
    )


def test_only_the_owner_manages_members(api: Api, team):
    url = f"{PROJECTS}/OPS/members/{team['outsider'].id}"
    for who in ("maint", "memb", "viewer"):
        assert_problem(api.client.put(url, json={"role": "member"}, headers=team[who].headers), 403)
    assert_problem(
        api.client.put(url, json={"role": "member"}, headers=team["outsider"].headers), 404
    )
    assert_problem(
        api.client.delete(
            f"{PROJECTS}/OPS/members/{team['memb'].id}", headers=team["maint"].headers
        ),
        403,
    )
    admin = api.admin()
    assert api.client.put(url, json={"role": "member"}, headers=admin.headers).status_code == 201


def test_bad_member_requests(api: Api, team):
    owner = team["owner"]
    assert_problem(
        api.client.put(
            f"{PROJECTS}/OPS/members/{'f' * 24}", json={"role": "member"}, headers=owner.headers
        ),
        404,
    )
    assert_problem(
        api.client.put(
            f"{PROJECTS}/OPS/members/{team['memb'].id}",
            json={"role": "boss"},
            headers=owner.headers,
        ),
        422,
    )
    assert_problem(
        api.client.delete(f"{PROJECTS}/OPS/members/{team['outsider'].id}", headers=owner.headers),
        404,
    )


def test_the_last_owner_cannot_leave_or_be_demoted(api: Api, team):
    owner = team["owner"]
    me = f"{PROJECTS}/OPS/members/{owner.id}"
    assert_problem(api.client.put(me, json={"role": "maintainer"}, headers=owner.headers), 409)
    assert_problem(api.client.delete(me, headers=owner.headers), 409)
    api.set_role(owner, "OPS", team["maint"], "owner")
    assert api.client.put(me, json={"role": "member"}, headers=owner.headers).status_code == 200
    assert (
        api.client.get(f"{PROJECTS}/OPS", headers=owner.headers).get_json()["my_role"] == "member"
    )


def test_a_member_may_leave_and_loses_access_at_once(api: Api, team):
    memb = team["memb"]
    task = api.create_task(team["owner"], project="OPS")
    r = api.client.delete(f"{PROJECTS}/OPS/members/{memb.id}", headers=memb.headers)
    assert r.status_code == 204
    assert_problem(api.client.get(f"{PROJECTS}/OPS", headers=memb.headers), 404)
    assert_problem(api.client.get(f"{TASKS}/{task['id']}", headers=memb.headers), 404)
    [removed] = outbox_payloads(api, "project.member_removed")
    assert (removed["project_id"], removed["project_key"]) == (task["project_id"], "OPS")
    assert (removed["user_id"], removed["role"], removed["previous"]) == (memb.id, "member", {})
    assert (removed["actor"], removed["actor_name"]) == (memb.id, "memb")
    assert (removed["data"]["user_id"], removed["data"]["role"]) == (memb.id, "member")


def test_a_removed_member_loses_access_on_the_next_request(api: Api, team):
    viewer = team["viewer"]
    assert api.client.get(f"{PROJECTS}/OPS/tasks", headers=viewer.headers).status_code == 200
    api.client.delete(f"{PROJECTS}/OPS/members/{viewer.id}", headers=team["owner"].headers)
    assert_problem(api.client.get(f"{PROJECTS}/OPS/tasks", headers=viewer.headers), 404)


# --- tasks in projects ---------------------------------------------------------------------------


def test_tasks_get_keys_from_a_per_project_counter(api: Api, team):
    memb = team["memb"]
    first = api.create_task(memb, project="OPS")
    second = api.create_task(memb, project="ops")
    general = api.create_task(memb)
    assert (first["key"], second["key"]) == ("OPS-1", "OPS-2")
    assert first["project_key"] == "OPS" and first["project_id"] == second["project_id"]
    assert general["project_key"] == "GEN" and general["key"].startswith("GEN-")
    by_key = api.client.get(f"{TASKS}/ops-2", headers=team["viewer"].headers)
    assert by_key.status_code == 200 and by_key.get_json()["id"] == second["id"]
    created = [p for p in outbox_payloads(api, "task.created") if p["task_id"] == first["id"]]
    assert created[0]["key"] == "OPS-1" and created[0]["project_key"] == "OPS"
    assert created[0]["project_id"] == first["project_id"]


def test_a_deleted_tasks_number_is_not_reused(api: Api, team):
    memb = team["memb"]
    first = api.create_task(memb, project="OPS")
    api.client.delete(f"{TASKS}/{first['id']}", headers=memb.headers)
    assert api.create_task(memb, project="OPS")["key"] == "OPS-2"
    assert_problem(api.client.get(f"{TASKS}/OPS-1", headers=memb.headers), 404)


def test_creating_needs_member_and_a_visible_project(api: Api, team):
    r = api.client.post(
        TASKS, json={"title": "x", "project": "OPS"}, headers=team["viewer"].headers
    )
    assert_problem(r, 403)
    r = api.client.post(
        TASKS, json={"title": "x", "project": "OPS"}, headers=team["outsider"].headers
    )
    assert_problem(r, 404)
    r = api.client.post(TASKS, json={"title": "x", "project": "NOPE"}, headers=team["memb"].headers)
    assert_problem(r, 404)


def test_the_assignee_must_be_a_member_of_the_project(api: Api, team):
    memb = team["memb"]
    for who in ("outsider", "viewer"):
        r = api.client.post(
            TASKS, json={"title": "x", "project": "OPS", "assignee": team[who].id},
            headers=memb.headers,
        )  # fmt: skip
        assert "member" in assert_problem(r, 422)["detail"]
    task = api.create_task(memb, project="OPS", assignee=team["maint"].username)
    r = api.client.patch(
        f"{TASKS}/{task['id']}", json={"assignee": team["outsider"].id}, headers=memb.headers
    )
    assert_problem(r, 422)


def test_project_task_lists_and_the_project_filter(api: Api, team):
    memb = team["memb"]
    ops = api.create_task(memb, project="OPS", title="ops work")
    gen = api.create_task(memb, title="general work")
    listed = api.client.get(f"{PROJECTS}/OPS/tasks", headers=team["viewer"].headers).get_json()
    assert [t["id"] for t in listed["items"]] == [ops["id"]]
    filtered = api.client.get(
        TASKS, query_string={"project": "OPS"}, headers=memb.headers
    ).get_json()
    assert [t["id"] for t in filtered["items"]] == [ops["id"]]
    both = api.client.get(TASKS, headers=memb.headers).get_json()
    assert {t["id"] for t in both["items"]} == {ops["id"], gen["id"]}
    outsider = api.client.get(TASKS, headers=team["outsider"].headers).get_json()
    assert [t["id"] for t in outsider["items"]] == [gen["id"]]
    assert_problem(
        api.client.get(TASKS, query_string={"project": "OPS"}, headers=team["outsider"].headers),
        404,
    )
    assert_problem(api.client.get(f"{PROJECTS}/OPS/tasks", headers=team["outsider"].headers), 404)
    r = api.client.get(
        f"{PROJECTS}/OPS/tasks",
        query_string={"status": "open", "sort": "priority"},
        headers=memb.headers,
    )
    assert r.status_code == 200 and len(r.get_json()["items"]) == 1


def test_moving_a_task_gives_a_new_key_and_the_old_one_still_resolves(api: Api, team):
    owner, maint = team["owner"], team["maint"]
    api.create_project(owner, "DEV")
    api.set_role(owner, "DEV", maint, "member")
    task = api.create_task(team["memb"], project="OPS", assignee=maint.id)
    r = api.client.patch(f"{TASKS}/{task['id']}", json={"project": "DEV"}, headers=maint.headers)
    assert r.status_code == 200, r.get_json()
    moved = r.get_json()
    assert (moved["key"], moved["project_key"]) == ("DEV-1", "DEV")
    for ref in ("OPS-1", "DEV-1", task["id"]):
        assert (
            api.client.get(f"{TASKS}/{ref}", headers=maint.headers).get_json()["id"] == task["id"]
        )
    # OPS members who are not in DEV no longer see it
    assert_problem(api.client.get(f"{TASKS}/OPS-1", headers=team["viewer"].headers), 404)


def test_a_move_needs_maintainer_in_the_source_and_member_in_the_target(api: Api, team):
    owner = team["owner"]
    api.create_project(owner, "DEV")
    api.set_role(owner, "DEV", team["memb"], "member")
    api.set_role(owner, "DEV", team["maint"], "viewer")
    task = api.create_task(team["memb"], project="OPS")
    # a member who reports the task: not enough in the source
    r = api.client.patch(
        f"{TASKS}/{task['id']}", json={"project": "DEV"}, headers=team["memb"].headers
    )
    assert_problem(r, 403)
    # a maintainer who is only a viewer of the target
    r = api.client.patch(
        f"{TASKS}/{task['id']}", json={"project": "DEV"}, headers=team["maint"].headers
    )
    assert_problem(r, 403)
    # a target the caller cannot see
    api.create_project(team["outsider"], "SEC")
    r = api.client.patch(f"{TASKS}/{task['id']}", json={"project": "SEC"}, headers=owner.headers)
    assert_problem(r, 404)


def test_a_move_keeps_the_assignee_only_if_they_belong_to_the_target(api: Api, team):
    owner = team["owner"]
    api.create_project(owner, "DEV")
    task = api.create_task(owner, project="OPS", assignee=team["memb"].id)
    r = api.client.patch(f"{TASKS}/{task['id']}", json={"project": "DEV"}, headers=owner.headers)
    assert_problem(r, 422)
    r = api.client.patch(
        f"{TASKS}/{task['id']}", json={"project": "DEV", "assignee": None}, headers=owner.headers
    )
    assert r.status_code == 200 and r.get_json()["assignee"] is None


# --- roles x actions through the API -------------------------------------------------------------

# (role, action on a task someone else reports and nobody is assigned to) -> status
OTHERS_TASK = {
    "viewer": {"read": 200, "update": 403, "status": 403, "delete": 403},
    "member": {"read": 200, "update": 403, "status": 403, "delete": 403},
    "maintainer": {"read": 200, "update": 200, "status": 200, "delete": 204},
    "owner": {"read": 200, "update": 200, "status": 200, "delete": 204},
    "outsider": {"read": 404, "update": 404, "status": 404, "delete": 404},
    "admin": {"read": 200, "update": 200, "status": 200, "delete": 204},
}


def act(api: Api, who: Account, action: str, task: dict) -> int:
    url = f"{TASKS}/{task['key']}"
    if action == "read":
        return api.client.get(url, headers=who.headers).status_code
    if action == "update":
        return api.client.patch(url, json={"title": "changed"}, headers=who.headers).status_code
    if action == "status":
        r = api.client.patch(url, json={"status": "in_progress"}, headers=who.headers)
        return r.status_code
    return api.client.delete(url, headers=who.headers).status_code


@pytest.mark.parametrize("action", ["read", "update", "status", "delete"])
@pytest.mark.parametrize("role", list(OTHERS_TASK))
def test_each_role_on_someone_elses_task(api: Api, team, role: str, action: str):
    who = (
        api.admin()
        if role == "admin"
        else team[{"maintainer": "maint", "member": "memb"}.get(role, role)]
    )
    task = api.create_task(team["owner"], project="OPS")
    assert act(api, who, action, task) == OTHERS_TASK[role][action]


@pytest.mark.parametrize(
    ("relation", "action", "status"),
    [
        ("reporter", "update", 200),
        ("reporter", "status", 200),
        ("reporter", "delete", 204),
        ("assignee", "update", 200),
        ("assignee", "status", 200),
        ("assignee", "delete", 403),
    ],
)
def test_a_member_on_a_task_they_report_or_are_assigned(api: Api, team, relation, action, status):
    memb = team["memb"]
    if relation == "reporter":
        task = api.create_task(memb, project="OPS")
    else:
        task = api.create_task(team["owner"], project="OPS", assignee=memb.id)
    assert act(api, memb, action, task) == status


def test_a_viewer_assigned_before_a_demotion_still_cannot_change_the_task(api: Api, team):
    owner, memb = team["owner"], team["memb"]
    task = api.create_task(owner, project="OPS", assignee=memb.id)
    api.set_role(owner, "OPS", memb, "viewer")
    assert act(api, memb, "update", task) == 403
    assert act(api, memb, "read", task) == 200


# --- indexes -------------------------------------------------------------------------------------


def test_a_task_by_key_or_former_key_is_an_index_lookup(api: Api, team):
    api.create_task(team["memb"], project="OPS")
    db = api.container.adapters.db
    for query in ({"key": "OPS-1"}, {"former_keys": "OPS-1"}):
        plan = db.tasks.find(query).explain()["queryPlanner"]["winningPlan"]
        assert "IXSCAN" in str(plan) and "COLLSCAN" not in str(plan), (query, plan)
    for query in ({"user_id": team["memb"].id}, {"project_id": "x", "role": "owner"}):
        plan = db.memberships.find(query).explain()["queryPlanner"]["winningPlan"]
        assert "IXSCAN" in str(plan) and "COLLSCAN" not in str(plan), (query, plan)
