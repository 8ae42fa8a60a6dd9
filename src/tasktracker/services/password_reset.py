"""Password reset: a request mails a single-use, expiring token (never a password); the token
is stored only as a SHA-256 hash and spent by `confirm`."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.events import EventType
from tasktracker.domain.users import validate_password
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.events import make_event
from tasktracker.services.ports import (
    EventRecorder,
    PasswordHasher,
    PasswordResetRepository,
    UserRepository,
)
from tasktracker.services.sessions import SessionService

log = logging.getLogger(__name__)


class InvalidResetToken(InvalidInput):
    title = "Invalid reset token"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PasswordResetService:
    def __init__(
        self,
        users: UserRepository,
        resets: PasswordResetRepository,
        events: EventRecorder,
        hasher: PasswordHasher,
        sessions: SessionService,
        ttl: timedelta,
        clock: Clock = utc_now,
    ) -> None:
        self._users = users
        self._resets = resets
        self._events = events
        self._sessions = sessions
        self._hasher = hasher
        self._ttl = ttl
        self._clock = clock

    def request(self, email: str) -> None:
        """Ask for a reset letter. Unknown or disabled accounts are ignored silently, so the
        caller cannot learn which emails are registered."""
        user = self._users.by_email(email)
        if user is None or not user.active:
            log.info("password reset requested for no active account")
            return
        payload = {"user_id": user.id, "username": user.username, "email": user.email}
        with self._events.transaction() as uow:
            uow.record(make_event(EventType.PASSWORD_RESET_REQUESTED, payload, self._clock()))
        log.info("password reset requested user=%s", user.id)

    def issue_token(self, user_id: str) -> IssuedToken:
        """A fresh token for the letter (called by the agent, so the token never travels
        through the broker or the outbox)."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        expires_at = now + self._ttl
        self._resets.add(user_id, token_hash(token), now, expires_at)
        return IssuedToken(token, expires_at)

    def confirm(self, token: str, new_password: str) -> str:
        """Set a new password with a live token; the token, the user's other outstanding
        tokens and every session of the user stop working. Answers the user id."""
        validate_password(new_password)
        password_hash = self._hasher.hash(new_password)
        now = self._clock()
        with self._events.transaction() as uow:
            user_id = uow.password_resets.use(token_hash(token), now)
            if user_id is None:
                raise InvalidResetToken("the reset token is unknown, already used or expired")
            uow.users.set_password_hash(user_id, password_hash, now)
            uow.password_resets.void_others(user_id, now)
        ended = self._sessions.revoke_all(user_id)
        log.info("password reset completed user=%s sessions_ended=%d", user_id, ended)
        return user_id
