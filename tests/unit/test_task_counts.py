"""The per-project task counters' arithmetic (domain/task_counts.py): which counter a task write
moves, how changes combine, and how stored counter documents add up to a summary."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from tasktracker.domain.task_counts import (
    Bucket,
    CountChange,
    bucket,
    combined,
    count_change,
    counts_of,
    empty_counts,
    summed,
)
from tasktracker.domain.tasks import Status, Task

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
OPEN, IN_PROGRESS, DONE = Status.OPEN, Status.IN_PROGRESS, Status.DONE


def task(project_id: str = "p1", status: Status = OPEN, task_id: str = "t1") -> Task:
    return Task(task_id, "a task", "u1", T0, T0, status=status, project_id=project_id)


def test_a_created_task_adds_one_to_its_projects_status():
    assert count_change(None, bucket(task("p1", OPEN))) == {"p1": {OPEN: 1}}


def test_a_deleted_task_takes_one_away():
    assert count_change(bucket(task("p1", DONE)), None) == {"p1": {DONE: -1}}


def test_a_status_change_moves_one_between_two_statuses_of_the_project():
    before, after = Bucket("p1", IN_PROGRESS), Bucket("p1", DONE)
    assert count_change(before, after) == {"p1": {IN_PROGRESS: -1, DONE: 1}}


def test_a_move_takes_one_from_the_old_project_and_adds_one_to_the_new():
    change = count_change(Bucket("p1", OPEN), Bucket("p2", IN_PROGRESS))
    assert change == {"p1": {OPEN: -1}, "p2": {IN_PROGRESS: 1}}


def test_a_change_of_neither_project_nor_status_moves_no_counter():
    assert count_change(Bucket("p1", OPEN), Bucket("p1", OPEN)) == {}
    assert count_change(None, None) == {}


def test_a_completion_with_its_next_occurrence_is_one_change():
    done = count_change(Bucket("p1", IN_PROGRESS), Bucket("p1", DONE))
    next_one = count_change(None, Bucket("p1", OPEN))
    assert combined(done, next_one) == {"p1": {IN_PROGRESS: -1, DONE: 1, OPEN: 1}}


def test_changes_that_cancel_out_leave_no_entry():
    there = count_change(Bucket("p1", OPEN), Bucket("p2", OPEN))
    back = count_change(Bucket("p2", OPEN), Bucket("p1", OPEN))
    assert combined(there, back) == {}
    assert combined() == {}


def test_counts_of_tasks_built_from_nothing():
    tasks = [task("p1", OPEN, "a"), task("p1", OPEN, "b"), task("p2", DONE, "c")]
    assert counts_of(tasks) == {"p1": {OPEN: 2}, "p2": {DONE: 1}}


def test_counter_documents_add_up_with_a_total():
    rows = [
        {"open": 2, "in_progress": 1, "done": 0},
        {"open": -1, "done": 4},  # a slot that saw a task leave; missing statuses are 0
        {},
    ]
    assert summed(rows) == {"open": 1, "in_progress": 1, "done": 4, "total": 6}
    assert summed([]) == empty_counts() == {"open": 0, "in_progress": 0, "done": 0, "total": 0}


# --- a property: counters kept by changes equal a recount ---------------------------------------

PROJECTS = ["p1", "p2", "p3"]
buckets = st.one_of(
    st.none(), st.builds(Bucket, st.sampled_from(PROJECTS), st.sampled_from(list(Status)))
)
# Each step: which of five tasks it writes, and where that task counts afterwards (None: gone).
histories = st.lists(st.tuples(st.integers(0, 4), buckets), max_size=40)


def apply(counters: Counter[tuple[str, Status]], change: CountChange) -> None:
    for project_id, by_status in change.items():
        for status, n in by_status.items():
            counters[project_id, status] += n


@given(histories, st.integers(1, 8))
def test_counters_kept_by_each_writes_change_equal_a_recount(history, slots):
    """However tasks are created, changed, moved and deleted, and however the changes are
    spread over a project's counter documents (the adapter's slots), the summed counters are
    the count of the tasks where they are now."""
    where: dict[int, Bucket | None] = {}
    documents: list[Counter[tuple[str, Status]]] = [Counter() for _ in range(slots)]
    for step, (task_no, now) in enumerate(history):
        apply(documents[step % slots], count_change(where.get(task_no), now))
        where[task_no] = now

    for project_id in PROJECTS:
        rows = [
            {str(s): doc[project_id, s] for s in Status if (project_id, s) in doc}
            for doc in documents
        ]
        expected = Counter(b.status for b in where.values() if b and b.project_id == project_id)
        counts = summed(rows)
        assert {s: counts[str(s)] for s in Status} == {s: expected[s] for s in Status}
        assert counts["total"] == sum(expected.values())
        assert all(counts[str(s)] >= 0 for s in Status)
