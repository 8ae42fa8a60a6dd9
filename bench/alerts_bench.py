"""Time one alert run at scale: 100 000 tasks across 1 000 members (by default).

Seeds a fresh database with bulk writes (insert_many), then fires `now` alerts through the same
AlertService the scheduler uses: the one digest aggregation, the run record and one outbox event
per member in one transaction, and publishing (to the in-process broker). Prints the median of
`--repeat` runs, and the aggregation alone.

    python bench/alerts_bench.py                     # SecantusDB in a temporary directory
    MONGO_URL=mongodb://127.0.0.1:27017/?replicaSet=rs0 python bench/alerts_bench.py
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from tasktracker.adapters.mongo.alerts import PendingTaskDigests
from tasktracker.adapters.mongo.tasks import task_to_doc
from tasktracker.bootstrap import Container, bootstrap
from tasktracker.domain.schedules import ScheduleKind
from tasktracker.domain.tasks import Status, Task
from tasktracker.settings import load_settings

BATCH = 10_000
PROJECTS = 10  # besides the default project every member belongs to


@contextmanager
def mongo_url() -> Iterator[str]:
    if url := os.environ.get("MONGO_URL"):
        yield url
        return
    from secantus import SecantusDBServer

    with tempfile.TemporaryDirectory(prefix="alerts-bench-") as path:
        server = SecantusDBServer(storage_path=path, port=0)
        server.start()
        try:
            yield server.uri
        finally:
            server.stop()


def seed(c: Container, members: int, tasks: int) -> None:
    now = datetime.now(UTC)
    user_ids = [ObjectId() for _ in range(members)]
    c.adapters.db.users.insert_many(
        [
            {
                "_id": oid,
                "username": f"member{i:05d}",
                "username_key": f"member{i:05d}",
                "email": f"member{i:05d}@example.com",
                "password_hash": "unused",
                "role": "member",
                "active": i % 50 != 0,  # every 50th member is disabled
                "created_at": now,
                "updated_at": now,
            }
            for i, oid in enumerate(user_ids)
        ]
    )
    # Projects: every member is in the default one and in two of the others; a task's assignee
    # has left its project for about one task in twenty (the digest drops those).
    rng = random.Random(5)
    default = c.adapters.projects.by_key(c.settings.default_project_key)
    assert default is not None
    project_ids = [default.id] + [str(ObjectId()) for _ in range(PROJECTS)]
    keys = {pid: f"P{i}" for i, pid in enumerate(project_ids)} | {default.id: default.key}
    c.adapters.db.projects.insert_many(
        [
            {"_id": ObjectId(pid), "key": f"P{i}", "name": f"Project {i}", "description": "",
             "archived": False, "created_at": now, "updated_at": now, "task_counter": 0}
            for i, pid in enumerate(project_ids[1:], start=1)
        ]
    )  # fmt: skip
    joined = {str(uid): {default.id, *rng.sample(project_ids[1:], 2)} for uid in user_ids}
    c.adapters.db.memberships.insert_many(
        [
            {"_id": f"{pid}:{uid}", "project_id": pid, "user_id": uid, "role": "member",
             "joined_at": now}
            for uid, pids in joined.items()
            for pid in pids
        ]
    )  # fmt: skip
    statuses = [Status.OPEN, Status.IN_PROGRESS, Status.DONE]
    for start in range(0, tasks, BATCH):
        docs = []
        for _ in range(start, min(start + BATCH, tasks)):
            oid = ObjectId()
            due = now + timedelta(hours=rng.randint(-240, 720)) if rng.random() < 0.8 else None
            assignee = str(rng.choice(user_ids))
            mine = sorted(joined[assignee])
            project = rng.choice(project_ids) if rng.random() < 0.05 else rng.choice(mine)
            task = Task(
                id=str(oid),
                title=f"task {oid}",
                reporter=str(rng.choice(user_ids)),
                created_at=now,
                updated_at=now,
                status=rng.choice(statuses),
                assignee=assignee,
                due_date=due,
                project_id=project,
                key=f"{keys[project]}-{start + len(docs) + 1}",
            )
            docs.append({"_id": oid, **task_to_doc(task)})
        c.adapters.db.tasks.insert_many(docs, ordered=False)


def timed(fn: object) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()  # type: ignore[operator]
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with mongo_url() as url, tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings(
            mongo_url=url,
            mongo_db=f"alerts_bench_{uuid.uuid4().hex[:8]}",
            jwt_secret=secrets.token_urlsafe(48),
            data_dir=data_dir,
            amqp_url=None,
            memcached_servers=None,
            smtp_url=None,
        )
        c = bootstrap(settings)
        try:
            seconds, _ = timed(lambda: seed(c, args.members, args.tasks))
            print(f"seeded {args.tasks} tasks across {args.members} members in {seconds:.1f}s")
            run(c, args.repeat)
        finally:
            c.adapters.client.drop_database(settings.mongo_db)
            c.close()


def run(c: Container, repeat: int) -> None:
    accounts, alerts = c.services.accounts, c.services.alerts
    admin = accounts.create_admin("bench-admin@example.com", "bench admin password", "bench")
    settings = c.settings
    pending = PendingTaskDigests(c.adapters.db)
    due_soon = timedelta(hours=settings.alert_due_soon_hours)
    aggregation, runs = [], []
    for _ in range(repeat):
        now = datetime.now(UTC)
        seconds, digests = timed(
            lambda now=now: pending.digests(now, now + due_soon, settings.alert_max_tasks)
        )
        aggregation.append(seconds)
        schedule = alerts.create(admin, ScheduleKind.NOW)
        seconds, result = timed(lambda schedule=schedule: alerts.fire(schedule.id))
        runs.append(seconds)
        assert result is not None and result.members == len(digests)  # type: ignore[union-attr]
        print(f"run: {seconds:.2f}s, {result.members} digests")  # type: ignore[union-attr]
    print(f"aggregation alone: median {statistics.median(aggregation):.2f}s")
    print(
        f"one alert run (aggregation + outbox transaction + publish): median "
        f"{statistics.median(runs):.2f}s over {repeat} runs"
    )


if __name__ == "__main__":
    main()
