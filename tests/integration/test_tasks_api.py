"""The task resource (`/api/v1/tasks/{id}`): create, read, partial update, delete, the status
workflow, who may do what, and optimistic locking with ETag / If-Match."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from tests.support.problems import PROBLEM_JSON, assert_problem
from tests.support.times import parse_time

TASKS = "/api/v1/tasks"
PAST = "2020-01-02T03:04:05Z"
FUTURE = "2999-01-02T03:04:05Z"


def url(task: dict) -> str:
    return f"{TASKS}/{task['id']}"


def get_task(api, who, task: dict) -> dict:
    r = api.client.get(url(task), headers=who.headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def patch(api, who, task: dict, body: dict, **headers: str):
    return api.client.patch(url(task), json=body, headers={**who.headers, **headers})


# --- create ------------------------------------------------------------------------------------


def test_create_answers_201_with_location_etag_and_every_field(api):
    alice = api.member("alice")
    bob = api.member("bob")
    before = datetime.now(UTC) - timedelta(seconds=1)
    body = {
        "title": "Write the report",
        "description": "quarterly numbers",
        "type": "bug",
        "priority": "high",
        "estimate_hours": 2.5,
        "assignee": bob.id,
        "start_date": "2030-01-01T09:00:00Z",
        "due_date": "2030-01-05T17:00:00Z",
        "labels": ["finance", "q1"],
    }
    r = api.client.post(TASKS, json=body, headers=alice.headers)

    assert r.status_code == 201, r.get_json()
    task = r.get_json()
    assert r.headers["Location"] == f"{TASKS}/{task['id']}"
    assert r.headers["ETag"] == '"1"'
    assert ObjectId.is_valid(task["id"])
    assert task["title"] == "Write the report"
    assert task["description"] == "quarterly numbers"
    assert task["type"] == "bug"
    assert task["status"] == "open"
    assert task["priority"] == "high"
    assert task["estimate_hours"] == 2.5
    assert task["assignee"] == bob.id
    assert task["reporter"] == alice.id
    assert parse_time(task["start_date"]) == datetime(2030, 1, 1, 9, tzinfo=UTC)
    assert parse_time(task["due_date"]) == datetime(2030, 1, 5, 17, tzinfo=UTC)
    assert task["completed_at"] is None
    assert task["labels"] == ["finance", "q1"]
    assert task["version"] == 1
    assert task["overdue"] is False
    created = parse_time(task["created_at"])
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=1)
    assert task["updated_at"] == task["created_at"]
    # The Location answers the same resource.
    assert api.client.get(r.headers["Location"], headers=alice.headers).get_json() == task


def test_create_applies_defaults(api):
    alice = api.member()
    task = api.create_task(alice, title="minimal")
    assert task["status"] == "open"
    assert task["priority"] == "medium"
    assert task["type"] == "task"
    assert task["description"] == ""
    assert task["assignee"] is None
    assert task["due_date"] is None
    assert task["labels"] == []
    assert task["overdue"] is False


def test_reporter_is_always_the_caller(api):
    alice = api.member()
    bob = api.member()
    r = api.client.post(TASKS, json={"title": "x", "reporter": bob.id}, headers=alice.headers)
    assert_problem(r, 422)
    assert api.create_task(bob, title="mine")["reporter"] == bob.id


def test_overdue_is_computed_from_due_date_and_status(api):
    alice = api.member()
    late = api.create_task(alice, title="late", due_date=PAST)
    on_time = api.create_task(alice, title="on time", due_date=FUTURE)
    late_but_done = api.create_task(alice, title="done late", status="done", due_date=PAST)
    assert late["overdue"] is True
    assert on_time["overdue"] is False
    assert late_but_done["overdue"] is False
    assert late_but_done["completed_at"] is not None
    assert get_task(api, alice, late)["overdue"] is True


def test_assignee_accepts_a_username_and_answers_the_user_id(api):
    alice = api.member()
    bob = api.member("bobby")
    task = api.create_task(alice, assignee="bobby")
    assert task["assignee"] == bob.id


@pytest.mark.parametrize("assignee", ["nobody-by-that-name", str(ObjectId())])
def test_unknown_assignee_is_422_and_nothing_is_created(api, assignee):
    alice = api.member()
    r = api.client.post(TASKS, json={"title": "x", "assignee": assignee}, headers=alice.headers)
    body = assert_problem(r, 422)
    assert assignee in body["detail"]
    page = api.client.get(TASKS, headers=alice.headers).get_json()
    assert page["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": ""},
        {"title": "x", "status": "blocked"},
        {"title": "x", "priority": "urgent"},
        {"title": "x", "estimate_hours": -1},
        {"title": "x", "assignee": {"$ne": None}},
        {"title": "x", "start_date": "2030-02-01T00:00:00Z", "due_date": "2030-01-01T00:00:00Z"},
    ],
)
def test_invalid_task_bodies_are_422(api, body):
    alice = api.member()
    assert_problem(api.client.post(TASKS, json=body, headers=alice.headers), 422)


def test_anonymous_callers_get_401(api):
    alice = api.member()
    task = api.create_task(alice)
    assert_problem(api.client.post(TASKS, json={"title": "x"}), 401)
    assert_problem(api.client.get(url(task)), 401)
    assert_problem(api.client.patch(url(task), json={"title": "y"}), 401)
    assert_problem(api.client.delete(url(task)), 401)


# --- read --------------------------------------------------------------------------------------


def test_get_answers_the_task_with_its_version_as_etag(api):
    alice = api.member()
    task = api.create_task(alice, title="read me")
    r = api.client.get(url(task), headers=alice.headers)
    assert r.status_code == 200
    assert r.get_json() == task
    assert r.headers["ETag"] == '"1"'


@pytest.mark.parametrize("task_id", [str(ObjectId()), "nope", "0" * 23, "z" * 24])
def test_get_unknown_or_malformed_id_is_404(api, task_id):
    alice = api.member()
    api.create_task(alice)
    body = assert_problem(api.client.get(f"{TASKS}/{task_id}", headers=alice.headers), 404)
    assert body["instance"] == f"{TASKS}/{task_id}"


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_change_of_unknown_or_malformed_id_is_404(api, method):
    admin = api.admin()
    for task_id in (str(ObjectId()), "nope"):
        call = getattr(api.client, method)
        kwargs = {"json": {"title": "x"}} if method == "patch" else {}
        assert_problem(call(f"{TASKS}/{task_id}", headers=admin.headers, **kwargs), 404)


# --- partial update ----------------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent(api):
    alice = api.member()
    bob = api.member("bob")
    task = api.create_task(
        alice,
        title="old title",
        description="keep me",
        priority="low",
        due_date=FUTURE,
        labels=["a"],
        assignee=bob.id,
    )
    r = patch(api, alice, task, {"title": "new title"})

    assert r.status_code == 200, r.get_json()
    updated = r.get_json()
    assert updated["title"] == "new title"
    assert updated["version"] == 2
    assert r.headers["ETag"] == '"2"'
    assert parse_time(updated["updated_at"]) >= parse_time(task["updated_at"])
    unchanged = {k: v for k, v in task.items() if k not in ("title", "version", "updated_at")}
    assert {k: updated[k] for k in unchanged} == unchanged
    # ...and it is stored, not just echoed.
    assert get_task(api, alice, task) == updated


def test_patch_null_clears_due_date_and_assignee(api):
    alice = api.member()
    task = api.create_task(alice, due_date=PAST, assignee=alice.id)
    assert task["overdue"] is True

    r = patch(api, alice, task, {"due_date": None, "assignee": None})

    assert r.status_code == 200, r.get_json()
    updated = r.get_json()
    assert updated["due_date"] is None
    assert updated["assignee"] is None
    assert updated["overdue"] is False
    assert get_task(api, alice, task)["due_date"] is None


def test_patch_sets_several_fields_and_assignee_by_username(api):
    alice = api.member()
    carol = api.member("carol")
    task = api.create_task(alice)
    r = patch(
        api,
        alice,
        task,
        {"assignee": "carol", "priority": "critical", "labels": ["x", "y"], "due_date": PAST},
    )
    assert r.status_code == 200, r.get_json()
    updated = r.get_json()
    assert updated["assignee"] == carol.id
    assert updated["priority"] == "critical"
    assert updated["labels"] == ["x", "y"]
    assert updated["overdue"] is True


def test_each_patch_increments_version_and_changes_etag(api):
    alice = api.member()
    task = api.create_task(alice)
    etags = ['"1"']
    for n in range(2, 5):
        r = patch(api, alice, task, {"description": f"edit {n}"})
        assert r.status_code == 200
        assert r.get_json()["version"] == n
        etags.append(r.headers["ETag"])
    assert etags == ['"1"', '"2"', '"3"', '"4"']
    assert api.client.get(url(task), headers=alice.headers).headers["ETag"] == '"4"'


@pytest.mark.parametrize(
    "body",
    [
        {"title": None},
        {"type": None},
        {"status": None},
        {"priority": None},
        {"title": ""},
        {"status": "blocked"},
        {"reporter": "someone"},
        {"version": 7},
        {"id": "x"},
        {"assignee": "nobody-by-that-name"},
        {"start_date": "2999-06-01T00:00:00Z"},
    ],
)
def test_invalid_patch_is_422_and_changes_nothing(api, body):
    alice = api.member()
    task = api.create_task(alice, due_date=FUTURE)
    assert_problem(patch(api, alice, task, body), 422)
    assert get_task(api, alice, task) == task


# --- delete ------------------------------------------------------------------------------------


def test_delete_answers_204_then_the_task_is_gone(api):
    alice = api.member()
    task = api.create_task(alice)
    other = api.create_task(alice, title="stays")

    r = api.client.delete(url(task), headers=alice.headers)

    assert r.status_code == 204
    assert r.data == b""
    assert_problem(api.client.get(url(task), headers=alice.headers), 404)
    assert_problem(api.client.delete(url(task), headers=alice.headers), 404)
    assert_problem(patch(api, alice, task, {"title": "zombie"}), 404)
    assert get_task(api, alice, other)["title"] == "stays"
    ids = [t["id"] for t in api.client.get(TASKS, headers=alice.headers).get_json()["items"]]
    assert ids == [other["id"]]


# --- status workflow ---------------------------------------------------------------------------


def test_open_to_in_progress_to_done_sets_completed_at(api):
    alice = api.member()
    task = api.create_task(alice, due_date=PAST)
    assert task["overdue"] is True

    r = patch(api, alice, task, {"status": "in_progress"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "in_progress"
    assert r.get_json()["completed_at"] is None

    before = datetime.now(UTC) - timedelta(seconds=1)
    r = patch(api, alice, task, {"status": "done"})
    assert r.status_code == 200, r.get_json()
    done = r.get_json()
    assert done["status"] == "done"
    assert done["completed_at"] is not None
    assert before <= parse_time(done["completed_at"]) <= datetime.now(UTC) + timedelta(seconds=1)
    assert done["overdue"] is False
    assert done["version"] == 3
    assert get_task(api, alice, task)["completed_at"] == done["completed_at"]


def test_open_to_done_is_409_with_a_problem_body(api):
    alice = api.member()
    task = api.create_task(alice)
    body = assert_problem(patch(api, alice, task, {"status": "done"}), 409)
    assert "open" in body["detail"] and "done" in body["detail"]
    assert body["instance"] == url(task)
    assert get_task(api, alice, task) == task


def test_reopen_from_done_clears_completed_at(api):
    alice = api.member()
    task = api.create_task(alice)
    patch(api, alice, task, {"status": "in_progress"})
    done = patch(api, alice, task, {"status": "done"}).get_json()
    assert done["completed_at"] is not None

    r = patch(api, alice, task, {"status": "open"})

    assert r.status_code == 200, r.get_json()
    reopened = r.get_json()
    assert reopened["status"] == "open"
    assert reopened["completed_at"] is None
    assert get_task(api, alice, task)["completed_at"] is None


def test_in_progress_may_go_back_to_open(api):
    alice = api.member()
    task = api.create_task(alice, status="in_progress")
    r = patch(api, alice, task, {"status": "open"})
    assert r.status_code == 200
    assert r.get_json()["status"] == "open"


def test_a_rejected_transition_changes_no_other_field_sent_with_it(api):
    alice = api.member()
    task = api.create_task(alice, title="before")
    assert_problem(patch(api, alice, task, {"title": "after", "status": "done"}), 409)
    assert get_task(api, alice, task)["title"] == "before"


# --- permissions -------------------------------------------------------------------------------


@pytest.fixture
def people(api):
    """A task reported by `reporter`, assigned to `assignee`; `outsider` is neither."""
    reporter = api.member("reporter")
    assignee = api.member("assignee")
    outsider = api.member("outsider")
    admin = api.admin("boss")
    task = api.create_task(reporter, title="shared", assignee=assignee.id)
    return reporter, assignee, outsider, admin, task


def test_every_active_user_reads_any_task(api, people):
    reporter, assignee, outsider, admin, task = people
    for who in (reporter, assignee, outsider, admin):
        assert get_task(api, who, task)["id"] == task["id"]
    listed = api.client.get(TASKS, headers=outsider.headers).get_json()["items"]
    assert [t["id"] for t in listed] == [task["id"]]


def test_a_disabled_user_cannot_read_tasks(api, people):
    _reporter, _assignee, outsider, admin, task = people
    r = api.client.patch(
        f"/api/v1/users/{outsider.id}", json={"active": False}, headers=admin.headers
    )
    assert r.status_code == 200, r.get_json()
    # Refused at once, whether as a disabled account (403) or as an ended session (401).
    for path in (url(task), TASKS):
        r = api.client.get(path, headers=outsider.headers)
        assert r.status_code in (401, 403), r.get_json()
        assert r.mimetype == PROBLEM_JSON
    assert get_task(api, admin, task)["id"] == task["id"]


def test_reporter_and_assignee_may_update(api, people):
    reporter, assignee, _outsider, _admin, task = people
    assert patch(api, reporter, task, {"title": "by reporter"}).status_code == 200
    r = patch(api, assignee, task, {"status": "in_progress"})
    assert r.status_code == 200, r.get_json()
    after = get_task(api, reporter, task)
    assert after["title"] == "by reporter"
    assert after["status"] == "in_progress"


def test_a_member_who_is_neither_reporter_nor_assignee_gets_403_on_update(api, people):
    _reporter, _assignee, outsider, _admin, task = people
    body = assert_problem(patch(api, outsider, task, {"title": "hijacked"}), 403)
    assert body["detail"]
    assert get_task(api, outsider, task) == task


def test_a_member_cannot_take_over_a_task_by_assigning_it_to_themselves(api, people):
    _reporter, _assignee, outsider, _admin, task = people
    assert_problem(patch(api, outsider, task, {"assignee": outsider.id}), 403)
    assert get_task(api, outsider, task)["assignee"] == task["assignee"]


def test_assignee_and_outsider_cannot_delete(api, people):
    _reporter, assignee, outsider, _admin, task = people
    assert_problem(api.client.delete(url(task), headers=assignee.headers), 403)
    assert_problem(api.client.delete(url(task), headers=outsider.headers), 403)
    assert get_task(api, assignee, task) == task


def test_reporter_may_delete(api, people):
    reporter, _assignee, _outsider, _admin, task = people
    assert api.client.delete(url(task), headers=reporter.headers).status_code == 204
    assert_problem(api.client.get(url(task), headers=reporter.headers), 404)


def test_admin_may_update_and_delete_any_task(api, people):
    _reporter, _assignee, _outsider, admin, task = people
    r = patch(api, admin, task, {"title": "by admin", "assignee": None, "status": "in_progress"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["title"] == "by admin"
    assert api.client.delete(url(task), headers=admin.headers).status_code == 204
    assert_problem(api.client.get(url(task), headers=admin.headers), 404)


def test_a_former_assignee_loses_the_right_to_update(api, people):
    reporter, assignee, _outsider, _admin, task = people
    assert patch(api, reporter, task, {"assignee": None}).status_code == 200
    assert_problem(patch(api, assignee, task, {"title": "still mine?"}), 403)


# --- ETag / If-Match ---------------------------------------------------------------------------


def test_patch_with_stale_if_match_is_412_and_changes_nothing(api):
    alice = api.member()
    task = api.create_task(alice)
    assert patch(api, alice, task, {"title": "second"}).status_code == 200

    body = assert_problem(
        patch(api, alice, task, {"title": "lost update"}, **{"If-Match": '"1"'}), 412
    )

    assert body["detail"]
    current = get_task(api, alice, task)
    assert current["title"] == "second"
    assert current["version"] == 2


def test_patch_with_current_etag_succeeds(api):
    alice = api.member()
    task = api.create_task(alice)
    etag = api.client.get(url(task), headers=alice.headers).headers["ETag"]
    r = patch(api, alice, task, {"title": "guarded"}, **{"If-Match": etag})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["title"] == "guarded"
    # The new ETag guards the next write; the old one no longer does.
    r2 = patch(api, alice, task, {"title": "again"}, **{"If-Match": r.headers["ETag"]})
    assert r2.status_code == 200
    assert_problem(patch(api, alice, task, {"title": "stale"}, **{"If-Match": etag}), 412)


def test_patch_with_if_match_star_succeeds(api):
    alice = api.member()
    task = api.create_task(alice)
    patch(api, alice, task, {"title": "v2"})
    r = patch(api, alice, task, {"title": "v3"}, **{"If-Match": "*"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["version"] == 3


@pytest.mark.parametrize("if_match", ['"999"', '"abc"', '"1", "3"', 'W/"2"'])
def test_patch_with_a_non_matching_if_match_is_412(api, if_match):
    alice = api.member()
    task = api.create_task(alice)
    patch(api, alice, task, {"title": "v2"})
    assert_problem(patch(api, alice, task, {"title": "v3"}, **{"If-Match": if_match}), 412)
    assert get_task(api, alice, task)["title"] == "v2"


def test_delete_with_stale_if_match_is_412_and_keeps_the_task(api):
    alice = api.member()
    task = api.create_task(alice)
    patch(api, alice, task, {"title": "v2"})
    r = api.client.delete(url(task), headers={**alice.headers, "If-Match": '"1"'})
    assert_problem(r, 412)
    assert get_task(api, alice, task)["title"] == "v2"


def test_delete_with_current_etag_succeeds(api):
    alice = api.member()
    task = api.create_task(alice)
    patch(api, alice, task, {"title": "v2"})
    r = api.client.delete(url(task), headers={**alice.headers, "If-Match": '"2"'})
    assert r.status_code == 204
    assert_problem(api.client.get(url(task), headers=alice.headers), 404)


def test_delete_with_if_match_star_succeeds(api):
    alice = api.member()
    task = api.create_task(alice)
    r = api.client.delete(url(task), headers={**alice.headers, "If-Match": "*"})
    assert r.status_code == 204
    assert_problem(api.client.get(url(task), headers=alice.headers), 404)


def test_permission_is_checked_before_the_version(api, people):
    _reporter, _assignee, outsider, _admin, task = people
    r = patch(api, outsider, task, {"title": "x"}, **{"If-Match": '"1"'})
    assert_problem(r, 403)
