"""What a page of 50 tasks costs the API beyond a get-by-id, part by part: the data work of each
request (database read and BSON decoding, tasks, response model, JSON), timed in-process as CPU
time of the calling thread, median of `--rounds` rounds, against a fresh SecantusDB in a process
of its own, as `make stack` runs it (or `MONGO_URL`; a database of its own is dropped after).

    .venv/bin/python -m bench.page_parts_bench [--rounds 9] [--repeat 40]

Both requests share everything else (nginx, granian, Flask, authentication, the rate limit, the
request line), which `make bench` measures whole as "API CPU ms/req"; the page's extra cost is
the difference of the two columns here. The row of the page's query for one document shows
what the query costs the API apart from the size of its reply: on SecantusDB, which reads every
matching task before it applies the limit, a query the server takes longer over costs the
waiting client more CPU too. The tasks are `tasktracker seed`'s (seed.random_task), all
assigned to one user in one project, read the way "my tasks" reads them (newest first).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from tasktracker.adapters.mongo.connection import connect, database, ensure_indexes
from tasktracker.adapters.mongo.task_queries import TaskQueries, list_query, sort_spec
from tasktracker.adapters.mongo.tasks import TaskRepository, task_from_doc, task_to_doc
from tasktracker.deploy.processes import LOCALHOST, free_port, wait_for_port
from tasktracker.domain.queries import Sort, TaskFilter
from tasktracker.schemas.tasks import TaskPage, TaskPublic
from tasktracker.seed import random_task

PAGE = 50
TASKS = 200


def thread_ms(work: Callable[[], Any], rounds: int, repeat: int) -> float:
    """Median over `rounds` of the calling thread's CPU milliseconds per call of `work`."""
    per_call = []
    for _ in range(rounds):
        started = time.thread_time()
        for _ in range(repeat):
            work()
        per_call.append((time.thread_time() - started) * 1000 / repeat)
    return statistics.median(per_call)


@contextlib.contextmanager
def mongo_url() -> Iterator[str]:
    """MONGO_URL, or a SecantusDB process started for the run: a server thread in this process
    would take the GIL from the thread being timed."""
    if url := os.environ.get("MONGO_URL"):
        yield url
        return
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="page-parts-bench-") as path:
        server = subprocess.Popen(
            [sys.executable, "-m", "secantus", "--host", LOCALHOST, "--port", str(port),
             "--storage-path", path],
        )  # fmt: skip
        try:
            wait_for_port(LOCALHOST, port)
            yield f"mongodb://{LOCALHOST}:{port}/?directConnection=true"
        finally:
            server.terminate()
            server.wait(timeout=30)


def seeded_docs(user: str, project: str) -> list[dict[str, Any]]:
    rng, now = random.Random(14), datetime.now(UTC)
    docs = []
    for n in range(TASKS):
        oid = ObjectId()
        task = random_task(rng, str(oid), [user], 1.0, now, n)
        task.project_id, task.key = project, f"B-{n + 1}"
        docs.append({"_id": oid, **task_to_doc(task)})
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    user, project = str(ObjectId()), str(ObjectId())
    flt, sort = TaskFilter(assignee=user, projects=(project,)), Sort.parse("-created_at")
    with mongo_url() as url:
        client = connect(url, embedded="MONGO_URL" not in os.environ)
        db = database(client, f"page_parts_{ObjectId()}")
        ensure_indexes(db)
        docs = seeded_docs(user, project)
        db.tasks.insert_many(docs)
        now = datetime.now(UTC)
        query = list_query(flt, sort, None, now)
        repo, reads = TaskRepository(db), TaskQueries(db)
        one_id = str(docs[0]["_id"])
        one_doc = db.tasks.find_one({"_id": docs[0]["_id"]})
        page_docs = list(db.tasks.find(query).sort(sort_spec(sort)).limit(PAGE + 1))
        task = task_from_doc(one_doc)
        tasks = [task_from_doc(d) for d in page_docs[:PAGE]]
        model, page = TaskPublic.of(task, now), TaskPage.of(tasks, "cursor", now)

        def time_it(work: Callable[[], Any]) -> float:
            return thread_ms(work, args.rounds, args.repeat)

        parts = [
            (
                "database read and BSON decoding",
                time_it(lambda: db.tasks.find_one({"_id": docs[0]["_id"]})),
                time_it(lambda: list(db.tasks.find(query).sort(sort_spec(sort)).limit(PAGE + 1))),
            ),
            (
                "tasks from their documents",
                time_it(lambda: task_from_doc(one_doc)),
                time_it(lambda: [task_from_doc(d) for d in page_docs[:PAGE]]),
            ),
            (
                "response model",
                time_it(lambda: TaskPublic.of(task, now)),
                time_it(lambda: TaskPage.of(tasks, "cursor", now)),
            ),
            (
                "JSON",
                time_it(lambda: model.model_dump_json(by_alias=True)),
                time_it(lambda: page.model_dump_json(by_alias=True)),
            ),
        ]
        details = [
            (
                "of the read: the page's query for one document",
                parts[0][1],
                time_it(lambda: list(db.tasks.find(query).sort(sort_spec(sort)).limit(1))),
            ),
            (
                "the product's read (TaskRepository.get, TaskQueries.page)",
                time_it(lambda: repo.get(one_id)),
                time_it(lambda: reads.page(flt, sort, None, PAGE, now)),
            ),
        ]
        client.drop_database(db.name)
        client.close()
    rounds = f"median of {args.rounds} rounds of {args.repeat} calls"
    print(f"\nCPU ms of the calling thread per request, {rounds}\n")
    print(f"| part | get by id | page of {PAGE} | page - get |")
    print("|---|---:|---:|---:|")
    for name, one, many in parts:
        print(f"| {name} | {one:.3f} | {many:.3f} | {many - one:.3f} |")
    extra = sum(many - one for _, one, many in parts)
    print(f"| **all four parts** | | | **{extra:.3f}** |")
    for name, one, many in details:
        print(f"| {name} | {one:.3f} | {many:.3f} | {many - one:.3f} |")
    print(
        f"\nA page costs get-by-id's API CPU plus {extra:.2f} ms: within 2x of get-by-id only if "
        f"a whole get-by-id request (make bench) costs at least {extra:.2f} ms."
    )


if __name__ == "__main__":
    main()
