"""Task lists (`GET /api/v1/tasks`, `/tasks/mine`, `/tasks/summary`): filters, sort orders, cursor
pagination, query validation, and that each list path is served by an index."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tasktracker.adapters.mongo.task_queries import (
    SlowListWarning,
    TaskQueries,
    encode_cursor,
    list_query,
    overdue_queries,
    sort_field,
    sort_spec,
)
from tasktracker.bootstrap import Container
from tasktracker.domain.queries import Sort, TaskFilter
from tasktracker.domain.tasks import Priority, Status
from tests.support.clock import Clock
from tests.support.problems import assert_problem
from tests.support.task_counts import day_start
from tests.support.times import iso, parse_time

TASKS = "/api/v1/tasks"
START = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


@pytest.fixture
def clock() -> Clock:
    """Frozen, moved only by the test: equal timestamps (ties on the sort key) and 'now' for
    overdue are exact, not left to timing."""
    return Clock(START)


def get_page(api, who, path: str = TASKS, **params: Any) -> dict:
    r = api.client.get(path, query_string=params, headers=who.headers)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert set(body) == {"items", "next_cursor"}
    return body


def ids(items: list[dict]) -> list[str]:
    return [t["id"] for t in items]


def titles(items: list[dict]) -> set[str]:
    return {t["title"] for t in items}


def list_titles(api, who, **params: Any) -> set[str]:
    page = get_page(api, who, limit=100, **params)
    assert page["next_cursor"] is None
    return titles(page["items"])


def walk(api, who, path: str = TASKS, **params: Any) -> list[dict]:
    """Every item of a list, following next_cursor page by page."""
    items: list[dict] = []
    cursor = None
    for _ in range(200):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = get_page(api, who, path, **query)
        assert len(page["items"]) <= params["limit"]
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert page["items"], "a page with a next_cursor must not be empty"
    raise AssertionError("pagination did not end")


def expected_order(tasks: list[dict], sort: str) -> list[str]:
    """The documented order: sort key, then id, both in the requested direction; a task without
    the key (no due date) sorts before every value ascending and after every value descending."""
    descending = sort.startswith("-")
    key = sort.lstrip("-")

    def sort_key(task: dict) -> tuple:
        value = task[key]
        if key == "priority":
            value = PRIORITY_RANK[value]
        elif value is not None:
            value = parse_time(value)
        return (value is not None, value if value is not None else 0, task["id"])

    return ids(sorted(tasks, key=sort_key, reverse=descending))


# --- pagination and sort orders ----------------------------------------------------------------


@pytest.fixture
def dataset(api, clock):
    """Fourteen tasks with ties on every sort key: several created in the same millisecond,
    several updated in the same millisecond, shared due dates, tasks without a due date, and
    repeated priorities."""
    alice = api.member("alice")
    due_a = iso(START + timedelta(days=3))
    due_b = iso(START + timedelta(days=7))
    plan = [
        # (advance clock by seconds before creating, priority, due date)
        (0, "low", None),
        (0, "high", due_a),
        (0, "low", due_b),
        (1, "critical", None),
        (1, "medium", due_a),
        (0, "medium", due_a),
        (0, "low", None),
        (2, "high", due_b),
        (0, "critical", due_a),
        (1, "medium", None),
        (0, "high", iso(START - timedelta(days=1))),
        (0, "low", due_b),
        (3, "medium", None),
        (0, "critical", due_a),
    ]
    for n, (step, priority, due) in enumerate(plan):
        clock.advance(seconds=step)
        api.create_task(alice, title=f"task {n:02d}", priority=priority, due_date=due)
    # Touch a few tasks so updated_at differs from created_at, two of them in the same instant.
    created = get_page(api, alice, limit=100)["items"]
    clock.advance(seconds=10)
    for task in created[3:6]:
        r = api.client.patch(
            f"{TASKS}/{task['id']}", json={"description": "touched"}, headers=alice.headers
        )
        assert r.status_code == 200
    clock.advance(seconds=1)
    r = api.client.patch(
        f"{TASKS}/{created[9]['id']}", json={"description": "later"}, headers=alice.headers
    )
    assert r.status_code == 200
    tasks = get_page(api, alice, limit=100)["items"]
    assert len(tasks) == len(plan)
    return alice, tasks


SORTS = [
    "-created_at",
    "created_at",
    "updated_at",
    "-updated_at",
    "due_date",
    "-due_date",
    "priority",
    "-priority",
]


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("limit", [1, 3, 4])
def test_walking_every_page_yields_each_task_once_in_sort_order(api, dataset, sort, limit):
    alice, tasks = dataset
    walked = walk(api, alice, sort=sort, limit=limit)
    assert len(walked) == len(set(ids(walked))) == len(tasks)
    assert ids(walked) == expected_order(tasks, sort)


@pytest.mark.parametrize("sort", SORTS)
def test_one_full_page_is_in_sort_order(api, dataset, sort):
    alice, tasks = dataset
    page = get_page(api, alice, sort=sort, limit=100)
    assert page["next_cursor"] is None
    assert ids(page["items"]) == expected_order(tasks, sort)


def test_default_order_is_newest_first(api, dataset):
    alice, tasks = dataset
    assert ids(get_page(api, alice)["items"]) == expected_order(tasks, "-created_at")


def test_due_date_order_puts_tasks_without_due_date_first_ascending_and_last_descending(
    api, dataset
):
    alice, _tasks = dataset
    ascending = walk(api, alice, sort="due_date", limit=2)
    descending = walk(api, alice, sort="-due_date", limit=2)
    undated = sum(1 for t in ascending if t["due_date"] is None)
    assert undated == 5
    assert all(t["due_date"] is None for t in ascending[:undated])
    assert all(t["due_date"] is None for t in descending[-undated:])
    assert all(t["due_date"] is not None for t in descending[:-undated])


def test_pagination_combines_with_a_filter(api, dataset):
    alice, tasks = dataset
    expected = expected_order([t for t in tasks if t["priority"] != "medium"], "due_date")
    walked = walk(api, alice, sort="due_date", priority="low,high,critical", limit=2)
    assert ids(walked) == expected


def test_a_task_created_while_paging_does_not_duplicate_or_shift_items(api, dataset, clock):
    alice, tasks = dataset
    first = get_page(api, alice, limit=5)
    clock.advance(seconds=30)
    api.create_task(alice, title="newcomer")
    rest = walk_from(api, alice, first["next_cursor"], limit=5)
    assert ids(first["items"] + rest) == expected_order(tasks, "-created_at")


def walk_from(api, who, cursor: str, **params: Any) -> list[dict]:
    items: list[dict] = []
    while cursor:
        page = get_page(api, who, cursor=cursor, **params)
        items.extend(page["items"])
        cursor = page["next_cursor"]
    return items


def test_next_cursor_is_null_on_the_last_page(api, dataset):
    alice, tasks = dataset
    page = get_page(api, alice, limit=len(tasks))
    assert len(page["items"]) == len(tasks)
    assert page["next_cursor"] is None
    page = get_page(api, alice, limit=len(tasks) - 1)
    assert page["next_cursor"] is not None


def test_default_limit_is_50_and_limit_100_is_allowed(api, clock):
    alice = api.member()
    for n in range(101):
        if n % 10 == 0:
            clock.advance(seconds=1)
        api.create_task(alice, title=f"bulk {n}")
    page = get_page(api, alice)
    assert len(page["items"]) == 50
    assert page["next_cursor"] is not None
    page = get_page(api, alice, limit=100)
    assert len(page["items"]) == 100
    assert page["next_cursor"] is not None
    assert len(walk(api, alice, limit=100)) == 101


# --- filters -----------------------------------------------------------------------------------


@pytest.fixture
def board(api, clock):
    """A small board: alice reports everything; tasks are assigned to alice, bob or nobody."""
    alice = api.member("alice")
    bob = api.member("bob")
    past = iso(START - timedelta(days=2))
    soon = iso(START + timedelta(hours=1))
    later = iso(START + timedelta(days=10))

    def make(title: str, **fields: Any) -> dict:
        clock.advance(seconds=1)
        return api.create_task(alice, title=title, **fields)

    make("Fix LOGIN bug", assignee=alice.id, priority="high", due_date=past)
    make("Write docs", assignee=bob.id, priority="low", due_date=later)
    make("deploy login service", assignee=bob.id, priority="critical", due_date=soon)
    make("a.b config", priority="medium")
    make("axb config", priority="medium", status="in_progress", due_date=past)
    make("c++ build (old)", priority="low", status="done", due_date=past)
    make("[urgent] call", assignee=alice.id, priority="critical", status="in_progress")
    return alice, bob


def test_status_filter(api, board):
    alice, _bob = board
    assert list_titles(api, alice, status="open") == {
        "Fix LOGIN bug",
        "Write docs",
        "deploy login service",
        "a.b config",
    }
    assert list_titles(api, alice, status="done") == {"c++ build (old)"}
    assert list_titles(api, alice, status="in_progress") == {"axb config", "[urgent] call"}


def test_several_statuses_comma_separated_or_repeated(api, board):
    alice, _bob = board
    expected = {"axb config", "[urgent] call", "c++ build (old)"}
    assert list_titles(api, alice, status="in_progress,done") == expected
    r = api.client.get(f"{TASKS}?status=in_progress&status=done&limit=100", headers=alice.headers)
    assert r.status_code == 200, r.get_json()
    assert titles(r.get_json()["items"]) == expected


def test_assignee_filter_by_id_username_and_me(api, board):
    alice, bob = board
    bobs = {"Write docs", "deploy login service"}
    alices = {"Fix LOGIN bug", "[urgent] call"}
    assert list_titles(api, alice, assignee=bob.id) == bobs
    assert list_titles(api, alice, assignee="bob") == bobs
    assert list_titles(api, alice, assignee="me") == alices
    assert list_titles(api, bob, assignee="me") == bobs


def test_unknown_assignee_filter_is_422(api, board):
    alice, _bob = board
    r = api.client.get(TASKS, query_string={"assignee": "ghost"}, headers=alice.headers)
    assert_problem(r, 422)


def test_priority_filter(api, board):
    alice, _bob = board
    assert list_titles(api, alice, priority="critical") == {
        "deploy login service",
        "[urgent] call",
    }
    assert list_titles(api, alice, priority="low,high") == {
        "Write docs",
        "c++ build (old)",
        "Fix LOGIN bug",
    }


def test_overdue_filter_true_and_false(api, board, clock):
    alice, _bob = board
    overdue = {"Fix LOGIN bug", "axb config"}  # past due and not done
    everything = list_titles(api, alice)
    assert list_titles(api, alice, overdue="true") == overdue
    assert list_titles(api, alice, overdue="false") == everything - overdue
    page = get_page(api, alice, overdue="true")
    assert all(t["overdue"] for t in page["items"])

    # Time passes: the task due within the hour becomes overdue, in the filter and the field.
    clock.advance(hours=2)
    assert list_titles(api, alice, overdue="true") == overdue | {"deploy login service"}
    page = get_page(api, alice, overdue="false", limit=100)
    assert not any(t["overdue"] for t in page["items"])


def test_due_before_and_due_after(api, board):
    alice, _bob = board
    assert list_titles(api, alice, due_before=iso(START)) == {
        "Fix LOGIN bug",
        "axb config",
        "c++ build (old)",
    }
    assert list_titles(api, alice, due_after=iso(START)) == {
        "Write docs",
        "deploy login service",
    }
    window = {"due_after": iso(START), "due_before": iso(START + timedelta(days=1))}
    assert list_titles(api, alice, **window) == {"deploy login service"}
    assert list_titles(api, alice, due_before=iso(START - timedelta(days=30))) == set()


def test_filters_combine(api, board):
    alice, bob = board
    assert list_titles(api, alice, assignee="bob", priority="critical") == {"deploy login service"}
    assert list_titles(api, alice, status="open", q="login") == {
        "Fix LOGIN bug",
        "deploy login service",
    }
    assert list_titles(api, alice, assignee=bob.id, status="done") == set()


def test_q_is_a_case_insensitive_substring_of_the_title(api, board):
    alice, _bob = board
    expected = {"Fix LOGIN bug", "deploy login service"}
    assert list_titles(api, alice, q="login") == expected
    assert list_titles(api, alice, q="LoGiN") == expected
    assert list_titles(api, alice, q="OGIN B") == {"Fix LOGIN bug"}
    assert list_titles(api, alice, q="nothing like this") == set()


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("a.b", {"a.b config"}),
        (".", {"a.b config"}),
        ("c++", {"c++ build (old)"}),
        ("(old)", {"c++ build (old)"}),
        ("[urgent]", {"[urgent] call"}),
        ("^Fix", set()),
        (".*", set()),
        ("\\", set()),
        ("$", set()),
    ],
)
def test_q_treats_regex_metacharacters_literally(api, board, q, expected):
    alice, _bob = board
    assert list_titles(api, alice, q=q) == expected


# --- query validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 101},
        {"limit": 0},
        {"limit": -1},
        {"limit": "ten"},
        {"colour": "red"},
        {"status": "blocked"},
        {"priority": "urgent"},
        {"overdue": "maybe"},
        {"due_before": "yesterday"},
        {"sort": "title"},
        {"sort": "-reporter"},
        {"cursor": "garbage"},
        {"cursor": "!!!not base64!!!"},
        {"cursor": "eyJzIjoiLWNyZWF0ZWRfYXQifQ"},  # {"s":"-created_at"}: no value, no id
        {"q": "x" * 201},
    ],
)
def test_bad_list_queries_are_422_problems(api, params):
    alice = api.member()
    api.create_task(alice)
    r = api.client.get(TASKS, query_string=params, headers=alice.headers)
    assert_problem(r, 422)


def test_a_cursor_from_another_sort_order_is_422(api, clock):
    alice = api.member()
    for n in range(3):
        clock.advance(seconds=1)
        api.create_task(alice, title=f"t{n}")
    cursor = get_page(api, alice, sort="created_at", limit=1)["next_cursor"]
    assert cursor
    r = api.client.get(
        TASKS, query_string={"sort": "-created_at", "cursor": cursor}, headers=alice.headers
    )
    assert_problem(r, 422)


@pytest.mark.parametrize("params", [{"limit": 101}, {"limit": 0}, {"assignee": "me"}])
def test_mine_validates_its_query(api, params):
    alice = api.member()
    r = api.client.get(f"{TASKS}/mine", query_string=params, headers=alice.headers)
    assert_problem(r, 422)


def test_lists_need_authentication(api):
    for path in (TASKS, f"{TASKS}/mine", f"{TASKS}/summary"):
        assert_problem(api.client.get(path), 401)


# --- /tasks/mine -------------------------------------------------------------------------------


def test_mine_lists_only_tasks_assigned_to_the_caller(api, board, clock):
    alice, bob = board
    page = get_page(api, bob, f"{TASKS}/mine")
    assert titles(page["items"]) == {"Write docs", "deploy login service"}
    assert all(t["assignee"] == bob.id for t in page["items"])
    # Reported by bob but assigned to alice: not bob's.
    clock.advance(seconds=1)
    api.create_task(bob, title="for alice", assignee=alice.id)
    assert titles(get_page(api, bob, f"{TASKS}/mine")["items"]) == {
        "Write docs",
        "deploy login service",
    }
    assert "for alice" in titles(get_page(api, alice, f"{TASKS}/mine")["items"])


def test_mine_is_an_empty_list_when_nothing_is_assigned(api, board):
    carol = api.member("carol")
    r = api.client.get(f"{TASKS}/mine", headers=carol.headers)
    assert r.status_code == 200
    assert r.get_json() == {"items": [], "next_cursor": None}


def test_mine_filters_by_status_and_paginates_newest_first(api, board, clock):
    alice, _bob = board
    for n in range(4):
        clock.advance(seconds=1)
        api.create_task(alice, title=f"extra {n}", assignee=alice.id)
    assert titles(get_page(api, alice, f"{TASKS}/mine", status="in_progress")["items"]) == {
        "[urgent] call"
    }
    walked = walk(api, alice, f"{TASKS}/mine", limit=2)
    mine = get_page(api, alice, assignee="me", limit=100)["items"]
    assert len(walked) == 6
    assert ids(walked) == expected_order(mine, "-created_at")


# --- /tasks/summary ----------------------------------------------------------------------------


def test_summary_counts_by_status_total_and_overdue(api, board, clock):
    alice, bob = board
    r = api.client.get(f"{TASKS}/summary", headers=bob.headers)
    assert r.status_code == 200
    assert r.get_json() == {"open": 4, "in_progress": 2, "done": 1, "total": 7, "overdue": 2}

    clock.advance(hours=2)  # "deploy login service" is now overdue too
    summary = get_page_json(api, alice, f"{TASKS}/summary")
    assert summary["overdue"] == 3


def test_summary_of_an_empty_board_is_all_zero(api):
    alice = api.member()
    assert get_page_json(api, alice, f"{TASKS}/summary") == {
        "open": 0,
        "in_progress": 0,
        "done": 0,
        "total": 0,
        "overdue": 0,
    }


def test_summary_follows_changes(api, board):
    alice, _bob = board
    task = api.create_task(alice, title="to finish")
    base = get_page_json(api, alice, f"{TASKS}/summary")
    api.finish_task(alice, task)
    after = get_page_json(api, alice, f"{TASKS}/summary")
    assert after["open"] == base["open"] - 1
    assert after["done"] == base["done"] + 1
    assert after["total"] == base["total"]
    api.client.delete(f"{TASKS}/{task['id']}", headers=alice.headers)
    assert get_page_json(api, alice, f"{TASKS}/summary")["total"] == base["total"] - 1


def get_page_json(api, who, path: str) -> dict:
    r = api.client.get(path, headers=who.headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


# --- index usage -------------------------------------------------------------------------------


def plan_stages(plan: Any) -> Iterator[str]:
    """Every `stage` in an explain plan tree, however the server nests it."""
    if isinstance(plan, dict):
        if isinstance(plan.get("stage"), str):
            yield plan["stage"]
        for value in plan.values():
            yield from plan_stages(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from plan_stages(value)


def winning_stages(
    container: Container, query: dict, sort: Sort | None, hint: str | None = None
) -> list[str]:
    cursor = container.adapters.db.tasks.find(query)
    if sort is not None:
        cursor = cursor.sort(sort_spec(sort))
    if hint is not None:
        cursor = cursor.hint(hint)
    explained = cursor.explain()
    return list(plan_stages(explained["queryPlanner"]["winningPlan"]))


@pytest.fixture
def indexed_board(api, board, container):
    """The board plus enough tasks that a collection scan is never the cheap choice."""
    alice, bob = board
    for n in range(40):
        api.create_task(alice, title=f"filler {n}", assignee=bob.id if n % 2 else None)
    return alice, bob


def list_paths(alice_id: str) -> dict[str, TaskFilter]:
    return {
        "default": TaskFilter(),
        "status": TaskFilter(status=(Status.OPEN,)),
        "several statuses": TaskFilter(status=(Status.OPEN, Status.IN_PROGRESS)),
        "assignee": TaskFilter(assignee=alice_id),
        "mine": TaskFilter(assignee=alice_id),
        "mine by status": TaskFilter(assignee=alice_id, status=(Status.OPEN,)),
        "status and priority": TaskFilter(status=(Status.OPEN,), priority=(Priority.HIGH,)),
        "overdue": TaskFilter(overdue=True),
    }


# Every list path the API runs, first page and later pages. Not here: `$in` on statuses combined
# with a range (several statuses or overdue, on a later page) and status+priority together —
# SecantusDB's planner scans the collection for those shapes (MongoDB's uses the same indexes).
INDEXED_PAGES = [
    (path, "first")
    for path in (
        "default",
        "status",
        "several statuses",
        "assignee",
        "mine",
        "mine by status",
        "overdue",
    )
] + [(path, "later") for path in ("default", "status", "assignee", "mine", "mine by status")]


# Whose list: an admin's spans every project; a member's is limited to their projects.
SCOPES = ["admin", "one project", "two projects"]

# SecantusDB's planner serves an equality prefix plus at most ONE `$in`/range field from an
# index and scans the collection otherwise. Shapes with two — the projects of a member of
# several (`project_id $in`) with a cursor range, several statuses or a due-date range, and
# overdue (`status $in` + `due_date` range) within projects — are served by the same indexes
# on MongoDB (`project_*`, merged per project); on the embedded server they are the known
# slow shapes (README, "Performance").
SECANTUS_SCANS = {
    ("several statuses", "first", "two projects"),
    ("overdue", "first", "one project"),
    ("overdue", "first", "two projects"),
} | {(path, "later", "two projects") for path, page in INDEXED_PAGES if page == "later"}
SCOPED_PAGES = [
    (path, page, scope)
    for path, page in INDEXED_PAGES
    for scope in SCOPES
    if (path, page, scope) not in SECANTUS_SCANS
]


def project_scope(container: Container, scope: str) -> tuple[str, ...] | None:
    default = container.services.projects.default.id()
    return {"admin": None, "one project": (default,), "two projects": (default, "0" * 24)}[scope]


@pytest.mark.parametrize(("path", "page", "scope"), SCOPED_PAGES)
def test_list_queries_use_an_index(container, indexed_board, clock, path, page, scope):
    alice, _bob = indexed_board
    flt = replace(list_paths(alice.id)[path], projects=project_scope(container, scope))
    sort = Sort.parse("-created_at")
    cursor = None
    if page == "later":
        middle = container.adapters.db.tasks.find({}).sort(sort_spec(sort)).skip(20).limit(1)[0]
        cursor = encode_cursor(sort, middle[sort_field(sort)])
    query = list_query(flt, sort, cursor, clock())
    stages = winning_stages(container, query, sort)
    assert "COLLSCAN" not in stages, (path, query, stages)
    assert "IXSCAN" in stages, (path, query, stages)


@pytest.mark.parametrize(
    "sort", ["created_at", "-created_at", "updated_at", "due_date", "priority"]
)
@pytest.mark.parametrize("scope", SCOPES)
def test_each_sort_order_uses_an_index_on_every_page(container, indexed_board, clock, sort, scope):
    parsed = Sort.parse(sort)
    hint = None
    flt = TaskFilter(projects=project_scope(container, scope))
    first = list_query(flt, parsed, None, clock())
    stages = winning_stages(container, first, parsed, hint)
    assert "COLLSCAN" not in stages, (sort, stages)
    middle = container.adapters.db.tasks.find({}).sort(sort_spec(parsed)).skip(20).limit(1)[0]
    later = list_query(flt, parsed, encode_cursor(parsed, middle[sort_field(parsed)]), clock())
    if scope == "two projects":
        return  # `project_id $in` + the cursor range: see SECANTUS_SCANS
    stages = winning_stages(container, later, parsed, hint)
    assert "COLLSCAN" not in stages, (sort, later, stages)


@pytest.mark.parametrize("since", ["the earliest date", "the start of today"])
@pytest.mark.parametrize("scope", ["admin", "one project"])
def test_the_overdue_count_uses_an_index(container, indexed_board, clock, scope, since):
    """The one count the summary still makes (the counts by status and the days before today
    are counters): from the start of today, or by default from the earliest date. Not for
    "two projects": `project_id $in` + the due-date range, see SECANTUS_SCANS."""
    lower = {"since": day_start(clock())} if since == "the start of today" else {}
    for query in overdue_queries(clock(), project_scope(container, scope), **lower):
        stages = winning_stages(container, query, None)
        assert "COLLSCAN" not in stages, (query, stages)
        assert "IXSCAN" in stages, (query, stages)


@pytest.mark.parametrize("who", ["everyone", "assignee"])
def test_the_legacy_oldest_first_lists_use_an_index(container, indexed_board, clock, who):
    """`TaskQueryService.oldest` (get_tasks, get_my_task): the created indexes scanned
    backwards, within the caller's projects."""
    alice, _bob = indexed_board
    actor = container.services.projects.actor(container.services.accounts.get(alice.id))
    flt = TaskFilter(
        assignee=alice.id if who == "assignee" else None, projects=actor.visible_projects()
    )
    oldest_first = Sort.parse("created_at")
    stages = winning_stages(container, list_query(flt, oldest_first, None, clock()), oldest_first)
    assert "COLLSCAN" not in stages, (who, stages)
    assert "IXSCAN" in stages, (who, stages)
    tasks = container.services.task_queries.oldest(actor, 100, assignee=flt.assignee)
    assert [t.created_at for t in tasks] == sorted(t.created_at for t in tasks)
    assert len(tasks) == container.adapters.db.tasks.count_documents(
        list_query(flt, oldest_first, None, clock())
    )


def test_a_slow_list_on_the_embedded_server_warns_once_naming_mongo_url(api, dataset, caplog):
    alice, _ = dataset
    reads = TaskQueries(api.container.adapters.db, SlowListWarning(after=0.0))
    relaxed = TaskQueries(api.container.adapters.db, SlowListWarning(after=60.0))
    flt = TaskFilter(assignee=alice.id)
    now = datetime.now(UTC)
    with caplog.at_level(logging.WARNING, logger="tasktracker.adapters.mongo.task_queries"):
        relaxed.page(flt, Sort.parse("-created_at"), None, 5, now)
        assert not caplog.records
        reads.page(flt, Sort.parse("-created_at"), None, 5, now)
        reads.first(flt, Sort.parse("due_date"), 5, now)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "embedded database server" in warnings[0] and "MONGO_URL" in warnings[0]


def test_a_listed_task_shows_the_same_utc_times_as_the_task_itself(api, clock):
    alice = api.member("alice")
    due = START + timedelta(days=2, hours=3)
    body = {"title": "dated", "due_date": iso(due), "start_date": iso(START)}
    body["reminders"] = [{"at": iso(START + timedelta(hours=5))}]
    created = api.client.post(TASKS, json=body, headers=alice.headers)
    assert created.status_code == 201, created.get_json()
    single = api.client.get(f"{TASKS}/{created.get_json()['id']}", headers=alice.headers)
    [listed] = get_page(api, alice)["items"]
    assert listed == single.get_json()
    for name in ("created_at", "updated_at", "start_date", "due_date"):
        assert parse_time(listed[name]).utcoffset() == timedelta(0)
    assert parse_time(listed["due_date"]) == due
    assert parse_time(listed["reminders"][0]["at"]).utcoffset() == timedelta(0)
