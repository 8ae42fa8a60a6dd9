"""Comments on tasks: add (with `@username` mentions), list, edit by the author, delete as a
tombstone. Each change writes its activity entry and its event in the same transaction; a new
comment is an event the agent turns into letters for the task's watchers."""

from __future__ import annotations

import logging
from typing import Any

from tasktracker.domain.activity import ActivityEntry, FieldChange, Verb
from tasktracker.domain.comments import Comment, excerpt, mentioned_usernames, validate_body
from tasktracker.domain.errors import ConcurrentChange, Conflict, Forbidden, NotFound
from tasktracker.domain.events import EventType
from tasktracker.domain.projects import Action, Actor, Project, require
from tasktracker.domain.queries import Page
from tasktracker.domain.tasks import Task
from tasktracker.schemas.collaboration import CommentPublic
from tasktracker.services.activity import activity_entry
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.events import make_event, webhook_fields
from tasktracker.services.ports import (
    CommentRepository,
    EventRecorder,
    MembershipRepository,
    UserRepository,
)
from tasktracker.services.tasks import TaskService, check_version, raise_lost_race, task_payload
from tasktracker.services.watchers import watchers_of

log = logging.getLogger(__name__)

MAX_MENTIONS = 50
CHANGE_EVENTS = {
    Verb.COMMENT_EDITED: EventType.COMMENT_UPDATED,
    Verb.COMMENT_DELETED: EventType.COMMENT_DELETED,
}


class CommentService:
    def __init__(
        self,
        comments: CommentRepository,
        tasks: TaskService,
        users: UserRepository,
        memberships: MembershipRepository,
        events: EventRecorder,
        clock: Clock = utc_now,
    ) -> None:
        self._comments = comments
        self._tasks = tasks
        self._users = users
        self._memberships = memberships
        self._events = events
        self._clock = clock

    def add(self, actor: Actor, task_ref: str, body: str) -> Comment:
        """A comment by the caller (a viewer or more); they and the users it mentions start
        watching the task."""
        task, project = self._tasks.locate(actor, task_ref)
        require(actor, Action.COMMENT, project)
        now = self._clock()
        comment = Comment(
            id="",
            task_id=task.id,
            project_id=task.project_id,
            author=actor.id,
            body=validate_body(body),
            created_at=now,
            mentions=self._mentions(project, body),
        )
        with self._events.transaction() as uow:
            uow.comments.add(comment)
            uow.watchers.choose(task.id, task.project_id, actor.id, True, now)
            uow.watchers.add_if_new(task.id, task.project_id, comment.mentions, now)
            uow.activity.add(activity_entry(actor, task, Verb.COMMENTED, [], now, comment.id))
            payload = comment_payload(actor, task, comment, watchers_of(uow, task))
            uow.record(make_event(EventType.COMMENT_CREATED, payload, now))
        log.info("comment added id=%s task=%s by=%s", comment.id, task.id, actor.id)
        return comment

    def list(self, actor: Actor, task_ref: str, *, cursor: str | None, limit: int) -> Page[Comment]:
        """The task's comments, oldest first; deleted ones as tombstones."""
        task = self._tasks.get(actor, task_ref)
        return self._comments.page(task.id, cursor=cursor, limit=limit)

    def edit(
        self, actor: Actor, comment_id: str, body: str, expected_version: int | None = None
    ) -> Comment:
        """The author changes the text; newly mentioned users start watching."""
        comment, task, project = self._locate(actor, comment_id)
        if comment.author != actor.id:
            raise Forbidden("only the comment's author may edit it")
        require(actor, Action.COMMENT, project)
        check_version(comment, expected_version, "comment")
        old_body, now = comment.body, self._clock()
        comment.body = validate_body(body)
        comment.mentions = self._mentions(project, body)
        comment.edited_at = now
        changes = [FieldChange("body", old_body, comment.body)]
        entry = activity_entry(actor, task, Verb.COMMENT_EDITED, changes, now, comment.id)
        previous = {"body": old_body}
        self._replace(actor, task, comment, expected_version, entry, previous, comment.mentions)
        return comment

    def delete(self, actor: Actor, comment_id: str, expected_version: int | None = None) -> None:
        """The author, a maintainer of the project, or an admin deletes a comment; it stays as a
        tombstone without its text, and the text leaves the activity history too."""
        comment, task, project = self._locate(actor, comment_id)
        require(actor, Action.COMMENT if comment.author == actor.id else Action.MODERATE, project)
        check_version(comment, expected_version, "comment")
        now = self._clock()
        comment.body, comment.mentions, comment.deleted_at = None, [], now
        entry = activity_entry(actor, task, Verb.COMMENT_DELETED, [], now, comment.id)
        self._replace(actor, task, comment, expected_version, entry, {}, redact=True)

    def _replace(
        self,
        actor: Actor,
        task: Task,
        comment: Comment,
        expected_version: int | None,
        entry: ActivityEntry,
        previous: dict[str, Any],
        mentioned: list[str] | None = None,
        *,
        redact: bool = False,
    ) -> None:
        """Store the changed comment with its activity entry and its event (`previous`: the old
        values of what changed)."""
        old_version = comment.version
        comment.version += 1
        try:
            with self._events.transaction() as uow:
                if not uow.comments.replace_if_version(comment, old_version):
                    raise_lost_race(expected_version, "comment")
                if redact:
                    uow.activity.redact_comment(comment.id)
                uow.activity.add(entry)
                if mentioned:
                    uow.watchers.add_if_new(
                        comment.task_id, comment.project_id, mentioned, entry.at
                    )
                payload = comment_payload(actor, task, comment, watchers_of(uow, task), previous)
                uow.record(make_event(CHANGE_EVENTS[entry.verb], payload, entry.at))
        except ConcurrentChange:
            raise_lost_race(expected_version, "comment")
        log.info("comment %s id=%s by=%s", entry.verb, comment.id, entry.actor)

    def _locate(self, actor: Actor, comment_id: str) -> tuple[Comment, Task, Project]:
        """A live comment on a task the caller sees; NotFound otherwise (as for a missing one),
        Conflict for a deleted one."""
        comment = self._comments.get(comment_id)
        if comment is None or not actor.sees(comment.project_id):
            raise NotFound(f"no comment '{comment_id}'")
        try:
            task, project = self._tasks.locate(actor, comment.task_id)
        except NotFound:
            raise NotFound(f"no comment '{comment_id}'") from None
        if comment.deleted:
            raise Conflict("the comment was deleted")
        return comment, task, project

    def _mentions(self, project: Project, body: str) -> list[str]:
        """The ids of the project's members among the body's `@username`s."""
        found = []
        for name in mentioned_usernames(body)[:MAX_MENTIONS]:
            user = self._users.by_username(name)
            if user and self._memberships.get(project.id, user.id) is not None:
                found.append(user.id)
        return list(dict.fromkeys(found))


def comment_payload(
    actor: Actor,
    task: Task,
    comment: Comment,
    watchers: list[str],
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A comment event: the task's summary, the comment's excerpt and mentions, the task's
    watchers, and the webhook parts with `data` the comment as the API shows it."""
    shown = CommentPublic.of(comment)
    return {
        **task_payload(task),
        **webhook_fields(actor, task.project_id, task.project_key, shown, previous),
        "comment_id": comment.id,
        "excerpt": excerpt(comment.body or ""),
        "mentions": comment.mentions,
        "watchers": watchers,
    }
