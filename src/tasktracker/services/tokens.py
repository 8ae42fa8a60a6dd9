"""Personal access tokens: created and revoked by their owner (or an admin), checked on every
request that sends one.

Unlike a session, a token's request reads the token, the user and their memberships from the
database every time (no cache): deleting the token, disabling the user or changing their project
roles applies to the very next request. `last_used_at` is written at most once a minute, so a
busy script costs no write per request.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import timedelta

from tasktracker.domain.errors import AuthenticationFailed, Conflict, NotFound
from tasktracker.domain.projects import Actor
from tasktracker.domain.tokens import (
    MAX_TOKENS_PER_USER,
    AccessToken,
    digest,
    hint,
    new_token,
    parse_scopes,
    require_grantable,
    validate_days,
    validate_name,
    well_formed,
)
from tasktracker.domain.users import User, require_admin
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.ports import (
    AccessTokenRepository,
    MembershipRepository,
    UserRepository,
)

log = logging.getLogger(__name__)

INVALID = "the access token is invalid or has been revoked"
EXPIRED = "the access token has expired"
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class TokenPrincipal:
    """The caller of a request made with a personal access token."""

    actor: Actor
    token: AccessToken


class TokenService:
    def __init__(
        self,
        tokens: AccessTokenRepository,
        users: UserRepository,
        memberships: MembershipRepository,
        clock: Clock = utc_now,
    ) -> None:
        self._tokens = tokens
        self._users = users
        self._memberships = memberships
        self._clock = clock

    # --- the owner's side ----------------------------------------------------------------------

    def create(
        self, owner: User, name: str, scopes: list[str], expires_in_days: int
    ) -> tuple[AccessToken, str]:
        """A new token for `owner` and its secret (shown this once, never stored)."""
        granted = parse_scopes(scopes)
        require_grantable(owner, granted)
        days, name = validate_days(expires_in_days), validate_name(name)
        if len(self._tokens.for_user(owner.id)) >= MAX_TOKENS_PER_USER:
            raise Conflict(f"a user may hold at most {MAX_TOKENS_PER_USER} tokens; revoke some")
        secret, now = new_token(), self._clock()
        token = self._tokens.add(
            AccessToken(
                id="",
                user_id=owner.id,
                name=name,
                scopes=granted,
                digest=digest(secret),
                hint=hint(secret),
                created_at=now,
                expires_at=now + timedelta(days=days),
            )
        )
        log.info("access token %s created for user %s", token.id, owner.id)
        return token, secret

    def list(self, user_id: str) -> list[AccessToken]:
        return self._tokens.for_user(user_id)

    def revoke(self, user_id: str, token_id: str) -> None:
        """Delete one of the user's tokens; it stops working at once. NotFound for a token that
        is not theirs (whose it is stays unsaid)."""
        if not self._tokens.delete(user_id, token_id):
            raise NotFound("no such token")
        log.info("access token %s of user %s revoked", token_id, user_id)

    # --- an admin's side -----------------------------------------------------------------------

    def list_for(self, admin: User, user_id: str) -> list[AccessToken]:
        require_admin(admin)
        self._require_user(user_id)
        return self._tokens.for_user(user_id)

    def revoke_for(self, admin: User, user_id: str, token_id: str) -> None:
        require_admin(admin)
        self._require_user(user_id)
        self.revoke(user_id, token_id)

    def _require_user(self, user_id: str) -> None:
        if self._users.get(user_id) is None:
            raise NotFound("no such user")

    # --- every request -------------------------------------------------------------------------

    def authenticate(self, secret: str) -> TokenPrincipal:
        """The caller a token stands for, with their project roles as stored now.
        AuthenticationFailed for a malformed (no database read), unknown, revoked or expired
        token; a disabled user is the caller's concern (the same check as for sessions)."""
        if not well_formed(secret):
            raise AuthenticationFailed(INVALID)
        token = self._tokens.by_digest(digest(secret))
        if token is None:
            raise AuthenticationFailed(INVALID)
        now = self._clock()
        if token.expired(now):
            raise AuthenticationFailed(EXPIRED)
        user = self._users.get(token.user_id)
        if user is None:
            raise AuthenticationFailed(INVALID)
        stale = token.last_used_at is None or token.last_used_at <= now - LAST_USED_EVERY
        if user.active and stale:
            self._tokens.touch(token.id, now, now - LAST_USED_EVERY)
            token.last_used_at = now
        # Like a session's snapshot, the request's user never carries the password hash.
        user = dataclasses.replace(user, password_hash=None)
        return TokenPrincipal(Actor(user, self._memberships.roles_of(user.id)), token)
