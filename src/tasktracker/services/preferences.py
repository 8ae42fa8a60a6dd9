"""Each user's notification preferences: which letters they want."""

from __future__ import annotations

from collections.abc import Mapping

from tasktracker.domain.errors import InvalidInput, NotFound
from tasktracker.domain.notifications import NotificationPreferences
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.ports import UserRepository


class PreferenceService:
    def __init__(self, users: UserRepository, clock: Clock = utc_now) -> None:
        self._users = users
        self._clock = clock

    def notifications(self, user_id: str) -> NotificationPreferences:
        user = self._users.get(user_id)
        if user is None:
            raise NotFound("no such user")
        return user.notifications

    def change_notifications(
        self, user_id: str, changes: Mapping[str, bool | None]
    ) -> NotificationPreferences:
        """Switch the named kinds on or off; the others stay as they were."""
        nulls = sorted(kind for kind, value in changes.items() if value is None)
        if nulls:
            raise InvalidInput(f"these cannot be null: {', '.join(nulls)}")
        preferences = self.notifications(user_id).changed(
            {kind: bool(value) for kind, value in changes.items()}
        )
        self._users.set_notifications(user_id, preferences, self._clock())
        return preferences
