"""The shapes of webhooks and their delivery log (DESIGN 14)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, Field, StrictBool

from tasktracker.domain.queries import Page
from tasktracker.domain.webhooks import MAX_URL_LENGTH, Delivery, DeliveryStatus, Webhook
from tasktracker.schemas.common import Strict, partial_model
from tasktracker.schemas.types import ObjectKey

WebhookUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="http(s) URL; its host must not resolve to a private or loopback address",
    ),
]
EventList = Annotated[
    list[Annotated[str, Field(max_length=64)]],
    Field(
        min_length=1,
        max_length=32,
        description="event types (task.created, task.updated, task.status_changed, "
        "task.assigned, task.deleted, comment.created, comment.updated, comment.deleted, "
        'project.member_added, project.member_removed) or ["*"]',
    ),
]


class WebhookIn(Strict):
    url: WebhookUrl
    events: EventList
    active: StrictBool = True


WebhookPatch = partial_model(
    WebhookIn, "WebhookPatch", "Only the fields sent change; `active: true` clears the failures."
)


class WebhookPath(BaseModel):
    webhook_id: ObjectKey


class DeliveryPath(WebhookPath):
    delivery_id: ObjectKey


class WebhookPublic(BaseModel):
    """A hook as its owner sees it (never its secret)."""

    id: str
    project_id: str
    url: str
    events: list[str]
    active: bool
    failures_in_a_row: int = Field(description="failed attempts since the last success")
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, hook: Webhook) -> Self:
        return cls(
            id=hook.id,
            project_id=hook.project_id,
            url=hook.url,
            events=hook.events,
            active=hook.active,
            failures_in_a_row=hook.failures_in_a_row,
            disabled_reason=hook.disabled_reason,
            created_at=hook.created_at,
            updated_at=hook.updated_at,
        )


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="whsec_…: shown once; verify signatures with it")


class WebhookList(BaseModel):
    items: list[WebhookPublic]


class SecretRotated(BaseModel):
    id: str
    secret: str = Field(description="the new secret, shown once")
    previous_secret_expires_at: datetime = Field(
        description="until then deliveries carry a signature with the old secret too"
    )


class DeliveryAccepted(BaseModel):
    delivery_id: str = Field(description="also the `webhook-id` header of the delivery")


class DeliveryPublic(BaseModel):
    id: str = Field(description="the `webhook-id` header: the same on every attempt")
    event_id: str
    type: str
    status: DeliveryStatus
    attempts: int
    response_status: int | None
    duration_ms: int | None
    next_attempt_at: datetime | None
    response_excerpt: str | None
    error: str | None = Field(description="why the last attempt failed without an answer")
    created_at: datetime

    @classmethod
    def of(cls, d: Delivery) -> Self:
        return cls(
            id=d.id,
            event_id=d.event_id,
            type=d.type,
            status=d.status,
            attempts=d.attempts,
            response_status=d.response_status,
            duration_ms=d.duration_ms,
            next_attempt_at=d.next_attempt_at if d.status is DeliveryStatus.PENDING else None,
            response_excerpt=d.response_excerpt,
            error=d.error,
            created_at=d.created_at,
        )


class DeliveryPage(BaseModel):
    items: list[DeliveryPublic]
    next_cursor: str | None

    @classmethod
    def of(cls, page: Page[Delivery]) -> Self:
        return cls(items=[DeliveryPublic.of(d) for d in page.items], next_cursor=page.next_cursor)
