"""Domain events: what happened, published to the broker through the outbox.

An event is plain data; its `type` is also the routing key on the `tasktracker.events` exchange.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    USER_REGISTERED = "user.registered"
    PASSWORD_RESET_REQUESTED = "user.password_reset_requested"
    TASK_CREATED = "task.created"
    TASK_UPDATED = "task.updated"  # any change to a task's fields (besides the specific events)
    TASK_ASSIGNED = "task.assigned"
    TASK_STATUS_CHANGED = "task.status_changed"
    TASK_DELETED = "task.deleted"
    TASK_REMINDER = "task.reminder"  # a reminder's time came: a letter to the assignee/reporter
    ALERTS_PENDING_TASKS = "alerts.pending_tasks"
    COMMENT_CREATED = "comment.created"
    COMMENT_UPDATED = "comment.updated"
    COMMENT_DELETED = "comment.deleted"
    PROJECT_CREATED = "project.created"
    PROJECT_MEMBER_ADDED = "project.member_added"
    PROJECT_MEMBER_REMOVED = "project.member_removed"
    WEBHOOK_PING = "webhook.ping"  # one hook's test delivery
    WEBHOOK_REDELIVER = "webhook.redeliver"  # one delivery sent again
    WEBHOOK_DISABLED = "webhook.disabled"  # a letter to the hook's owner


# What a webhook may subscribe to (DESIGN 14). Each of these events' payloads carries the
# webhook body's parts: `project_id`, `project_key`, `actor`, `actor_name`, `data` (the task,
# comment or membership as the API shows it) and `previous` (old values of changed fields).
WEBHOOK_EVENTS: tuple[EventType, ...] = (
    EventType.TASK_CREATED,
    EventType.TASK_UPDATED,
    EventType.TASK_STATUS_CHANGED,
    EventType.TASK_ASSIGNED,
    EventType.TASK_DELETED,
    EventType.COMMENT_CREATED,
    EventType.COMMENT_UPDATED,
    EventType.COMMENT_DELETED,
    EventType.PROJECT_MEMBER_ADDED,
    EventType.PROJECT_MEMBER_REMOVED,
)


class MalformedEvent(ValueError):
    """A message that is not an event of ours (bad JSON, missing fields, unknown type)."""


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    payload: dict[str, Any]
    occurred_at: datetime
    correlation_id: str | None = None
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_message(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": str(self.type),
            "occurred_at": self.occurred_at.isoformat(),
            "correlation_id": self.correlation_id,
            "payload": self.payload,
        }


def parse_event(body: bytes | str) -> Event:
    """Decode a broker message; raise MalformedEvent for anything that is not a known event."""
    try:
        data = json.loads(body)
        return Event(
            event_id=_text(data["event_id"]),
            type=EventType(data["type"]),
            occurred_at=datetime.fromisoformat(_text(data["occurred_at"])),
            correlation_id=data.get("correlation_id"),
            payload=_mapping(data["payload"]),
        )
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise MalformedEvent(f"not an event: {type(exc).__name__}") from None


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("expected a non-empty string")
    return value


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("expected an object")
    return value
