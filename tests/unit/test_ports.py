"""Every adapter and every fake implements the Protocol it stands in for, like
zope.interface's verifyClass: each method the Protocol declares exists with the same parameter
names, kinds, order and defaults (annotations are not compared: the adapters spell types their
own way), and each attribute it declares is a class attribute, an annotation, a property or
assigned to `self` in the class's source."""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any, Protocol

import pytest

from tasktracker.adapters.broker import Broker
from tasktracker.adapters.cache import InProcessCache, MemcachedCache, NearCache
from tasktracker.adapters.mongo import alerts as mongo_alerts
from tasktracker.adapters.mongo.activity import ActivityRepository
from tasktracker.adapters.mongo.calendar import CalendarFeedRepository
from tasktracker.adapters.mongo.comments import CommentRepository
from tasktracker.adapters.mongo.connection import DatabaseProbe
from tasktracker.adapters.mongo.outbox import OutboxRepository
from tasktracker.adapters.mongo.password_resets import PasswordResetRepository
from tasktracker.adapters.mongo.projects import MembershipRepository, ProjectRepository
from tasktracker.adapters.mongo.reminders import ReminderRepository
from tasktracker.adapters.mongo.sessions import SessionRepository
from tasktracker.adapters.mongo.task_counts import TaskCountRepository
from tasktracker.adapters.mongo.task_queries import TaskQueries
from tasktracker.adapters.mongo.tasks import TaskRepository
from tasktracker.adapters.mongo.tokens import AccessTokenRepository
from tasktracker.adapters.mongo.unit_of_work import MongoUnitOfWork
from tasktracker.adapters.mongo.users import UserRepository
from tasktracker.adapters.mongo.watchers import WatcherRepository
from tasktracker.adapters.mongo.webhooks import WebhookDeliveryRepository, WebhookRepository
from tasktracker.adapters.passwords import PasswordHasher
from tasktracker.adapters.webhook_http import TargetGuard
from tasktracker.bootstrap import Adapters
from tasktracker.services import ports
from tasktracker.services.events import OutboxEventRecorder
from tests import fakes

# Names typing.Protocol puts in every protocol class's namespace.
MISSING = object()
PROTOCOL_MACHINERY = {"__init__", "__subclasshook__", "__class_getitem__", "__init_subclass__"}

ADAPTERS: list[tuple[type, type]] = [
    (ports.UserRepository, UserRepository),
    (ports.TaskRepository, TaskRepository),
    (ports.TaskCountRepository, TaskCountRepository),
    (ports.TaskReads, TaskQueries),
    (ports.ProjectRepository, ProjectRepository),
    (ports.MembershipRepository, MembershipRepository),
    (ports.CommentRepository, CommentRepository),
    (ports.ActivityRepository, ActivityRepository),
    (ports.WatcherRepository, WatcherRepository),
    (ports.ReminderRepository, ReminderRepository),
    (ports.SessionRepository, SessionRepository),
    (ports.AccessTokenRepository, AccessTokenRepository),
    (ports.PasswordResetRepository, PasswordResetRepository),
    (ports.ScheduleRepository, mongo_alerts.ScheduleRepository),
    (ports.AlertRunRepository, mongo_alerts.AlertRunRepository),
    (ports.PendingTaskDigests, mongo_alerts.PendingTaskDigests),
    (ports.CalendarFeedRepository, CalendarFeedRepository),
    (ports.WebhookRepository, WebhookRepository),
    (ports.WebhookDeliveryLog, WebhookDeliveryRepository),
    (ports.WebhookTargets, TargetGuard),
    (ports.Outbox, OutboxRepository),
    (ports.UnitOfWork, MongoUnitOfWork),
    (ports.EventRecorder, OutboxEventRecorder),
    (ports.Publisher, Broker),
    (ports.Cache, MemcachedCache),
    (ports.Cache, NearCache),
    (ports.Cache, InProcessCache),
    (ports.PasswordHasher, PasswordHasher),
    (ports.Probe, DatabaseProbe),
    (ports.Probe, Broker),
    (ports.Probe, MemcachedCache),
    (ports.Probe, InProcessCache),
    (ports.Broker, Broker),
    (ports.ServicePorts, Adapters),
]

FAKES: list[tuple[type, type]] = [
    (ports.UserRepository, fakes.FakeUserRepository),
    (ports.TaskRepository, fakes.FakeTaskRepository),
    (ports.TaskCountRepository, fakes.FakeTaskCountRepository),
    (ports.TaskReads, fakes.FakeTaskReads),
    (ports.ProjectRepository, fakes.FakeProjectRepository),
    (ports.MembershipRepository, fakes.FakeMembershipRepository),
    (ports.CommentRepository, fakes.FakeCommentRepository),
    (ports.ActivityRepository, fakes.FakeActivityRepository),
    (ports.WatcherRepository, fakes.FakeWatcherRepository),
    (ports.ReminderRepository, fakes.FakeReminderRepository),
    (ports.SessionRepository, fakes.FakeSessionRepository),
    (ports.AccessTokenRepository, fakes.FakeAccessTokenRepository),
    (ports.PasswordResetRepository, fakes.FakePasswordResetRepository),
    (ports.ScheduleRepository, fakes.FakeScheduleRepository),
    (ports.AlertRunRepository, fakes.FakeAlertRunRepository),
    (ports.PendingTaskDigests, fakes.FakePendingTaskDigests),
    (ports.CalendarFeedRepository, fakes.FakeCalendarFeeds),
    (ports.WebhookRepository, fakes.FakeWebhookRepository),
    (ports.WebhookDeliveryLog, fakes.FakeWebhookDeliveryLog),
    (ports.WebhookTargets, fakes.FakeWebhookTargets),
    (ports.Outbox, fakes.FakeOutbox),
    (ports.UnitOfWork, fakes.FakeUnitOfWork),
    (ports.Publisher, fakes.FakePublisher),
    (ports.Cache, fakes.FakeCache),
    (ports.PasswordHasher, fakes.FakePasswordHasher),
    (ports.Probe, fakes.FakeProbe),
    (ports.Probe, fakes.FakePublisher),
    (ports.Probe, fakes.FakeCache),
    (ports.Broker, fakes.FakePublisher),
    (ports.ServicePorts, fakes.Fakes),
]


# --- the check ---------------------------------------------------------------------------------


def protocol_members(proto: type) -> tuple[dict[str, Any], set[str]]:
    """The methods (name -> function) and the data attributes a Protocol declares."""
    methods: dict[str, Any] = {}
    attributes: set[str] = set()
    for klass in reversed(proto.__mro__):
        if klass in (object, Protocol) or not getattr(klass, "_is_protocol", False):
            continue
        for name, value in vars(klass).items():
            if inspect.isfunction(value) and name not in PROTOCOL_MACHINERY:
                methods[name] = value
        attributes.update(vars(klass).get("__annotations__", {}))
    return methods, attributes


def self_assigned(cls: type) -> set[str]:
    """Attributes assigned as `self.<name>` anywhere in the source of `cls` and its bases."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is object:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
            ):
                names.add(node.attr)
    return names


def has_attribute(cls: type, name: str) -> bool:
    if any(name in vars(k).get("__annotations__", {}) for k in cls.__mro__):
        return True
    return hasattr(cls, name) or name in self_assigned(cls)


def parameters(function: Any, *, drop_self: bool = False) -> list[inspect.Parameter]:
    params = list(inspect.signature(function).parameters.values())
    return params[1:] if drop_self else params


def signature_problems(name: str, declared: Any, implemented: Any, static: bool) -> list[str]:
    """Each parameter of the Protocol's method must be in the implementation with the same
    name, kind and default (positional ones in the same place); extra parameters need a
    default. An implementation may add a default where the Protocol has none."""
    want = parameters(declared, drop_self=static)
    have = parameters(implemented)
    by_name = {p.name: p for p in have}
    problems = []
    for index, p in enumerate(want):
        q = by_name.get(p.name)
        if q is None:
            problems.append(f"{name}: parameter '{p.name}' is missing")
            continue
        if q.kind != p.kind:
            problems.append(f"{name}: '{p.name}' is {q.kind.description}, not {p.kind.description}")
        if p.default is not p.empty and q.default != p.default:
            problems.append(f"{name}: '{p.name}' defaults to {q.default!r}, not {p.default!r}")
        positional = (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        if p.kind in positional and (index >= len(have) or have[index].name != p.name):
            problems.append(f"{name}: '{p.name}' is not parameter {index}")
    declared_names = {p.name for p in want}
    for q in have:
        extra = q.name not in declared_names
        optional = q.default is not q.empty or q.kind in (q.VAR_POSITIONAL, q.VAR_KEYWORD)
        if extra and not optional:
            problems.append(f"{name}: extra parameter '{q.name}' has no default")
    return problems


def interface_problems(proto: type, cls: type) -> list[str]:
    """What `cls` lacks to implement `proto` (empty when it complies)."""
    methods, attributes = protocol_members(proto)
    problems = []
    for name, declared in sorted(methods.items()):
        raw = inspect.getattr_static(cls, name, MISSING)
        if raw is MISSING:
            problems.append(f"{name}: method is missing")
            continue
        if isinstance(raw, property) or not callable(getattr(cls, name)):
            problems.append(f"{name}: is not a method")
            continue
        static = isinstance(raw, staticmethod)
        problems += signature_problems(name, declared, getattr(cls, name), static)
    for name in sorted(attributes):
        if not has_attribute(cls, name):
            problems.append(f"{name}: attribute is missing")
    return problems


def verify_class(proto: type, cls: type) -> None:
    problems = interface_problems(proto, cls)
    assert not problems, f"{cls.__name__} does not implement {proto.__name__}: {problems}"


def pair_id(pair: tuple[type, type]) -> str:
    return f"{pair[0].__name__}-{pair[1].__module__.rsplit('.', 1)[-1]}.{pair[1].__name__}"


# --- the adapters and fakes ----------------------------------------------------------------------


@pytest.mark.parametrize(("proto", "cls"), ADAPTERS, ids=[pair_id(p) for p in ADAPTERS])
def test_adapter_implements_its_port(proto: type, cls: type) -> None:
    verify_class(proto, cls)


@pytest.mark.parametrize(("proto", "cls"), FAKES, ids=[pair_id(p) for p in FAKES])
def test_fake_implements_its_port(proto: type, cls: type) -> None:
    verify_class(proto, cls)


def all_protocols() -> set[type]:
    return {
        value
        for value in vars(ports).values()
        if isinstance(value, type)
        and getattr(value, "_is_protocol", False)
        and value is not Protocol
    }


def test_every_port_has_an_adapter_checked_here() -> None:
    assert all_protocols() - {proto for proto, _ in ADAPTERS} == set()


def test_every_port_a_service_uses_has_a_fake() -> None:
    # EventRecorder is the real OutboxEventRecorder over the fakes (see build_fake_services).
    assert all_protocols() - {proto for proto, _ in FAKES} == {ports.EventRecorder}


def test_every_protocol_declares_something() -> None:
    for proto in all_protocols():
        methods, attributes = protocol_members(proto)
        assert methods or attributes, proto.__name__


# --- the check catches what it should ------------------------------------------------------------


class GoodUsers(UserRepository):
    """A subclass implements the Protocol as its base does."""


class UsersWithoutByUsername:
    def add(self, *, username, email, password_hash, role, active, now): ...
    def get(self, user_id): ...
    def by_email(self, email): ...
    def usernames(self, user_ids): ...
    def set_password_hash(self, user_id, password_hash, now): ...
    def set_role_and_active(self, user_id, role, active, now): ...
    def count_active_admins(self, *, excluding=None): ...
    def page(self, *, after, limit): ...


class UsersWithRenamedParameter(UserRepository):
    def set_password_hash(self, uid, password_hash, now): ...  # type: ignore[override]


class UsersWithPositionalAdd(UserRepository):
    def add(self, username, email, password_hash, role, active, now): ...  # type: ignore[override]


class UsersWithOtherDefault(UserRepository):
    def count_active_admins(self, *, excluding="nobody"): ...  # type: ignore[override]


class UsersWithRequiredExtra(UserRepository):
    def get(self, user_id, projection): ...  # type: ignore[override]


class UsersWithSwappedParameters(UserRepository):
    def set_password_hash(self, user_id, now, password_hash): ...  # type: ignore[override]


class UsersWithOptionalExtra(UserRepository):
    def get(self, user_id, projection=None): ...  # type: ignore[override]


class SchedulesWithoutLimit(mongo_alerts.ScheduleRepository):
    def all(self): ...  # type: ignore[override]


class UnitOfWorkWithoutEvents:
    users: Any
    tasks: Any
    projects: Any
    memberships: Any
    comments: Any
    activity: Any
    watchers: Any
    password_resets: Any
    schedules: Any
    alert_runs: Any

    def record(self, *events): ...
    def __enter__(self): ...
    def __exit__(self, exc_type, exc, traceback): ...


class UnitOfWorkWithFixedRecord(fakes.FakeUnitOfWork):
    def record(self, event): ...  # type: ignore[override]


class CacheWithDataGet(fakes.FakeCache):
    get = None  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("proto", "cls", "problem"),
    [
        (ports.UserRepository, UsersWithoutByUsername, "by_username: method is missing"),
        (ports.UserRepository, UsersWithRenamedParameter, "parameter 'user_id' is missing"),
        (ports.UserRepository, UsersWithPositionalAdd, "'username' is positional or keyword"),
        (ports.UserRepository, UsersWithOtherDefault, "'excluding' defaults to 'nobody'"),
        (ports.UserRepository, UsersWithRequiredExtra, "extra parameter 'projection'"),
        (ports.UserRepository, UsersWithSwappedParameters, "'password_hash' is not parameter 2"),
        (ports.ScheduleRepository, SchedulesWithoutLimit, "all: parameter 'limit' is missing"),
        (ports.UnitOfWork, UnitOfWorkWithoutEvents, "events: attribute is missing"),
        (ports.UnitOfWork, UnitOfWorkWithFixedRecord, "record: parameter 'events' is missing"),
        (ports.Cache, CacheWithDataGet, "get: is not a method"),
    ],
)
def test_a_broken_class_is_caught(proto: type, cls: type, problem: str) -> None:
    problems = interface_problems(proto, cls)
    assert any(problem in p for p in problems), problems
    with pytest.raises(AssertionError):
        verify_class(proto, cls)


@pytest.mark.parametrize("cls", [GoodUsers, UsersWithOptionalExtra])
def test_a_compatible_class_passes(cls: type) -> None:
    verify_class(ports.UserRepository, cls)
