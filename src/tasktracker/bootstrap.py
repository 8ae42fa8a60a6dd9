"""Composition root: Settings -> adapters -> services.

The only place that knows whether we run embedded (SecantusDB in-process) or on real services.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from pymongo import MongoClient
from pymongo.database import Database

from tasktracker.adapters.broker import Broker, BrokerConfig
from tasktracker.adapters.cache import Cache, InProcessCache, MemcachedCache
from tasktracker.adapters.embedded_db import EmbeddedMongo
from tasktracker.adapters.mailer import FileMailer, Mailer, SmtpMailer
from tasktracker.adapters.mongo.alerts import (
    AlertRunRepository,
    PendingTaskDigests,
    ScheduleRepository,
)
from tasktracker.adapters.mongo.connection import (
    connect,
    database,
    ensure_indexes,
    warn_if_not_replica_set,
)
from tasktracker.adapters.mongo.deliveries import DeliveryRepository
from tasktracker.adapters.mongo.outbox import OutboxRepository
from tasktracker.adapters.mongo.password_resets import PasswordResetRepository
from tasktracker.adapters.mongo.sessions import SessionRepository
from tasktracker.adapters.mongo.task_queries import TaskQueries
from tasktracker.adapters.mongo.tasks import TaskRepository
from tasktracker.adapters.mongo.unit_of_work import MongoUnitOfWork
from tasktracker.adapters.mongo.users import UserRepository
from tasktracker.adapters.passwords import PasswordHasher
from tasktracker.services.accounts import AccountService
from tasktracker.services.alerts import AlertService, DigestPolicy
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.events import EventRecorder, OutboxRelay
from tasktracker.services.password_reset import PasswordResetService
from tasktracker.services.sessions import SessionPolicy, SessionService
from tasktracker.services.tasks import TaskService
from tasktracker.settings import Settings, SettingsError

log = logging.getLogger(__name__)

JWT_SECRET_FILE = "jwt_secret"
# Without AMQP_URL the broker is kombu's in-process transport: the API's publisher and the
# agent thread of the same process share it.
IN_PROCESS_BROKER = "memory://"


@dataclass
class Container:
    settings: Settings
    client: MongoClient
    db: Database
    users: UserRepository
    task_queries: TaskQueries
    accounts: AccountService
    tasks: TaskService
    password_resets: PasswordResetService
    broker: Broker
    outbox: OutboxRepository
    relay: OutboxRelay
    deliveries: DeliveryRepository
    mailer: Mailer
    jwt_secret: str
    clock: Clock
    sessions: SessionService
    cache: Cache
    alerts: AlertService
    embedded_mongo: EmbeddedMongo | None = None
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.cache.close()
        self.broker.close()
        self.client.close()
        if self.embedded_mongo:
            self.embedded_mongo.stop()


def bootstrap(settings: Settings, *, clock: Clock = utc_now) -> Container:
    jwt_secret = resolve_jwt_secret(settings)
    embedded = None
    url = settings.mongo_url
    if url is None:
        embedded = EmbeddedMongo(settings.data_dir / "db")
        url = embedded.start()
    try:
        client = connect(url)
        db = database(client, settings.mongo_db)
        warn_if_not_replica_set(client)
        ensure_indexes(db)
    except Exception:
        if embedded:
            embedded.stop()
        raise
    users = UserRepository(db)
    cache = build_cache(settings)
    sessions = SessionService(
        SessionRepository(db),
        users,
        cache,
        SessionPolicy(session_ttl=settings.refresh_token_ttl, cache_ttl=settings.session_cache_ttl),
        clock,
    )
    hasher = PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_cost_kib=settings.password_hash_memory_kib,
    )
    uow = MongoUnitOfWork(client)
    broker = make_broker(settings)
    outbox = OutboxRepository(db, grace=timedelta(seconds=settings.outbox_relay_grace))
    events = EventRecorder(uow, outbox, broker, clock)
    resets = PasswordResetService(
        users,
        PasswordResetRepository(db),
        uow,
        events,
        hasher,
        timedelta(seconds=settings.password_reset_ttl),
        clock,
    )
    container = Container(
        settings=settings,
        client=client,
        db=db,
        users=users,
        task_queries=TaskQueries(db),
        accounts=AccountService(users, hasher, sessions, events, clock),
        tasks=TaskService(TaskRepository(db), users, events, clock),
        password_resets=resets,
        broker=broker,
        outbox=outbox,
        relay=OutboxRelay(outbox, broker, clock),
        deliveries=DeliveryRepository(db),
        mailer=make_mailer(settings),
        jwt_secret=jwt_secret,
        clock=clock,
        sessions=sessions,
        cache=cache,
        alerts=make_alerts(settings, db, events, clock),
        embedded_mongo=embedded,
    )
    create_bootstrap_admin(container)
    return container


def make_alerts(
    settings: Settings, db: Database, events: EventRecorder, clock: Clock
) -> AlertService:
    policy = DigestPolicy(
        due_soon=timedelta(hours=settings.alert_due_soon_hours),
        max_tasks=settings.alert_max_tasks,
    )
    return AlertService(
        ScheduleRepository(db),
        AlertRunRepository(db),
        PendingTaskDigests(db),
        events,
        clock,
        policy,
    )


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
        )
    )


def make_mailer(settings: Settings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, settings.mail_from, settings.smtp_timeout)
    return FileMailer(settings.mail_dir, settings.mail_from)


def create_bootstrap_admin(container: Container) -> None:
    settings = container.settings
    if not (settings.admin_email and settings.admin_password):
        return
    admin = container.accounts.ensure_admin(settings.admin_email, settings.admin_password)
    if admin:
        log.info("bootstrap admin ready: id=%s", admin.id)


def resolve_jwt_secret(settings: Settings) -> str:
    """JWT_SECRET when set; with real services it is required; embedded mode keeps a generated
    one in DATA_DIR so tokens survive restarts."""
    if settings.jwt_secret:
        if len(settings.jwt_secret) < 32:
            raise SettingsError("invalid setting JWT_SECRET: use at least 32 characters")
        return settings.jwt_secret
    if settings.uses_real_services:
        raise SettingsError(
            "invalid setting JWT_SECRET: required when MONGO_URL or another "
            "real service is configured"
        )
    return _stored_secret(settings.data_dir / JWT_SECRET_FILE)


def _stored_secret(path: Path) -> str:
    if path.exists() and (stored := path.read_text().strip()):
        return stored
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret)
    return secret
