"""Task list queries without a database: cursors, sort parsing and the filter documents."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from bson import ObjectId
from hypothesis import given
from hypothesis import strategies as st

from tasktracker.adapters.mongo.task_queries import (
    Sort,
    TaskFilter,
    decode_cursor,
    encode_cursor,
    filter_query,
)
from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.tasks import Priority, Status, is_overdue

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SORT_KEYS = ["created_at", "updated_at", "due_date", "priority"]

sorts = st.builds(Sort, st.sampled_from(SORT_KEYS), st.booleans())
object_ids = st.binary(min_size=12, max_size=12).map(ObjectId)
fixed_offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
sort_values = (
    st.none()
    | st.integers()
    | st.datetimes(timezones=st.just(UTC))
    | st.datetimes()
    # Stored dates come back in UTC; fixed offsets check the offset survives too.
    | st.datetimes(timezones=fixed_offsets)
)


def raw_cursor(payload: Any) -> str:
    """A cursor built by hand, the way a client could tamper with one."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


# --- cursors -----------------------------------------------------------------------------------


@given(sorts, sort_values, object_ids)
def test_a_cursor_round_trips_its_position(sort, value, last_id):
    cursor = encode_cursor(sort, value, last_id)
    decoded_value, decoded_id = decode_cursor(cursor, sort)
    assert decoded_id == last_id
    assert decoded_value == value
    assert type(decoded_value) is type(value)
    if isinstance(value, datetime):
        assert decoded_value.utcoffset() == value.utcoffset()


@given(sorts, sort_values, object_ids)
def test_a_cursor_is_safe_to_put_in_a_url(sort, value, last_id):
    assert re.fullmatch(r"[A-Za-z0-9_-]+", encode_cursor(sort, value, last_id))


@given(sorts, sorts, sort_values, object_ids)
def test_a_cursor_from_another_sort_order_is_refused(made_for, used_with, value, last_id):
    cursor = encode_cursor(made_for, value, last_id)
    if str(made_for) == str(used_with):
        assert decode_cursor(cursor, used_with) == (value, last_id)
    else:
        with pytest.raises(InvalidInput):
            decode_cursor(cursor, used_with)


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
        raw_cursor({"s": "-created_at", "v": 1}),
        raw_cursor({"s": "-created_at", "id": "0" * 24}),
        raw_cursor({"v": 1, "id": "0" * 24}),
        raw_cursor({"s": "-created_at", "v": 1, "id": "not-an-object-id"}),
        raw_cursor({"s": "-created_at", "v": 1, "id": None}),
        raw_cursor({"s": "-created_at", "v": 1, "id": 7}),
        raw_cursor({"s": "-created_at", "v": {"d": "yesterday"}, "id": "0" * 24}),
        raw_cursor({"s": "-created_at", "v": {"d": 5}, "id": "0" * 24}),
        raw_cursor({"s": "-created_at", "v": {"x": 1}, "id": "0" * 24}),
    ],
)
def test_a_malformed_cursor_is_invalid_input(cursor):
    with pytest.raises(InvalidInput):
        decode_cursor(cursor, Sort())


@given(st.text())
def test_arbitrary_text_as_a_cursor_is_invalid_input_never_a_crash(text):
    with pytest.raises(InvalidInput):
        decode_cursor(text, Sort())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
cursor_fields = st.sampled_from(["s", "v", "id", "d", "x"])
cursor_payloads = st.dictionaries(
    cursor_fields, json_values | st.just("-created_at") | st.just("0" * 24), max_size=4
) | st.dictionaries(cursor_fields, st.dictionaries(cursor_fields, json_values), max_size=4)


@given(cursor_payloads | json_values)
def test_a_tampered_cursor_is_refused_or_decoded_never_a_crash(payload):
    try:
        _value, last_id = decode_cursor(raw_cursor(payload), Sort())
    except InvalidInput:
        return
    assert payload["s"] == "-created_at"
    assert last_id == ObjectId(payload["id"])


# --- sort --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "descending", "field"),
    [
        ("created_at", "created_at", False, "created_at"),
        ("-created_at", "created_at", True, "created_at"),
        ("updated_at", "updated_at", False, "updated_at"),
        ("-updated_at", "updated_at", True, "updated_at"),
        ("due_date", "due_date", False, "due_date"),
        ("-due_date", "due_date", True, "due_date"),
        ("priority", "priority", False, "priority_rank"),
        ("-priority", "priority", True, "priority_rank"),
    ],
)
def test_sort_parse_accepts_the_documented_keys(text, key, descending, field):
    sort = Sort.parse(text)
    assert (sort.key, sort.descending, sort.field) == (key, descending, field)
    assert str(sort) == text
    direction = -1 if descending else 1
    # Ties are broken by _id in the same direction, so pages never overlap or skip.
    assert sort.spec() == [(field, direction), ("_id", direction)]


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


def test_no_filter_matches_everything():
    assert filter_query(TaskFilter(), NOW) == {}


def test_one_status():
    assert filter_query(TaskFilter(status=(Status.OPEN,)), NOW) == {"status": "open"}


def test_several_statuses():
    flt = TaskFilter(status=(Status.OPEN, Status.IN_PROGRESS))
    assert filter_query(flt, NOW) == {"status": {"$in": ["open", "in_progress"]}}


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


def test_overdue_false():
    assert filter_query(TaskFilter(overdue=False), NOW) == {
        "$or": [{"status": "done"}, {"due_date": None}, {"due_date": {"$gte": NOW}}]
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


def test_filters_combine_with_and():
    flt = TaskFilter(status=(Status.OPEN,), assignee="u1", q="x")
    assert filter_query(flt, NOW) == {
        "$and": [
            {"status": "open"},
            {"assignee": "u1"},
            {"title": {"$regex": "x", "$options": "i"}},
        ]
    }


# A tiny evaluator for the operators filter_query uses, so the overdue filter can be checked
# against the domain's own definition of "overdue" (which the API also shows on each task).
def matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    for key, cond in query.items():
        if key == "$and":
            ok = all(matches(doc, sub) for sub in cond)
        elif key == "$or":
            ok = any(matches(doc, sub) for sub in cond)
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
