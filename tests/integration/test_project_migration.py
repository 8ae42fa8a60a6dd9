"""The start-up migration into the default project, on a database written by the code from
before projects (tests/data/pre_projects_db.json, made by tests/data/make_pre_projects_db.py on
commit 732a00b), run twice, in small batches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from bson import json_util
from pymongo import MongoClient

from tasktracker.adapters.mongo.migrations import (
    TASKS_INTO_DEFAULT_PROJECT,
    USERS_JOIN_DEFAULT_PROJECT,
    migrate,
)
from tasktracker.api.app import create_app
from tasktracker.bootstrap import Container
from tasktracker.settings import Settings
from tests.support.api import Api, raw

DUMP = Path(__file__).parents[1] / "data" / "pre_projects_db.json"
OLD_PASSWORD = "correct horse battery"  # make_pre_projects_db.PASSWORD


@pytest.fixture
def old_database(settings: Settings, mongo_url: str) -> Settings:
    """The settings' database holding the old users and tasks, before any start-up ran on it."""
    dump = json_util.loads(DUMP.read_text())
    with MongoClient(mongo_url) as client:
        db = client[settings.mongo_db]
        db.users.insert_many(dump["users"])
        db.tasks.insert_many(dump["tasks"])
    return settings.model_copy(update={"migration_batch_size": 3})


def start(make_container: Callable[[Settings], Container], settings: Settings) -> Container:
    return make_container(settings)


def test_the_dump_is_from_before_projects():
    dump = json_util.loads(DUMP.read_text())
    assert len(dump["tasks"]) == 7 and len(dump["users"]) == 3
    assert not any("project_id" in t or "key" in t for t in dump["tasks"])


def test_start_up_moves_old_tasks_into_the_default_project(make_container, old_database):
    container = start(make_container, old_database)
    db = container.adapters.db
    gen = db.projects.find_one({"key": "GEN"})
    tasks = list(db.tasks.find().sort("_id", 1))
    assert {t["project_id"] for t in tasks} == {str(gen["_id"])}
    assert sorted(t["key"] for t in tasks) == sorted(f"GEN-{n}" for n in range(1, 8))
    assert gen["task_counter"] == 7
    users = [str(u["_id"]) for u in db.users.find()]
    members = {
        m["user_id"]: m["role"] for m in db.memberships.find({"project_id": str(gen["_id"])})
    }
    assert members == dict.fromkeys(users, "member")
    done = {m["_id"]: m for m in db.migrations.find()}
    assert set(done) == {TASKS_INTO_DEFAULT_PROJECT, USERS_JOIN_DEFAULT_PROJECT}
    assert done[TASKS_INTO_DEFAULT_PROJECT]["changed"] == 7
    assert done[USERS_JOIN_DEFAULT_PROJECT]["changed"] == 3


def test_a_second_start_and_a_second_run_change_nothing(make_container, old_database):
    first = start(make_container, old_database)
    db = first.adapters.db
    before = {t["_id"]: t["key"] for t in db.tasks.find()}
    counter = db.projects.find_one({"key": "GEN"})["task_counter"]

    start(make_container, old_database)  # another process starting on the same database
    gen = first.services.projects.default.ensure()
    assert migrate(db, gen, 2, first.clock()) == {}  # recorded: skipped
    db.migrations.delete_many({})  # even when the records are gone, nothing is done twice
    again = migrate(db, gen, 2, first.clock())

    assert again == {TASKS_INTO_DEFAULT_PROJECT: 0, USERS_JOIN_DEFAULT_PROJECT: 0}
    assert {t["_id"]: t["key"] for t in db.tasks.find()} == before
    assert db.projects.find_one({"key": "GEN"})["task_counter"] == counter
    assert db.projects.count_documents({"key": "GEN"}) == 1
    assert db.memberships.count_documents({}) == 3


def test_old_users_keep_working_through_the_api(make_container, old_database):
    container = start(make_container, old_database)
    api = Api(create_app(container.services).test_client(), container)
    alice = api.login_as("", "alice", "alice@example.com", OLD_PASSWORD)
    mine = api.client.get("/api/v1/tasks/mine", headers=alice.headers).get_json()["items"]
    assert mine and all(t["project_key"] == "GEN" for t in mine)
    legacy = api.client.get("/tasks/get_tasks", headers=raw(alice.token)).get_json()["tasks"]
    assert len(legacy) == 7
    assert [t["summary"] for t in legacy] == [f"old task {n}" for n in range(7)]
    new = api.create_task(alice, title="after the upgrade")
    assert new["key"] == "GEN-8"


def test_the_moved_tasks_are_counted_in_the_summaries(make_container, old_database):
    """The task counters are built after the migrations, so the moved tasks are in them."""
    container = start(make_container, old_database)
    db = container.adapters.db
    api = Api(create_app(container.services).test_client(), container)
    alice = api.login_as("", "alice", "alice@example.com", OLD_PASSWORD)
    statuses = Counter(t["status"] for t in db.tasks.find())
    expected = {s: statuses[s] for s in ("open", "in_progress", "done")}
    legacy = api.client.get("/tasks/status_summary", headers=raw(alice.token)).get_json()
    assert legacy == expected and sum(expected.values()) == 7
    summary = api.client.get("/api/v1/tasks/summary", headers=alice.headers).get_json()
    assert {s: summary[s] for s in expected} == expected and summary["total"] == 7
