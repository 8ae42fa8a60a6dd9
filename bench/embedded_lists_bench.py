"""How "my tasks" (a page of 50) slows down on the embedded database server as the caller's
assigned tasks grow: the query the API runs (`TaskQueries.page`, newest first, in the caller's
projects), timed in-process against a fresh SecantusDB, for each task count in `--counts`.

    .venv/bin/python -m bench.embedded_lists_bench [--counts 100,1000,5000,10000] [--repeat 30]

SecantusDB decodes every document matching `{assignee, project_id}` before it sorts and applies
the limit, so the page's cost grows with the count; MongoDB serves the same query from one range
of the `assignee_project_created` index and stops after 51 entries (`MONGO_URL=… ` to compare).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo import MongoClient

from bench.alerts_bench import mongo_url
from tasktracker.adapters.mongo.connection import ensure_indexes
from tasktracker.adapters.mongo.task_queries import TaskQueries
from tasktracker.adapters.mongo.tasks import task_to_doc
from tasktracker.domain.queries import Sort, TaskFilter
from tasktracker.domain.tasks import Task

PAGE = 50


def add_tasks(tasks: object, user: str, project: str, start: int, stop: int) -> None:
    now = datetime.now(UTC)
    docs = []
    for n in range(start, stop):
        oid = ObjectId()
        task = Task(
            id=str(oid), title=f"task {n}", reporter=user, assignee=user, project_id=project,
            created_at=now - timedelta(seconds=n), updated_at=now, key=f"B-{n + 1}",
        )  # fmt: skip
        docs.append({"_id": oid, **task_to_doc(task)})
    if docs:
        tasks.insert_many(docs, ordered=False)  # type: ignore[attr-defined]


def p50_ms(reads: TaskQueries, flt: TaskFilter, repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        page = reads.page(flt, Sort(), None, PAGE, datetime.now(UTC))
        timings.append((time.perf_counter() - started) * 1000)
        assert len(page.items) == PAGE
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="100,1000,5000,10000")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    counts = sorted(max(int(n), PAGE) for n in args.counts.split(","))
    user, project = str(ObjectId()), str(ObjectId())
    flt = TaskFilter(assignee=user, projects=(project,))
    with mongo_url() as url:
        client: MongoClient = MongoClient(url)
        db = client[f"lists_bench_{ObjectId()}"]
        ensure_indexes(db)
        reads = TaskQueries(db)
        rows, have = [], 0
        for count in counts:
            add_tasks(db.tasks, user, project, have, count)
            have = count
            rows.append((count, p50_ms(reads, flt, args.repeat)))
        client.drop_database(db.name)
        client.close()
    base = rows[0][1]
    print(f'\n"my tasks" (page of {PAGE}), median of {args.repeat}, {url.split("@")[-1]}\n')
    print("| tasks assigned to the caller | p50 ms | vs the first row |")
    print("|---:|---:|---:|")
    for count, p50 in rows:
        print(f"| {count:,} | {p50:,.1f} | {p50 / base:.1f}x |")


if __name__ == "__main__":
    main()
