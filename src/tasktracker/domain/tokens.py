"""Personal access tokens: what a token may do (its scopes), what one looks like, and how it is
kept.

A token is `ttp_` + 30 random base62 characters + a 6-character base62 CRC32 of those 30 (the
GitHub scheme): a secret scanner recognises one by its prefix and checksum without asking us,
and a mistyped or made-up token is refused without a database read. The token is shown once;
the database keeps only its SHA-256 digest and a short hint to tell tokens apart in a list.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tasktracker.domain.errors import Forbidden, InvalidInput
from tasktracker.domain.users import User


class Scope(StrEnum):
    TASKS_READ = "tasks:read"  # tasks, comments, activity, watchers, the caller's task lists
    TASKS_WRITE = "tasks:write"
    PROJECTS_READ = "projects:read"  # projects and their members
    PROJECTS_WRITE = "projects:write"
    USERS_READ = "users:read"
    WEBHOOKS_WRITE = "webhooks:write"  # a project's webhooks and their deliveries
    ADMIN = "admin"  # admin routes; only an admin may create a token with it


TOKEN_PREFIX = "ttp_"
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
RANDOM_LENGTH = 30  # ~178 bits
CHECKSUM_LENGTH = 6  # 62**6 > 2**32: any CRC32 fits
TOKEN_LENGTH = len(TOKEN_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
_BASE62_SET = frozenset(BASE62)

MIN_DAYS, MAX_DAYS = 1, 365
NAME_MAX_LENGTH = 100
MAX_TOKENS_PER_USER = 100


def base62(number: int, width: int) -> str:
    """`number` in base62, left-padded with '0' to `width` characters."""
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(random_part: str) -> str:
    return base62(zlib.crc32(random_part.encode("ascii")), CHECKSUM_LENGTH)


def new_token() -> str:
    """A fresh token (the only time it exists in plain text)."""
    random_part = "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    return f"{TOKEN_PREFIX}{random_part}{checksum(random_part)}"


def looks_like_token(value: str) -> bool:
    """Is this meant as a personal access token (rather than a session's JWT)?"""
    return value.startswith(TOKEN_PREFIX)


def well_formed(token: str) -> bool:
    """Prefix, length, alphabet and checksum are right: worth looking up."""
    if len(token) != TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
        return False
    body = token[len(TOKEN_PREFIX) :]
    if not _BASE62_SET.issuperset(body):
        return False
    random_part, check = body[:RANDOM_LENGTH], body[RANDOM_LENGTH:]
    return secrets.compare_digest(checksum(random_part), check)


def digest(token: str) -> str:
    """What the database keeps: the SHA-256 of the token, in hex. The token carries ~178 random
    bits, so a plain (unsalted, fast) hash is enough: there is nothing to brute-force."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hint(token: str) -> str:
    """Enough to tell tokens apart in a list (the last four characters, part of the checksum)."""
    return f"{TOKEN_PREFIX}...{token[-4:]}"


@dataclass(slots=True)
class AccessToken:
    """A stored token: never its secret, only the digest."""

    id: str
    user_id: str
    name: str
    scopes: frozenset[Scope]
    digest: str
    hint: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at <= now

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """The scopes named; InvalidInput for none or an unknown one."""
    names = list(values)
    if not names:
        raise InvalidInput("a token needs at least one scope")
    known = [str(s) for s in Scope]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise InvalidInput(f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return frozenset(Scope(name) for name in names)


def require_grantable(owner: User, scopes: frozenset[Scope]) -> None:
    """A token never holds more than its owner: the admin scope is for admins only."""
    if Scope.ADMIN in scopes and not owner.is_admin:
        raise Forbidden("only an admin may create a token with the 'admin' scope")


def validate_days(days: int) -> int:
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise InvalidInput(f"expires_in_days must be between {MIN_DAYS} and {MAX_DAYS}")
    return days


def validate_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        raise InvalidInput(f"a token's name must be 1-{NAME_MAX_LENGTH} characters")
    return name
