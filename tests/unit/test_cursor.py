"""Task list queries without a database: sort keys, cursors, sort parsing and filter documents."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from operator import itemgetter
from types import SimpleNamespace
from typing import Any

import pytest
from bson import ObjectId
from hypothesis import given
from hypothesis import strategies as st
from pymongo import DESCENDING

from tasktracker.adapters.mongo.connection import TASK_INDEXES
from tasktracker.adapters.mongo.task_queries import (
    SORT_FIELDS,
    TaskQueries,
    after_cursor,
    decode_cursor,
    encode_cursor,
    filter_query,
    list_query,
    sort_field,
    sort_spec,
)
from tasktracker.adapters.mongo.tasks import (
    NULL_STAMP,
    SORT_KEY_PATTERN,
    sort_keys,
    stamp,
    task_to_doc,
)
from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.queries import Sort, TaskFilter
from tasktracker.domain.tasks import Priority, Status, Task, is_overdue

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SORT_KEYS = ["created_at", "updated_at", "due_date", "priority"]
TASK_ID = "65f0c0ffee0000000000abcd"
KEY = "20240501120000000000" + TASK_ID  # a well-formed date sort key

sorts = st.builds(Sort, st.sampled_from(SORT_KEYS), st.booleans())
object_ids = st.binary(min_size=12, max_size=12).map(ObjectId)
fixed_offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
# Any instant, in UTC or a fixed offset, kept a few days inside datetime's range so converting it
# to UTC (or adding a day) never overflows.
instants = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 29),
    timezones=st.just(UTC) | fixed_offsets,
)
# A few shared instants, so that tasks often tie on the sort value and the id has to break the tie.
shared_instants = st.sampled_from([NOW - timedelta(days=1), NOW, NOW + timedelta(days=1)])
task_times = shared_instants | instants

date_keys = st.builds(lambda when, oid: stamp(when) + str(oid), st.none() | instants, object_ids)
priority_keys = st.builds(lambda p, oid: f"{p.rank}{oid}", st.sampled_from(Priority), object_ids)
last_keys = date_keys | priority_keys

tasks = st.builds(
    Task,
    id=object_ids.map(str),
    title=st.just("a task"),
    reporter=st.just("u1"),
    assignee=st.none() | st.sampled_from(["u1", "u2"]),
    created_at=task_times,
    updated_at=task_times,
    due_date=st.none() | task_times,
    status=st.sampled_from(Status),
    priority=st.sampled_from(Priority),
)
task_lists = st.lists(tasks, max_size=12, unique_by=lambda t: t.id)


def raw_cursor(payload: Any) -> str:
    """A cursor built by hand, the way a client could tamper with one."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def make_task(**fields: Any) -> Task:
    defaults: dict[str, Any] = {
        "id": TASK_ID,
        "title": "a task",
        "reporter": "u1",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Task(**{**defaults, **fields})


def domain_order(items: list[Task], sort: Sort) -> list[Task]:
    """The order the API promises: by value then id, no value (no due date) first; the reverse
    when descending. Computed from the domain values, not from the stored sort keys."""

    def position(task: Task) -> tuple[bool, Any, ObjectId]:
        value = task.priority.rank if sort.key == "priority" else getattr(task, sort.key)
        return (value is not None, value if value is not None else 0, ObjectId(task.id))

    return sorted(items, key=position, reverse=sort.descending)


def ids(items: list[Task]) -> list[str]:
    return [t.id for t in items]


# --- sort keys ---------------------------------------------------------------------------------


def test_a_stamp_is_the_utc_instant_as_twenty_digits():
    assert stamp(datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)) == "20240501120000123000"
    two_hours_east = timezone(timedelta(hours=2))
    assert stamp(datetime(2024, 5, 1, 14, 30, tzinfo=two_hours_east)) == "20240501123000000000"
    assert stamp(datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "09990102030405000006"
    assert stamp(None) == NULL_STAMP == "0" * 20


@given(instants, instants)
def test_stamps_order_like_the_instants_they_stand_for(a, b):
    assert (stamp(a) < stamp(b)) is (a < b)
    assert (stamp(a) == stamp(b)) is (a == b)


@given(instants, st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=1)))
def test_a_later_instant_has_a_greater_stamp(a, delta):
    b = a + delta
    assert stamp(a) < stamp(b)


@given(instants | st.just(datetime(1, 1, 1, tzinfo=UTC)))
def test_a_missing_date_stamps_before_every_date(when):
    assert re.fullmatch(r"[0-9]{20}", stamp(when))
    assert stamp(None) < stamp(when)
    assert stamp(when) > NULL_STAMP


def test_sort_keys_are_the_stamp_or_the_rank_then_the_id():
    task = make_task(
        created_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        updated_at=datetime(2024, 5, 2, 8, 30, 15, 250000, tzinfo=UTC),
        due_date=None,
        priority=Priority.HIGH,
    )
    assert sort_keys(task) == {
        "sk_created": "20240501120000000000" + TASK_ID,
        "sk_updated": "20240502083015250000" + TASK_ID,
        "sk_due": "0" * 20 + TASK_ID,
        "sk_priority": "2" + TASK_ID,
    }
    due = make_task(due_date=datetime(2024, 6, 30, 23, 59, 59, tzinfo=UTC))
    assert sort_keys(due)["sk_due"] == "20240630235959000000" + TASK_ID


def test_every_list_order_sorts_on_a_key_the_task_document_stores():
    task = make_task()
    assert list(SORT_FIELDS) == SORT_KEYS
    assert set(SORT_FIELDS.values()) == set(sort_keys(task))
    doc = task_to_doc(task)
    assert {field: doc[field] for field in SORT_FIELDS.values()} == sort_keys(task)


@given(tasks)
def test_sort_keys_are_well_formed_and_fixed_width(task):
    keys = sort_keys(task)
    for field in ("sk_created", "sk_updated", "sk_due"):
        assert len(keys[field]) == 44
    assert len(keys["sk_priority"]) == 25
    for key in keys.values():
        assert SORT_KEY_PATTERN.fullmatch(key)
        assert key.endswith(task.id)


@given(task_lists, sorts)
def test_sorting_by_the_sort_key_is_sorting_by_value_then_id(items, sort):
    keys = [sort_keys(t)[sort_field(sort)] for t in items]
    assert len(set(keys)) == len(items)  # unique, so one field orders the list completely
    by_key = sorted(items, key=lambda t: sort_keys(t)[sort_field(sort)], reverse=sort.descending)
    assert ids(by_key) == ids(domain_order(items, sort))


# --- cursors -----------------------------------------------------------------------------------


@given(sorts, last_keys)
def test_a_cursor_round_trips_its_last_key(sort, key):
    assert decode_cursor(encode_cursor(sort, key), sort) == key


@given(sorts, last_keys)
def test_a_cursor_is_safe_to_put_in_a_url(sort, key):
    assert re.fullmatch(r"[A-Za-z0-9_-]+", encode_cursor(sort, key))


@given(sorts, sorts, last_keys)
def test_a_cursor_from_another_sort_order_is_refused(made_for, used_with, key):
    cursor = encode_cursor(made_for, key)
    if str(made_for) == str(used_with):
        assert decode_cursor(cursor, used_with) == key
    else:
        with pytest.raises(InvalidInput):
            decode_cursor(cursor, used_with)


def test_a_hand_made_cursor_with_a_good_key_is_accepted():
    """The control for the malformed cases below: `raw_cursor` itself makes usable cursors."""
    assert decode_cursor(raw_cursor({"s": "-created_at", "k": KEY}), Sort()) == KEY
    assert decode_cursor(raw_cursor({"s": "-created_at", "k": "3" + TASK_ID}), Sort()) == (
        "3" + TASK_ID
    )


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "abc",
        "!!!!",
        "not a cursor at all",
        "é",
        base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
        raw_cursor([]),
        raw_cursor("text"),
        raw_cursor(42),
        raw_cursor({}),
        raw_cursor({"s": "-created_at"}),
        raw_cursor({"k": KEY}),
        raw_cursor({"s": "-created_at", "v": 1, "id": TASK_ID}),  # the previous cursor format
        raw_cursor({"s": "created_at", "k": KEY}),  # another sort order
        raw_cursor({"s": ["-created_at"], "k": KEY}),
        raw_cursor({"s": "-created_at", "k": None}),
        raw_cursor({"s": "-created_at", "k": 7}),
        raw_cursor({"s": "-created_at", "k": [KEY]}),
        raw_cursor({"s": "-created_at", "k": {"$gt": ""}}),
        raw_cursor({"s": "-created_at", "k": ""}),
        raw_cursor({"s": "-created_at", "k": "not-a-key"}),
        raw_cursor({"s": "-created_at", "k": TASK_ID}),  # an id without a sort value
        raw_cursor({"s": "-created_at", "k": KEY.upper()}),
        raw_cursor({"s": "-created_at", "k": KEY + "\n"}),
        raw_cursor({"s": "-created_at", "k": " " + KEY}),
        raw_cursor({"s": "-created_at", "k": "0" * 21 + TASK_ID}),  # value part too long
        raw_cursor({"s": "-created_at", "k": "2024-05-01" + TASK_ID}),
        raw_cursor({"s": "-created_at", "k": "\u0660" * 20 + TASK_ID}),  # non-ASCII digits
        raw_cursor({"s": "-created_at", "k": KEY[:20] + "g" + KEY[21:]}),  # not hex
    ],
)
def test_a_malformed_cursor_is_invalid_input(cursor):
    with pytest.raises(InvalidInput):
        decode_cursor(cursor, Sort())


@given(st.text())
def test_arbitrary_text_as_a_cursor_is_invalid_input_never_a_crash(text):
    with pytest.raises(InvalidInput):
        decode_cursor(text, Sort())


@given(sorts, last_keys | st.text(alphabet="0123456789abcdefgABCDEF -\n", min_size=20, max_size=50))
def test_a_cursor_carries_only_well_formed_keys(sort, text):
    cursor = encode_cursor(sort, text)
    if re.fullmatch(r"[0-9]{1,20}[0-9a-f]{24}", text):
        assert decode_cursor(cursor, sort) == text
    else:
        with pytest.raises(InvalidInput):
            decode_cursor(cursor, sort)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
cursor_fields = st.sampled_from(["s", "k", "v", "id", "x"])
cursor_payloads = st.dictionaries(
    cursor_fields,
    json_values | st.sampled_from(["-created_at", "created_at", KEY, TASK_ID]),
    max_size=4,
) | st.dictionaries(cursor_fields, st.dictionaries(cursor_fields, json_values), max_size=4)


@given(cursor_payloads | json_values)
def test_a_tampered_cursor_is_refused_or_decoded_never_a_crash(payload):
    try:
        key = decode_cursor(raw_cursor(payload), Sort())
    except InvalidInput:
        return
    assert payload["s"] == "-created_at"
    assert key == payload["k"]
    assert SORT_KEY_PATTERN.fullmatch(key)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-created_at", {"sk_created": {"$lt": KEY}}),
        ("created_at", {"sk_created": {"$gt": KEY}}),
        ("-updated_at", {"sk_updated": {"$lt": KEY}}),
        ("updated_at", {"sk_updated": {"$gt": KEY}}),
        ("-due_date", {"sk_due": {"$lt": KEY}}),
        ("due_date", {"sk_due": {"$gt": KEY}}),
        ("-priority", {"sk_priority": {"$lt": KEY}}),
        ("priority", {"sk_priority": {"$gt": KEY}}),
    ],
)
def test_the_next_page_is_one_range_on_the_sort_key(text, expected):
    assert after_cursor(Sort.parse(text), KEY) == expected


# --- sort --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "descending", "field"),
    [
        ("created_at", "created_at", False, "sk_created"),
        ("-created_at", "created_at", True, "sk_created"),
        ("updated_at", "updated_at", False, "sk_updated"),
        ("-updated_at", "updated_at", True, "sk_updated"),
        ("due_date", "due_date", False, "sk_due"),
        ("-due_date", "due_date", True, "sk_due"),
        ("priority", "priority", False, "sk_priority"),
        ("-priority", "priority", True, "sk_priority"),
    ],
)
def test_sort_parse_accepts_the_documented_keys(text, key, descending, field):
    sort = Sort.parse(text)
    assert (sort.key, sort.descending, sort_field(sort)) == (key, descending, field)
    assert str(sort) == text
    # The sort key ends with the id, so it is unique: one field orders the list completely.
    assert sort_spec(sort) == [(field, -1 if descending else 1)]


def test_the_default_order_is_newest_first():
    assert str(Sort()) == "-created_at"
    assert Sort.parse("-created_at") == Sort()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-",
        "title",
        "-title",
        "status",
        "_id",
        "priority_rank",
        "sk_created",
        "CREATED_AT",
        "created_at ",
        " created_at",
        "--created_at",
        "+created_at",
        "created_at,-priority",
        "$where",
    ],
)
def test_sort_parse_rejects_anything_else(text):
    with pytest.raises(InvalidInput):
        Sort.parse(text)


@given(st.text())
def test_sort_parse_accepts_exactly_the_documented_keys(text):
    documented = set(SORT_KEYS) | {f"-{k}" for k in SORT_KEYS}
    if text in documented:
        assert str(Sort.parse(text)) == text
    else:
        with pytest.raises(InvalidInput):
            Sort.parse(text)


# --- filters -----------------------------------------------------------------------------------

OVERDUE_FALSE = {"$or": [{"status": "done"}, {"due_date": None}, {"due_date": {"$gte": NOW}}]}


def test_no_filter_matches_everything():
    assert filter_query(TaskFilter(), NOW) == {}


def test_one_status():
    assert filter_query(TaskFilter(status=(Status.OPEN,)), NOW) == {"status": "open"}


def test_several_statuses():
    flt = TaskFilter(status=(Status.OPEN, Status.IN_PROGRESS))
    assert filter_query(flt, NOW) == {"status": {"$in": ["open", "in_progress"]}}


def test_statuses_are_listed_in_workflow_order():
    flt = TaskFilter(status=(Status.DONE, Status.IN_PROGRESS, Status.OPEN))
    assert filter_query(flt, NOW) == {"status": {"$in": ["open", "in_progress", "done"]}}


def test_one_and_several_priorities():
    assert filter_query(TaskFilter(priority=(Priority.HIGH,)), NOW) == {"priority": "high"}
    flt = TaskFilter(priority=(Priority.HIGH, Priority.CRITICAL))
    assert filter_query(flt, NOW) == {"priority": {"$in": ["high", "critical"]}}


def test_assignee():
    assert filter_query(TaskFilter(assignee="u1"), NOW) == {"assignee": "u1"}


def test_overdue_true():
    assert filter_query(TaskFilter(overdue=True), NOW) == {
        "status": {"$in": ["open", "in_progress"]},
        "due_date": {"$lt": NOW},
    }


def test_overdue_true_keeps_only_the_open_statuses_asked_for():
    flt = TaskFilter(status=(Status.DONE, Status.OPEN), overdue=True)
    assert filter_query(flt, NOW) == {"status": "open", "due_date": {"$lt": NOW}}
    flt = TaskFilter(status=(Status.IN_PROGRESS, Status.OPEN, Status.DONE), overdue=True)
    assert filter_query(flt, NOW) == {
        "status": {"$in": ["open", "in_progress"]},
        "due_date": {"$lt": NOW},
    }


def test_overdue_true_for_done_tasks_only_matches_nothing():
    query = filter_query(TaskFilter(status=(Status.DONE,), overdue=True), NOW)
    assert query == {"status": {"$in": []}, "due_date": {"$lt": NOW}}
    for status in Status:
        for due in (None, NOW - timedelta(days=1), NOW + timedelta(days=1)):
            assert not matches({"status": str(status), "due_date": due}, query)


def test_overdue_true_is_due_before_the_earlier_of_now_and_due_before():
    earlier, later = NOW - timedelta(days=2), NOW + timedelta(days=2)
    after = NOW - timedelta(days=7)
    assert filter_query(TaskFilter(overdue=True, due_before=earlier), NOW)["due_date"] == {
        "$lt": earlier
    }
    assert filter_query(TaskFilter(overdue=True, due_before=later), NOW)["due_date"] == {"$lt": NOW}
    flt = TaskFilter(overdue=True, due_before=later, due_after=after)
    assert filter_query(flt, NOW)["due_date"] == {"$lt": NOW, "$gte": after}


def test_overdue_false():
    assert filter_query(TaskFilter(overdue=False), NOW) == OVERDUE_FALSE


def test_overdue_false_sits_beside_the_other_filters():
    after = NOW - timedelta(days=7)
    flt = TaskFilter(status=(Status.OPEN,), assignee="u1", overdue=False, due_after=after)
    assert filter_query(flt, NOW) == {
        "status": "open",
        "assignee": "u1",
        "due_date": {"$gte": after},
        **OVERDUE_FALSE,
    }


def test_due_before_and_after():
    before = NOW + timedelta(days=7)
    after = NOW - timedelta(days=7)
    assert filter_query(TaskFilter(due_before=before), NOW) == {"due_date": {"$lt": before}}
    assert filter_query(TaskFilter(due_after=after), NOW) == {"due_date": {"$gte": after}}
    assert filter_query(TaskFilter(due_before=before, due_after=after), NOW) == {
        "due_date": {"$lt": before, "$gte": after}
    }


def test_q_is_a_case_insensitive_literal_title_search():
    query = filter_query(TaskFilter(q="fix (urgent) a.b*"), NOW)
    assert set(query) == {"title"}
    assert query["title"]["$options"] == "i"
    pattern = re.compile(query["title"]["$regex"], re.IGNORECASE)
    assert pattern.search("Please FIX (URGENT) A.B* today")
    assert not pattern.search("fix urgent axbbb")


@given(st.text(min_size=1), st.text(), st.text())
def test_q_matches_any_title_containing_it_literally(q, prefix, suffix):
    query = filter_query(TaskFilter(q=q), NOW)
    pattern = re.compile(query["title"]["$regex"], re.IGNORECASE)
    assert pattern.search(prefix + q + suffix)


def test_filters_combine_in_one_flat_document():
    before = NOW + timedelta(days=7)
    after = NOW - timedelta(days=7)
    flt = TaskFilter(
        status=(Status.OPEN,),
        priority=(Priority.HIGH, Priority.LOW),
        assignee="u1",
        due_before=before,
        due_after=after,
        q="x",
    )
    assert filter_query(flt, NOW) == {
        "status": "open",
        "priority": {"$in": ["high", "low"]},
        "assignee": "u1",
        "due_date": {"$lt": before, "$gte": after},
        "title": {"$regex": "x", "$options": "i"},
    }


# A tiny evaluator for the operators the list queries use, so filters can be checked against the
# domain's own definitions (`is_overdue`, which the API also shows on each task). It follows
# MongoDB: equality with None matches a missing field, comparisons never match null, `$in: []`
# matches nothing, and several operators on one field must all hold.
def matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    for key, cond in query.items():
        if key == "$and":
            ok = all(matches(doc, sub) for sub in cond)
        elif key == "$or":
            ok = any(matches(doc, sub) for sub in cond)
        elif key.startswith("$"):
            raise AssertionError(f"unexpected top-level operator {key}")
        elif isinstance(cond, dict) and "$regex" in cond:
            flags = re.IGNORECASE if "i" in cond.get("$options", "") else 0
            value = doc.get(key)
            ok = isinstance(value, str) and re.search(cond["$regex"], value, flags) is not None
        elif isinstance(cond, dict):
            ok = all(field_matches(doc.get(key), op, arg) for op, arg in cond.items())
        else:
            ok = doc.get(key) == cond
        if not ok:
            return False
    return True


def field_matches(value: Any, op: str, arg: Any) -> bool:
    if op == "$in":
        return value in arg
    if value is None:  # comparisons never match a missing or null field
        return False
    if op == "$lt":
        return value < arg
    if op == "$gt":
        return value > arg
    if op == "$gte":
        return value >= arg
    raise AssertionError(f"unexpected operator {op}")


@given(
    st.sampled_from(list(Status)),
    st.none() | st.integers(min_value=-3, max_value=3).map(lambda d: NOW + timedelta(days=d)),
    st.booleans(),
)
def test_the_overdue_filter_agrees_with_the_overdue_flag(status, due, wanted):
    doc = {"status": str(status), "due_date": due}
    expected = is_overdue(status, due, NOW) is wanted
    assert matches(doc, filter_query(TaskFilter(overdue=wanted), NOW)) is expected


def wanted(flt: TaskFilter, task: Task, now: datetime) -> bool:
    """What a filter means, written from the domain rather than from the query document."""
    due = task.due_date
    return (
        (not flt.status or task.status in flt.status)
        and (not flt.priority or task.priority in flt.priority)
        and (flt.assignee is None or task.assignee == flt.assignee)
        and (flt.overdue is None or task.is_overdue(now) is flt.overdue)
        and (flt.due_before is None or (due is not None and due < flt.due_before))
        and (flt.due_after is None or (due is not None and due >= flt.due_after))
        and (not flt.q or flt.q.lower() in task.title.lower())
    )


near_dates = st.integers(min_value=-3, max_value=3).map(lambda d: NOW + timedelta(days=d))
title_text = st.text(alphabet="aAbB.*( ", max_size=4)
filters = st.builds(
    TaskFilter,
    status=st.lists(st.sampled_from(Status), max_size=3).map(tuple),
    priority=st.lists(st.sampled_from(Priority), max_size=4).map(tuple),
    assignee=st.none() | st.sampled_from(["u1", "u2"]),
    overdue=st.none() | st.booleans(),
    due_before=st.none() | near_dates,
    due_after=st.none() | near_dates,
    q=st.none() | title_text,
)
filterable_tasks = st.builds(
    make_task,
    title=title_text,
    status=st.sampled_from(Status),
    priority=st.sampled_from(Priority),
    assignee=st.none() | st.sampled_from(["u1", "u2"]),
    due_date=st.none() | near_dates,
)


def operators(query: Any) -> set[str]:
    if isinstance(query, dict):
        return {k for k in query if k.startswith("$")} | {
            op for v in query.values() for op in operators(v)
        }
    if isinstance(query, list):
        return {op for v in query for op in operators(v)}
    return set()


@given(filters, filterable_tasks)
def test_every_filter_combination_selects_what_it_means(flt, task):
    query = filter_query(flt, NOW)
    assert "$and" not in operators(query)  # one flat document
    assert {k for k in query if k.startswith("$")} <= {"$or"}
    assert matches(task_to_doc(task), query) is wanted(flt, task, NOW)


# --- one page ----------------------------------------------------------------------------------


def test_the_first_page_query_is_the_filter():
    flt = TaskFilter(status=(Status.OPEN,), overdue=True)
    assert list_query(flt, Sort(), None, NOW) == filter_query(flt, NOW)
    assert list_query(TaskFilter(), Sort(), None, NOW) == {}


def test_a_later_page_adds_the_range_to_the_same_flat_document():
    flt = TaskFilter(status=(Status.OPEN,), assignee="u1", overdue=False)
    sort = Sort.parse("due_date")
    query = list_query(flt, sort, encode_cursor(sort, KEY), NOW)
    assert query == {
        "status": "open",
        "assignee": "u1",
        **OVERDUE_FALSE,
        "sk_due": {"$gt": KEY},
    }


@given(filters, sorts, last_keys)
def test_a_page_query_is_the_filter_plus_the_cursor_range(flt, sort, key):
    query = list_query(flt, sort, encode_cursor(sort, key), NOW)
    first = filter_query(flt, NOW)
    assert set(first).isdisjoint(after_cursor(sort, key))  # neither overwrites the other
    assert query == {**first, **after_cursor(sort, key)}
    assert "$and" not in operators(query)


def test_a_page_query_refuses_a_bad_cursor():
    with pytest.raises(InvalidInput):
        list_query(TaskFilter(), Sort(), "not a cursor", NOW)
    with pytest.raises(InvalidInput):
        list_query(TaskFilter(), Sort.parse("priority"), encode_cursor(Sort(), KEY), NOW)


# An in-memory `tasks` collection with MongoDB's find/sort/hint/limit semantics for what the
# list queries use, so `TaskQueries.page` can be followed page by page without a server.
INDEX_NAMES = {index.document["name"] for index in TASK_INDEXES}


class FakeCursor:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    def sort(self, spec: list[tuple[str, int]]) -> FakeCursor:
        for field, direction in reversed(spec):  # stable sorts, last key first
            self.docs.sort(key=itemgetter(field), reverse=direction == DESCENDING)
        return self

    def hint(self, name: str) -> FakeCursor:
        assert name in INDEX_NAMES, f"MongoDB refuses a hint for a missing index: {name}"
        return self

    def limit(self, n: int) -> FakeCursor:
        self.docs = self.docs[:n]
        return self

    def __iter__(self):
        return iter(self.docs)


class FakeTasks:
    def __init__(self, items: list[Task]) -> None:
        self.docs = [{"_id": ObjectId(t.id), **task_to_doc(t)} for t in items]

    def find(self, query: dict[str, Any]) -> FakeCursor:
        return FakeCursor([d for d in self.docs if matches(d, query)])


paging_filters = st.sampled_from(
    [
        TaskFilter(),
        TaskFilter(status=(Status.OPEN,)),
        TaskFilter(status=(Status.DONE, Status.IN_PROGRESS)),
        TaskFilter(priority=(Priority.HIGH, Priority.LOW)),
        TaskFilter(overdue=True),
        TaskFilter(overdue=False),
        TaskFilter(due_after=NOW),
        TaskFilter(assignee="u1"),
        TaskFilter(assignee="u1", status=(Status.OPEN,)),
        TaskFilter(assignee="u2", overdue=True),
    ]
)


@given(task_lists, sorts, paging_filters, st.integers(min_value=1, max_value=5))
def test_paging_visits_every_matching_task_once_in_order(items, sort, flt, limit):
    queries = TaskQueries(SimpleNamespace(tasks=FakeTasks(items)))
    seen: list[str] = []
    cursor = None
    for _ in range(len(items) + 1):
        page = queries.page(flt, sort, cursor, limit, NOW)
        assert len(page.items) <= limit
        assert page.items or cursor is None  # a cursor never leads to an empty page
        seen += ids(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    else:
        pytest.fail("paging did not end")
    expected = [t for t in domain_order(items, sort) if wanted(flt, t, NOW)]
    assert seen == ids(expected)
