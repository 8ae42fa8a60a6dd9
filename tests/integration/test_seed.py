"""`tasktracker seed`: bulk users and tasks that the API serves like any others."""

from __future__ import annotations

from collections import Counter

import pytest

from tasktracker.adapters.passwords import PasswordHasher
from tasktracker.seed import DEFAULT_PASSWORD, SeedPlan, seed, seed_email
from tests.support.commands import run_cli
from tests.support.task_counts import assert_counts_follow_the_tasks, brute_force_overdue


def fast_hash(container) -> str:
    s = container.settings
    hasher = PasswordHasher(
        time_cost=s.password_hash_time_cost, memory_cost_kib=s.password_hash_memory_kib
    )
    return hasher.hash(DEFAULT_PASSWORD)


def login(client, index: int) -> dict[str, str]:
    r = client.post(
        "/api/v1/auth/login",
        json={"email": seed_email("seed", index), "password": DEFAULT_PASSWORD},
    )
    assert r.status_code == 200, r.get_json()
    return {"Authorization": f"Bearer {r.get_json()['access_token']}"}


def default_project(container):
    return container.services.projects.default.ensure()


def test_seed_writes_users_and_a_realistic_spread_of_tasks(container):
    plan = SeedPlan(users=4, tasks=600, batch_size=250, random_seed=7)
    result = seed(
        container.adapters.db,
        fast_hash(container),
        plan,
        container.clock(),
        project=default_project(container),
    )
    assert (result.users_created, result.tasks_created) == (4, 600)
    assert container.adapters.db.tasks.count_documents({}) == 600
    tasks = list(container.adapters.db.tasks.find({}, {"status": 1, "priority": 1, "assignee": 1}))
    statuses = Counter(t["status"] for t in tasks)
    priorities = Counter(t["priority"] for t in tasks)
    assert set(statuses) == {"open", "in_progress", "done"}
    assert set(priorities) == {"low", "medium", "high", "critical"}
    assigned = Counter(t["assignee"] for t in tasks if t["assignee"])
    assert set(assigned) == set(result.user_ids)
    assert 0 < sum(1 for t in tasks if t["assignee"] is None) < 150


def test_seeded_users_share_one_password_hash(container):
    seed(
        container.adapters.db,
        fast_hash(container),
        SeedPlan(users=3, tasks=0),
        container.clock(),
        project=default_project(container),
    )
    hashes = {u["password_hash"] for u in container.adapters.db.users.find()}
    assert len(hashes) == 1


def test_seeding_again_keeps_the_users_and_adds_tasks(container):
    password_hash = fast_hash(container)
    first = seed(
        container.adapters.db,
        password_hash,
        SeedPlan(users=3, tasks=10),
        container.clock(),
        project=default_project(container),
    )
    again = seed(
        container.adapters.db,
        password_hash,
        SeedPlan(users=5, tasks=10),
        container.clock(),
        project=default_project(container),
    )
    assert again.users_created == 2
    assert again.user_ids[:3] == first.user_ids
    assert container.adapters.db.users.count_documents({}) == 5
    assert container.adapters.db.tasks.count_documents({}) == 20


def test_seeded_data_is_served_by_the_api(container, client, clock):
    clock.set(clock())  # one `now` for the summary and the brute-force overdue count
    plan = SeedPlan(users=2, tasks=200, random_seed=1)
    result = seed(
        container.adapters.db,
        fast_hash(container),
        plan,
        container.clock(),
        project=default_project(container),
    )
    headers = login(client, 0)
    mine = client.get("/api/v1/tasks/mine?limit=50", headers=headers).get_json()
    assert len(mine["items"]) == 50 and mine["next_cursor"]
    assert {item["assignee"] for item in mine["items"]} == {result.user_ids[0]}
    task_id = mine["items"][0]["id"]
    assert client.get(f"/api/v1/tasks/{task_id}", headers=headers).status_code == 200
    summary = client.get("/api/v1/tasks/summary", headers=headers).get_json()
    statuses = Counter(t["status"] for t in container.adapters.db.tasks.find())
    assert summary["total"] == 200
    assert {s: summary[s] for s in statuses} == statuses  # the seed counted what it wrote
    assert_counts_follow_the_tasks(container.adapters.db)  # by status and by due day
    overdue = brute_force_overdue(container.adapters.db, container.clock(), None)
    assert summary["overdue"] == overdue > 0  # the member sees the one project


def test_tasks_without_users_are_refused(container):
    with pytest.raises(ValueError, match="at least one user"):
        seed(
            container.adapters.db,
            "unused",
            SeedPlan(users=0, tasks=5),
            container.clock(),
            project=default_project(container),
        )


def test_seed_command(settings, container):
    result = run_cli(settings, "seed", "--users", "3", "--tasks", "120", "--batch-size", "50")
    assert result.returncode == 0, result.stderr
    assert "seeded 3 new users" in result.stdout and "120 tasks" in result.stdout
    db = container.adapters.db
    assert db.tasks.count_documents({}) == 120
    assert (
        sum(d.get(s, 0) for d in db.task_counts.find() for s in ("open", "in_progress", "done"))
        == 120
    )
    assert_counts_follow_the_tasks(db)
