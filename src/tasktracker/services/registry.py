"""Everything the API and the CLI may call, built by the composition root (bootstrap.py)."""

from __future__ import annotations

from dataclasses import dataclass

from tasktracker.services.accounts import AccountService
from tasktracker.services.activity import ActivityService
from tasktracker.services.alerts import AlertService
from tasktracker.services.calendar import CalendarService
from tasktracker.services.clock import Clock
from tasktracker.services.comments import CommentService
from tasktracker.services.health import HealthService
from tasktracker.services.password_reset import PasswordResetService
from tasktracker.services.preferences import PreferenceService
from tasktracker.services.projects import ProjectService
from tasktracker.services.reminders import ReminderService
from tasktracker.services.sessions import SessionService
from tasktracker.services.task_queries import TaskQueryService
from tasktracker.services.tasks import TaskService
from tasktracker.services.tokens import TokenService
from tasktracker.services.watchers import WatcherService
from tasktracker.services.webhooks import WebhookService
from tasktracker.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    clock: Clock
    accounts: AccountService
    sessions: SessionService
    tokens: TokenService
    projects: ProjectService
    tasks: TaskService
    task_queries: TaskQueryService
    comments: CommentService
    activity: ActivityService
    watchers: WatcherService
    preferences: PreferenceService
    calendar: CalendarService
    webhooks: WebhookService
    password_resets: PasswordResetService
    alerts: AlertService
    reminders: ReminderService
    health: HealthService
