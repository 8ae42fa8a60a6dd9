"""The newest tasks (`GET /tasks/recent`, TaskQueryService.newest) on the real server: read window
by window of creation time, the answer is the first page of the newest-first order, whatever
the scope, the limit and the spread of creation times (ties, tasks from the future, tasks older
than the last window); each window's query is served by an index, and the walk reads about as
many tasks as it answers instead of every visible one (what the embedded server decodes)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import DESCENDING
from pymongo.collection import Collection

from tasktracker.adapters.mongo.task_queries import TaskQueries, filter_query, newest_windows
from tasktracker.adapters.mongo.tasks import task_to_doc
from tasktracker.bootstrap import Container
from tasktracker.domain.queries import TaskFilter
from tasktracker.domain.tasks import Task

NOW = datetime(2031, 3, 14, 15, 9, 26, 535000, tzinfo=UTC)
OTHER = "0" * 23 + "1"  # a second project's id
USERS = ["u1", "u2", "u3"]
# Creation times around NOW: from the future (a clock ahead), ties, each window, and older
# than the last window.
OFFSETS = [
    timedelta(hours=1),
    timedelta(seconds=-1),
    timedelta(seconds=-10),
    timedelta(seconds=-10),
    timedelta(minutes=-1),  # exactly on the first window's start
    timedelta(minutes=-5),
    timedelta(hours=-2),
    timedelta(days=-3),
    timedelta(days=-40),
    timedelta(days=-700),
    timedelta(days=-6 * 365),
    timedelta(days=-20 * 365),
]
SPREAD = 600  # more tasks, spread evenly over the last 180 days


def task_doc(created: datetime, project_id: str, assignee: str | None) -> dict[str, Any]:
    oid = ObjectId()
    task = Task(
        str(oid), "t", "u1", created, created, project_id=project_id, assignee=assignee, key="K-1"
    )
    return {"_id": oid, **task_to_doc(task)}


@pytest.fixture
def spread(container: Container) -> str:
    """Tasks in the default project and OTHER; answers the default project's id."""
    db = container.adapters.db
    gen = container.services.projects.default.id()
    rng = random.Random(5)
    docs = [
        task_doc(NOW + offset, gen if n % 3 else OTHER, USERS[n % 3])
        for n, offset in enumerate(OFFSETS * 2)
    ]
    for n in range(SPREAD):
        created = NOW - timedelta(days=180 * n / SPREAD, seconds=rng.uniform(0, 60))
        docs.append(task_doc(created, (gen, OTHER)[n % 2], rng.choice([*USERS, None])))
    db.tasks.insert_many(docs)
    return gen


def scopes(gen: str) -> dict[str, TaskFilter]:
    return {
        "admin": TaskFilter(),
        "one project": TaskFilter(projects=(gen,)),
        "two projects": TaskFilter(projects=(gen, OTHER)),
        "no project": TaskFilter(projects=()),
        "assignee": TaskFilter(assignee="u2", projects=(gen,)),
        "assignee, everywhere": TaskFilter(assignee="u3"),
    }


def newest_first(container: Container, flt: TaskFilter, limit: int) -> list[str]:
    """As before the windows: one query, newest first, limited."""
    query = filter_query(flt, NOW)
    docs = container.adapters.db.tasks.find(query).sort("sk_created", DESCENDING).limit(limit)
    return [str(d["_id"]) for d in docs]


@pytest.mark.parametrize("limit", [1, 3, 10, 40, 1000])
@pytest.mark.parametrize(
    "scope",
    ["admin", "one project", "two projects", "no project", "assignee", "assignee, everywhere"],
)
def test_the_newest_are_the_first_page_of_the_newest_first_order(container, spread, scope, limit):
    flt = scopes(spread)[scope]
    found = TaskQueries(container.adapters.db).newest(flt, limit, NOW)
    assert [t.id for t in found] == newest_first(container, flt, limit)


def test_the_windows_cover_all_time_once():
    windows = list(newest_windows(NOW))
    assert "$lt" not in windows[0]  # the first reaches into the future
    assert "$gte" not in windows[-1]  # the last reaches back to the first task
    for newer, older in itertools.pairwise(windows):
        assert older["$lt"] == newer["$gte"]


class Recording:
    """A tasks collection that records the filter of every `find`."""

    def __init__(self, tasks: Collection) -> None:
        self._tasks = tasks
        self.filters: list[dict[str, Any]] = []

    def find(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        self.filters.append(query)
        return self._tasks.find(query, *args, **kwargs)


@pytest.mark.parametrize("scope", ["admin", "one project", "two projects"])
def test_the_ten_newest_read_few_of_the_visible_tasks(container, spread, scope):
    """What the embedded server decodes for a query is every task it matches, before the
    limit: the windows read match a few dozen tasks, not the hundreds visible. (The windows are
    of time: a scope with few tasks a month, such as one assignee's here, reads most of its
    tasks, which are few.)"""
    db = container.adapters.db
    flt = scopes(spread)[scope]
    reads = TaskQueries(db)
    recording = Recording(db.tasks)
    reads._tasks = recording  # type: ignore[assignment]

    assert len(reads.newest(flt, 10, NOW)) == 10

    read = sum(db.tasks.count_documents(f) for f in recording.filters)
    visible = db.tasks.count_documents(filter_query(flt, NOW))
    assert visible > 250
    assert read <= 40, (read, len(recording.filters))


@pytest.mark.parametrize("scope", ["admin", "one project", "assignee", "assignee, everywhere"])
def test_each_window_is_read_from_an_index(container, spread, scope):
    """Not "two projects": SecantusDB's explain calls `project_id $in` + a range a collection
    scan (test_task_lists.SECANTUS_SCANS), although it runs it on the first clause's index,
    `created` (the test above counts what it reads); MongoDB reads `project_created`, merged."""
    db = container.adapters.db
    base = filter_query(scopes(spread)[scope], NOW)
    for window in newest_windows(NOW):
        query = {"sk_created": window, **base}
        explained = db.tasks.find(query).sort("sk_created", DESCENDING).limit(10).explain()
        plan = str(explained["queryPlanner"]["winningPlan"])
        assert "COLLSCAN" not in plan and "IXSCAN" in plan, (query, plan)
