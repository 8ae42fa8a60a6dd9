"""In-memory fakes of the ports in `tasktracker.services.ports`, and one helper that wires every
service on them the way `bootstrap.build_services` does, so service tests need no server.

The fakes keep state the way the adapters do: reads hand out copies (a service mutating what it
read changes nothing until it writes), a `FakeUnitOfWork` applies its writes only when its block
completes and then appends the recorded events to the `FakeOutbox`, and the knobs a test turns
(`down`, `fail_next`, `fail_next_commit`, `failing_commits`, `change_after_next_read`) model the
failures services handle.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from tasktracker.adapters.mongo.activity import NEWEST_FIRST as ACTIVITY_NEWEST_FIRST
from tasktracker.adapters.mongo.activity import feed_scope
from tasktracker.adapters.mongo.comments import OLDEST_FIRST as COMMENTS_OLDEST_FIRST
from tasktracker.adapters.mongo.cursors import TimeOrder
from tasktracker.bootstrap import build_services
from tasktracker.domain.activity import ActivityEntry, FieldChange
from tasktracker.domain.comments import Comment
from tasktracker.domain.errors import Conflict, InvalidInput
from tasktracker.domain.events import Event
from tasktracker.domain.notifications import NotificationPreferences
from tasktracker.domain.projects import Actor, Membership, Project, ProjectRole
from tasktracker.domain.queries import Page, Sort, TaskFilter
from tasktracker.domain.reminders import ScheduledReminder
from tasktracker.domain.schedules import AlreadyFired, MemberDigest, Schedule
from tasktracker.domain.sessions import SessionRecord
from tasktracker.domain.task_counts import (
    DUE,
    HOUR,
    MONTH,
    CountChange,
    CounterSums,
    bucket,
    count_change,
    summed,
)
from tasktracker.domain.tasks import Status, Task
from tasktracker.domain.tokens import AccessToken
from tasktracker.domain.users import Role, User, normalize_email, username_key
from tasktracker.domain.webhooks import Delivery, Webhook
from tasktracker.services.events import OutboxEventRecorder, OutboxRelay
from tasktracker.services.registry import Services
from tasktracker.settings import Settings

DEFAULT_PASSWORD = "correct horse battery"
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
OPEN_STATUSES = (Status.OPEN, Status.IN_PROGRESS)


class FakeOutage(ConnectionError):
    """What a fake raises when a test told it its server is down."""


class FakePublishFailed(Exception):
    """The fake broker did not confirm a message."""


# --- clock -------------------------------------------------------------------------------------


def _ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


class FakeClock:
    """A `Clock` that stands still until told: aware UTC, millisecond precision."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = _ms(start.astimezone(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move forward by `delta` or by `timedelta(**kwargs)`; answer the new time."""
        self.now = _ms(self.now + (delta if delta is not None else timedelta(**kwargs)))
        return self.now

    def set(self, when: datetime) -> None:
        self.now = _ms(when.astimezone(UTC))


class _Ids:
    """ObjectId-shaped ids (24 hex digits) that sort in creation order."""

    def __init__(self, start: int) -> None:
        self._next = start

    def __call__(self) -> str:
        self._next += 1
        return f"{self._next:024x}"


# --- repositories ------------------------------------------------------------------------------


class FakeUserRepository:
    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._new_id = _Ids(0x100000)

    def add(
        self,
        *,
        username: str,
        email: str,
        password_hash: str,
        role: Role,
        active: bool,
        now: datetime,
    ) -> User:
        email = normalize_email(email)
        for user in self._users.values():
            if username_key(user.username) == username_key(username):
                raise Conflict("a user with this username already exists")
            if user.email == email:
                raise Conflict("a user with this email already exists")
        user = User(self._new_id(), username, email, password_hash, role, active, now, now)
        self._users[user.id] = user
        return dataclasses.replace(user)

    def get(self, user_id: str) -> User | None:
        user = self._users.get(user_id)
        return dataclasses.replace(user) if user else None

    def get_many(self, user_ids: Iterable[str]) -> list[User]:
        return [u for uid in set(user_ids) if (u := self.get(uid)) is not None]

    def by_email(self, email: str) -> User | None:
        email = normalize_email(email)
        return next((self.get(u.id) for u in self._users.values() if u.email == email), None)

    def by_username(self, username: str) -> User | None:
        key = username_key(username)
        found = (u for u in self._users.values() if username_key(u.username) == key)
        return next((self.get(u.id) for u in found), None)

    def usernames(self, user_ids: Iterable[str]) -> dict[str, str]:
        return {uid: self._users[uid].username for uid in set(user_ids) if uid in self._users}

    def set_password_hash(self, user_id: str, password_hash: str, now: datetime) -> None:
        if user := self._users.get(user_id):
            user.password_hash, user.updated_at = password_hash, now

    def set_role_and_active(self, user_id: str, role: Role, active: bool, now: datetime) -> None:
        if user := self._users.get(user_id):
            user.role, user.active, user.updated_at = role, active, now

    def set_notifications(
        self, user_id: str, preferences: NotificationPreferences, now: datetime
    ) -> None:
        if user := self._users.get(user_id):
            user.notifications, user.updated_at = preferences, now

    def count_active_admins(self, *, excluding: str | None = None) -> int:
        return sum(
            1
            for u in self._users.values()
            if u.role is Role.ADMIN and u.active and u.id != excluding
        )

    def page(self, *, after: str | None, limit: int) -> list[User]:
        if after is not None and not OBJECT_ID.fullmatch(after):
            raise InvalidInput("the cursor is malformed; start again without it")
        ids = sorted(uid for uid in self._users if after is None or uid > after)
        return [dataclasses.replace(self._users[uid]) for uid in ids[:limit]]

    # test helpers
    def all(self) -> list[User]:
        return [dataclasses.replace(u) for u in self._users.values()]

    def snapshot(self) -> Any:
        return copy.deepcopy(self._users)

    def restore(self, state: Any) -> None:
        self._users = state


class FakeTaskRepository:
    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._new_id = _Ids(0x200000)
        self.change_after_next_read = False

    def add(self, task: Task) -> Task:
        if not task.id:  # a retried transaction adds the same task again, with its id
            task.id = self._new_id()
        self._tasks[task.id] = copy.deepcopy(task)
        return task

    def get(self, task_id: str) -> Task | None:
        return self._read(self._tasks.get(task_id))

    def get_many(self, task_ids: Iterable[str]) -> list[Task]:
        return [t for tid in set(task_ids) if (t := self._read(self._tasks.get(tid))) is not None]

    def by_key(self, key: str) -> Task | None:
        """The task with this key, else the one that had it before a move (as the adapter)."""
        found = next((t for t in self._tasks.values() if t.key == key), None)
        if found is None:
            found = next((t for t in self._tasks.values() if key in t.former_keys), None)
        return self._read(found)

    def _read(self, task: Task | None) -> Task | None:
        if task is None:
            return None
        found = copy.deepcopy(task)
        if self.change_after_next_read:
            # Another writer commits a change just after this read: the reader's copy is stale.
            self.change_after_next_read = False
            task.version += 1
            task.title += " (changed elsewhere)"
        return found

    def replace_if_version(self, task: Task, expected_version: int) -> bool:
        stored = self._tasks.get(task.id)
        if stored is None or stored.version != expected_version:
            return False
        self._tasks[task.id] = copy.deepcopy(task)
        return True

    def delete_if_version(self, task_id: str, expected_version: int) -> bool:
        stored = self._tasks.get(task_id)
        if stored is None or stored.version != expected_version:
            return False
        del self._tasks[task_id]
        return True

    def delete_in_project(self, project_id: str) -> int:
        doomed = [tid for tid, t in self._tasks.items() if t.project_id == project_id]
        for task_id in doomed:
            del self._tasks[task_id]
        return len(doomed)

    # test helpers
    def all(self) -> list[Task]:
        return [copy.deepcopy(t) for t in self._tasks.values()]

    def snapshot(self) -> Any:
        return copy.deepcopy(self._tasks)

    def restore(self, state: Any) -> None:
        self._tasks = state


class FakeTaskCountRepository:
    """Each project's counters (by status, "month.<month>", "due.<day>" and "hour.<hour>" of open
    tasks), one set per project
    (the adapter spreads them over a few documents; their sums are what is read). `applied`
    lists every change, for tests."""

    def __init__(self) -> None:
        self._counts: dict[str, dict[str, int]] = {}
        self.applied: list[CountChange] = []

    def apply(self, change: CountChange) -> None:
        self.applied.append(copy.deepcopy(change))
        for project_id, by_field in change.items():
            counters = self._counts.setdefault(project_id, {})
            for name, n in by_field.items():
                counters[name] = counters.get(name, 0) + n

    def delete_project(self, project_id: str) -> None:
        self._counts.pop(project_id, None)

    # the read side and test helpers
    def rows(self, projects: tuple[str, ...] | None) -> list[dict[str, Any]]:
        """One document per project, shaped as the adapter stores them: a number per status,
        `month` with a number per month, `due` with a number per day and `hour` with a number
        per hour (of every month and day)."""
        return [
            _counter_document(counters)
            for project_id, counters in self._counts.items()
            if projects is None or project_id in projects
        ]

    def projects(self) -> set[str]:
        return set(self._counts)

    def snapshot(self) -> Any:
        return copy.deepcopy(self._counts)

    def restore(self, state: Any) -> None:
        self._counts = state


def _counter_document(counters: dict[str, int]) -> dict[str, Any]:
    doc: dict[str, Any] = {MONTH: {}, DUE: {}, HOUR: {}}
    for name, n in counters.items():
        kind, _, key = name.partition(".")
        if key:
            doc[kind][key] = n
        else:
            doc[name] = n
    return doc


class FakeReminderRepository:
    """Scheduled reminders by id ("<task id>:<position>")."""

    def __init__(self) -> None:
        self._reminders: dict[str, ScheduledReminder] = {}

    def for_task(self, task_id: str) -> list[ScheduledReminder]:
        return [r for r in self._reminders.values() if r.task_id == task_id]

    def replace_for_task(self, task_id: str, schedule: list[ScheduledReminder]) -> None:
        self.delete_for_task(task_id)
        self._reminders.update((r.id, r) for r in schedule)

    def delete_for_task(self, task_id: str) -> int:
        return self._delete_where(lambda r: r.task_id == task_id)

    def delete_in_project(self, project_id: str) -> int:
        return self._delete_where(lambda r: r.project_id == project_id)

    def _delete_where(self, doomed: Callable[[ScheduledReminder], bool]) -> int:
        ids = [rid for rid, r in self._reminders.items() if doomed(r)]
        for rid in ids:
            del self._reminders[rid]
        return len(ids)

    def due(self, now: datetime, limit: int) -> list[ScheduledReminder]:
        due = sorted((r for r in self._reminders.values() if r.is_due(now)), key=_remind_order)
        return due[:limit]

    def unfired(self, reminder_ids: list[str]) -> list[ScheduledReminder]:
        found = (self._reminders.get(rid) for rid in reminder_ids)
        return [r for r in found if r is not None and r.fired_at is None]

    def mark_fired(self, reminder_ids: list[str], now: datetime) -> int:
        marked = 0
        for rid in reminder_ids:
            found = self._reminders.get(rid)
            if found is not None and found.fired_at is None:
                self._reminders[rid] = dataclasses.replace(found, fired_at=now)
                marked += 1
        return marked

    # test helpers
    def all(self) -> list[ScheduledReminder]:
        return sorted(self._reminders.values(), key=_remind_order)

    def snapshot(self) -> Any:
        return dict(self._reminders)

    def restore(self, state: Any) -> None:
        self._reminders = state


def _remind_order(reminder: ScheduledReminder) -> tuple[datetime, str]:
    return reminder.remind_at, reminder.id


class FakeTaskReads:
    """The read side over a FakeTaskRepository's tasks: filters in Python, sorts by the sort
    key then id, and pages with a cursor holding the last item's key; counts by status from the
    FakeTaskCountRepository's counters (what the services wrote), not from the tasks."""

    def __init__(self, tasks: FakeTaskRepository, counts: FakeTaskCountRepository) -> None:
        self._repo = tasks
        self._counts = counts

    def page(
        self, flt: TaskFilter, sort: Sort, cursor: str | None, limit: int, now: datetime
    ) -> Page[Task]:
        items = sorted(
            (t for t in self._repo.all() if _matches(t, flt, now)),
            key=lambda t: _sort_key(t, sort),
            reverse=sort.descending,
        )
        if cursor is not None:
            last = _decode_cursor(cursor, sort)
            if sort.descending:
                items = [t for t in items if _sort_key(t, sort) < last]
            else:
                items = [t for t in items if _sort_key(t, sort) > last]
        more = len(items) > limit
        items = items[:limit]
        next_cursor = _encode_cursor(sort, items[-1]) if more and items else None
        return Page(items, next_cursor)

    def first(self, flt: TaskFilter, sort: Sort, limit: int, now: datetime) -> list[Task]:
        return self.page(flt, sort, None, limit, now).items

    def newest(self, flt: TaskFilter, limit: int, now: datetime) -> list[Task]:
        return self.page(flt, Sort(), None, limit, now).items

    def counts(self, projects: tuple[str, ...] | None) -> dict[str, int]:
        return summed(self._counts.rows(projects))

    def counter_sums(self, projects: tuple[str, ...] | None, day: date) -> CounterSums:
        """As the adapter reads them: the days of `day`'s month and the hours of `day` only."""
        sums = CounterSums.of(self._counts.rows(projects))
        return replace(
            sums,
            due={d: n for d, n in sums.due.items() if d.replace(day=1) == day.replace(day=1)},
            hours={h: n for h, n in sums.hours.items() if h.date() == day},
        )

    def overdue_since(
        self, since: datetime, now: datetime, projects: tuple[str, ...] | None
    ) -> int:
        return sum(
            1
            for t in self._repo.all()
            if (projects is None or t.project_id in projects)
            and t.is_overdue(now)
            and t.due_date is not None
            and t.due_date >= since
        )

    def counts_by_assignee(self, user_ids: list[str]) -> dict[str, dict[str, int]]:
        counts = {uid: {**{str(s): 0 for s in Status}, "total": 0} for uid in user_ids}
        for task in self._repo.all():
            if task.assignee in counts:
                counts[task.assignee][str(task.status)] += 1
                counts[task.assignee]["total"] += 1
        return counts


def _matches(task: Task, flt: TaskFilter, now: datetime) -> bool:
    due = task.due_date
    checks = [
        not flt.status or task.status in flt.status,
        not flt.priority or task.priority in flt.priority,
        flt.assignee is None or task.assignee == flt.assignee,
        flt.overdue is None or task.is_overdue(now) == flt.overdue,
        flt.due_before is None or (due is not None and due < flt.due_before),
        flt.due_after is None or (due is not None and due >= flt.due_after),
        not flt.q or flt.q.lower() in task.title.lower(),
        flt.projects is None or task.project_id in flt.projects,
    ]
    return all(checks)


def _sort_value(task: Task, key: str) -> float:
    if key == "priority":
        return task.priority.rank
    value = getattr(task, key)
    return value.timestamp() if value is not None else float("-inf")  # null sorts first


def _sort_key(task: Task, sort: Sort) -> tuple[float, str]:
    return (_sort_value(task, sort.key), task.id)


def _encode_cursor(sort: Sort, last: Task) -> str:
    value = _sort_value(last, sort.key)
    data = {"s": str(sort), "v": None if value == float("-inf") else value, "id": last.id}
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _decode_cursor(cursor: str, sort: Sort) -> tuple[float, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        value = float("-inf") if data["v"] is None else float(data["v"])
        key, same_sort = (value, str(data["id"])), data["s"] == str(sort)
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("the cursor is malformed; start again without it") from None
    if not same_sort:
        raise InvalidInput("the cursor does not belong to this sort order")
    return key


class FakeProjectRepository:
    """Projects by id, each with its task counter. `touches` counts `touch` calls (the write a
    membership change makes so that concurrent ones collide)."""

    def __init__(self) -> None:
        self._projects: dict[str, Project] = {}
        self._counters: dict[str, int] = {}
        self._new_id = _Ids(0x300000)
        self.touches = 0

    def add(self, project: Project) -> Project:
        if any(p.key == project.key for p in self._projects.values()):
            raise Conflict(f"the project key '{project.key}' is taken")
        project.id = self._new_id()
        self._projects[project.id] = copy.deepcopy(project)
        self._counters[project.id] = 0
        return project

    def get(self, project_id: str) -> Project | None:
        project = self._projects.get(project_id)
        return copy.deepcopy(project) if project else None

    def by_key(self, key: str) -> Project | None:
        found = next((p for p in self._projects.values() if p.key == key), None)
        return copy.deepcopy(found) if found else None

    def page(self, ids: tuple[str, ...] | None, *, after: str | None, limit: int) -> list[Project]:
        if after is not None and not OBJECT_ID.fullmatch(after):
            raise InvalidInput("the cursor is malformed; start again without it")
        found = sorted(
            pid
            for pid in self._projects
            if (ids is None or pid in ids) and (after is None or pid > after)
        )
        return [copy.deepcopy(self._projects[pid]) for pid in found[:limit]]

    def save(self, project: Project) -> None:
        if project.id in self._projects:
            self._projects[project.id] = copy.deepcopy(project)

    def delete(self, project_id: str) -> bool:
        self._counters.pop(project_id, None)
        return self._projects.pop(project_id, None) is not None

    def next_task_number(self, project_id: str) -> int | None:
        project = self._projects.get(project_id)
        if project is None or project.archived:
            return None
        self._counters[project_id] += 1
        return self._counters[project_id]

    def touch(self, project_id: str) -> None:
        self.touches += 1

    # test helpers
    def all(self) -> list[Project]:
        return [copy.deepcopy(p) for p in self._projects.values()]

    def counter(self, project_id: str) -> int:
        return self._counters.get(project_id, 0)

    def snapshot(self) -> Any:
        return copy.deepcopy((self._projects, self._counters))

    def restore(self, state: Any) -> None:
        self._projects, self._counters = state


class FakeMembershipRepository:
    """Memberships by (project id, user id); `put` on an existing one changes only the role and
    keeps `joined_at`, as the adapter's upsert does."""

    def __init__(self) -> None:
        self._members: dict[tuple[str, str], Membership] = {}

    def put(self, membership: Membership) -> bool:
        key = (membership.project_id, membership.user_id)
        current = self._members.get(key)
        if current is not None:
            self._members[key] = dataclasses.replace(current, role=membership.role)
            return False
        self._members[key] = membership
        return True

    def get(self, project_id: str, user_id: str) -> Membership | None:
        return self._members.get((project_id, user_id))

    def remove(self, project_id: str, user_id: str) -> bool:
        return self._members.pop((project_id, user_id), None) is not None

    def roles_of(self, user_id: str) -> dict[str, ProjectRole]:
        return {m.project_id: m.role for m in self._members.values() if m.user_id == user_id}

    def page(self, project_id: str, *, after: str | None, limit: int) -> list[Membership]:
        if after is not None and not OBJECT_ID.fullmatch(after):
            raise InvalidInput("the cursor is malformed; start again without it")
        found = sorted(
            (
                m
                for m in self._members.values()
                if m.project_id == project_id and (after is None or m.user_id > after)
            ),
            key=lambda m: m.user_id,
        )
        return found[:limit]

    def count_role(self, project_id: str, role: ProjectRole) -> int:
        return sum(
            1 for m in self._members.values() if m.project_id == project_id and m.role is role
        )

    def user_ids(self, project_id: str) -> list[str]:
        return [m.user_id for m in self._members.values() if m.project_id == project_id]

    def remove_project(self, project_id: str) -> int:
        doomed = [key for key in self._members if key[0] == project_id]
        for key in doomed:
            del self._members[key]
        return len(doomed)

    # test helpers
    def all(self) -> list[Membership]:
        return list(self._members.values())  # Memberships are frozen

    def snapshot(self) -> Any:
        return dict(self._members)

    def restore(self, state: Any) -> None:
        self._members = state


def _time_page(items: Iterable[Any], order: TimeOrder, cursor: str | None, limit: int) -> Page:
    """A page of `items` (each with an `id` and the order's time attribute) in `order`, after
    `cursor`: the adapters' cursor format, so a cursor is refused here exactly when there."""

    def key(item: Any) -> tuple[datetime, str]:
        return (getattr(item, order.field), item.id)

    found = sorted(items, key=key, reverse=order.descending)
    if cursor is not None:
        at, oid = order.after(cursor)
        last = (at, str(oid))
        found = [i for i in found if (key(i) < last if order.descending else key(i) > last)]
    more = len(found) > limit
    found = found[:limit]
    next_cursor = None
    if more and found:
        next_cursor = order.cursor({order.field: key(found[-1])[0], "_id": found[-1].id})
    return Page([copy.deepcopy(i) for i in found], next_cursor)


class FakeCommentRepository:
    """Comments by id; pages oldest first by (created_at, id), as the adapter."""

    def __init__(self) -> None:
        self._comments: dict[str, Comment] = {}
        self._new_id = _Ids(0x400000)

    def add(self, comment: Comment) -> Comment:
        comment.id = self._new_id()
        self._comments[comment.id] = copy.deepcopy(comment)
        return comment

    def get(self, comment_id: str) -> Comment | None:
        comment = self._comments.get(comment_id)
        return copy.deepcopy(comment) if comment else None

    def replace_if_version(self, comment: Comment, expected_version: int) -> bool:
        stored = self._comments.get(comment.id)
        if stored is None or stored.version != expected_version:
            return False
        self._comments[comment.id] = copy.deepcopy(comment)
        return True

    def page(self, task_id: str, *, cursor: str | None, limit: int) -> Page[Comment]:
        mine = (c for c in self._comments.values() if c.task_id == task_id)
        return _time_page(mine, COMMENTS_OLDEST_FIRST, cursor, limit)

    def move_task(self, task_id: str, project_id: str) -> None:
        for comment in self._comments.values():
            if comment.task_id == task_id:
                comment.project_id = project_id

    def delete_for_task(self, task_id: str) -> int:
        return self._delete(lambda c: c.task_id == task_id)

    def delete_in_project(self, project_id: str) -> int:
        return self._delete(lambda c: c.project_id == project_id)

    def _delete(self, doomed: Callable[[Comment], bool]) -> int:
        ids = [cid for cid, c in self._comments.items() if doomed(c)]
        for comment_id in ids:
            del self._comments[comment_id]
        return len(ids)

    # test helpers
    def all(self) -> list[Comment]:
        return [copy.deepcopy(c) for c in self._comments.values()]

    def snapshot(self) -> Any:
        return copy.deepcopy(self._comments)

    def restore(self, state: Any) -> None:
        self._comments = state


class FakeActivityRepository:
    """Entries in the order added; feeds newest first by (at, id), as the adapter."""

    def __init__(self) -> None:
        self._entries: list[ActivityEntry] = []
        self._new_id = _Ids(0x500000)

    def add(self, *entries: ActivityEntry) -> None:
        for entry in entries:
            entry.id = self._new_id()
            self._entries.append(copy.deepcopy(entry))

    def page(
        self,
        *,
        task_id: str | None = None,
        project_id: str | None = None,
        cursor: str | None,
        limit: int,
    ) -> Page[ActivityEntry]:
        scope = feed_scope(task_id, project_id)
        mine = (e for e in self._entries if all(getattr(e, k) == v for k, v in scope.items()))
        return _time_page(mine, ACTIVITY_NEWEST_FIRST, cursor, limit)

    def redact_comment(self, comment_id: str) -> None:
        for entry in self._entries:
            if entry.comment_id == comment_id:
                entry.changes = [FieldChange(c.field, None, None) for c in entry.changes]

    def delete_in_project(self, project_id: str) -> int:
        kept = [e for e in self._entries if e.project_id != project_id]
        deleted, self._entries = len(self._entries) - len(kept), kept
        return deleted

    # test helpers
    def all(self) -> list[ActivityEntry]:
        return copy.deepcopy(self._entries)

    def snapshot(self) -> Any:
        return copy.deepcopy(self._entries)

    def restore(self, state: Any) -> None:
        self._entries = state


@dataclass(frozen=True)
class WatchChoice:
    task_id: str
    project_id: str
    user_id: str
    watching: bool
    at: datetime


class FakeWatcherRepository:
    """Choices by (task id, user id); `add_if_new` never overrides one, as the adapter's
    `$setOnInsert`."""

    def __init__(self) -> None:
        self._choices: dict[tuple[str, str], WatchChoice] = {}

    def choose(
        self, task_id: str, project_id: str, user_id: str, watching: bool, now: datetime
    ) -> None:
        self._choices[(task_id, user_id)] = WatchChoice(task_id, project_id, user_id, watching, now)

    def add_if_new(
        self, task_id: str, project_id: str, user_ids: Iterable[str], now: datetime
    ) -> None:
        for user_id in user_ids:
            choice = WatchChoice(task_id, project_id, user_id, True, now)
            self._choices.setdefault((task_id, user_id), choice)

    def choices(self, task_id: str) -> dict[str, bool]:
        return {c.user_id: c.watching for c in self._choices.values() if c.task_id == task_id}

    def move_task(self, task_id: str, project_id: str) -> None:
        for key, choice in self._choices.items():
            if choice.task_id == task_id:
                self._choices[key] = dataclasses.replace(choice, project_id=project_id)

    def delete_for_task(self, task_id: str) -> int:
        return self._delete(lambda c: c.task_id == task_id)

    def delete_in_project(self, project_id: str) -> int:
        return self._delete(lambda c: c.project_id == project_id)

    def _delete(self, doomed: Callable[[WatchChoice], bool]) -> int:
        keys = [key for key, c in self._choices.items() if doomed(c)]
        for key in keys:
            del self._choices[key]
        return len(keys)

    # test helpers
    def all(self) -> list[WatchChoice]:
        return list(self._choices.values())  # WatchChoices are frozen

    def snapshot(self) -> Any:
        return dict(self._choices)

    def restore(self, state: Any) -> None:
        self._choices = state


class FakeSessionRepository:
    def __init__(self) -> None:
        self._sessions: dict[str, SessionRecord] = {}

    def add(self, record: SessionRecord) -> None:
        self._sessions[record.id] = dataclasses.replace(record, revoked_at=None)

    def get(self, session_id: str) -> SessionRecord | None:
        return self._sessions.get(session_id)

    def rotate(
        self,
        session_id: str,
        presented: str,
        replacement: str,
        now: datetime,
        expires_at: datetime,
    ) -> SessionRecord | None:
        record = self._sessions.get(session_id)
        if record is None or record.refresh_id != presented or not record.is_live(now):
            return None
        record = dataclasses.replace(record, refresh_id=replacement, expires_at=expires_at)
        self._sessions[session_id] = record
        return record

    def revoke(self, session_id: str, now: datetime) -> None:
        record = self._sessions.get(session_id)
        if record is not None and record.revoked_at is None:
            self._sessions[session_id] = dataclasses.replace(record, revoked_at=now)

    def live_ids_for_user(self, user_id: str, now: datetime) -> list[str]:
        return [s.id for s in self._sessions.values() if s.user_id == user_id and s.is_live(now)]

    def revoke_many(self, session_ids: list[str], now: datetime) -> None:
        for session_id in session_ids:
            self.revoke(session_id, now)


class FakeAccessTokenRepository:
    """Tokens by id. `digest_reads` counts lookups (a malformed token must cause none)."""

    def __init__(self) -> None:
        self.tokens: dict[str, AccessToken] = {}
        self._new_id = _Ids(0x900000)
        self.digest_reads = 0

    def add(self, token: AccessToken) -> AccessToken:
        if any(t.digest == token.digest for t in self.tokens.values()):
            raise Conflict("duplicate token digest")
        token.id = self._new_id()
        self.tokens[token.id] = dataclasses.replace(token)
        return token

    def by_digest(self, digest: str) -> AccessToken | None:
        self.digest_reads += 1
        found = next((t for t in self.tokens.values() if t.digest == digest), None)
        return dataclasses.replace(found) if found else None

    def for_user(self, user_id: str) -> list[AccessToken]:
        mine = sorted(tid for tid, t in self.tokens.items() if t.user_id == user_id)
        return [dataclasses.replace(self.tokens[tid]) for tid in mine]

    def delete(self, user_id: str, token_id: str) -> bool:
        token = self.tokens.get(token_id)
        if token is None or token.user_id != user_id:
            return False
        del self.tokens[token_id]
        return True

    def touch(self, token_id: str, now: datetime, stale_before: datetime) -> None:
        token = self.tokens.get(token_id)
        if token and (token.last_used_at is None or token.last_used_at <= stale_before):
            token.last_used_at = now


@dataclass
class ResetToken:
    token_hash: str
    user_id: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class FakePasswordResetRepository:
    def __init__(self) -> None:
        self.tokens: list[ResetToken] = []

    def add(self, user_id: str, token_hash: str, now: datetime, expires_at: datetime) -> None:
        if any(t.token_hash == token_hash for t in self.tokens):
            raise Conflict("duplicate token hash")
        self.tokens.append(ResetToken(token_hash, user_id, now, expires_at))

    def use(self, token_hash: str, now: datetime) -> str | None:
        for token in self.tokens:
            if token.token_hash == token_hash and token.used_at is None and token.expires_at > now:
                token.used_at = now
                return token.user_id
        return None

    def void_others(self, user_id: str, now: datetime) -> None:
        for token in self.tokens:
            if token.user_id == user_id and token.used_at is None:
                token.used_at = now

    def snapshot(self) -> Any:
        return copy.deepcopy(self.tokens)

    def restore(self, state: Any) -> None:
        self.tokens = state


class FakeScheduleRepository:
    def __init__(self) -> None:
        self._schedules: dict[str, Schedule] = {}

    def add(self, schedule: Schedule) -> None:
        if schedule.id in self._schedules:
            raise Conflict(f"schedule {schedule.id} exists")
        self._schedules[schedule.id] = schedule

    def put(self, schedule: Schedule) -> None:
        self._schedules[schedule.id] = schedule

    def get(self, schedule_id: str) -> Schedule | None:
        return self._schedules.get(schedule_id)

    def all(self, limit: int = 1000) -> list[Schedule]:
        return sorted(self._schedules.values(), key=lambda s: s.created_at)[:limit]

    def delete(self, schedule_id: str) -> bool:
        return self._schedules.pop(schedule_id, None) is not None

    def finish_run(self, schedule: Schedule, now: datetime) -> None:
        if schedule.one_off:
            self._schedules.pop(schedule.id, None)
        elif schedule.id in self._schedules:
            current = self._schedules[schedule.id]
            self._schedules[schedule.id] = dataclasses.replace(current, last_run_at=now)

    def snapshot(self) -> Any:
        return dict(self._schedules)  # Schedules are frozen

    def restore(self, state: Any) -> None:
        self._schedules = state


@dataclass(frozen=True)
class AlertRun:
    run_id: str
    schedule_id: str
    fire_time: datetime
    members: int
    recorded_at: datetime


class FakeAlertRunRepository:
    def __init__(self) -> None:
        self.runs: dict[str, AlertRun] = {}

    def exists(self, run_id: str) -> bool:
        return run_id in self.runs

    def record(
        self, run_id: str, schedule_id: str, fire_time: datetime, members: int, now: datetime
    ) -> None:
        if run_id in self.runs:
            raise AlreadyFired(run_id)
        self.runs[run_id] = AlertRun(run_id, schedule_id, fire_time, members, now)

    def snapshot(self) -> Any:
        return dict(self.runs)

    def restore(self, state: Any) -> None:
        self.runs = state


class FakePendingTaskDigests:
    """Answers `result`; `before` runs first (e.g. another scheduler firing meanwhile)."""

    def __init__(self) -> None:
        self.result: list[MemberDigest] = []
        self.calls: list[tuple[datetime, datetime, int]] = []
        self.before: Callable[[], None] | None = None

    def digests(self, now: datetime, soon_until: datetime, cap: int) -> list[MemberDigest]:
        self.calls.append((now, soon_until, cap))
        if self.before is not None:
            self.before()
        return list(self.result)


class FakeCalendarFeeds:
    """Each user's feed token digest (user id -> digest), one per user as the adapter keeps."""

    def __init__(self) -> None:
        self.digests: dict[str, str] = {}

    def put(self, user_id: str, token_hash: str, now: datetime) -> None:
        self.digests[user_id] = token_hash

    def user_for(self, token_hash: str) -> str | None:
        return next((uid for uid, h in self.digests.items() if h == token_hash), None)


# --- outbox and unit of work -------------------------------------------------------------------


@dataclass
class OutboxEntry:
    event: Event
    lease_until: datetime
    sent_at: datetime | None = None
    attempts: int = 0


class FakeOutbox:
    """Entries by event id; `down` makes every call but the unit of work's `add` raise."""

    def __init__(self, grace: timedelta = timedelta(seconds=10)) -> None:
        self.entries: dict[str, OutboxEntry] = {}
        self.grace = grace
        self.down = False

    def add(self, events: list[Event]) -> None:
        """Called by FakeUnitOfWork on commit (as MongoUnitOfWork writes OutboxRepository)."""
        for event in events:
            if event.event_id in self.entries:
                raise Conflict(f"duplicate outbox entry {event.event_id}")
        for event in events:
            self.entries[event.event_id] = OutboxEntry(event, event.occurred_at + self.grace)

    def mark_sent(self, event_id: str, now: datetime) -> None:
        self.mark_sent_many([event_id], now)

    def mark_sent_many(self, event_ids: Sequence[str], now: datetime) -> None:
        self._check()
        for event_id in event_ids:
            if entry := self.entries.get(event_id):
                entry.sent_at = now

    def claim_pending(self, now: datetime, lease: timedelta, limit: int) -> list[Event]:
        self._check()
        due = [e for e in self.entries.values() if e.sent_at is None and e.lease_until <= now]
        claimed = sorted(due, key=lambda e: e.lease_until)[:limit]
        for entry in claimed:
            entry.lease_until = now + lease
            entry.attempts += 1
        return sorted((e.event for e in claimed), key=lambda e: e.occurred_at)

    def release(self, event_ids: Sequence[str], now: datetime) -> None:
        self._check()
        for event_id in event_ids:
            entry = self.entries.get(event_id)
            if entry is not None and entry.sent_at is None:
                entry.lease_until = now

    def pending_count(self) -> int:
        self._check()
        return len(self.pending())

    def _check(self) -> None:
        if self.down:
            raise FakeOutage("outbox unavailable")

    # test helpers
    def events(self) -> list[Event]:
        return [e.event for e in self.entries.values()]

    def pending(self) -> list[Event]:
        return [e.event for e in self.entries.values() if e.sent_at is None]

    def sent(self) -> list[Event]:
        return [e.event for e in self.entries.values() if e.sent_at is not None]


class FakeUnitOfWork:
    """A unit of work over shared fake repositories. Entering snapshots their state; an
    exception in the block (or `fail_next_commit`) restores it; a clean exit appends the
    recorded events to the outbox and counts a commit. One instance serves every transaction;
    nesting is refused, as a second MongoDB transaction would not see the first one's writes."""

    def __init__(
        self,
        users: FakeUserRepository,
        tasks: FakeTaskRepository,
        projects: FakeProjectRepository,
        memberships: FakeMembershipRepository,
        password_resets: FakePasswordResetRepository,
        schedules: FakeScheduleRepository,
        alert_runs: FakeAlertRunRepository,
        outbox: FakeOutbox,
        *,
        comments: FakeCommentRepository | None = None,
        activity: FakeActivityRepository | None = None,
        watchers: FakeWatcherRepository | None = None,
        webhooks: FakeWebhookRepository | None = None,
        reminders: FakeReminderRepository | None = None,
        task_counts: FakeTaskCountRepository | None = None,
    ) -> None:
        self.users = users
        self.tasks = tasks
        self.task_counts = task_counts or FakeTaskCountRepository()
        self.projects = projects
        self.memberships = memberships
        self.comments = comments or FakeCommentRepository()
        self.activity = activity or FakeActivityRepository()
        self.watchers = watchers or FakeWatcherRepository()
        self.webhooks = webhooks or FakeWebhookRepository()
        self.reminders = reminders or FakeReminderRepository()
        self.password_resets = password_resets
        self.schedules = schedules
        self.alert_runs = alert_runs
        self.events: list[Event] = []
        self._outbox = outbox
        self._saved: list[tuple[Any, Any]] | None = None
        self.committed = 0
        self.aborted = 0
        self.fail_next_commit: Exception | None = None
        self.failing_commits: list[Exception] = []  # then the next commits fail with these

    def record(self, *events: Event) -> None:
        self.events.extend(events)

    def __enter__(self) -> Self:
        if self._saved is not None:
            raise RuntimeError("nested unit of work")
        repos = (
            self.users,
            self.tasks,
            self.task_counts,
            self.projects,
            self.memberships,
            self.comments,
            self.activity,
            self.watchers,
            self.webhooks,
            self.reminders,
            self.password_resets,
            self.schedules,
            self.alert_runs,
        )
        self._saved = [(repo, repo.snapshot()) for repo in repos]
        self.events = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        saved, self._saved = self._saved, None
        assert saved is not None, "the unit of work was not entered"
        failure, self.fail_next_commit = self.fail_next_commit, None
        if exc is None and failure is None and self.failing_commits:
            failure = self.failing_commits.pop(0)
        if exc is None and failure is None:
            self._outbox.add(self.events)
            self.committed += 1
            return
        for repo, state in saved:
            repo.restore(state)
        self.aborted += 1
        if exc is None and failure is not None:
            raise failure


# --- broker, cache, hashing, probes ------------------------------------------------------------


class FakePublisher:
    """Records what it published. `down` refuses everything; `fail_next(n)` the next n."""

    def __init__(self) -> None:
        self.published: list[Event] = []
        self.batches: list[int] = []  # the size of each publish_many
        self.down = False
        self._failures = 0

    def fail_next(self, count: int = 1) -> None:
        self._failures = count

    def publish(self, event: Event) -> None:
        if self.down or self._failures > 0:
            self._failures = max(self._failures - 1, 0)
            raise FakePublishFailed(event.event_id)
        self.published.append(event)

    def publish_many(self, events: Sequence[Event]) -> None:
        """In order, stopping at the first refusal (raised): those before it went out, as a
        broker may take some of a batch it does not confirm entirely."""
        self.batches.append(len(events))
        for event in events:
            self.publish(event)

    def ping(self) -> bool:
        return not self.down


class FakeInvalidations:
    """The near caches' broadcast within one test (adapters/cache_broadcast.py over RabbitMQ in
    production): `publish` hands the keys at once to every other member of `hub`, unless
    `held` (a message lost on the way); `live` is what the test makes it (`lose`)."""

    def __init__(self, hub: list[FakeInvalidations] | None = None) -> None:
        self.hub = hub if hub is not None else []
        self.live = True
        self.held = False
        self.published: list[list[str]] = []
        self._on_keys: Callable[[list[str]], None] | None = None
        self._on_lost: Callable[[], None] | None = None

    def publish(self, keys: list[str]) -> bool:
        self.published.append(list(keys))
        if not self.held:
            for other in self.hub:
                if other is not self and other._on_keys is not None:
                    other._on_keys(list(keys))
        return True

    def listen(self, on_keys: Callable[[list[str]], None], on_lost: Callable[[], None]) -> None:
        self._on_keys, self._on_lost = on_keys, on_lost
        self.hub.append(self)

    def lose(self) -> None:
        self.live = False
        if self._on_lost is not None:
            self._on_lost()

    def close(self) -> None:
        self.live = False


class FakeCache:
    """A dict of JSON-round-tripped values that expire by `clock` (when given). `down` models
    an unreachable server: get answers None, writes False, and what it held is kept."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.items: dict[str, tuple[datetime | None, str]] = {}
        self.down = False
        self._clock = clock

    @property
    def healthy(self) -> bool:
        return not self.down

    def get(self, key: str) -> dict[str, Any] | None:
        if self.down or key not in self.items:
            return None
        expires, raw = self.items[key]
        if expires is not None and self._clock is not None and expires <= self._clock():
            del self.items[key]
            return None
        return json.loads(raw)

    def set(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        if self.down:
            return False
        expires = self._clock() + timedelta(seconds=ttl) if self._clock else None
        self.items[key] = (expires, json.dumps(value))
        return True

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        if self.get(key) is not None:
            return False
        return self.set(key, value, ttl)

    def delete_many(self, keys: list[str]) -> bool:
        if self.down:
            return False
        for key in keys:
            self.items.pop(key, None)
        return True

    def ping(self) -> bool:
        return not self.down

    def close(self) -> None:
        self.items.clear()


class FakePasswordHasher:
    """'hashed:<password>' is current; 'legacy:<password>' verifies but needs a rehash (as a
    bcrypt hash from the original does). `verifications` counts every verify, including the
    dummy one for an unknown account."""

    CURRENT, LEGACY = "hashed:", "legacy:"

    def __init__(self) -> None:
        self.verifications = 0
        self.always_rehash = False

    def hash(self, password: str) -> str:
        return self.CURRENT + password

    def verify(self, password_hash: str | None, password: str) -> bool:
        self.verifications += 1
        if password_hash is None:
            return False
        return password_hash in (self.CURRENT + password, self.LEGACY + password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self.always_rehash or not password_hash.startswith(self.CURRENT)


class FakeProbe:
    def __init__(self, up: bool = True) -> None:
        self.up = up

    def ping(self) -> bool:
        return self.up


# --- webhooks ----------------------------------------------------------------------------------


class FakeWebhookRepository:
    def __init__(self) -> None:
        self.hooks: dict[str, Webhook] = {}
        self._ids = 0

    def add(self, hook: Webhook) -> Webhook:
        self._ids += 1
        hook.id = f"{self._ids:024x}"
        self.hooks[hook.id] = copy.deepcopy(hook)
        return hook

    def get(self, webhook_id: str) -> Webhook | None:
        return copy.deepcopy(self.hooks.get(webhook_id))

    def for_project(self, project_id: str) -> list[Webhook]:
        return [copy.deepcopy(h) for h in self.hooks.values() if h.project_id == project_id]

    def save(self, hook: Webhook) -> None:
        self.hooks[hook.id] = copy.deepcopy(hook)

    def delete(self, webhook_id: str) -> None:
        self.hooks.pop(webhook_id, None)

    def delete_in_project(self, project_id: str) -> None:
        for hook in self.for_project(project_id):
            self.delete(hook.id)

    def snapshot(self) -> Any:
        return copy.deepcopy(self.hooks)

    def restore(self, state: Any) -> None:
        self.hooks = state


class FakeWebhookDeliveryLog:
    def __init__(self) -> None:
        self.deliveries: dict[str, Delivery] = {}

    def get(self, delivery_id: str) -> Delivery | None:
        return copy.deepcopy(self.deliveries.get(delivery_id))

    def page(self, webhook_id: str, cursor: str | None, limit: int) -> Page[Delivery]:
        mine = [d for d in self.deliveries.values() if d.webhook_id == webhook_id]
        mine.sort(key=lambda d: (d.created_at, d.id), reverse=True)
        start = int(cursor) if cursor else 0
        more = len(mine) > start + limit
        return Page(mine[start : start + limit], str(start + limit) if more else None)


class FakeWebhookTargets:
    """Refuses the hosts in `refused` as the SSRF guard refuses private addresses."""

    def __init__(self) -> None:
        self.refused: set[str] = {"127.0.0.1", "localhost", "10.0.0.1"}

    def check(self, url: str) -> object:
        host = urlsplit(url).hostname or ""
        if host in self.refused:
            raise InvalidInput(f"{host} is a loopback, private or reserved address")
        return host


# --- composition -------------------------------------------------------------------------------


@dataclass
class Fakes:
    users: FakeUserRepository
    tasks: FakeTaskRepository
    task_reads: FakeTaskReads
    projects: FakeProjectRepository
    memberships: FakeMembershipRepository
    comments: FakeCommentRepository
    activity: FakeActivityRepository
    watchers: FakeWatcherRepository
    sessions: FakeSessionRepository
    password_resets: FakePasswordResetRepository
    schedules: FakeScheduleRepository
    alert_runs: FakeAlertRunRepository
    digests: FakePendingTaskDigests
    outbox: FakeOutbox
    uow: FakeUnitOfWork
    publisher: FakePublisher
    cache: FakeCache
    hasher: FakePasswordHasher
    database: FakeProbe
    webhooks: FakeWebhookRepository = field(default_factory=FakeWebhookRepository)
    webhook_deliveries: FakeWebhookDeliveryLog = field(default_factory=FakeWebhookDeliveryLog)
    webhook_targets: FakeWebhookTargets = field(default_factory=FakeWebhookTargets)
    access_tokens: FakeAccessTokenRepository = field(default_factory=FakeAccessTokenRepository)
    calendar_feeds: FakeCalendarFeeds = field(default_factory=FakeCalendarFeeds)

    @property
    def broker(self) -> FakePublisher:
        return self.publisher

    @property
    def session_cache(self) -> FakeCache:
        return self.cache


@dataclass
class FakeSystem:
    services: Services
    fakes: Fakes
    recorder: OutboxEventRecorder
    relay: OutboxRelay
    clock: FakeClock
    settings: Settings = field(repr=False)

    def make_user(
        self,
        username: str,
        *,
        role: Role = Role.MEMBER,
        active: bool = True,
        password: str = DEFAULT_PASSWORD,
        password_hash: str | None = None,
        default_project: ProjectRole | None = ProjectRole.MEMBER,
    ) -> User:
        """Store a user directly (no event, no commit): the starting state of a test. Like
        every user signup or the start-up migration made, they are a `member` of the default
        project (`default_project` gives another role, or None for none)."""
        user = self.fakes.users.add(
            username=username,
            email=f"{username}@example.com",
            password_hash=password_hash or self.fakes.hasher.hash(password),
            role=role,
            active=active,
            now=self.clock(),
        )
        if default_project is not None:
            self.add_member(self.default_project(), user, default_project)
        return user

    def make_project(
        self,
        key: str,
        *,
        owner: User | None = None,
        members: dict[str, ProjectRole] | None = None,
        name: str | None = None,
        archived: bool = False,
    ) -> Project:
        """Store a project directly (no event), with `owner` and `members` (user id -> role)."""
        now = self.clock()
        project = self.fakes.projects.add(
            Project("", key, name or f"Project {key}", now, now, archived=archived)
        )
        if owner is not None:
            self.add_member(project, owner, ProjectRole.OWNER)
        for user_id, role in (members or {}).items():
            self.fakes.memberships.put(Membership(project.id, user_id, role, now))
        return project

    def add_member(self, project: Project, user: User, role: ProjectRole) -> None:
        """Store a membership directly (or change its role); no event, cached sessions kept."""
        self.fakes.memberships.put(Membership(project.id, user.id, role, self.clock()))

    def store_task(self, task: Task) -> Task:
        """Store a task directly (no event, no activity), with its counters: what `tasktracker
        seed` does."""
        self.fakes.tasks.add(task)
        self.fakes.uow.task_counts.apply(count_change(None, bucket(task)))
        return task

    def default_project(self) -> Project:
        project = self.fakes.projects.get(self.services.projects.default.id())
        assert project is not None
        return project

    def actor(self, user: User) -> Actor:
        """The user with their project roles as stored now (services.projects.actor)."""
        return self.services.projects.actor(user)

    def published_types(self) -> list[str]:
        return [str(e.type) for e in self.fakes.publisher.published]

    def outbox_types(self) -> list[str]:
        return [str(e.type) for e in self.fakes.outbox.events()]


def fake_settings(**overrides: Any) -> Settings:
    """Settings with their defaults, not read from the environment or `.env`; no near cache of
    sessions, whose copies age by the real monotonic clock, not the fake one (its own tests are
    in tests/unit/test_near_cache.py)."""
    values: dict[str, Any] = {
        "mongo_url": "mongodb://x",
        "jwt_secret": "x" * 40,
        "session_local_ttl": 0,
        **overrides,
    }
    return Settings.model_construct(**values)


def build_fake_services(
    clock: FakeClock | None = None,
    *,
    settings: Settings | None = None,
    cooldown: float = 5.0,
) -> FakeSystem:
    """Every service on fakes, wired by the composition root's own `build_services`."""
    clock = clock or FakeClock()
    settings = settings or fake_settings()
    users, tasks, resets_repo = (
        FakeUserRepository(),
        FakeTaskRepository(),
        FakePasswordResetRepository(),
    )
    projects, memberships = FakeProjectRepository(), FakeMembershipRepository()
    comments, activity, watchers = (
        FakeCommentRepository(),
        FakeActivityRepository(),
        FakeWatcherRepository(),
    )
    schedules, runs = FakeScheduleRepository(), FakeAlertRunRepository()
    webhooks = FakeWebhookRepository()
    task_counts = FakeTaskCountRepository()
    outbox = FakeOutbox(grace=timedelta(seconds=settings.outbox_relay_grace))
    a = Fakes(
        users=users,
        tasks=tasks,
        task_reads=FakeTaskReads(tasks, task_counts),
        projects=projects,
        memberships=memberships,
        comments=comments,
        activity=activity,
        watchers=watchers,
        sessions=FakeSessionRepository(),
        password_resets=resets_repo,
        schedules=schedules,
        alert_runs=runs,
        digests=FakePendingTaskDigests(),
        outbox=outbox,
        uow=FakeUnitOfWork(
            users,
            tasks,
            projects,
            memberships,
            resets_repo,
            schedules,
            runs,
            outbox,
            comments=comments,
            activity=activity,
            watchers=watchers,
            webhooks=webhooks,
            task_counts=task_counts,
        ),
        publisher=FakePublisher(),
        cache=FakeCache(clock),
        hasher=FakePasswordHasher(),
        database=FakeProbe(),
        webhooks=webhooks,
    )
    events = OutboxEventRecorder(lambda: a.uow, a.outbox, a.publisher, clock, cooldown)
    services = build_services(settings, a, events, clock)
    services.projects.default.ensure()  # as bootstrap's prepare_projects does at start-up
    relay = OutboxRelay(a.outbox, a.publisher, clock)
    return FakeSystem(services, a, events, relay, clock, settings)
