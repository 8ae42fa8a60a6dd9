"""Accounts: sign-up, login, password changes and admin management of users."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from tasktracker.domain.errors import (
    AuthenticationFailed,
    ConcurrentChange,
    Conflict,
    Forbidden,
    NotFound,
)
from tasktracker.domain.events import EventType
from tasktracker.domain.queries import Page
from tasktracker.domain.users import (
    Role,
    User,
    ensure_admin_remains,
    require_admin,
    validate_password,
    validate_username,
)
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.events import make_event
from tasktracker.services.ports import (
    EventRecorder,
    PasswordHasher,
    TaskCounts,
    TaskReads,
    UserRepository,
)
from tasktracker.services.projects import DefaultProject
from tasktracker.services.sessions import SessionService

log = logging.getLogger(__name__)

LOGIN_FAILED = "invalid email or password"
BOOTSTRAP_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class UserChanges:
    role: Role | None = None
    active: bool | None = None


@dataclass(frozen=True, slots=True)
class UserWithCounts:
    user: User
    task_counts: TaskCounts


class AccountService:
    def __init__(
        self,
        users: UserRepository,
        hasher: PasswordHasher,
        sessions: SessionService,
        events: EventRecorder,
        task_reads: TaskReads,
        default_project: DefaultProject,
        clock: Clock = utc_now,
    ) -> None:
        self._users = users
        self._default_project = default_project
        self._task_reads = task_reads
        self._hasher = hasher
        self._sessions = sessions
        self._events = events
        self._clock = clock

    def signup(
        self,
        username: str,
        email: str,
        password: str,
        *,
        role: Role = Role.MEMBER,
        active: bool = True,
    ) -> User:
        """Register a user and, in the same transaction, their membership of the default project
        and the `user.registered` event. Callers decide the role: self-signup passes MEMBER."""
        username = validate_username(username)
        validate_password(password)
        password_hash = self._hasher.hash(password)
        now = self._clock()
        with self._events.transaction() as uow:
            user = uow.users.add(
                username=username,
                email=email,
                password_hash=password_hash,
                role=role,
                active=active,
                now=now,
            )
            uow.memberships.put(self._default_project.membership(user.id, now))
            payload = {"user_id": user.id, "username": user.username, "email": user.email}
            uow.record(make_event(EventType.USER_REGISTERED, payload, now))
        log.info("user registered id=%s role=%s", user.id, user.role)
        return user

    def authenticate(self, email: str, password: str) -> User:
        """The same failure, at the same cost, for an unknown email, a wrong password and a
        disabled account."""
        user = self._users.by_email(email)
        valid = self._hasher.verify(user.password_hash if user else None, password)
        if not (user and valid and user.active):
            raise AuthenticationFailed(LOGIN_FAILED)
        if user.password_hash and self._hasher.needs_rehash(user.password_hash):
            self._users.set_password_hash(user.id, self._hasher.hash(password), self._clock())
        return user

    def change_password(
        self,
        user_id: str,
        current_password: str,
        new_password: str,
        *,
        keep_session: str | None = None,
    ) -> None:
        """Change a password and end the user's other sessions."""
        user = self.get(user_id)
        if not self._hasher.verify(user.password_hash, current_password):
            raise Forbidden("the current password is not correct")
        validate_password(new_password)
        self._users.set_password_hash(user.id, self._hasher.hash(new_password), self._clock())
        ended = self._sessions.revoke_all(user.id, keep=keep_session)
        log.info("password changed user=%s other_sessions_ended=%d", user.id, ended)

    def get(self, user_id: str) -> User:
        user = self._users.get(user_id)
        if user is None:
            raise NotFound(f"no user with id '{user_id}'")
        return user

    def find_by_email(self, actor: User, email: str) -> UserWithCounts:
        """One user by email, with their assigned tasks counted by status (admins only)."""
        require_admin(actor)
        user = self._users.by_email(email)
        if user is None:
            raise NotFound("no user with this email")
        return UserWithCounts(user, self._task_reads.counts_by_assignee([user.id])[user.id])

    def list_users(self, actor: User, *, cursor: str | None, limit: int) -> Page[UserWithCounts]:
        """A page of users in id order, each with their assigned tasks counted by status."""
        require_admin(actor)
        users = self._users.page(after=cursor, limit=limit + 1)
        more = len(users) > limit
        users = users[:limit]
        counts = self._task_reads.counts_by_assignee([u.id for u in users])
        items = [UserWithCounts(u, counts[u.id]) for u in users]
        return Page(items, users[-1].id if more else None)

    def update_user(self, actor: User, user_id: str, changes: UserChanges) -> User:
        require_admin(actor)
        target = self.get(user_id)
        role = changes.role if changes.role is not None else target.role
        active = changes.active if changes.active is not None else target.active
        ensure_admin_remains(
            target, role, active, self._users.count_active_admins(excluding=target.id)
        )
        self._users.set_role_and_active(target.id, role, active, self._clock())
        if active:
            self._sessions.user_changed(target.id)
        else:
            self._sessions.revoke_all(target.id)
        log.info("user updated id=%s role=%s active=%s by=%s", target.id, role, active, actor.id)
        return self.get(user_id)

    def ensure_admin(self, email: str, password: str) -> User | None:
        """Create (or promote) the first admin when no active admin exists; None otherwise."""
        for attempt in range(1, BOOTSTRAP_ATTEMPTS + 1):
            if self._users.count_active_admins() > 0:
                return None
            try:
                return self.create_admin(email, password)
            except ConcurrentChange:
                # Replicas start together: another one is creating it right now.
                if attempt == BOOTSTRAP_ATTEMPTS:
                    raise
                time.sleep(0.05 * attempt)
            except Conflict:
                # ... or created it a moment ago.
                if self._users.count_active_admins() > 0:
                    return None
                raise
        return None

    def create_admin(self, email: str, password: str, username: str | None = None) -> User:
        """Create an admin account, or make the existing account with this email an admin."""
        existing = self._users.by_email(email)
        if existing:
            self._users.set_role_and_active(existing.id, Role.ADMIN, True, self._clock())
            self._sessions.user_changed(existing.id)
            log.info("promoted existing user id=%s to admin", existing.id)
            return self.get(existing.id)
        name = username or email.split("@", 1)[0]
        return self.signup(name, email, password, role=Role.ADMIN)

    # --- the original's routes (api/legacy) ----------------------------------------------------

    def register(
        self,
        actor: User | None,
        username: str,
        email: str,
        password: str,
        *,
        role: Role = Role.MEMBER,
        active: bool = True,
    ) -> User:
        """A sign-up that may come from an admin: only an admin's `role` and `active` count;
        anyone else (anonymous or not) gets an active member."""
        if actor is None or not actor.is_admin:
            role, active = Role.MEMBER, True
        return self.signup(username, email, password, role=role, active=active)

    def change_password_with_credentials(
        self, email: str, current_password: str, new_password: str
    ) -> None:
        """Change a password without a session: the current password authenticates, failing
        exactly like a login (unknown email, wrong password, disabled account). Every session
        of the user ends."""
        validate_password(new_password)
        user = self.authenticate(email, current_password)
        self._users.set_password_hash(user.id, self._hasher.hash(new_password), self._clock())
        ended = self._sessions.revoke_all(user.id)
        log.info("password changed user=%s sessions_ended=%d", user.id, ended)

    def usernames(self, user_ids: Iterable[str]) -> dict[str, str]:
        """user id -> username, for the ids that name a user."""
        return self._users.usernames(user_ids)
