"""Accounts, sessions and password models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictBool

from tasktracker.domain.users import Role, User
from tasktracker.schemas.common import Strict
from tasktracker.schemas.tasks import TaskCounts
from tasktracker.schemas.types import EmailText, Limit, ObjectKey, Password, Username


class SignupIn(Strict):
    username: Username
    email: EmailStr
    password: Password


class LoginIn(Strict):
    email: EmailText
    password: Password


class PasswordResetIn(Strict):
    email: EmailText


class PasswordResetConfirmIn(Strict):
    token: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Password


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int


class RefreshIn(Strict):
    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)]


class PasswordChangeIn(Strict):
    current_password: Password
    new_password: Password


class UserPublic(BaseModel):
    """An account as the API shows it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    username: str
    email: str
    role: Role
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> Self:
        return cls.model_validate(user)


class AdminUserPublic(UserPublic):
    task_counts: TaskCounts


class UserPage(BaseModel):
    items: list[AdminUserPublic]
    next_cursor: str | None


class UserListQuery(Strict):
    cursor: Annotated[str | None, Field(max_length=64)] = None
    limit: Limit = 50


class UserPatchIn(Strict):
    role: Role | None = None
    active: StrictBool | None = None


class UserIdPath(BaseModel):
    user_id: ObjectKey
