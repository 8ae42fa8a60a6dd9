"""Resource API: a project's webhooks, their secrets and delivery log (DESIGN 14)."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from tasktracker.api.presenters import json_response
from tasktracker.api.security import Access, current_actor, requires
from tasktracker.domain.tokens import Scope
from tasktracker.schemas.common import Problem
from tasktracker.schemas.projects import PageQuery, ProjectPath
from tasktracker.schemas.tasks import patch_changes
from tasktracker.schemas.webhooks import (
    DeliveryAccepted,
    DeliveryPage,
    DeliveryPath,
    SecretRotated,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookPatch,
    WebhookPath,
    WebhookPublic,
)
from tasktracker.services.registry import Services

TAG = Tag(name="webhooks", description="Signed HTTP callbacks on a project's events (owners)")
SECURITY = [{"bearer": []}]
WRITE = Scope.WEBHOOKS_WRITE
NOT_ALLOWED = {403: Problem, 404: Problem}


def webhooks_api(c: Services) -> APIBlueprint:
    bp = APIBlueprint(
        "webhooks", __name__, url_prefix="/api/v1", abp_tags=[TAG], abp_security=SECURITY
    )

    @bp.post(
        "/projects/<project>/webhooks",
        responses={201: WebhookCreated, 409: Problem, 422: Problem, **NOT_ALLOWED},
    )
    @requires(Access.USER, WRITE)
    def create_webhook(path: ProjectPath, body: WebhookIn) -> Response:
        """Subscribe a URL to the project's events (owner). The secret is shown only here."""
        hook, secret = c.webhooks.create(
            current_actor(), path.project, body.url, body.events, body.active
        )
        created = WebhookCreated(**WebhookPublic.of(hook).model_dump(), secret=secret)
        response = json_response(created, 201)
        response.headers["Location"] = f"/api/v1/webhooks/{hook.id}"
        return response

    @bp.get("/projects/<project>/webhooks", responses={200: WebhookList, **NOT_ALLOWED})
    @requires(Access.USER, WRITE)
    def list_webhooks(path: ProjectPath) -> Response:
        """The project's webhooks (owner), without secrets."""
        hooks = c.webhooks.list(current_actor(), path.project)
        return json_response(WebhookList(items=[WebhookPublic.of(h) for h in hooks]))

    @bp.get("/webhooks/<webhook_id>", responses={200: WebhookPublic, **NOT_ALLOWED})
    @requires(Access.USER, WRITE)
    def get_webhook(path: WebhookPath) -> Response:
        return json_response(WebhookPublic.of(c.webhooks.get(current_actor(), path.webhook_id)))

    @bp.patch("/webhooks/<webhook_id>", responses={200: WebhookPublic, 422: Problem, **NOT_ALLOWED})
    @requires(Access.USER, WRITE)
    def update_webhook(path: WebhookPath, body: WebhookPatch) -> Response:  # type: ignore[valid-type]
        """Change the url, events or active flag; `active: true` re-enables a disabled hook."""
        hook = c.webhooks.update(current_actor(), path.webhook_id, patch_changes(body))
        return json_response(WebhookPublic.of(hook))

    @bp.delete("/webhooks/<webhook_id>", responses={204: None, **NOT_ALLOWED})
    @requires(Access.USER, WRITE)
    def delete_webhook(path: WebhookPath) -> tuple[str, int]:
        """Remove the hook and its delivery log; nothing more is sent to it."""
        c.webhooks.delete(current_actor(), path.webhook_id)
        return "", 204

    @bp.post("/webhooks/<webhook_id>/rotate-secret", responses={200: SecretRotated, **NOT_ALLOWED})
    @requires(Access.USER, WRITE)
    def rotate_secret(path: WebhookPath) -> Response:
        """A new secret; for 24 hours deliveries are signed with both (two signatures)."""
        hook, secret, ends = c.webhooks.rotate_secret(current_actor(), path.webhook_id)
        rotated = SecretRotated(id=hook.id, secret=secret, previous_secret_expires_at=ends)
        return json_response(rotated)

    @bp.post("/webhooks/<webhook_id>/ping", responses={202: DeliveryAccepted, **NOT_ALLOWED})
    @requires(Access.USER, WRITE)
    def ping_webhook(path: WebhookPath) -> Response:
        """Send the hook a `webhook.ping` event; its delivery shows in the log."""
        delivery_id = c.webhooks.ping(current_actor(), path.webhook_id)
        return json_response(DeliveryAccepted(delivery_id=delivery_id), 202)

    @bp.get("/webhooks/<webhook_id>/deliveries", responses={200: DeliveryPage, **NOT_ALLOWED})
    @requires(Access.USER, WRITE)
    def list_deliveries(path: WebhookPath, query: PageQuery) -> Response:
        """The delivery log, newest first (kept 30 days)."""
        page = c.webhooks.deliveries(
            current_actor(), path.webhook_id, cursor=query.cursor, limit=query.limit
        )
        return json_response(DeliveryPage.of(page))

    @bp.post(
        "/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver",
        responses={202: DeliveryAccepted, **NOT_ALLOWED},
    )
    @requires(Access.USER, WRITE)
    def redeliver(path: DeliveryPath) -> Response:
        """Send a delivery again from its first attempt, with the same `webhook-id`."""
        delivery_id = c.webhooks.redeliver(current_actor(), path.webhook_id, path.delivery_id)
        return json_response(DeliveryAccepted(delivery_id=delivery_id), 202)

    return bp
