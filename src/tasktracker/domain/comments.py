"""Comments on a task: Markdown text with `@username` mentions; a deleted comment stays as a
tombstone (`body` None) so a thread keeps its shape."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from tasktracker.domain.errors import InvalidInput

BODY_MAX_LENGTH = 10_000
EXCERPT_LENGTH = 500
# `@name` not preceded by a word character, `@` or `.` (so `me@example.com` mentions nobody);
# a trailing `.` or `-` is punctuation, not part of the name.
MENTION_PATTERN = re.compile(r"(?<![\w@.])@([A-Za-z0-9][A-Za-z0-9_.-]{1,62}[A-Za-z0-9_])")


@dataclass(slots=True)
class Comment:
    id: str
    task_id: str
    project_id: str
    author: str
    body: str | None  # None once deleted
    created_at: datetime
    mentions: list[str] = field(default_factory=list)  # user ids
    edited_at: datetime | None = None
    deleted_at: datetime | None = None
    version: int = 1

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


def validate_body(body: str) -> str:
    if not body.strip():
        raise InvalidInput("body must not be blank")
    if len(body) > BODY_MAX_LENGTH:
        raise InvalidInput(f"body must be at most {BODY_MAX_LENGTH} characters")
    return body


def mentioned_usernames(body: str) -> list[str]:
    """The `@username`s in `body`, each once, in the order they first appear."""
    return list(dict.fromkeys(match.group(1) for match in MENTION_PATTERN.finditer(body)))


def excerpt(body: str, length: int = EXCERPT_LENGTH) -> str:
    """The start of a comment for a letter: at most `length` characters."""
    return body if len(body) <= length else body[: length - 1].rstrip() + "…"
