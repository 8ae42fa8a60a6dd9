"""Notification rules, without I/O: who hears about a task event and as what kind, the item each
recipient's batch keeps of it, and how a batch of items reads in a letter.

Events published before collaboration may lack `actor`, `actor_name` and `watchers`: a missing
watcher list reads as the assignee and the reporter, a missing actor as nobody.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tasktracker.domain.events import Event, EventType
from tasktracker.domain.notifications import NotificationKind, NotificationPreferences

NOTIFYING = frozenset(
    {EventType.TASK_ASSIGNED, EventType.TASK_STATUS_CHANGED, EventType.COMMENT_CREATED}
)
# What a batch item keeps of its event's payload (besides its kind, event id and time).
ITEM_FIELDS = (
    "actor",
    "actor_name",
    "key",
    "title",
    "project_id",
    "project_key",
    "status",
    "previous_status",
    "comment_id",
    "excerpt",
)

# A user, and the kinds of notification they may get of an event, preferred first.
Wish = tuple[str, tuple[NotificationKind, ...]]
_MENTIONED: tuple[NotificationKind, ...] = (NotificationKind.MENTIONED,)
_MENTIONED_WATCHER = (NotificationKind.MENTIONED, NotificationKind.COMMENTED)


class MalformedNotice(ValueError):
    """The event cannot become a notification (no task id, no project); retrying cannot help."""


@dataclass(frozen=True, slots=True)
class Notice:
    user_id: str
    kind: NotificationKind


# --- who hears about an event ------------------------------------------------------------------


def task_id_of(event: Event) -> str:
    return _required(event.payload, "task_id")


def project_id_of(event: Event) -> str:
    return _required(event.payload, "project_id")


def actor_of(payload: Mapping[str, Any]) -> str | None:
    actor = payload.get("actor")
    return actor if isinstance(actor, str) and actor else None


def watchers_of(payload: Mapping[str, Any]) -> list[str]:
    watchers = payload.get("watchers")
    if not isinstance(watchers, list):
        watchers = [payload.get("assignee"), payload.get("reporter")]
    return _user_ids(watchers)


def wishes(event: Event) -> list[Wish]:
    """Who the event is for, each with the kinds they may get (preferred first), in order."""
    p = event.payload
    if event.type is EventType.TASK_ASSIGNED:
        return [(user, (NotificationKind.ASSIGNED,)) for user in _user_ids([p.get("assignee")])]
    if event.type is EventType.TASK_STATUS_CHANGED:
        return [(user, (NotificationKind.STATUS_CHANGED,)) for user in watchers_of(p)]
    if event.type is EventType.COMMENT_CREATED:
        watchers = watchers_of(p)
        mentioned: list[Wish] = [
            # A mentioned watcher who switched mentions off still hears of the comment.
            (user, _MENTIONED_WATCHER if user in watchers else _MENTIONED)
            for user in _user_ids(p.get("mentions") or [])
        ]
        return mentioned + [(user, (NotificationKind.COMMENTED,)) for user in watchers]
    return []


def candidates(event: Event) -> list[str]:
    """Every user the event might notify (never the actor): whose eligibility to look up."""
    actor = actor_of(event.payload)
    return list(dict.fromkeys(user for user, _ in wishes(event) if user != actor))


def recipients(event: Event, eligible: Mapping[str, NotificationPreferences]) -> list[Notice]:
    """Who gets a notification of `event`, and of which kind. `eligible`: the candidates who are
    active members of the task's project, with their preferences. Never the actor; each user
    once, as the first kind of their wish they want."""
    actor = actor_of(event.payload)
    seen: set[str] = set()
    notices = []
    for user, kinds in wishes(event):
        if user == actor or user in seen:
            continue
        seen.add(user)
        preferences = eligible.get(user)
        kind = next((k for k in kinds if preferences and preferences.wants(k)), None)
        if kind is not None:
            notices.append(Notice(user, kind))
    return notices


def notice_item(event: Event, kind: NotificationKind) -> dict[str, Any]:
    """What the recipient's batch keeps of the event: enough to write its line of the letter."""
    p = event.payload
    item: dict[str, Any] = {
        "event_id": event.event_id,
        "type": str(event.type),
        "kind": str(kind),
        "at": event.occurred_at,
        "task_id": task_id_of(event),
    }
    item.update({name: p[name] for name in ITEM_FIELDS if isinstance(p.get(name), str)})
    return item


# --- how a batch reads -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    """One change in a letter: who (empty when unknown), what, and a comment's words."""

    actor: str
    action: str
    quote: str | None = None

    @property
    def text(self) -> str:
        said = f": {self.quote}" if self.quote else ""
        return f"{self.actor or 'Someone'} {self.action}{said}"


@dataclass(frozen=True, slots=True)
class NotificationLetter:
    subject: str
    key: str
    title: str
    task_ref: str  # the key, or the id of a task from before projects
    lines: list[Line]


def ordered(items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Items in the order their changes happened (a redelivery may have queued one late)."""
    return sorted(items, key=lambda item: _time(item.get("at")))


def line_of(item: Mapping[str, Any]) -> Line:
    actor = one_line(_text(item, "actor_name"))
    kind = item.get("kind")
    if kind == NotificationKind.ASSIGNED:
        return Line(actor, "assigned the task to you")
    if kind == NotificationKind.STATUS_CHANGED:
        before, after = _text(item, "previous_status"), _text(item, "status")
        change = f"from {before} to {after}" if before else f"to {after}"
        return Line(actor, f"changed the status {change}")
    if kind == NotificationKind.MENTIONED:
        return Line(actor, "mentioned you", one_line(_text(item, "excerpt")) or None)
    if kind == NotificationKind.COMMENTED:
        return Line(actor, "commented", one_line(_text(item, "excerpt")) or None)
    raise MalformedNotice(f"no line for a notification of kind {kind!r}")


def compose(items: Sequence[Mapping[str, Any]]) -> NotificationLetter:
    """The letter of a batch: its changes in order, titled by the task as it is now (the
    newest item's key and title)."""
    if not items:
        raise MalformedNotice("a batch without items")
    in_order = ordered(items)
    newest = in_order[-1]
    key, title = one_line(_text(newest, "key")), one_line(_text(newest, "title"))
    lines = [line_of(item) for item in in_order]
    subject = f"[{key}] {title}" if key else title or "A task you watch"
    if len(lines) > 1:
        subject += f" — {len(lines)} updates"
    return NotificationLetter(subject, key, title, key or _text(newest, "task_id"), lines)


def one_line(text: str) -> str:
    """Whitespace (newlines too) collapsed: a header or a list line stays one line."""
    return " ".join(text.split())


def _text(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    return value if isinstance(value, str) else ""


def _time(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else 0.0


def _required(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedNotice(f"the event payload has no '{name}'")
    return value


def _user_ids(values: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(v for v in values if isinstance(v, str) and v))
