"""Sessions: one per login, checked on every request, revocable at once.

MongoDB holds the durable record (so a Memcached restart logs nobody out and a revoked session
stays revoked); the cache holds, per session, the little the hot path needs — the user's role,
active flag and project roles — so an authenticated request, membership check included, costs
one cache round trip. Changing a user or their memberships drops the cached records of their
sessions, so a demotion, a disable or a removal from a project applies on the next request.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from tasktracker.domain.errors import AuthenticationFailed
from tasktracker.domain.projects import Actor, ProjectRole
from tasktracker.domain.sessions import SessionRecord
from tasktracker.domain.users import Role, User
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.ports import (
    Cache,
    MembershipRepository,
    SessionRepository,
    UserRepository,
)

log = logging.getLogger(__name__)

REFRESH_INVALID = "the refresh token is no longer valid; log in again"


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    session_ttl: int  # seconds: how long a session lives without a refresh
    cache_ttl: int  # seconds: how long a cached session snapshot may be served


def cache_key(session_id: str) -> str:
    return f"tt:session:{session_id}"


def snapshot(
    user: User | None, live: bool, roles: dict[str, ProjectRole] | None = None
) -> dict[str, Any]:
    if user is None or not live:
        return {"revoked": True}
    return {
        "revoked": False,
        "uid": user.id,
        "username": user.username,
        "email": user.email,
        "role": str(user.role),
        "active": user.active,
        "created_at": user.created_at.isoformat(),
        "updated_at": user.updated_at.isoformat(),
        "projects": {pid: str(role) for pid, role in (roles or {}).items()},
    }


def actor_from_snapshot(
    data: dict[str, Any], recheck: Callable[[], Actor | None] | None = None
) -> Actor:
    roles = {pid: ProjectRole(role) for pid, role in data.get("projects", {}).items()}
    return Actor(user_from_snapshot(data), roles, recheck)


def user_from_snapshot(data: dict[str, Any]) -> User:
    return User(
        id=data["uid"],
        username=data["username"],
        email=data["email"],
        password_hash=None,
        role=Role(data["role"]),
        active=data["active"],
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
    )


class SessionService:
    """`cache` holds the snapshots; when it is a near cache (adapters/cache.NearCache), `shared`
    is the cache behind it, asked again before a refusal (Actor.recheck)."""

    def __init__(
        self,
        sessions: SessionRepository,
        users: UserRepository,
        memberships: MembershipRepository,
        cache: Cache,
        policy: SessionPolicy,
        clock: Clock = utc_now,
        *,
        shared: Cache | None = None,
    ) -> None:
        self._sessions = sessions
        self._users = users
        self._memberships = memberships
        self._cache = cache
        self._shared = shared
        self._policy = policy
        self._clock = clock

    def start(self, user: User) -> SessionRecord:
        now = self._clock()
        record = SessionRecord(
            id=uuid.uuid4().hex,
            user_id=user.id,
            refresh_id=uuid.uuid4().hex,
            created_at=now,
            expires_at=now + timedelta(seconds=self._policy.session_ttl),
            revoked_at=None,
        )
        self._sessions.add(record)
        data = snapshot(user, True, self._memberships.roles_of(user.id))
        self._cache.add(cache_key(record.id), data, self._policy.cache_ttl)
        return record

    def principal(self, session_id: str, user_id: str) -> Actor | None:
        """The caller of a live session with their project roles (cache first, then MongoDB);
        None when it has ended."""
        recheck = None
        if self._shared is not None:
            shared = partial(self._principal_in, self._shared, session_id, user_id, None)
            recheck = functools.cache(shared)
        return self._principal_in(self._cache, session_id, user_id, recheck)

    def rotate(self, session_id: str, refresh_id: str) -> SessionRecord:
        """Swap a refresh token for a new one. Presenting a spent one revokes the session."""
        now = self._clock()
        rotated = self._sessions.rotate(
            session_id,
            refresh_id,
            uuid.uuid4().hex,
            now,
            now + timedelta(seconds=self._policy.session_ttl),
        )
        if rotated is not None:
            user = self._users.get(rotated.user_id)
            if user and user.active:
                return rotated
            self.revoke(session_id)
            raise AuthenticationFailed(REFRESH_INVALID)
        current = self._sessions.get(session_id)
        if current is not None and current.is_live(now) and current.refresh_id != refresh_id:
            log.warning("refresh token reuse detected; session %s revoked", session_id[:8])
            self.revoke(session_id)
        raise AuthenticationFailed(REFRESH_INVALID)

    def revoke(self, session_id: str) -> None:
        self._sessions.revoke(session_id, self._clock())
        self._cache.set(cache_key(session_id), {"revoked": True}, self._policy.cache_ttl)

    def revoke_all(self, user_id: str, *, keep: str | None = None) -> int:
        """End every live session of a user (but `keep`); answers how many ended."""
        now = self._clock()
        ids = [sid for sid in self._sessions.live_ids_for_user(user_id, now) if sid != keep]
        self._sessions.revoke_many(ids, now)
        self._cache.delete_many([cache_key(sid) for sid in ids])
        return len(ids)

    def user_changed(self, user_id: str) -> None:
        """Drop cached snapshots so the next request reads the user's new role, active flag and
        project roles."""
        ids = self._sessions.live_ids_for_user(user_id, self._clock())
        self._cache.delete_many([cache_key(sid) for sid in ids])

    def _principal_in(
        self,
        cache: Cache,
        session_id: str,
        user_id: str,
        recheck: Callable[[], Actor | None] | None,
    ) -> Actor | None:
        data = self._snapshot(cache, session_id)
        if data["revoked"] or data["uid"] != user_id:
            return None
        return actor_from_snapshot(data, recheck)

    def _snapshot(self, cache: Cache, session_id: str) -> dict[str, Any]:
        key = cache_key(session_id)
        data = cache.get(key)
        if data is None:
            # `add`, not `set`: a revocation written meanwhile by another process wins
            data = self._load_snapshot(session_id)
            cache.add(key, data, self._policy.cache_ttl)
        elif not (data["revoked"] or "projects" in data):
            # cached by a version without projects (a rolling upgrade): read again
            data = self._load_snapshot(session_id)
            cache.set(key, data, self._policy.cache_ttl)
        return data

    def _load_snapshot(self, session_id: str) -> dict[str, Any]:
        record = self._sessions.get(session_id)
        if record is None or not record.is_live(self._clock()):
            return snapshot(None, False)
        user = self._users.get(record.user_id)
        return snapshot(user, True, self._memberships.roles_of(record.user_id) if user else None)
