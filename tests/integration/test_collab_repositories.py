"""The comment, activity and watcher repositories and the users' notification preferences, on
the MongoDB-wire server and on the fakes (tests/fakes.py) alike, so the two cannot drift:
round-trips, keyset pages (comments oldest first, activity newest first, ties broken by id),
bad cursors, watch choices, moves and deletes, and rollback inside a unit of work. On the
server only: each feed is served by its index."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database

from tasktracker.adapters.mongo import activity as mongo_activity
from tasktracker.adapters.mongo import comments as mongo_comments
from tasktracker.adapters.mongo.activity import ActivityRepository
from tasktracker.adapters.mongo.comments import CommentRepository
from tasktracker.adapters.mongo.connection import connect, database, ensure_indexes
from tasktracker.adapters.mongo.cursors import encode, time_key
from tasktracker.adapters.mongo.unit_of_work import MongoUnitOfWork
from tasktracker.adapters.mongo.users import UserRepository
from tasktracker.adapters.mongo.watchers import WatcherRepository
from tasktracker.domain.activity import ActivityEntry, FieldChange, Verb
from tasktracker.domain.comments import Comment
from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.notifications import NotificationPreferences
from tasktracker.domain.queries import Page
from tasktracker.domain.users import Role, User
from tasktracker.services import ports
from tests.fakes import build_fake_services
from tests.support.settings import new_db_name

T0 = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
TASK, OTHER_TASK = "65f0c0ffee00000000000001", "65f0c0ffee00000000000002"
PROJECT, OTHER_PROJECT = "65f0c0ffee000000000000a1", "65f0c0ffee000000000000a2"
ALICE, BOB, CAROL = (
    "65f0c0ffee000000000000b1",
    "65f0c0ffee000000000000b2",
    "65f0c0ffee000000000000b3",
)
# Seconds after T0, in the order the items are added: ties on the time, and an insertion order
# that is not the time order, so the pages must sort by time first and id second.
OFFSETS = [3, 0, 1, 1, 0, 3, 2, 1, 0, 3, 2, 1]


# --- the two backends --------------------------------------------------------------------------


@dataclass
class Backend:
    comments: ports.CommentRepository
    activity: ports.ActivityRepository
    watchers: ports.WatcherRepository
    users: ports.UserRepository
    unit_of_work: ports.UnitOfWorkFactory


@pytest.fixture
def mongo(mongo_url: str) -> Iterator[tuple[MongoClient, Database]]:
    """A database of the test's own on the session's server, with every index."""
    client = connect(mongo_url)
    db = database(client, new_db_name())
    ensure_indexes(db)
    try:
        yield client, db
    finally:
        client.drop_database(db.name)
        client.close()


def mongo_backend(client: MongoClient, db: Database) -> Backend:
    return Backend(
        comments=CommentRepository(db),
        activity=ActivityRepository(db),
        watchers=WatcherRepository(db),
        users=UserRepository(db),
        unit_of_work=partial(MongoUnitOfWork, client, db, timedelta(seconds=10)),
    )


def fake_backend() -> Backend:
    fakes = build_fake_services().fakes
    return Backend(fakes.comments, fakes.activity, fakes.watchers, fakes.users, lambda: fakes.uow)


@pytest.fixture(params=["mongo", "fake"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "fake":
        return fake_backend()
    return mongo_backend(*request.getfixturevalue("mongo"))


# --- helpers -----------------------------------------------------------------------------------


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_comment(task_id: str = TASK, project_id: str = PROJECT, **fields: Any) -> Comment:
    values: dict[str, Any] = {
        "id": "",
        "task_id": task_id,
        "project_id": project_id,
        "author": ALICE,
        "body": "looks good @bob",
        "created_at": T0,
        "mentions": [BOB],
        **fields,
    }
    return Comment(**values)


def new_entry(task_id: str = TASK, project_id: str = PROJECT, **fields: Any) -> ActivityEntry:
    values: dict[str, Any] = {
        "task_id": task_id,
        "project_id": project_id,
        "actor": ALICE,
        "verb": Verb.UPDATED,
        "at": T0,
        "changes": [FieldChange("title", "old", "new")],
        "request_id": "req-1",
        **fields,
    }
    return ActivityEntry(**values)


def walk(fetch: Callable[[str | None], Page[Any]], limit: int) -> list[Any]:
    """Every item of a feed, following next_cursor page by page."""
    items: list[Any] = []
    cursor = None
    for _ in range(100):
        page = fetch(cursor)
        assert len(page.items) <= limit
        items += page.items
        if page.next_cursor is None:
            return items
        assert len(page.items) == limit, "a page with a next_cursor must be full"
        cursor = page.next_cursor
    raise AssertionError("pagination did not end")


def ids(items: list[Any]) -> list[str]:
    return [item.id for item in items]


# --- comments ----------------------------------------------------------------------------------


def test_a_comment_round_trips_and_gets_an_id(backend):
    comment = backend.comments.add(new_comment(edited_at=None))
    assert len(comment.id) == 24
    assert backend.comments.get(comment.id) == comment
    assert backend.comments.get("0" * 24) is None
    assert backend.comments.get("not-an-id") is None


def test_a_read_comment_is_a_copy(backend):
    comment = backend.comments.add(new_comment())
    read = backend.comments.get(comment.id)
    read.body, read.mentions[:] = "changed", []
    assert backend.comments.get(comment.id) == comment


def test_replace_if_version_stores_only_over_the_expected_version(backend):
    comment = backend.comments.add(new_comment())
    comment.body, comment.mentions, comment.edited_at, comment.version = "edited", [], at(5), 2
    assert backend.comments.replace_if_version(comment, 1)
    assert backend.comments.get(comment.id) == comment
    stale = new_comment(id=comment.id, body="stale", version=2)
    assert not backend.comments.replace_if_version(stale, 1)
    assert backend.comments.get(comment.id) == comment


def test_a_deleted_comment_stays_as_a_tombstone(backend):
    comment = backend.comments.add(new_comment())
    comment.body, comment.mentions, comment.deleted_at, comment.version = None, [], at(9), 2
    assert backend.comments.replace_if_version(comment, 1)
    stored = backend.comments.get(comment.id)
    assert stored.body is None and stored.deleted and stored.deleted_at == at(9)
    assert ids(backend.comments.page(TASK, cursor=None, limit=10).items) == [comment.id]


@pytest.fixture
def thread(backend) -> list[Comment]:
    """A task's comments with ties on created_at, added out of time order; plus one comment
    on another task."""
    backend.comments.add(new_comment(OTHER_TASK, created_at=at(1)))
    added = [backend.comments.add(new_comment(created_at=at(s))) for s in OFFSETS]
    return sorted(added, key=lambda c: (c.created_at, c.id))


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 12, 50])
def test_walking_a_task_s_comments_is_oldest_first_without_gaps_or_repeats(backend, thread, limit):
    walked = walk(lambda cursor: backend.comments.page(TASK, cursor=cursor, limit=limit), limit)
    assert ids(walked) == ids(thread)
    assert walked == thread


def test_a_task_without_comments_has_one_empty_page(backend, thread):
    assert backend.comments.page("0" * 24, cursor=None, limit=10) == Page([], None)


def test_a_comment_added_while_paging_comes_last(backend, thread):
    first = backend.comments.page(TASK, cursor=None, limit=4)
    late = backend.comments.add(new_comment(created_at=at(60)))
    rest = walk(lambda c: backend.comments.page(TASK, cursor=c or first.next_cursor, limit=4), 4)
    assert ids(first.items + rest) == [*ids(thread), late.id]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor",
        encode("activity", time_key(T0, TASK)),  # another feed's
        encode("comments", "2030060112000000000" + TASK),  # a digit short
        encode("comments", "20301399120000000000" + TASK),  # month 13
        encode("comments", time_key(T0, TASK).upper()),
    ],
)
def test_a_bad_comment_cursor_is_invalid_input(backend, thread, cursor):
    with pytest.raises(InvalidInput):
        backend.comments.page(TASK, cursor=cursor, limit=5)


def test_moving_a_task_moves_its_comments_to_the_new_project(backend):
    mine = [backend.comments.add(new_comment()) for _ in range(2)]
    other = backend.comments.add(new_comment(OTHER_TASK))
    backend.comments.move_task(TASK, OTHER_PROJECT)
    assert {backend.comments.get(c.id).project_id for c in mine} == {OTHER_PROJECT}
    assert backend.comments.get(other.id).project_id == PROJECT
    assert backend.comments.delete_in_project(OTHER_PROJECT) == 2
    assert [backend.comments.get(c.id) for c in mine] == [None, None]
    assert backend.comments.get(other.id) is not None


def test_deleting_a_task_s_comments_leaves_the_others(backend):
    backend.comments.add(new_comment())
    backend.comments.add(new_comment())
    other = backend.comments.add(new_comment(OTHER_TASK))
    assert backend.comments.delete_for_task(TASK) == 2
    assert backend.comments.delete_for_task(TASK) == 0
    assert backend.comments.page(TASK, cursor=None, limit=5).items == []
    assert ids(backend.comments.page(OTHER_TASK, cursor=None, limit=5).items) == [other.id]


# --- activity ----------------------------------------------------------------------------------

EVERY_KIND_OF_VALUE = [
    FieldChange("title", "before", "after"),
    FieldChange("estimate_hours", 2, 3.5),
    FieldChange("estimate_hours", 1.25, None),
    FieldChange("flag", True, False),
    FieldChange("labels", [], ["ui", "bug"]),
    FieldChange("due_date", None, at(86_400)),
    FieldChange("start_date", at(-3600), at(0.123)),
]


def test_entries_get_ids_and_every_kind_of_value_round_trips(backend):
    entry = new_entry(changes=EVERY_KIND_OF_VALUE, comment_id="c1", verb=Verb.STATUS_CHANGED)
    bare = new_entry(changes=[], request_id=None, at=at(1))
    backend.activity.add(entry, bare)
    assert len(entry.id) == 24 and len(bare.id) == 24 and entry.id != bare.id
    page = backend.activity.page(task_id=TASK, cursor=None, limit=10)
    assert page == Page([bare, entry], None)
    stored = page.items[1]
    assert stored.verb is Verb.STATUS_CHANGED
    assert [type(c.old) for c in stored.changes] == [type(c.old) for c in EVERY_KIND_OF_VALUE]
    assert [type(c.new) for c in stored.changes] == [type(c.new) for c in EVERY_KIND_OF_VALUE]


def test_adding_nothing_is_allowed(backend):
    backend.activity.add()
    assert backend.activity.page(task_id=TASK, cursor=None, limit=5) == Page([], None)


@pytest.fixture
def history(backend) -> list[ActivityEntry]:
    """Entries of two tasks of one project, with ties on `at`, added out of time order (one at
    a time and several at once); plus an entry of another project."""
    backend.activity.add(new_entry("65f0c0ffee00000000000009", OTHER_PROJECT, at=at(1)))
    entries = [
        new_entry(TASK if n % 3 else OTHER_TASK, at=at(s), verb=Verb.UPDATED)
        for n, s in enumerate(OFFSETS)
    ]
    for entry in entries[:6]:
        backend.activity.add(entry)
    backend.activity.add(*entries[6:])
    return newest_first(entries)


def newest_first(entries: list[ActivityEntry]) -> list[ActivityEntry]:
    return sorted(entries, key=lambda e: (e.at, e.id), reverse=True)


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 50])
def test_the_task_feed_is_newest_first_with_ties_broken_by_id(backend, history, limit):
    walked = walk(
        lambda cursor: backend.activity.page(task_id=TASK, cursor=cursor, limit=limit), limit
    )
    assert walked == [e for e in history if e.task_id == TASK]


@pytest.mark.parametrize("limit", [1, 4, 12, 50])
def test_the_project_feed_holds_every_task_of_the_project(backend, history, limit):
    walked = walk(
        lambda cursor: backend.activity.page(project_id=PROJECT, cursor=cursor, limit=limit),
        limit,
    )
    assert walked == history
    assert len({e.task_id for e in walked}) == 2


@pytest.mark.parametrize(
    "scope", [{}, {"task_id": TASK, "project_id": PROJECT}], ids=["neither", "both"]
)
def test_a_feed_is_of_exactly_one_task_or_one_project(backend, scope):
    with pytest.raises(ValueError):
        backend.activity.page(**scope, cursor=None, limit=5)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "%%%",
        encode("comments", time_key(T0, TASK)),  # a comment page's
        encode("-created_at", "20300601120000000000" + TASK),  # a task list's
        encode("activity", "0" * 20 + TASK),  # no such time
        encode("activity", time_key(T0, "not-an-object-id-at-all!")),
    ],
)
def test_a_bad_activity_cursor_is_invalid_input(backend, history, cursor):
    with pytest.raises(InvalidInput):
        backend.activity.page(project_id=PROJECT, cursor=cursor, limit=5)


def test_a_task_cursor_and_a_project_cursor_share_the_order(backend, history):
    """The next page after an entry is the same whichever feed's cursor named it."""
    first = backend.activity.page(task_id=TASK, cursor=None, limit=2)
    after = backend.activity.page(project_id=PROJECT, cursor=first.next_cursor, limit=50)
    newest_two = first.items[-1]
    assert after.items == [e for e in history if (e.at, e.id) < (newest_two.at, newest_two.id)]


def test_redacting_a_comment_empties_the_values_of_its_entries_only(backend):
    edit = new_entry(
        verb=Verb.COMMENT_EDITED, comment_id="c1", changes=[FieldChange("body", "a", "b")]
    )
    other = new_entry(
        verb=Verb.COMMENT_EDITED, comment_id="c2", changes=[FieldChange("body", "x", "y")]
    )
    added = new_entry(verb=Verb.COMMENTED, comment_id="c1", changes=[])
    backend.activity.add(edit, other, added)
    backend.activity.redact_comment("c1")
    feed = {e.id: e for e in backend.activity.page(task_id=TASK, cursor=None, limit=10).items}
    assert feed[edit.id].changes == [FieldChange("body", None, None)]
    assert feed[other.id].changes == [FieldChange("body", "x", "y")]
    assert feed[added.id].changes == []


def test_deleting_a_project_s_activity_leaves_other_projects(backend, history):
    assert backend.activity.delete_in_project(PROJECT) == len(history)
    assert backend.activity.page(project_id=PROJECT, cursor=None, limit=5) == Page([], None)
    assert len(backend.activity.page(project_id=OTHER_PROJECT, cursor=None, limit=5).items) == 1


# --- watchers ----------------------------------------------------------------------------------


def test_a_choice_is_recorded_and_replaced(backend):
    backend.watchers.choose(TASK, PROJECT, ALICE, True, T0)
    backend.watchers.choose(TASK, PROJECT, BOB, False, T0)
    backend.watchers.choose(OTHER_TASK, PROJECT, BOB, True, T0)
    assert backend.watchers.choices(TASK) == {ALICE: True, BOB: False}
    backend.watchers.choose(TASK, PROJECT, ALICE, False, at(1))
    backend.watchers.choose(TASK, PROJECT, BOB, True, at(1))
    assert backend.watchers.choices(TASK) == {ALICE: False, BOB: True}
    assert backend.watchers.choices(OTHER_TASK) == {BOB: True}
    assert backend.watchers.choices("0" * 24) == {}


def test_add_if_new_never_overrides_an_earlier_choice(backend):
    backend.watchers.choose(TASK, PROJECT, ALICE, False, T0)
    backend.watchers.add_if_new(TASK, PROJECT, [ALICE, BOB, BOB, CAROL], at(1))
    assert backend.watchers.choices(TASK) == {ALICE: False, BOB: True, CAROL: True}
    backend.watchers.choose(TASK, PROJECT, BOB, False, at(2))
    backend.watchers.add_if_new(TASK, PROJECT, iter([BOB]), at(3))
    backend.watchers.add_if_new(TASK, PROJECT, [], at(3))
    assert backend.watchers.choices(TASK) == {ALICE: False, BOB: False, CAROL: True}


def test_moving_a_task_moves_its_choices_to_the_new_project(backend):
    backend.watchers.choose(TASK, PROJECT, ALICE, True, T0)
    backend.watchers.add_if_new(TASK, PROJECT, [BOB], T0)
    backend.watchers.choose(OTHER_TASK, PROJECT, ALICE, True, T0)
    backend.watchers.move_task(TASK, OTHER_PROJECT)
    assert backend.watchers.delete_in_project(OTHER_PROJECT) == 2
    assert backend.watchers.choices(TASK) == {}
    assert backend.watchers.choices(OTHER_TASK) == {ALICE: True}


def test_deleting_a_task_s_choices_leaves_the_others(backend):
    backend.watchers.add_if_new(TASK, PROJECT, [ALICE, BOB], T0)
    backend.watchers.choose(OTHER_TASK, PROJECT, ALICE, False, T0)
    assert backend.watchers.delete_for_task(TASK) == 2
    assert backend.watchers.choices(TASK) == {}
    assert backend.watchers.choices(OTHER_TASK) == {ALICE: False}


# --- notification preferences ------------------------------------------------------------------


def add_user(users: ports.UserRepository, name: str) -> User:
    return users.add(
        username=name,
        email=f"{name}@example.com",
        password_hash="x",
        role=Role.MEMBER,
        active=True,
        now=T0,
    )


def test_a_user_s_notification_preferences_are_stored(backend):
    user = add_user(backend.users, "alice")
    assert user.notifications == NotificationPreferences()
    assert backend.users.get(user.id).notifications == NotificationPreferences()
    chosen = NotificationPreferences(commented=False, digest=False)
    backend.users.set_notifications(user.id, chosen, at(5))
    stored = backend.users.get(user.id)
    assert stored.notifications == chosen and stored.updated_at == at(5)
    assert backend.users.by_username("alice").notifications == chosen


def test_stored_preferences_with_unknown_or_missing_keys_read_as_defaults(mongo):
    _client, db = mongo
    users = UserRepository(db)
    user = add_user(users, "bob")
    stored = {"assigned": False, "legacy": True}
    db.users.update_one({"_id": ObjectId(user.id)}, {"$set": {"notifications": stored}})
    assert users.get(user.id).notifications == NotificationPreferences(assigned=False)


# --- units of work -----------------------------------------------------------------------------


class Boom(Exception):
    pass


def write_everything(uow: ports.UnitOfWork) -> tuple[Comment, ActivityEntry]:
    comment = uow.comments.add(new_comment())
    entry = new_entry(verb=Verb.COMMENTED, comment_id=comment.id, changes=[])
    uow.activity.add(entry)
    uow.watchers.choose(TASK, PROJECT, ALICE, True, T0)
    uow.watchers.add_if_new(TASK, PROJECT, [BOB], T0)
    return comment, entry


def test_an_exception_in_a_unit_of_work_leaves_no_comment_activity_or_watcher(backend):
    with pytest.raises(Boom), backend.unit_of_work() as uow:
        comment, _entry = write_everything(uow)
        raise Boom
    assert backend.comments.get(comment.id) is None
    assert backend.comments.page(TASK, cursor=None, limit=5) == Page([], None)
    assert backend.activity.page(project_id=PROJECT, cursor=None, limit=5) == Page([], None)
    assert backend.watchers.choices(TASK) == {}


def test_a_unit_of_work_commits_comment_activity_and_watchers_together(backend):
    with backend.unit_of_work() as uow:
        comment, entry = write_everything(uow)
    assert backend.comments.get(comment.id) == comment
    assert backend.activity.page(task_id=TASK, cursor=None, limit=5).items == [entry]
    assert backend.watchers.choices(TASK) == {ALICE: True, BOB: True}


# --- index use (the server only) ---------------------------------------------------------------


def plan_stages(plan: Any) -> Iterator[dict[str, Any]]:
    """Every stage of an explain plan tree, however the server nests it."""
    if isinstance(plan, dict):
        if isinstance(plan.get("stage"), str):
            yield plan
        for value in plan.values():
            yield from plan_stages(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from plan_stages(value)


def index_used(db: Database, collection: str, query: dict, sort: list | None) -> set[str]:
    """The indexes the winning plan scans; fails on a collection scan."""
    cursor = db[collection].find(query)
    if sort is not None:
        cursor = cursor.sort(sort)
    stages = list(plan_stages(cursor.explain()["queryPlanner"]["winningPlan"]))
    names = [s["stage"] for s in stages]
    assert "COLLSCAN" not in names, (collection, query, names)
    return {s["indexName"] for s in stages if s["stage"] == "IXSCAN"}


@pytest.fixture
def crowded(mongo) -> Database:
    """Enough comments, entries and choices over many tasks and projects that a collection
    scan is never the cheap choice."""
    client, db = mongo
    backend = mongo_backend(client, db)
    for n in range(60):
        task = f"{n % 10:024x}"
        project = f"{n % 4 + 100:024x}"
        backend.comments.add(new_comment(task, project, created_at=at(n % 7)))
        backend.activity.add(new_entry(task, project, at=at(n % 7)))
        backend.watchers.add_if_new(task, project, [f"{n:024x}"], T0)
    for n in range(5):
        backend.comments.add(new_comment(created_at=at(n % 2)))
        backend.activity.add(new_entry(at=at(n % 2)))
    return db


def a_later_cursor(fetch: Callable[[str | None], Page[Any]]) -> str:
    cursor = fetch(None).next_cursor
    assert cursor is not None
    return cursor


def test_the_comment_page_uses_its_index_on_every_page(crowded):
    repo = CommentRepository(crowded)
    later = a_later_cursor(lambda c: repo.page(TASK, cursor=c, limit=2))
    for cursor in (None, later):
        for query in mongo_comments.page_queries(TASK, cursor):
            sort = mongo_comments.OLDEST_FIRST.spec()
            assert index_used(crowded, "comments", query, sort) == {"task_created"}


@pytest.mark.parametrize(("feed", "index"), [("task_id", "task_at"), ("project_id", "project_at")])
def test_each_activity_feed_uses_its_index_on_every_page(crowded, feed, index):
    repo = ActivityRepository(crowded)
    scope = {feed: TASK if feed == "task_id" else PROJECT}
    later = a_later_cursor(lambda c: repo.page(**scope, cursor=c, limit=2))
    for cursor in (None, later):
        for query in mongo_activity.page_queries(cursor, **scope):
            sort = mongo_activity.NEWEST_FIRST.spec()
            assert index_used(crowded, "activity", query, sort) == {index}


@pytest.mark.parametrize(
    ("collection", "query", "index"),
    [
        ("comments", {"project_id": PROJECT}, "project"),
        ("activity", {"comment_id": "c1"}, "comment"),
        ("watchers", {"task_id": TASK}, "task"),
        ("watchers", {"project_id": PROJECT}, "project"),
    ],
)
def test_moves_deletes_and_choices_use_an_index(crowded, collection, query, index):
    assert index in index_used(crowded, collection, query, None)
