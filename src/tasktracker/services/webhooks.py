"""Webhooks: a project owner's subscriptions, their secrets, and the delivery log.

Sending is the agent's (agent/webhooks.py): what this service asks of it — a ping, a
redelivery — goes through the outbox like every event, so it happens only after commit.
"""

from __future__ import annotations

import base64
import logging
import secrets
from datetime import datetime
from typing import Any

from tasktracker.domain.errors import Conflict, InvalidInput, NotFound
from tasktracker.domain.events import EventType
from tasktracker.domain.projects import Action, Actor, Project, require
from tasktracker.domain.queries import Page
from tasktracker.domain.webhooks import (
    SECRET_OVERLAP,
    SECRET_PREFIX,
    Delivery,
    Secret,
    Webhook,
    check_events,
    check_url,
    delivery_id,
    ping_data,
)
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.events import make_event
from tasktracker.services.ports import (
    EventRecorder,
    ProjectRepository,
    WebhookDeliveryLog,
    WebhookRepository,
    WebhookTargets,
)
from tasktracker.services.projects import visible_project

log = logging.getLogger(__name__)

MAX_HOOKS_PER_PROJECT = 20
SECRET_BYTES = 24
CHANGEABLE = frozenset({"url", "events", "active"})


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


class WebhookService:
    def __init__(
        self,
        hooks: WebhookRepository,
        deliveries: WebhookDeliveryLog,
        projects: ProjectRepository,
        targets: WebhookTargets,
        events: EventRecorder,
        clock: Clock = utc_now,
    ) -> None:
        self._hooks = hooks
        self._deliveries = deliveries
        self._projects = projects
        self._targets = targets
        self._events = events
        self._clock = clock

    def create(
        self, actor: Actor, project_ref: str, url: str, events: list[str], active: bool = True
    ) -> tuple[Webhook, str]:
        """A new hook and its secret (shown this once)."""
        project = visible_project(actor, self._projects, project_ref)
        require(actor, Action.MANAGE, project)
        if len(self._hooks.for_project(project.id)) >= MAX_HOOKS_PER_PROJECT:
            raise Conflict(f"{project.key} has {MAX_HOOKS_PER_PROJECT} webhooks, the most allowed")
        url = self._reachable(url)
        now = self._clock()
        secret = new_secret()
        hook = Webhook(
            id="",
            project_id=project.id,
            url=url,
            events=check_events(events),
            active=active,
            secrets=[Secret(secret, now)],
            created_by=actor.id,
            created_at=now,
            updated_at=now,
        )
        self._hooks.add(hook)
        log.info("webhook created id=%s project=%s by=%s", hook.id, project.key, actor.id)
        return hook, secret

    def list(self, actor: Actor, project_ref: str) -> list[Webhook]:
        project = visible_project(actor, self._projects, project_ref)
        require(actor, Action.MANAGE, project, reading=True)
        return self._hooks.for_project(project.id)

    def get(self, actor: Actor, webhook_id: str) -> Webhook:
        return self._managed(actor, webhook_id, reading=True)[0]

    def update(self, actor: Actor, webhook_id: str, changes: dict[str, Any]) -> Webhook:
        """Change url, events or active; switching a hook on again clears its failure count."""
        unknown = set(changes) - CHANGEABLE
        if unknown:
            raise InvalidInput(f"these fields cannot be changed: {', '.join(sorted(unknown))}")
        hook, _ = self._managed(actor, webhook_id)
        if changes.get("url") is not None:
            hook.url = self._reachable(changes["url"])
        if changes.get("events") is not None:
            hook.events = check_events(changes["events"])
        if changes.get("active") is not None:
            if changes["active"] and not hook.active:
                hook.failures_in_a_row, hook.disabled_reason = 0, None
            hook.active = bool(changes["active"])
        hook.updated_at = self._clock()
        self._hooks.save(hook)
        return hook

    def delete(self, actor: Actor, webhook_id: str) -> None:
        hook, _ = self._managed(actor, webhook_id)
        self._hooks.delete(hook.id)
        log.info("webhook deleted id=%s by=%s", hook.id, actor.id)

    def rotate_secret(self, actor: Actor, webhook_id: str) -> tuple[Webhook, str, datetime]:
        """A new secret; the current one keeps signing (beside it) for SECRET_OVERLAP. Answers
        the hook, the new secret (shown this once) and when the old one stops signing."""
        hook, _ = self._managed(actor, webhook_id)
        now = self._clock()
        ends = now + SECRET_OVERLAP
        current = hook.secrets[0]
        secret = new_secret()
        hook.secrets = [Secret(secret, now), Secret(current.value, current.created_at, ends)]
        hook.updated_at = now
        self._hooks.save(hook)
        log.info("webhook secret rotated id=%s by=%s", hook.id, actor.id)
        return hook, secret, ends

    def ping(self, actor: Actor, webhook_id: str) -> str:
        """Ask the agent to send the hook a `webhook.ping`; answers the delivery's id."""
        hook, project = self._managed(actor, webhook_id)
        payload = {**origin(actor, project), "webhook_id": hook.id, "data": ping_data(hook)}
        event = make_event(EventType.WEBHOOK_PING, payload, self._clock())
        with self._events.transaction() as uow:
            uow.record(event)
        return delivery_id(event.event_id, hook.id)

    def deliveries(
        self, actor: Actor, webhook_id: str, *, cursor: str | None, limit: int
    ) -> Page[Delivery]:
        hook, _ = self._managed(actor, webhook_id, reading=True)
        return self._deliveries.page(hook.id, cursor, limit)

    def redeliver(self, actor: Actor, webhook_id: str, delivery: str) -> str:
        """Send a delivery again from its first attempt, with the same `webhook-id`."""
        hook, project = self._managed(actor, webhook_id)
        found = self._deliveries.get(delivery)
        if found is None or found.webhook_id != hook.id:
            raise NotFound(f"no delivery '{delivery}' of this webhook")
        payload = {**origin(actor, project), "webhook_id": hook.id, "delivery_id": found.id}
        with self._events.transaction() as uow:
            uow.record(make_event(EventType.WEBHOOK_REDELIVER, payload, self._clock()))
        return found.id

    def _managed(
        self, actor: Actor, webhook_id: str, *, reading: bool = False
    ) -> tuple[Webhook, Project]:
        """The hook, if the caller owns its project; NotFound when they cannot see it."""
        hook = self._hooks.get(webhook_id)
        if hook is None or not actor.sees(hook.project_id):
            raise NotFound(f"no webhook '{webhook_id}'")
        project = visible_project(actor, self._projects, hook.project_id)
        require(actor, Action.MANAGE, project, reading=reading)
        return hook, project

    def _reachable(self, url: str) -> str:
        url = check_url(url)
        self._targets.check(url)
        return url


def origin(actor: Actor, project: Project) -> dict[str, Any]:
    """Who asked, and in which project: the parts of a webhook body every event carries."""
    return {
        "project_id": project.id,
        "project_key": project.key,
        "actor": actor.id,
        "actor_name": actor.user.username,
    }
