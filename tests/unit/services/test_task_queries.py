"""TaskQueryService: lists resolve 'me' and usernames, refuse a bad sort or assignee, read
'overdue' against the service's clock, and page through every task once. The tasks here are in
the default project, which everyone belongs to (visibility across projects: test_projects.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.queries import TaskFilter
from tasktracker.domain.tasks import Priority, Status, Task
from tasktracker.domain.users import User
from tests.fakes import FakeSystem


def put(system: FakeSystem, title: str, **fields) -> Task:
    """Store a task directly, in the default project unless `project_id` says otherwise."""
    now = system.clock()
    fields.setdefault("project_id", system.services.projects.default.id())
    task = system.store_task(Task("", title, "reporter", now, now, **fields))
    system.clock.advance(seconds=1)
    return task


def titles(tasks: list[Task]) -> list[str]:
    return [t.title for t in tasks]


def test_me_means_the_caller(system: FakeSystem, alice: User, bob: User):
    put(system, "mine", assignee=alice.id)
    put(system, "theirs", assignee=bob.id)

    page = system.services.task_queries.list(
        system.actor(alice), TaskFilter(assignee="me"), "created_at", None, 10
    )

    assert titles(page.items) == ["mine"]


@pytest.mark.parametrize("ref", ["bob", "BOB", "id"])
def test_an_assignee_may_be_named_by_username_or_id(system: FakeSystem, alice, bob, ref):
    put(system, "mine", assignee=alice.id)
    put(system, "theirs", assignee=bob.id)
    flt = TaskFilter(assignee=bob.id if ref == "id" else ref)

    page = system.services.task_queries.list(system.actor(alice), flt, "created_at", None, 10)

    assert titles(page.items) == ["theirs"]


def test_an_unknown_assignee_is_invalid_input(system: FakeSystem, alice: User):
    with pytest.raises(InvalidInput):
        system.services.task_queries.list(
            system.actor(alice), TaskFilter(assignee="nobody"), "-created_at", None, 10
        )


@pytest.mark.parametrize("sort", ["title", "-reporter", ""])
def test_an_unknown_sort_is_invalid_input(system: FakeSystem, alice: User, sort: str):
    with pytest.raises(InvalidInput):
        system.services.task_queries.list(system.actor(alice), TaskFilter(), sort, None, 10)


def test_lists_sort_as_asked(system: FakeSystem, alice: User):
    put(system, "low", priority=Priority.LOW)
    put(system, "critical", priority=Priority.CRITICAL)
    put(system, "medium")
    queries = system.services.task_queries
    me = system.actor(alice)

    assert titles(queries.list(me, TaskFilter(), "-priority", None, 10).items) == [
        "critical",
        "medium",
        "low",
    ]
    assert titles(queries.list(me, TaskFilter(), "created_at", None, 10).items) == [
        "low",
        "critical",
        "medium",
    ]


def test_overdue_is_read_against_the_services_clock(system: FakeSystem, alice: User):
    due = system.clock() + timedelta(hours=1)
    put(system, "due soon", due_date=due)
    put(system, "done", due_date=due, status=Status.DONE)
    queries = system.services.task_queries
    me = system.actor(alice)

    assert queries.list(me, TaskFilter(overdue=True), "-created_at", None, 10).items == []
    assert queries.summary(me)["overdue"] == 0

    system.clock.advance(hours=2)

    assert titles(queries.list(me, TaskFilter(overdue=True), "-created_at", None, 10).items) == [
        "due soon"
    ]
    assert queries.summary(me) == {"open": 1, "in_progress": 0, "done": 1, "total": 2, "overdue": 1}


@pytest.mark.parametrize("sort", ["-created_at", "due_date", "-priority", "updated_at"])
def test_paging_visits_every_task_once(system: FakeSystem, alice: User, sort: str):
    for n in range(7):
        due = system.clock() + timedelta(days=n % 3) if n % 2 else None
        put(system, f"task {n}", priority=list(Priority)[n % 4], due_date=due)
    queries = system.services.task_queries
    me = system.actor(alice)

    seen, cursor, pages = [], None, 0
    while True:
        page = queries.list(me, TaskFilter(), sort, cursor, 3)
        seen += titles(page.items)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    everything = titles(queries.list(me, TaskFilter(), sort, None, 100).items)
    assert seen == everything
    assert sorted(seen) == [f"task {n}" for n in range(7)]
    assert pages == 3


def test_a_cursor_belongs_to_its_sort_order(system: FakeSystem, alice: User):
    for n in range(3):
        put(system, f"task {n}")
    cursor = system.services.task_queries.list(
        system.actor(alice), TaskFilter(), "-created_at", None, 1
    )
    assert cursor.next_cursor is not None

    with pytest.raises(InvalidInput):
        system.services.task_queries.list(
            system.actor(alice), TaskFilter(), "due_date", cursor.next_cursor, 1
        )
    with pytest.raises(InvalidInput):
        system.services.task_queries.list(
            system.actor(alice), TaskFilter(), "-created_at", "garbage!", 1
        )


def test_mine_lists_the_callers_tasks_in_the_given_statuses(system: FakeSystem, alice, bob):
    put(system, "open", assignee=alice.id)
    put(system, "done", assignee=alice.id, status=Status.DONE)
    put(system, "bobs", assignee=bob.id)

    page = system.services.task_queries.mine(
        system.actor(alice), (Status.OPEN,), "-created_at", None, 10
    )
    everything = system.services.task_queries.mine(system.actor(alice), (), "-created_at", None, 10)

    assert titles(page.items) == ["open"]
    assert titles(everything.items) == ["done", "open"]


def test_newest_and_oldest_list_by_creation(system: FakeSystem, alice: User):
    for n in range(4):
        put(system, f"task {n}", assignee=alice.id if n % 2 else None)
    queries = system.services.task_queries
    me = system.actor(alice)
    assert titles(queries.newest(me, 2)) == ["task 3", "task 2"]
    assert titles(queries.newest(me, 10, alice.id)) == ["task 3", "task 1"]
    assert titles(queries.oldest(me, 2)) == ["task 0", "task 1"]
    assert titles(queries.oldest(me, 10, alice.id)) == ["task 1", "task 3"]
