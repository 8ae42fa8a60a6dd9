"""The task status workflow: open -> in_progress -> done, reopen, completed_at and deadlines."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasktracker.domain.errors import Conflict, InvalidInput, InvalidTransition
from tasktracker.domain.recurrence import RecurrenceFrom
from tasktracker.domain.reminders import Reminder
from tasktracker.domain.tasks import (
    TASK_FIELD_NAMES,
    Priority,
    Status,
    Task,
    check_dates,
    is_overdue,
)

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)

# The workflow as the API documents it, written out independently of the implementation.
ALLOWED = {
    (Status.OPEN, Status.IN_PROGRESS),
    (Status.IN_PROGRESS, Status.DONE),
    (Status.IN_PROGRESS, Status.OPEN),
    (Status.DONE, Status.OPEN),
}
REACHABLE = {Status.OPEN} | {target for _, target in ALLOWED}


def make_task(**fields) -> Task:
    values = {
        "id": "t1",
        "title": "write the report",
        "reporter": "u-reporter",
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return Task(**values)


def test_a_new_task_is_open_and_not_completed():
    task = make_task()
    assert task.status is Status.OPEN
    assert task.completed_at is None


def test_start_then_finish_sets_completed_at_to_the_time_of_completion():
    task = make_task()
    task.change_status(Status.IN_PROGRESS, T0 + timedelta(hours=1))
    assert task.status is Status.IN_PROGRESS
    assert task.completed_at is None

    done_at = T0 + timedelta(hours=2)
    task.change_status(Status.DONE, done_at)
    assert task.status is Status.DONE
    assert task.completed_at == done_at


@pytest.mark.parametrize("start", [Status.IN_PROGRESS, Status.DONE])
def test_reopen_returns_to_open_and_clears_completed_at(start):
    task = make_task(status=start, completed_at=T0 if start is Status.DONE else None)
    task.change_status(Status.OPEN, T0 + timedelta(days=1))
    assert task.status is Status.OPEN
    assert task.completed_at is None


def test_open_to_done_is_refused_and_the_task_is_unchanged():
    task = make_task()
    before = dataclasses.replace(task)
    with pytest.raises(InvalidTransition) as info:
        task.change_status(Status.DONE, T0 + timedelta(hours=1))
    assert task == before
    # The message tells the caller where the task may go instead.
    assert "in_progress" in str(info.value)


def test_done_cannot_go_back_to_in_progress_without_reopening():
    task = make_task(status=Status.DONE, completed_at=T0)
    with pytest.raises(InvalidTransition):
        task.change_status(Status.IN_PROGRESS, T0 + timedelta(hours=1))
    assert task.status is Status.DONE
    assert task.completed_at == T0


def test_an_invalid_transition_is_a_conflict():
    # The API maps Conflict to 409; the contract says invalid transitions answer 409.
    assert issubclass(InvalidTransition, Conflict)


def test_setting_the_same_status_again_keeps_the_original_completion_time():
    task = make_task(status=Status.DONE, completed_at=T0)
    task.change_status(Status.DONE, T0 + timedelta(days=3))
    assert task.status is Status.DONE
    assert task.completed_at == T0


@given(st.lists(st.sampled_from(list(Status)), max_size=30))
def test_random_status_changes_follow_the_workflow(targets):
    task = make_task()
    now = T0
    for target in targets:
        now += timedelta(minutes=1)
        before = dataclasses.replace(task)
        if target == before.status:
            task.change_status(target, now)
            assert task == before
        elif (before.status, target) in ALLOWED:
            task.change_status(target, now)
            assert task.status is target
            if target is Status.DONE:
                assert task.completed_at == now
        else:
            with pytest.raises(InvalidTransition):
                task.change_status(target, now)
            assert task == before
        assert task.status in REACHABLE
        assert (task.completed_at is not None) == (task.status is Status.DONE)


@given(st.sampled_from(list(Status)), st.sampled_from(list(Status)))
def test_every_pair_of_statuses_is_either_allowed_or_refused(current, target):
    task = make_task(status=current, completed_at=T0 if current is Status.DONE else None)
    if current == target or (current, target) in ALLOWED:
        task.change_status(target, T0 + timedelta(hours=1))
        assert task.status is target
    else:
        with pytest.raises(InvalidTransition):
            task.change_status(target, T0 + timedelta(hours=1))
        assert task.status is current


# --- deadlines ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.OPEN, Status.IN_PROGRESS])
def test_an_unfinished_task_past_its_due_date_is_overdue(status):
    task = make_task(status=status, due_date=T0)
    assert task.is_overdue(T0 + timedelta(seconds=1))


def test_a_task_is_not_overdue_before_or_at_its_due_date():
    task = make_task(due_date=T0)
    assert not task.is_overdue(T0 - timedelta(seconds=1))
    assert not task.is_overdue(T0)


def test_a_done_task_is_never_overdue():
    task = make_task(status=Status.DONE, completed_at=T0, due_date=T0)
    assert not task.is_overdue(T0 + timedelta(days=30))


def test_a_task_without_a_due_date_is_never_overdue():
    assert not make_task().is_overdue(T0 + timedelta(days=365))


@given(
    st.sampled_from(list(Status)),
    st.none() | st.datetimes(timezones=st.just(UTC)),
    st.datetimes(timezones=st.just(UTC)),
)
def test_overdue_means_unfinished_and_past_due(status, due, now):
    expected = due is not None and status is not Status.DONE and due < now
    assert is_overdue(status, due, now) is expected
    # The stored status is a plain string; the rule must read it the same way.
    assert is_overdue(str(status), due, now) is expected


def test_the_due_date_may_not_precede_the_start_date():
    with pytest.raises(InvalidInput):
        check_dates(T0, T0 - timedelta(days=1))
    check_dates(T0, T0)
    check_dates(T0, T0 + timedelta(days=1))
    check_dates(None, T0)
    check_dates(T0, None)


# --- a stored task, restored (Task.restore) -----------------------------------------------------

stored_tasks = st.builds(
    make_task,
    title=st.text(max_size=20),
    status=st.sampled_from(Status),
    priority=st.sampled_from(Priority),
    assignee=st.none() | st.just("u-assignee"),
    due_date=st.none() | st.just(T0 + timedelta(days=2)),
    labels=st.lists(st.sampled_from(["bug", "ui"]), max_size=2),
    recurrence_from=st.sampled_from(RecurrenceFrom),
    reminders=st.lists(st.builds(Reminder, before_due=st.just(timedelta(hours=1))), max_size=2),
)


@given(stored_tasks)
def test_a_task_restored_from_its_values_equals_it(task):
    assert Task.restore(task.values()) == task


@given(stored_tasks)
def test_a_task_restored_from_stored_strings_has_its_enums_back(task):
    stored = {**task.values(), "status": str(task.status), "priority": str(task.priority)}
    stored["recurrence_from"] = str(task.recurrence_from)
    restored = Task.restore(stored)
    assert restored == task
    assert type(restored.status) is Status and type(restored.priority) is Priority
    assert type(restored.recurrence_from) is RecurrenceFrom


def test_a_restored_task_has_its_fields_only_and_the_defaults_of_those_it_lacks():
    stored = {"id": "t1", "title": "t", "reporter": "u", "created_at": T0, "updated_at": T0}
    first = Task.restore({**stored, "_id": "t1", "sk_created": "2024t1", "gone": 1})
    second = Task.restore(stored)
    assert first == make_task(title="t", reporter="u")
    assert set(first.values()) == set(TASK_FIELD_NAMES)
    first.labels.append("bug")
    assert second.labels == []  # each restored task has lists of its own


def test_a_stored_task_without_a_required_field_is_refused_as_by_the_constructor():
    with pytest.raises(TypeError, match="reporter"):
        Task.restore({"id": "t1", "title": "t", "created_at": T0, "updated_at": T0})


def test_a_task_with_an_unknown_status_is_refused():
    with pytest.raises(KeyError):
        Task.restore({**make_task().values(), "status": "archived"})
