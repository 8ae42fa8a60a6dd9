"""The per-project task counters' arithmetic (domain/task_counts.py): which counters a task write
moves (its status and, while it is open, its due day and due hour), how changes combine, and how
stored counter documents add up to a summary and its overdue count."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from tasktracker.domain.task_counts import (
    Bucket,
    CountChange,
    CounterSums,
    bucket,
    combined,
    count_change,
    counts_of,
    due_field,
    due_summed,
    empty_counts,
    hour_field,
    hours_summed,
    summed,
    utc_hour,
)
from tasktracker.domain.tasks import Status, Task, is_overdue

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
OPEN, IN_PROGRESS, DONE = Status.OPEN, Status.IN_PROGRESS, Status.DONE
MAY, JUNE = "month.2024-05", "month.2024-06"
MAY_1, MAY_2 = "due.2024-05-01", "due.2024-05-02"
# the due hours of T0 and of a day later
AT_9_MAY_1, AT_9_MAY_2 = "hour.2024-05-01T09", "hour.2024-05-02T09"


def task(
    project_id: str = "p1",
    status: Status = OPEN,
    task_id: str = "t1",
    due_date: datetime | None = None,
) -> Task:
    return Task(
        task_id, "a task", "u1", T0, T0, status=status, project_id=project_id, due_date=due_date
    )


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
    tasks = [
        task("p1", OPEN, "a", due_date=T0),
        task("p1", OPEN, "b"),
        task("p2", DONE, "c", due_date=T0),
    ]
    assert counts_of(bucket(t) for t in tasks) == {
        "p1": {OPEN: 2, MAY: 1, MAY_1: 1, AT_9_MAY_1: 1},
        "p2": {DONE: 1},
    }
    assert counts_of([None]) == {}


def test_counter_documents_add_up_with_a_total():
    rows = [
        {"open": 2, "in_progress": 1, "done": 0},
        {"open": -1, "done": 4},  # a slot that saw a task leave; missing statuses are 0
        {},
    ]
    assert summed(rows) == {"open": 1, "in_progress": 1, "done": 4, "total": 6}
    assert summed([]) == empty_counts() == {"open": 0, "in_progress": 0, "done": 0, "total": 0}


# --- due days ------------------------------------------------------------------------------------


def test_an_open_task_with_a_due_date_also_counts_in_its_due_day_and_hour():
    assert count_change(None, bucket(task(due_date=T0))) == {
        "p1": {OPEN: 1, MAY: 1, MAY_1: 1, AT_9_MAY_1: 1}
    }
    started = task(status=IN_PROGRESS, due_date=T0)
    assert count_change(None, bucket(started)) == {
        "p1": {IN_PROGRESS: 1, MAY: 1, MAY_1: 1, AT_9_MAY_1: 1}
    }


def test_a_task_without_a_due_date_counts_in_its_status_only():
    assert count_change(None, bucket(task())) == {"p1": {OPEN: 1}}


def test_a_done_task_counts_in_no_due_day():
    assert count_change(None, bucket(task(status=DONE, due_date=T0))) == {"p1": {DONE: 1}}


def test_the_due_day_and_hour_are_the_utc_day_and_hour_of_the_due_date():
    new_york = timezone(timedelta(hours=-4))
    late_evening = datetime(2024, 5, 1, 21, 30, tzinfo=new_york)  # 01:30 UTC on May 2
    one_am = datetime(2024, 5, 2, 1, tzinfo=UTC)
    assert bucket(task(due_date=late_evening)) == Bucket("p1", OPEN, one_am)
    assert bucket(task(due_date=late_evening)).due_day == date(2024, 5, 2)  # type: ignore[union-attr]
    assert utc_hour(datetime(2024, 5, 1, 23, 59)) == datetime(2024, 5, 1, 23, tzinfo=UTC)
    assert due_field(date(2024, 5, 2)) == MAY_2
    assert hour_field(late_evening) == "hour.2024-05-02T01"


def test_completing_a_dated_task_leaves_its_due_day_and_reopening_counts_it_again():
    dated = Bucket.of("p1", IN_PROGRESS, T0)
    done = Bucket.of("p1", DONE, T0)
    assert count_change(dated, done) == {
        "p1": {IN_PROGRESS: -1, DONE: 1, MAY: -1, MAY_1: -1, AT_9_MAY_1: -1}
    }
    assert count_change(done, Bucket.of("p1", OPEN, T0)) == {
        "p1": {DONE: -1, OPEN: 1, MAY: 1, MAY_1: 1, AT_9_MAY_1: 1}
    }


def test_starting_a_dated_task_keeps_its_due_day():
    change = count_change(Bucket.of("p1", OPEN, T0), Bucket.of("p1", IN_PROGRESS, T0))
    assert change == {"p1": {OPEN: -1, IN_PROGRESS: 1}}


def test_a_new_due_date_on_another_day_moves_the_task_between_days():
    change = count_change(Bucket.of("p1", OPEN, T0), Bucket.of("p1", OPEN, T0 + timedelta(days=1)))
    assert change == {"p1": {MAY_1: -1, MAY_2: 1, AT_9_MAY_1: -1, AT_9_MAY_2: 1}}


def test_a_new_due_time_in_another_hour_of_the_same_day_moves_only_the_hour():
    later = T0 + timedelta(hours=10)
    change = count_change(Bucket.of("p1", OPEN, T0), Bucket.of("p1", OPEN, later))
    assert change == {"p1": {AT_9_MAY_1: -1, "hour.2024-05-01T19": 1}}


def test_a_new_due_time_within_the_same_hour_moves_nothing():
    later = T0 + timedelta(minutes=59)
    assert count_change(Bucket.of("p1", OPEN, T0), Bucket.of("p1", OPEN, later)) == {}


def test_removing_the_due_date_takes_the_task_out_of_its_day():
    assert count_change(Bucket.of("p1", OPEN, T0), Bucket.of("p1", OPEN, None)) == {
        "p1": {MAY: -1, MAY_1: -1, AT_9_MAY_1: -1}
    }
    assert count_change(Bucket.of("p1", OPEN, None), Bucket.of("p1", OPEN, T0)) == {
        "p1": {MAY: 1, MAY_1: 1, AT_9_MAY_1: 1}
    }


def test_a_new_due_date_of_a_done_task_moves_nothing():
    before, after = Bucket.of("p1", DONE, T0), Bucket.of("p1", DONE, T0 + timedelta(days=3))
    assert count_change(before, after) == {}
    assert count_change(before, Bucket.of("p1", DONE, None)) == {}


def test_a_move_takes_the_due_day_to_the_new_project_too():
    change = count_change(Bucket.of("p1", OPEN, T0), Bucket.of("p2", OPEN, T0))
    assert change == {
        "p1": {OPEN: -1, MAY: -1, MAY_1: -1, AT_9_MAY_1: -1},
        "p2": {OPEN: 1, MAY: 1, MAY_1: 1, AT_9_MAY_1: 1},
    }


def test_a_deleted_dated_task_takes_one_from_its_status_and_its_day():
    assert count_change(bucket(task(due_date=T0)), None) == {
        "p1": {OPEN: -1, MAY: -1, MAY_1: -1, AT_9_MAY_1: -1}
    }


def test_a_recurring_completion_moves_the_day_to_the_next_occurrences():
    done = count_change(Bucket.of("p1", IN_PROGRESS, T0), Bucket.of("p1", DONE, T0))
    next_one = count_change(None, Bucket.of("p1", OPEN, T0 + timedelta(days=1)))
    assert combined(done, next_one) == {
        "p1": {
            IN_PROGRESS: -1,
            DONE: 1,
            OPEN: 1,
            MAY_1: -1,
            MAY_2: 1,
            AT_9_MAY_1: -1,
            AT_9_MAY_2: 1,
        }
    }


def test_due_day_counters_add_up_by_day_leaving_out_days_of_none():
    rows = [
        {"open": 2, "due": {"2024-05-01": 2, "2024-05-03": 1}},
        {"open": -1, "due": {"2024-05-01": -1, "2024-05-02": 0, "2024-05-03": -1}},
        {"done": 1},  # no due days at all
        {"due": {}},
    ]
    assert due_summed(rows) == {date(2024, 5, 1): 1}
    sums = CounterSums.of(iter(rows))  # one pass over the documents, read once
    assert sums.counts == {"open": 1, "in_progress": 0, "done": 1, "total": 2}
    assert sums.due == {date(2024, 5, 1): 1}
    assert sums.hours == {}


def test_due_hour_counters_add_up_by_hour_leaving_out_hours_of_none():
    rows = [
        {"hour": {"2024-05-01T09": 2, "2024-05-01T13": 1}},
        {"hour": {"2024-05-01T09": -1, "2024-05-01T13": -1, "2024-05-01T14": 0}},
        {"open": 1},
    ]
    assert hours_summed(rows) == {datetime(2024, 5, 1, 9, tzinfo=UTC): 1}
    assert CounterSums.of(rows).hours == {datetime(2024, 5, 1, 9, tzinfo=UTC): 1}


def test_overdue_before_an_hour_is_the_months_days_and_hours_before_it():
    months = {date(2024, 3, 1): 16, date(2024, 4, 1): 8 + 32, date(2024, 5, 1): 7 + 64}
    days = {
        date(2024, 4, 30): 8,  # another month's day: in its month's count
        date(2024, 5, 1): 7,
        date(2024, 5, 2): 64,
    }
    hours = {
        datetime(2024, 5, 1, 8, tzinfo=UTC): 1,
        datetime(2024, 5, 1, 9, tzinfo=UTC): 2,
        datetime(2024, 5, 1, 10, tzinfo=UTC): 4,
        datetime(2024, 4, 30, 8, tzinfo=UTC): 8,  # another day's hour: in its day's count
    }
    sums = CounterSums(empty_counts(), months, days, hours)
    before_may = 16 + 8 + 32
    assert sums.overdue_before(datetime(2024, 5, 1, 10, tzinfo=UTC)) == before_may + 1 + 2
    assert sums.overdue_before(datetime(2024, 5, 1, 10, 40, tzinfo=UTC)) == before_may + 1 + 2
    assert sums.overdue_before(datetime(2024, 5, 1, 0, tzinfo=UTC)) == before_may
    assert sums.overdue_before(datetime(2024, 5, 2, 0, tzinfo=UTC)) == before_may + 7
    assert sums.overdue_before(datetime(2024, 4, 1, 0, tzinfo=UTC)) == 16
    assert sums.overdue_before(datetime(2024, 6, 1, 0, tzinfo=UTC)) == before_may + 7 + 64


# --- properties: counters kept by changes equal a recount; the overdue count from them is exact

PROJECTS = ["p1", "p2", "p3"]
DAYS = [date(2024, 4, 30), date(2024, 5, 1), date(2024, 5, 2)]
HOURS = [datetime.combine(d, time(h), tzinfo=UTC) for d in DAYS for h in (0, 9, 23)]
buckets = st.one_of(
    st.none(),
    st.builds(
        Bucket,
        st.sampled_from(PROJECTS),
        st.sampled_from(list(Status)),
        st.one_of(st.none(), st.sampled_from(HOURS)),
    ),
)
# Each step: which of five tasks it writes, and where that task counts afterwards (None: gone).
histories = st.lists(st.tuples(st.integers(0, 4), buckets), max_size=40)


def apply(counters: Counter[tuple[str, str]], change: CountChange) -> None:
    for project_id, by_field in change.items():
        for name, n in by_field.items():
            counters[project_id, name] += n


def stored(doc: Counter[tuple[str, str]], project_id: str) -> dict[str, object]:
    """One counter document of `project_id` as the adapter stores it (due days and hours
    nested)."""
    row: dict[str, dict[str, int] | int] = {"month": {}, "due": {}, "hour": {}}
    for (p, name), n in doc.items():
        if p == project_id:
            kind, _, key = name.partition(".")
            if key:
                row[kind][key] = n  # type: ignore[index]
            else:
                row[name] = n
    return row


@given(histories, st.integers(1, 8))
def test_counters_kept_by_each_writes_change_equal_a_recount(history, slots):
    """However tasks are created, changed (status, due day), moved and deleted, and however the
    changes are spread over a project's counter documents (the adapter's slots), the summed
    counters are the count of the tasks where they are now: by status, and the open ones by
    due month, by due day and by due hour."""
    where: dict[int, Bucket | None] = {}
    documents: list[Counter[tuple[str, str]]] = [Counter() for _ in range(slots)]
    for step, (task_no, now) in enumerate(history):
        apply(documents[step % slots], count_change(where.get(task_no), now))
        where[task_no] = now

    for project_id in PROJECTS:
        rows = [stored(doc, project_id) for doc in documents]
        here = [b for b in where.values() if b and b.project_id == project_id]
        expected = Counter(b.status for b in here)
        sums = CounterSums.of(rows)
        counts = sums.counts
        assert counts == summed(rows)
        assert {s: counts[str(s)] for s in Status} == {s: expected[s] for s in Status}
        assert counts["total"] == sum(expected.values())
        assert all(counts[str(s)] >= 0 for s in Status)
        open_by_day = Counter(b.due_day for b in here if b.due_day and b.status is not DONE)
        assert sums.due == dict(open_by_day)
        assert all(n > 0 for n in sums.due.values())
        open_by_hour = Counter(b.due_hour for b in here if b.due_hour and b.status is not DONE)
        assert sums.hours == dict(open_by_hour)
        open_by_month = Counter(d.replace(day=1) for d in open_by_day.elements())
        assert sums.months == dict(open_by_month)


NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # the tasks are due around a month's start
dated_tasks = st.lists(
    st.tuples(
        st.sampled_from(list(Status)),
        st.one_of(st.none(), st.integers(-3 * 24 * 60, 3 * 24 * 60)),  # minutes from NOW
    ),
    max_size=30,
)


@given(dated_tasks, st.integers(-24 * 60, 24 * 60))
def test_overdue_is_the_time_before_the_hour_plus_the_hours_range(tasks, shift):
    """For any tasks and any `now`: the due-month counts of the months before this one, plus
    the due-day counts of this month's days before today, plus the due-hour counts of today's
    hours before the current one, plus the open tasks due in [start of the current hour, now)
    are exactly the tasks `is_overdue` says are overdue."""
    now = NOW + timedelta(minutes=shift)
    made = [
        task(
            status=status,
            task_id=str(n),
            due_date=None if m is None else NOW + timedelta(minutes=m),
        )
        for n, (status, m) in enumerate(tasks)
    ]
    counters: Counter[tuple[str, str]] = Counter()
    apply(counters, counts_of(bucket(t) for t in made))
    sums = CounterSums.of([stored(counters, "p1")])
    hour = utc_hour(now)
    this_hours = [t for t in made if t.due_date and hour <= t.due_date < now and t.status != DONE]
    overdue = sums.overdue_before(hour) + len(this_hours)
    assert overdue == sum(1 for t in made if is_overdue(t.status, t.due_date, now))
