"""The project shape (create, patch, public), its members, and their list pages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, Field

from tasktracker.domain.projects import MemberView, ProjectRole, ProjectView
from tasktracker.domain.queries import Page
from tasktracker.schemas.common import Strict, partial_model
from tasktracker.schemas.types import Cursor, Description, Limit, ObjectKey, ProjectRef

ProjectKey = Annotated[
    str,
    Field(
        pattern=r"^[A-Z][A-Z0-9]{1,9}$",
        description="2-10 characters: an upper-case letter, then upper-case letters or digits",
        examples=["OPS"],
    ),
]
ProjectName = Annotated[str, Field(min_length=1, max_length=100)]


class ProjectFields(Strict):
    name: ProjectName
    description: Description = ""
    archived: bool = False


class ProjectCreate(Strict):
    """A new project; the caller becomes its owner."""

    key: ProjectKey
    name: ProjectName
    description: Description = ""


ProjectPatch = partial_model(
    ProjectFields,
    "ProjectPatch",
    "Only the fields sent are changed; an archived project takes only `archived: false`.",
)


class ProjectPublic(BaseModel):
    id: str
    key: str
    name: str
    description: str
    archived: bool
    created_at: datetime
    my_role: ProjectRole | None = Field(description="the caller's role; null for an admin who "
                                        "is not a member")  # fmt: skip

    @classmethod
    def of(cls, view: ProjectView) -> Self:
        p = view.project
        return cls(
            id=p.id,
            key=p.key,
            name=p.name,
            description=p.description,
            archived=p.archived,
            created_at=p.created_at,
            my_role=view.my_role,
        )


class ProjectPage(BaseModel):
    items: list[ProjectPublic]
    next_cursor: str | None

    @classmethod
    def of(cls, page: Page[ProjectView]) -> Self:
        return cls(items=[ProjectPublic.of(v) for v in page.items], next_cursor=page.next_cursor)


class PageQuery(Strict):
    cursor: Cursor | None = None
    limit: Limit = 50


class ProjectPath(BaseModel):
    project: ProjectRef


class MemberPath(ProjectPath):
    user_id: ObjectKey


class MemberPut(Strict):
    role: ProjectRole


class MemberPublic(BaseModel):
    user_id: str
    username: str
    role: ProjectRole
    joined_at: datetime

    @classmethod
    def of(cls, view: MemberView) -> Self:
        m = view.membership
        return cls(user_id=m.user_id, username=view.username, role=m.role, joined_at=m.joined_at)


class MemberPage(BaseModel):
    items: list[MemberPublic]
    next_cursor: str | None

    @classmethod
    def of(cls, page: Page[MemberView]) -> Self:
        return cls(items=[MemberPublic.of(v) for v in page.items], next_cursor=page.next_cursor)
