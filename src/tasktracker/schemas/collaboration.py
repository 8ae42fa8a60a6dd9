"""The shapes of collaboration: comments, activity entries, watchers and notification
preferences."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, Field, StrictBool

from tasktracker.domain.activity import ActivityEntry, Verb
from tasktracker.domain.comments import BODY_MAX_LENGTH, Comment
from tasktracker.domain.notifications import NotificationPreferences, Watcher
from tasktracker.domain.queries import Page
from tasktracker.schemas.common import Strict, partial_model
from tasktracker.schemas.types import ObjectKey

CommentBody = Annotated[
    str,
    Field(
        min_length=1,
        max_length=BODY_MAX_LENGTH,
        description="Markdown; `@username` of a project member mentions them",
    ),
]


class CommentIn(Strict):
    """A comment's text (create and edit)."""

    body: CommentBody


class CommentPath(BaseModel):
    comment_id: ObjectKey


class CommentPublic(BaseModel):
    id: str
    task_id: str
    author: str = Field(description="user id")
    body: str | None = Field(description="null once deleted")
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    mentions: list[str] = Field(description="user ids of the members it mentions")
    version: int

    @classmethod
    def of(cls, c: Comment) -> Self:
        return cls(
            id=c.id,
            task_id=c.task_id,
            author=c.author,
            body=c.body,
            created_at=c.created_at,
            edited_at=c.edited_at,
            deleted_at=c.deleted_at,
            mentions=c.mentions,
            version=c.version,
        )


class CommentPage(BaseModel):
    items: list[CommentPublic]
    next_cursor: str | None

    @classmethod
    def of(cls, page: Page[Comment]) -> Self:
        return cls(items=[CommentPublic.of(c) for c in page.items], next_cursor=page.next_cursor)


class FieldChangePublic(BaseModel):
    field: str
    old: Any
    new: Any


class ActivityPublic(BaseModel):
    id: str
    task_id: str
    project_id: str
    actor: str = Field(description="user id")
    verb: Verb
    changes: list[FieldChangePublic]
    at: datetime
    request_id: str | None
    comment_id: str | None

    @classmethod
    def of(cls, e: ActivityEntry) -> Self:
        return cls(
            id=e.id,
            task_id=e.task_id,
            project_id=e.project_id,
            actor=e.actor,
            verb=e.verb,
            changes=[FieldChangePublic(field=c.field, old=c.old, new=c.new) for c in e.changes],
            at=e.at,
            request_id=e.request_id,
            comment_id=e.comment_id,
        )


class ActivityPage(BaseModel):
    items: list[ActivityPublic]
    next_cursor: str | None

    @classmethod
    def of(cls, page: Page[ActivityEntry]) -> Self:
        return cls(items=[ActivityPublic.of(e) for e in page.items], next_cursor=page.next_cursor)


class WatcherPublic(BaseModel):
    user_id: str
    username: str


class WatcherList(BaseModel):
    items: list[WatcherPublic]

    @classmethod
    def of(cls, watchers: list[Watcher]) -> Self:
        return cls(items=[WatcherPublic(user_id=w.user_id, username=w.username) for w in watchers])


class NotificationSettings(Strict):
    """Which letters the caller wants (all on by default)."""

    assigned: StrictBool = Field(True, description="a task was assigned to me")
    status_changed: StrictBool = Field(True, description="a task I watch changed its status")
    commented: StrictBool = Field(True, description="a comment on a task I watch")
    mentioned: StrictBool = Field(True, description="a comment mentions me")
    digest: StrictBool = Field(True, description="the daily digest of my open tasks")

    @classmethod
    def of(cls, preferences: NotificationPreferences) -> Self:
        return cls(**preferences.values())


NotificationSettingsPatch = partial_model(
    NotificationSettings,
    "NotificationSettingsPatch",
    "Only the kinds sent change; `null` is refused.",
)
