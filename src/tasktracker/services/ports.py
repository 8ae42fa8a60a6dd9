"""The interfaces services depend on. The MongoDB, Memcached, kombu and argon2 adapters
implement them (tests/unit/test_ports.py checks each one); the fakes in tests/fakes.py implement
them in memory, so every service can be unit-tested without a server."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self

from tasktracker.domain.activity import ActivityEntry
from tasktracker.domain.comments import Comment
from tasktracker.domain.events import Event
from tasktracker.domain.notifications import NotificationPreferences
from tasktracker.domain.projects import Membership, Project, ProjectRole
from tasktracker.domain.queries import Page, Sort, TaskFilter
from tasktracker.domain.reminders import ScheduledReminder
from tasktracker.domain.schedules import MemberDigest, Schedule
from tasktracker.domain.sessions import SessionRecord
from tasktracker.domain.task_counts import CountChange, CounterSums, TaskCounts
from tasktracker.domain.tasks import Task
from tasktracker.domain.tokens import AccessToken
from tasktracker.domain.users import Role, User
from tasktracker.domain.webhooks import Delivery, Webhook


class UserRepository(Protocol):
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
        """Insert a user; Conflict when the username or email is taken."""
        ...

    def get(self, user_id: str) -> User | None: ...
    def get_many(self, user_ids: Iterable[str]) -> list[User]: ...
    def by_email(self, email: str) -> User | None: ...
    def by_username(self, username: str) -> User | None: ...
    def usernames(self, user_ids: Iterable[str]) -> dict[str, str]: ...
    def set_password_hash(self, user_id: str, password_hash: str, now: datetime) -> None: ...
    def set_role_and_active(
        self, user_id: str, role: Role, active: bool, now: datetime
    ) -> None: ...
    def count_active_admins(self, *, excluding: str | None = None) -> int: ...
    def set_notifications(
        self, user_id: str, preferences: NotificationPreferences, now: datetime
    ) -> None: ...

    def page(self, *, after: str | None, limit: int) -> list[User]:
        """Users in id order after the id `after`; InvalidInput for a malformed `after`."""
        ...


class TaskRepository(Protocol):
    def add(self, task: Task) -> Task:
        """Insert a task, giving it its id when it has none (a retried transaction inserts
        the same task, with the id the first attempt gave it)."""
        ...

    def get(self, task_id: str) -> Task | None: ...

    def get_many(self, task_ids: Iterable[str]) -> list[Task]:
        """The tasks among these ids that exist (in no particular order)."""
        ...

    def by_key(self, key: str) -> Task | None:
        """The task with this key, or (after a move) with this key among its former keys."""
        ...

    def replace_if_version(self, task: Task, expected_version: int) -> bool:
        """Store `task` only if it is still at `expected_version` (optimistic lock)."""
        ...

    def delete_if_version(self, task_id: str, expected_version: int) -> bool: ...
    def delete_in_project(self, project_id: str) -> int: ...


class TaskCountRepository(Protocol):
    """Each project's task counters by status and of open tasks by due day
    (domain/task_counts.py), written in the transaction of every task write that creates,
    deletes, moves a task, changes its status or an open task's due day."""

    def apply(self, change: CountChange) -> None:
        """Add `change` to the counters of its projects."""
        ...

    def delete_project(self, project_id: str) -> None: ...


class ReminderRepository(Protocol):
    """Each task's scheduled reminders (one per task and position), and the due ones."""

    def for_task(self, task_id: str) -> list[ScheduledReminder]: ...

    def replace_for_task(self, task_id: str, schedule: list[ScheduledReminder]) -> None:
        """The task's schedule becomes `schedule` (others of the task are removed)."""
        ...

    def delete_for_task(self, task_id: str) -> int: ...
    def delete_in_project(self, project_id: str) -> int: ...

    def due(self, now: datetime, limit: int) -> list[ScheduledReminder]:
        """Up to `limit` unfired reminders whose time has come, earliest first."""
        ...

    def unfired(self, reminder_ids: list[str]) -> list[ScheduledReminder]:
        """Those of `reminder_ids` that exist and have not fired (in no particular order)."""
        ...

    def mark_fired(self, reminder_ids: list[str], now: datetime) -> int:
        """Set `fired_at` on those still unfired; answer how many that was."""
        ...


class ProjectRepository(Protocol):
    def add(self, project: Project) -> Project:
        """Insert a project, giving it its id; Conflict when its key is taken."""
        ...

    def get(self, project_id: str) -> Project | None: ...
    def by_key(self, key: str) -> Project | None: ...

    def page(self, ids: tuple[str, ...] | None, *, after: str | None, limit: int) -> list[Project]:
        """Projects in id order after `after`, among `ids` (None: all)."""
        ...

    def save(self, project: Project) -> None: ...
    def delete(self, project_id: str) -> bool: ...

    def next_task_number(self, project_id: str) -> int | None:
        """Take the project's next task number (atomic, never handed out twice); None when the
        project is gone or archived."""
        ...

    def touch(self, project_id: str) -> None:
        """Write the project inside a transaction, so two concurrent membership changes of one
        project collide (one is retried) instead of both passing the last-owner check."""
        ...


class MembershipRepository(Protocol):
    def put(self, membership: Membership) -> bool:
        """Add a member or change their role; True when they were not a member before."""
        ...

    def get(self, project_id: str, user_id: str) -> Membership | None: ...
    def remove(self, project_id: str, user_id: str) -> bool: ...
    def roles_of(self, user_id: str) -> dict[str, ProjectRole]: ...

    def page(self, project_id: str, *, after: str | None, limit: int) -> list[Membership]:
        """Members in user id order after the user id `after`."""
        ...

    def count_role(self, project_id: str, role: ProjectRole) -> int: ...
    def user_ids(self, project_id: str) -> list[str]: ...
    def remove_project(self, project_id: str) -> int: ...


class CommentRepository(Protocol):
    def add(self, comment: Comment) -> Comment:
        """Insert a comment, giving it its id."""
        ...

    def get(self, comment_id: str) -> Comment | None: ...

    def replace_if_version(self, comment: Comment, expected_version: int) -> bool:
        """Store `comment` only if it is still at `expected_version` (optimistic lock)."""
        ...

    def page(self, task_id: str, *, cursor: str | None, limit: int) -> Page[Comment]:
        """A task's comments (tombstones included), oldest first; InvalidInput for a bad
        cursor."""
        ...

    def move_task(self, task_id: str, project_id: str) -> None:
        """The task moved: its comments belong to `project_id` now."""
        ...

    def delete_for_task(self, task_id: str) -> int: ...
    def delete_in_project(self, project_id: str) -> int: ...


class ActivityRepository(Protocol):
    def add(self, *entries: ActivityEntry) -> None:
        """Insert entries, giving each its id."""
        ...

    def page(
        self,
        *,
        task_id: str | None = None,
        project_id: str | None = None,
        cursor: str | None,
        limit: int,
    ) -> Page[ActivityEntry]:
        """The entries of one task or one project, newest first; InvalidInput for a bad
        cursor."""
        ...

    def redact_comment(self, comment_id: str) -> None:
        """A comment was deleted: its text leaves the history (every old/new value of the
        comment's entries becomes None)."""
        ...

    def delete_in_project(self, project_id: str) -> int: ...


class WatcherRepository(Protocol):
    """Who chose to watch a task or not (user id -> watching); see
    domain/notifications.effective_watchers for who watches without choosing."""

    def choose(
        self, task_id: str, project_id: str, user_id: str, watching: bool, now: datetime
    ) -> None:
        """Record a choice, replacing an earlier one."""
        ...

    def add_if_new(
        self, task_id: str, project_id: str, user_ids: Iterable[str], now: datetime
    ) -> None:
        """Make these users watchers unless they chose before (a choice not to watch stays)."""
        ...

    def choices(self, task_id: str) -> dict[str, bool]: ...
    def move_task(self, task_id: str, project_id: str) -> None: ...
    def delete_for_task(self, task_id: str) -> int: ...
    def delete_in_project(self, project_id: str) -> int: ...


class TaskReads(Protocol):
    """The read side of tasks: lists, summaries, counts (served from indexes)."""

    def page(
        self, flt: TaskFilter, sort: Sort, cursor: str | None, limit: int, now: datetime
    ) -> Page[Task]:
        """One page in `sort` order after `cursor`; InvalidInput for a bad cursor."""
        ...

    def first(self, flt: TaskFilter, sort: Sort, limit: int, now: datetime) -> list[Task]:
        """The first `limit` tasks in `sort` order (no cursor)."""
        ...

    def newest(self, flt: TaskFilter, limit: int, now: datetime) -> list[Task]:
        """The `limit` newest tasks (by creation), newest first."""
        ...

    def counts(self, projects: tuple[str, ...] | None) -> TaskCounts:
        """Counts by status and the total within `projects` (None: all), from the counters."""
        ...

    def counter_sums(self, projects: tuple[str, ...] | None, day: date) -> CounterSums:
        """Counts by status, open tasks by due day, and open tasks by due hour of `day` (UTC),
        within `projects` (None: all), from the counters."""
        ...

    def overdue_since(
        self, since: datetime, now: datetime, projects: tuple[str, ...] | None
    ) -> int:
        """How many open or in-progress tasks within `projects` fell due in [since, now), from
        the tasks (an index range)."""
        ...

    def counts_by_assignee(self, user_ids: list[str]) -> dict[str, TaskCounts]: ...


class SessionRepository(Protocol):
    def add(self, record: SessionRecord) -> None: ...
    def get(self, session_id: str) -> SessionRecord | None: ...

    def rotate(
        self,
        session_id: str,
        presented: str,
        replacement: str,
        now: datetime,
        expires_at: datetime,
    ) -> SessionRecord | None:
        """Swap the refresh id only if `presented` is the current one of a live session."""
        ...

    def revoke(self, session_id: str, now: datetime) -> None: ...
    def live_ids_for_user(self, user_id: str, now: datetime) -> list[str]: ...
    def revoke_many(self, session_ids: list[str], now: datetime) -> None: ...


class AccessTokenRepository(Protocol):
    """Personal access tokens, found by the SHA-256 digest of the secret (never the secret)."""

    def add(self, token: AccessToken) -> AccessToken:
        """Insert a token, giving it its id."""
        ...

    def by_digest(self, digest: str) -> AccessToken | None: ...

    def for_user(self, user_id: str) -> list[AccessToken]:
        """The user's tokens, oldest first (expired ones included)."""
        ...

    def delete(self, user_id: str, token_id: str) -> bool:
        """Delete one of the user's tokens; False when they have none with this id."""
        ...

    def touch(self, token_id: str, now: datetime, stale_before: datetime) -> None:
        """Set `last_used_at` to `now` unless it is already later than `stale_before` (so
        concurrent requests write it once)."""
        ...


class PasswordResetRepository(Protocol):
    def add(self, user_id: str, token_hash: str, now: datetime, expires_at: datetime) -> None: ...

    def use(self, token_hash: str, now: datetime) -> str | None:
        """Spend a live token; its user id, or None when unknown, used or expired."""
        ...

    def void_others(self, user_id: str, now: datetime) -> None: ...


class ScheduleRepository(Protocol):
    def add(self, schedule: Schedule) -> None: ...
    def put(self, schedule: Schedule) -> None: ...
    def get(self, schedule_id: str) -> Schedule | None: ...
    def all(self, limit: int = 1000) -> list[Schedule]: ...
    def delete(self, schedule_id: str) -> bool: ...

    def finish_run(self, schedule: Schedule, now: datetime) -> None:
        """A one-off schedule is gone once it fired; a daily one records when it ran."""
        ...


class AlertRunRepository(Protocol):
    def exists(self, run_id: str) -> bool: ...

    def record(
        self, run_id: str, schedule_id: str, fire_time: datetime, members: int, now: datetime
    ) -> None:
        """Record a firing; AlreadyFired when this run id was recorded before."""
        ...


class PendingTaskDigests(Protocol):
    def digests(self, now: datetime, soon_until: datetime, cap: int) -> list[MemberDigest]: ...


class Outbox(Protocol):
    """Events not yet confirmed by the broker (written by a UnitOfWork with its change)."""

    def mark_sent(self, event_id: str, now: datetime) -> None: ...
    def mark_sent_many(self, event_ids: Sequence[str], now: datetime) -> None: ...

    def claim_pending(self, now: datetime, lease: timedelta, limit: int) -> list[Event]:
        """Lease up to `limit` unsent entries whose lease ran out to the caller (each entry
        to one caller only), oldest first."""
        ...

    def release(self, event_ids: Sequence[str], now: datetime) -> None:
        """Give claims up: the entries may be claimed again at once."""
        ...

    def pending_count(self) -> int: ...


class WebhookRepository(Protocol):
    """A project's webhooks (the dispatcher's counters live in the adapter: agent side)."""

    def add(self, hook: Webhook) -> Webhook: ...
    def get(self, webhook_id: str) -> Webhook | None: ...
    def for_project(self, project_id: str) -> list[Webhook]: ...
    def save(self, hook: Webhook) -> None: ...
    def delete(self, webhook_id: str) -> None:
        """The hook and its delivery log."""
        ...

    def delete_in_project(self, project_id: str) -> None: ...


class WebhookDeliveryLog(Protocol):
    def get(self, delivery_id: str) -> Delivery | None: ...
    def page(self, webhook_id: str, cursor: str | None, limit: int) -> Page[Delivery]:
        """Newest first."""
        ...


class WebhookTargets(Protocol):
    def check(self, url: str) -> object:
        """InvalidInput when a webhook may not post to `url` (scheme, or a host resolving to a
        loopback, private, link-local, multicast or reserved address not allowed)."""
        ...


class CalendarFeedRepository(Protocol):
    """Each user's one calendar feed token, kept only as its SHA-256 digest."""

    def put(self, user_id: str, token_hash: str, now: datetime) -> None:
        """The user's feed token, replacing any earlier one."""
        ...

    def user_for(self, token_hash: str) -> str | None:
        """The id of the user whose feed token has this digest."""
        ...


class UnitOfWork(Protocol):
    """One transaction, as a context manager: its repositories write inside it, and the
    events recorded with `record` go to the outbox in the same commit. Leaving the block
    commits; an exception aborts (and is raised). A write that collides with a concurrent
    transaction raises ConcurrentChange (the transaction was rolled back)."""

    users: UserRepository
    tasks: TaskRepository
    task_counts: TaskCountRepository
    projects: ProjectRepository
    memberships: MembershipRepository
    comments: CommentRepository
    activity: ActivityRepository
    watchers: WatcherRepository
    password_resets: PasswordResetRepository
    schedules: ScheduleRepository
    alert_runs: AlertRunRepository
    webhooks: WebhookRepository
    reminders: ReminderRepository
    events: list[Event]

    def record(self, *events: Event) -> None: ...
    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class Publisher(Protocol):
    def publish(self, event: Event) -> None:
        """Publish and wait for the broker's confirm; raise when it was not confirmed."""
        ...

    def publish_many(self, events: Sequence[Event]) -> None:
        """Publish all and wait for the broker's confirms of all (one wait, not one each);
        raise unless every one was confirmed (then some may have been published)."""
        ...


class EventRecorder(Protocol):
    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        """A unit of work whose recorded events are published once it committed."""
        ...

    def publish(self, events: list[Event]) -> None:
        """Publish committed events once; what fails is left to the outbox relay."""
        ...


class Cache(Protocol):
    """Answers None/False instead of raising when unreachable: it only ever speeds things up."""

    healthy: bool

    def get(self, key: str) -> dict[str, Any] | None: ...
    def set(self, key: str, value: dict[str, Any], ttl: int) -> bool: ...
    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        """Store unless the key holds a value; False when it did not store."""
        ...

    def delete_many(self, keys: list[str]) -> bool: ...
    def ping(self) -> bool: ...
    def close(self) -> None: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str | None, password: str) -> bool:
        """False for a wrong password; with None, spend the same time and answer False."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...


class Probe(Protocol):
    """A dependency the readiness check asks: True when it answers."""

    def ping(self) -> bool: ...


class Broker(Publisher, Probe, Protocol):
    """The message broker: publishes events, answers readiness pings."""


class ServicePorts(Protocol):
    """Everything the services are built on (bootstrap.build_services): the MongoDB, Memcached,
    kombu and argon2 adapters in production, the fakes in unit tests."""

    users: UserRepository
    tasks: TaskRepository
    task_reads: TaskReads
    projects: ProjectRepository
    memberships: MembershipRepository
    comments: CommentRepository
    activity: ActivityRepository
    watchers: WatcherRepository
    sessions: SessionRepository
    access_tokens: AccessTokenRepository
    password_resets: PasswordResetRepository
    schedules: ScheduleRepository
    alert_runs: AlertRunRepository
    digests: PendingTaskDigests
    calendar_feeds: CalendarFeedRepository
    webhooks: WebhookRepository
    webhook_deliveries: WebhookDeliveryLog
    webhook_targets: WebhookTargets
    outbox: Outbox
    cache: Cache
    session_cache: Cache  # what session snapshots are read through: `cache` or a near cache
    hasher: PasswordHasher
    database: Probe
    broker: Broker
