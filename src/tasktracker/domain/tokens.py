"""Personal access tokens: what a token may do (its scopes)."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    TASKS_READ = "tasks:read"  # tasks, comments, activity, watchers, the caller's task lists
    TASKS_WRITE = "tasks:write"
    PROJECTS_READ = "projects:read"  # projects and their members
    PROJECTS_WRITE = "projects:write"
    USERS_READ = "users:read"
    WEBHOOKS_WRITE = "webhooks:write"  # a project's webhooks and their deliveries
    ADMIN = "admin"  # admin routes; only an admin may create a token with it
