"""Users, roles and the rules about who may manage whom."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tasktracker.domain.errors import Conflict, Forbidden, InvalidInput
from tasktracker.domain.notifications import NotificationPreferences


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


@dataclass(slots=True)
class User:
    id: str
    username: str
    email: str
    password_hash: str | None  # None on the per-request snapshot, which never carries it
    role: Role
    active: bool
    created_at: datetime
    updated_at: datetime
    notifications: NotificationPreferences = field(default_factory=NotificationPreferences)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def normalize_email(email: str) -> str:
    return email.strip().lower()


def username_key(username: str) -> str:
    """Usernames are unique regardless of case."""
    return username.strip().lower()


def require_admin(actor: User) -> None:
    if not actor.is_admin:
        raise Forbidden("this action needs the admin role")


def ensure_admin_remains(target: User, new_role: Role, new_active: bool, other_admins: int) -> None:
    """Refuse a change that would leave no active admin."""
    loses_admin = (
        target.is_admin and target.active and (new_role is not Role.ADMIN or not new_active)
    )
    if loses_admin and other_admins == 0:
        raise Conflict("this change would leave the system without an active admin")


USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$")
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 256


def validate_username(username: str) -> str:
    username = username.strip()
    if not USERNAME_PATTERN.fullmatch(username):
        raise InvalidInput(
            "username must be 3-64 characters: letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return username


def validate_password(password: str) -> str:
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise InvalidInput(
            f"password must be {PASSWORD_MIN_LENGTH}-{PASSWORD_MAX_LENGTH} characters long"
        )
    if password.strip() == "":
        raise InvalidInput("password must not be blank")
    try:
        password.encode()
    except UnicodeEncodeError:
        raise InvalidInput("password must be valid Unicode text") from None
    return password
