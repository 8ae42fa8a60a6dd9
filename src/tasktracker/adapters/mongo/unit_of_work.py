"""One MongoDB transaction around a unit of work: a state change and its outbox events."""

from __future__ import annotations

from datetime import timedelta
from types import TracebackType
from typing import Self

from pymongo import MongoClient
from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import PyMongoError

from tasktracker.adapters.mongo.activity import ActivityRepository
from tasktracker.adapters.mongo.alerts import AlertRunRepository, ScheduleRepository
from tasktracker.adapters.mongo.comments import CommentRepository
from tasktracker.adapters.mongo.outbox import OutboxRepository
from tasktracker.adapters.mongo.password_resets import PasswordResetRepository
from tasktracker.adapters.mongo.projects import MembershipRepository, ProjectRepository
from tasktracker.adapters.mongo.reminders import ReminderRepository
from tasktracker.adapters.mongo.task_counts import TaskCountRepository
from tasktracker.adapters.mongo.tasks import TaskRepository
from tasktracker.adapters.mongo.users import UserRepository
from tasktracker.adapters.mongo.watchers import WatcherRepository
from tasktracker.adapters.mongo.webhooks import WebhookRepository
from tasktracker.domain.errors import ConcurrentChange
from tasktracker.domain.events import Event

TRANSIENT = "TransientTransactionError"
UNKNOWN_COMMIT = "UnknownTransactionCommitResult"
COMMIT_ATTEMPTS = 3


class MongoUnitOfWork:
    """`with MongoUnitOfWork(...) as uow:` starts a session and a transaction; the
    repositories on `uow` write inside it; leaving the block writes the recorded events to the
    outbox and commits (an exception aborts instead)."""

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

    def __init__(self, client: MongoClient, db: Database, outbox_grace: timedelta) -> None:
        self._client = client
        self._db = db
        self._grace = outbox_grace
        self._session: ClientSession | None = None
        self.events: list[Event] = []

    def record(self, *events: Event) -> None:
        self.events.extend(events)

    def __enter__(self) -> Self:
        session = self._client.start_session()
        session.start_transaction()
        self._session = session
        self.users = UserRepository(self._db, session)
        self.tasks = TaskRepository(self._db, session)
        self.task_counts = TaskCountRepository(self._db, session)
        self.projects = ProjectRepository(self._db, session)
        self.memberships = MembershipRepository(self._db, session)
        self.comments = CommentRepository(self._db, session)
        self.activity = ActivityRepository(self._db, session)
        self.watchers = WatcherRepository(self._db, session)
        self.password_resets = PasswordResetRepository(self._db, session)
        self.schedules = ScheduleRepository(self._db, session)
        self.alert_runs = AlertRunRepository(self._db, session)
        self.webhooks = WebhookRepository(self._db, session)
        self.reminders = ReminderRepository(self._db, session)
        self.events = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        session = self._session
        assert session is not None, "the unit of work was not entered"
        try:
            if exc is None:
                OutboxRepository(self._db, grace=self._grace, session=session).add(self.events)
                commit(session)
            elif session.in_transaction:
                session.abort_transaction()
        except PyMongoError as error:
            raise_for_transient(error)
            raise
        finally:
            session.end_session()
            self._session = None
        if isinstance(exc, PyMongoError):
            raise_for_transient(exc)


def commit(session: ClientSession) -> None:
    """Commit, retrying when the server's answer was lost (as pymongo's with_transaction)."""
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            session.commit_transaction()
            return
        except PyMongoError as error:
            if attempt == COMMIT_ATTEMPTS or not error.has_error_label(UNKNOWN_COMMIT):
                raise


def raise_for_transient(error: PyMongoError) -> None:
    """A transaction that collided with a concurrent one: the caller may simply retry."""
    if error.has_error_label(TRANSIENT):
        raise ConcurrentChange("a concurrent change got in the way; retry") from error
