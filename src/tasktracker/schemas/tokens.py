"""The shapes of personal access tokens (DESIGN 14)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, Field

from tasktracker.domain.tokens import MAX_DAYS, MIN_DAYS, NAME_MAX_LENGTH, AccessToken, Scope
from tasktracker.schemas.common import Strict
from tasktracker.schemas.types import ObjectKey

TokenName = Annotated[
    str, Field(min_length=1, max_length=NAME_MAX_LENGTH, description="what the token is for")
]
ScopeList = Annotated[
    list[Scope],
    Field(
        min_length=1,
        max_length=len(Scope),
        description="what the token may do; `admin` only for admins",
    ),
]


class TokenIn(Strict):
    name: TokenName
    scopes: ScopeList
    expires_in_days: Annotated[int, Field(ge=MIN_DAYS, le=MAX_DAYS, strict=True)] = 30


def ordered(scopes: frozenset[Scope]) -> list[Scope]:
    return [s for s in Scope if s in scopes]


class TokenBase(BaseModel):
    id: str
    name: str
    scopes: list[Scope]
    token_hint: str = Field(description="the token's prefix and last four characters")
    created_at: datetime
    expires_at: datetime


class TokenPublic(TokenBase):
    """A token as listed: never its secret."""

    last_used_at: datetime | None = Field(description="updated at most once a minute")

    @classmethod
    def of(cls, token: AccessToken) -> Self:
        return cls(
            id=token.id,
            name=token.name,
            scopes=ordered(token.scopes),
            token_hint=token.hint,
            created_at=token.created_at,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
        )


class TokenCreated(TokenBase):
    """The answer to creating a token: the only time its secret is shown."""

    token: str = Field(description="send as `Authorization: Bearer <token>`; shown only once")

    @classmethod
    def of(cls, token: AccessToken, secret: str) -> Self:
        return cls(
            id=token.id,
            name=token.name,
            scopes=ordered(token.scopes),
            token=secret,
            token_hint=token.hint,
            created_at=token.created_at,
            expires_at=token.expires_at,
        )


class TokenList(BaseModel):
    items: list[TokenPublic]


class TokenPath(BaseModel):
    token_id: ObjectKey


class UserTokenPath(TokenPath):
    user_id: ObjectKey
