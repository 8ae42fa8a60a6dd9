"""Who hears about a change to a task: its watchers, what each kind of change is called, and
each user's preferences."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any


class NotificationKind(StrEnum):
    ASSIGNED = "assigned"
    STATUS_CHANGED = "status_changed"
    COMMENTED = "commented"
    MENTIONED = "mentioned"


@dataclass(frozen=True, slots=True)
class NotificationPreferences:
    """What a user wants letters about; everything is on until they switch it off."""

    assigned: bool = True
    status_changed: bool = True
    commented: bool = True
    mentioned: bool = True
    digest: bool = True

    def wants(self, kind: NotificationKind) -> bool:
        return bool(getattr(self, str(kind)))

    def changed(self, changes: Mapping[str, bool]) -> NotificationPreferences:
        return replace(self, **changes)

    def values(self) -> dict[str, bool]:
        return asdict(self)

    @classmethod
    def of(cls, stored: Mapping[str, Any] | None) -> NotificationPreferences:
        """From a stored document; missing or unknown keys read as the defaults."""
        known = {k: bool(v) for k, v in (stored or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True, slots=True)
class Watcher:
    user_id: str
    username: str


def effective_watchers(
    reporter: str, assignee: str | None, choices: Mapping[str, bool]
) -> list[str]:
    """The reporter and the assignee watch unless they chose not to; anyone else watches once
    they chose to (or commented, or was mentioned). `choices`: user id -> watching."""
    implicit: Iterable[str] = (reporter, assignee) if assignee else (reporter,)
    watchers = dict.fromkeys(user for user in implicit if choices.get(user, True))
    watchers.update(dict.fromkeys(user for user, watching in choices.items() if watching))
    return list(watchers)
