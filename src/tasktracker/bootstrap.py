"""Composition root: Settings -> adapters -> services.

The only place that knows whether we run embedded (SecantusDB in-process) or on real services.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path

from pymongo import MongoClient
from pymongo.database import Database

from tasktracker.adapters.broker import Broker, BrokerConfig
from tasktracker.adapters.cache import InProcessCache, MemcachedCache, NearCache
from tasktracker.adapters.cache_broadcast import CacheBroadcast
from tasktracker.adapters.embedded_db import EmbeddedMongo
from tasktracker.adapters.mailer import FileMailer, Mailer, SmtpMailer
from tasktracker.adapters.mongo.activity import ActivityRepository
from tasktracker.adapters.mongo.alerts import (
    AlertRunRepository,
    LeaseRepository,
    PendingTaskDigests,
    ScheduleRepository,
)
from tasktracker.adapters.mongo.calendar import CalendarFeedRepository
from tasktracker.adapters.mongo.comments import CommentRepository
from tasktracker.adapters.mongo.connection import (
    DatabaseProbe,
    connect,
    database,
    ensure_indexes,
    warn_if_not_replica_set,
)
from tasktracker.adapters.mongo.deliveries import DeliveryRepository
from tasktracker.adapters.mongo.migrations import build_missing_counts, migrate
from tasktracker.adapters.mongo.outbox import OutboxRepository
from tasktracker.adapters.mongo.password_resets import PasswordResetRepository
from tasktracker.adapters.mongo.projects import MembershipRepository, ProjectRepository
from tasktracker.adapters.mongo.sessions import SessionRepository
from tasktracker.adapters.mongo.task_queries import SlowListWarning, TaskQueries
from tasktracker.adapters.mongo.tasks import TaskRepository
from tasktracker.adapters.mongo.tokens import AccessTokenRepository
from tasktracker.adapters.mongo.unit_of_work import MongoUnitOfWork
from tasktracker.adapters.mongo.users import UserRepository
from tasktracker.adapters.mongo.watchers import WatcherRepository
from tasktracker.adapters.mongo.webhooks import WebhookDeliveryRepository, WebhookRepository
from tasktracker.adapters.passwords import PasswordHasher
from tasktracker.adapters.webhook_http import Resolver, SystemResolver, TargetGuard
from tasktracker.services.accounts import AccountService
from tasktracker.services.activity import ActivityService
from tasktracker.services.alerts import AlertService, DigestPolicy
from tasktracker.services.calendar import CalendarService
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.comments import CommentService
from tasktracker.services.events import OutboxEventRecorder, OutboxRelay
from tasktracker.services.health import HealthService
from tasktracker.services.password_reset import PasswordResetService
from tasktracker.services.ports import Cache, EventRecorder, ServicePorts
from tasktracker.services.preferences import PreferenceService
from tasktracker.services.projects import DefaultProject, ProjectPolicy, ProjectService
from tasktracker.services.registry import Services
from tasktracker.services.reminders import ReminderService
from tasktracker.services.sessions import SessionPolicy, SessionService
from tasktracker.services.task_queries import TaskQueryService
from tasktracker.services.tasks import TaskService
from tasktracker.services.tokens import TokenService
from tasktracker.services.watchers import WatcherService
from tasktracker.services.webhooks import WebhookService
from tasktracker.settings import Settings

log = logging.getLogger(__name__)

JWT_SECRET_FILE = "jwt_secret"
# Without AMQP_URL the broker is kombu's in-process transport: the API's publisher and the
# agent thread of the same process share it.
IN_PROCESS_BROKER = "memory://"


@dataclass
class Adapters:
    """Every adapter built from the settings. The API never sees these: it gets `Services`.
    The agent and the scheduler run adapters of their own kind (a kombu consumer, APScheduler's
    MongoDB job store) and take what they need from here; integration tests read the
    database through `db`."""

    client: MongoClient
    db: Database
    cache: Cache
    session_cache: Cache  # `cache`, or a near cache in front of it (bootstrap.session_cache)
    broker: Broker
    mailer: Mailer
    hasher: PasswordHasher
    database: DatabaseProbe
    users: UserRepository
    tasks: TaskRepository
    task_reads: TaskQueries
    projects: ProjectRepository
    memberships: MembershipRepository
    comments: CommentRepository
    activity: ActivityRepository
    watchers: WatcherRepository
    sessions: SessionRepository
    access_tokens: AccessTokenRepository
    outbox: OutboxRepository
    deliveries: DeliveryRepository
    password_resets: PasswordResetRepository
    schedules: ScheduleRepository
    alert_runs: AlertRunRepository
    digests: PendingTaskDigests
    leases: LeaseRepository
    calendar_feeds: CalendarFeedRepository
    webhooks: WebhookRepository
    webhook_deliveries: WebhookDeliveryRepository
    webhook_targets: TargetGuard
    embedded_mongo: EmbeddedMongo | None = None

    def close(self) -> None:
        if self.session_cache is not self.cache:
            self.session_cache.close()
        self.cache.close()
        self.broker.close()
        self.mailer.close()
        self.client.close()
        if self.embedded_mongo:
            self.embedded_mongo.stop()


@dataclass
class Container:
    """What a process runs on: the services, the outbox relay, and the adapters it owns."""

    settings: Settings
    services: Services
    relay: OutboxRelay
    events: EventRecorder  # the outbox: for processes (the agent) that record events too
    adapters: Adapters = field(repr=False)
    _closed: bool = field(default=False, repr=False)

    @property
    def clock(self) -> Clock:
        return self.services.clock

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.adapters.close()


def bootstrap(
    settings: Settings, *, clock: Clock = utc_now, resolver: Resolver | None = None
) -> Container:
    """`resolver` answers host names for the webhook SSRF guard (default: the system's)."""
    settings = settings.model_copy(update={"jwt_secret": resolve_jwt_secret(settings)})
    adapters = build_adapters(settings, resolver or SystemResolver())
    events = OutboxEventRecorder(
        partial(MongoUnitOfWork, adapters.client, adapters.db, outbox_grace(settings)),
        adapters.outbox,
        adapters.broker,
        clock,
    )
    container = Container(
        settings=settings,
        services=build_services(settings, adapters, events, clock),
        relay=OutboxRelay(adapters.outbox, adapters.broker, clock),
        events=events,
        adapters=adapters,
    )
    prepare_projects(container)
    create_bootstrap_admin(container)
    return container


def build_adapters(settings: Settings, resolver: Resolver) -> Adapters:
    embedded = None
    url = settings.mongo_url
    if url is None:
        embedded = EmbeddedMongo(settings.data_dir / "db")
        url = embedded.start()
    try:
        client = connect(url, embedded=embedded is not None)
        db = database(client, settings.mongo_db)
        warn_if_not_replica_set(client)
        ensure_indexes(db)
    except Exception:
        if embedded:
            embedded.stop()
        raise
    cache = build_cache(settings)
    broker = make_broker(settings)
    return Adapters(
        client=client,
        db=db,
        cache=cache,
        session_cache=session_cache(settings, cache, broker),
        broker=broker,
        mailer=make_mailer(settings),
        hasher=PasswordHasher(
            time_cost=settings.password_hash_time_cost,
            memory_cost_kib=settings.password_hash_memory_kib,
            parallelism=settings.password_hash_parallelism,
        ),
        database=DatabaseProbe(client),
        users=UserRepository(db),
        tasks=TaskRepository(db),
        task_reads=TaskQueries(db, SlowListWarning() if embedded else None),
        projects=ProjectRepository(db),
        memberships=MembershipRepository(db),
        comments=CommentRepository(db),
        activity=ActivityRepository(db),
        watchers=WatcherRepository(db),
        sessions=SessionRepository(db),
        access_tokens=AccessTokenRepository(db),
        outbox=OutboxRepository(db, grace=outbox_grace(settings)),
        deliveries=DeliveryRepository(db),
        password_resets=PasswordResetRepository(db),
        schedules=ScheduleRepository(db),
        alert_runs=AlertRunRepository(db),
        digests=PendingTaskDigests(db),
        leases=LeaseRepository(db),
        calendar_feeds=CalendarFeedRepository(db),
        webhooks=WebhookRepository(db),
        webhook_deliveries=WebhookDeliveryRepository(db),
        webhook_targets=TargetGuard(settings.webhook_allow_list, resolver),
        embedded_mongo=embedded,
    )


def build_services(
    settings: Settings, a: ServicePorts, events: EventRecorder, clock: Clock
) -> Services:
    """The services on `a`: the adapters here, the fakes in unit tests (tests/fakes.py)."""
    sessions = SessionService(
        a.sessions,
        a.users,
        a.memberships,
        a.session_cache,
        SessionPolicy(session_ttl=settings.refresh_token_ttl, cache_ttl=settings.session_cache_ttl),
        clock,
        shared=None if a.session_cache is a.cache else a.cache,
    )
    resets = PasswordResetService(
        a.users,
        a.password_resets,
        events,
        a.hasher,
        sessions,
        timedelta(seconds=settings.password_reset_ttl),
        clock,
    )
    digests = DigestPolicy(
        due_soon=timedelta(hours=settings.alert_due_soon_hours),
        max_tasks=settings.alert_max_tasks,
    )
    default_project = DefaultProject(a.projects, settings.default_project_key, clock)
    projects = ProjectService(
        a.projects,
        a.memberships,
        a.users,
        a.tasks,
        events,
        sessions,
        default_project,
        ProjectPolicy(settings.project_creation, settings.default_project_key),
        clock,
    )
    tasks = TaskService(a.tasks, a.users, a.projects, a.memberships, default_project, events, clock)
    return Services(
        settings=settings,
        clock=clock,
        accounts=AccountService(
            a.users, a.hasher, sessions, events, a.task_reads, default_project, clock
        ),
        sessions=sessions,
        tokens=TokenService(a.access_tokens, a.users, a.memberships, clock),
        projects=projects,
        tasks=tasks,
        task_queries=TaskQueryService(a.task_reads, a.users, a.projects, clock),
        comments=CommentService(a.comments, tasks, a.users, a.memberships, events, clock),
        activity=ActivityService(a.activity, tasks, a.projects),
        watchers=WatcherService(a.watchers, tasks, a.memberships, a.users, clock),
        preferences=PreferenceService(a.users, clock),
        calendar=CalendarService(
            a.calendar_feeds,
            a.users,
            a.memberships,
            a.task_reads,
            settings.resolved_public_url,
            clock,
        ),
        webhooks=WebhookService(
            a.webhooks, a.webhook_deliveries, a.projects, a.webhook_targets, events, clock
        ),
        password_resets=resets,
        alerts=AlertService(a.schedules, a.alert_runs, a.digests, events, clock, digests),
        reminders=ReminderService(events, clock),
        health=HealthService(a.database, a.broker, a.cache, a.outbox),
    )


def outbox_grace(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.outbox_relay_grace)


def session_cache(settings: Settings, shared: Cache, broker: Broker) -> Cache:
    """Session snapshots: from this process's near cache (for at most SESSION_LOCAL_TTL
    seconds) when Memcached and RabbitMQ are both configured — RabbitMQ carries the
    invalidations that keep the processes' copies in step; else straight from `shared`."""
    ttl = settings.session_local_ttl
    if ttl > 0 and settings.memcached_servers and settings.amqp_url:
        return NearCache(shared, ttl, CacheBroadcast(broker, settings.amqp_url))
    return shared


def build_cache(settings: Settings) -> Cache:
    if settings.memcached_servers:
        return MemcachedCache(settings.memcached_servers)
    return InProcessCache()


def make_broker(settings: Settings) -> Broker:
    return Broker(
        BrokerConfig(
            url=settings.amqp_url or IN_PROCESS_BROKER,
            connect_timeout=settings.broker_connect_timeout,
            publish_timeout=settings.broker_publish_timeout,
            confirms=settings.amqp_url is not None,
            delivery_limit=settings.queue_delivery_limit,
        )
    )


def make_mailer(settings: Settings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, settings.mail_from, settings.smtp_timeout)
    return FileMailer(settings.mail_dir, settings.mail_from)


def prepare_projects(container: Container) -> None:
    """The default project exists, data from before projects has moved into it, and every
    project has its task counters (built after the moves, so the moved tasks are counted)."""
    default = container.services.projects.default.ensure()
    settings = container.settings
    db = container.adapters.db
    migrate(db, default, settings.migration_batch_size, container.clock())
    build_missing_counts(container.adapters.client, db)


def create_bootstrap_admin(container: Container) -> None:
    settings = container.settings
    if not (settings.admin_email and settings.admin_password):
        return
    admin = container.services.accounts.ensure_admin(settings.admin_email, settings.admin_password)
    if admin:
        log.info("bootstrap admin ready: id=%s", admin.id)


def resolve_jwt_secret(settings: Settings) -> str:
    """JWT_SECRET when set (Settings checked it, and requires it with real services); else, in
    embedded mode, one generated and kept in DATA_DIR so tokens survive restarts."""
    return settings.jwt_secret or _stored_secret(settings.data_dir / JWT_SECRET_FILE)


def _stored_secret(path: Path) -> str:
    if path.exists() and (stored := path.read_text().strip()):
        return stored
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret)
    return secret
