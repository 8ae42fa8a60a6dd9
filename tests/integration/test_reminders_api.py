"""Task reminders through the API: create, patch (replaces the list), read (with each one's
`remind_at`), the scheduled documents in MongoDB, OpenAPI, and every 422 naming the problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasktracker.adapters.mongo.ids import IN_CHUNK
from tasktracker.adapters.mongo.reminders import ReminderRepository, reminder_to_doc
from tasktracker.domain.reminders import ScheduledReminder
from tests.support.problems import assert_problem
from tests.support.times import iso, parse_time

TASKS = "/api/v1/tasks"


def soon(**delta: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(**delta)


def url(task: dict) -> str:
    return f"{TASKS}/{task['id']}"


def post(api, who, body: dict):
    return api.client.post(TASKS, json={"title": "pay rent", **body}, headers=who.headers)


def patch(api, who, task: dict, body: dict):
    return api.client.patch(url(task), json=body, headers=who.headers)


def scheduled(api, task: dict) -> list[tuple[str, datetime, object]]:
    docs = api.container.adapters.db.reminders.find({"task_id": task["id"]}).sort("_id", 1)
    return [(d["_id"], d["remind_at"], d["fired_at"]) for d in docs]


def problem_text(body: dict) -> str:
    return " ".join([body["detail"], *(e["msg"] for e in body.get("errors", []))])


def test_reminders_are_created_read_and_scheduled(api):
    alice = api.member("alice")
    due, at = soon(days=2), soon(hours=3)
    body = {"due_date": iso(due), "reminders": [{"before_due": "PT1H"}, {"at": iso(at)}]}
    r = post(api, alice, body)
    assert r.status_code == 201, r.get_json()
    task = r.get_json()

    shown = task["reminders"]
    assert [(x["before_due"], x["at"]) for x in shown] == [("PT1H", None), (None, iso(at))]
    assert [parse_time(x["remind_at"]) for x in shown] == [due - timedelta(hours=1), at]
    assert api.client.get(url(task), headers=alice.headers).get_json()["reminders"] == shown
    assert scheduled(api, task) == [
        (f"{task['id']}:0", due - timedelta(hours=1), None),
        (f"{task['id']}:1", at, None),
    ]


def test_a_task_without_reminders_shows_an_empty_list(api):
    alice = api.member("alice")
    task = api.create_task(alice)
    assert task["reminders"] == []
    # a document written before reminders existed has no field at all
    api.container.adapters.db.tasks.update_one({"key": task["key"]}, {"$unset": {"reminders": 1}})
    assert api.client.get(url(task), headers=alice.headers).get_json()["reminders"] == []


def test_patch_replaces_the_list_and_moving_the_due_date_moves_relative_ones(api):
    alice = api.member("alice")
    due = soon(days=2)
    task = api.create_task(alice, due_date=iso(due), reminders=[{"before_due": "P1D"}])

    r = patch(api, alice, task, {"reminders": [{"before_due": "PT30M"}, {"before_due": "PT2H"}]})
    assert r.status_code == 200, r.get_json()
    assert [x["before_due"] for x in r.get_json()["reminders"]] == ["PT30M", "PT2H"]

    later = due + timedelta(days=1)
    r = patch(api, alice, task, {"due_date": iso(later)})
    assert r.status_code == 200, r.get_json()
    remind = [parse_time(x["remind_at"]) for x in r.get_json()["reminders"]]
    assert remind == [later - timedelta(minutes=30), later - timedelta(hours=2)]
    assert [s[1] for s in scheduled(api, task)] == remind

    assert patch(api, alice, task, {"reminders": []}).status_code == 200
    assert scheduled(api, task) == []


def test_done_and_deleted_tasks_keep_no_schedule(api):
    alice = api.member("alice")
    task = api.create_task(alice, reminders=[{"at": iso(soon(hours=1))}])
    api.finish_task(alice, task)
    assert scheduled(api, task) == []
    assert patch(api, alice, task, {"status": "open"}).status_code == 200
    assert len(scheduled(api, task)) == 1
    assert api.client.delete(url(task), headers=alice.headers).status_code == 204
    assert scheduled(api, task) == []


def test_reminder_changes_are_in_the_activity(api):
    alice = api.member("alice")
    task = api.create_task(alice)
    patch(api, alice, task, {"reminders": [{"at": iso(soon(hours=1))}]})
    feed = api.client.get(f"{url(task)}/activity", headers=alice.headers).get_json()["items"]
    change = next(c for c in feed[0]["changes"] if c["field"] == "reminders")
    assert change["old"] == [] and list(change["new"][0]) == ["at"]


@pytest.mark.parametrize(
    ("reminders", "problem"),
    [
        ([{"before_due": "PT1H"}] * 11, "at most 10"),
        ([{"before_due": "PT1H", "at": "2999-01-01T00:00:00Z"}], "exactly one"),
        ([{}], "exactly one"),
        ([{"before_due": "P1M"}], "ISO 8601 duration"),
        ([{"before_due": "1:00:00"}], "ISO 8601 duration"),
        ([{"before_due": 3600}], "ISO 8601 duration"),
        ([{"before_due": "P400D"}], "at most 365 days"),
        ([{"before_due": "PT0S"}], "positive"),
        ([{"at": "2999-01-01T00:00:00"}], "timezone"),
        ([{"at": "2020-01-01T00:00:00Z"}], "already passed"),
        ([{"before_due": "P3D"}], "already passed"),  # due in two days
        ([{"before": "PT1H"}], "Extra inputs"),
    ],
)
def test_invalid_reminders_are_422_naming_the_problem(api, reminders, problem):
    alice = api.member("alice")
    r = post(api, alice, {"due_date": iso(soon(days=2)), "reminders": reminders})
    assert problem in problem_text(assert_problem(r, 422))
    assert api.container.adapters.db.tasks.count_documents({}) == 0
    assert api.container.adapters.db.reminders.count_documents({}) == 0


def test_before_due_needs_a_due_date_on_create_and_when_a_patch_clears_it(api):
    alice = api.member("alice")
    r = post(api, alice, {"reminders": [{"before_due": "PT1H"}]})
    assert "needs a due_date" in assert_problem(r, 422)["detail"]

    task = api.create_task(alice, due_date=iso(soon(days=1)), reminders=[{"before_due": "PT1H"}])
    r = patch(api, alice, task, {"due_date": None})
    assert "needs a due_date" in assert_problem(r, 422)["detail"]
    r = patch(api, alice, task, {"due_date": iso(soon(minutes=30))})
    assert "already passed" in assert_problem(r, 422)["detail"]
    assert api.client.get(url(task), headers=alice.headers).get_json()["version"] == 1


def test_openapi_documents_reminders(client):
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    reminder = schemas["ReminderIn"]
    assert set(reminder["properties"]) == {"before_due", "at"}
    assert "ISO 8601" in str(reminder["properties"]["before_due"])
    assert reminder.get("examples") or reminder["properties"]["before_due"]
    create = schemas["TaskCreate"]["properties"]["reminders"]
    assert create["maxItems"] == 10 and "description" in create
    assert "remind_at" in schemas["ReminderPublic"]["properties"]


def test_the_repository_reads_and_claims_more_than_one_in_chunk_of_reminders(container):
    """`unfired` and `mark_fired` take any number of ids (queried `$in` IN_CHUNK at a time):
    they skip fired and unknown reminders, and claim each unfired one once."""
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    scheduled = [ScheduledReminder(f"{n:024x}", "p", 0, at) for n in range(IN_CHUNK * 2 + 7)]
    container.adapters.db.reminders.insert_many([reminder_to_doc(r) for r in scheduled])
    repository = ReminderRepository(container.adapters.db)
    ids = [r.id for r in scheduled]
    fired_first = ids[IN_CHUNK - 3 : IN_CHUNK + 3]
    assert repository.mark_fired(fired_first, at) == 6

    unfired = repository.unfired([*ids, "0" * 24 + ":9"])
    assert sorted(r.id for r in unfired) == sorted(set(ids) - set(fired_first))
    assert repository.mark_fired(ids, at) == len(ids) - 6
    assert repository.mark_fired(ids, at) == 0
    assert repository.unfired(ids) == []
