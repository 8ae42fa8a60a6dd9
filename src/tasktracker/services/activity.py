"""The activity history: entries made where changes happen (services/tasks.py, comments.py),
and the task and project feeds, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tasktracker.domain.activity import ActivityEntry, FieldChange, Verb
from tasktracker.domain.projects import Actor
from tasktracker.domain.queries import Page
from tasktracker.domain.tasks import Task
from tasktracker.services.correlation import correlation_id
from tasktracker.services.ports import ActivityRepository, ProjectRepository
from tasktracker.services.projects import visible_project

if TYPE_CHECKING:
    from tasktracker.services.tasks import TaskService


def activity_entry(
    actor: Actor,
    task: Task,
    verb: Verb,
    changes: list[FieldChange],
    at: datetime,
    comment_id: str | None = None,
) -> ActivityEntry:
    """An entry for `task`'s project, carrying the request id of the change."""
    return ActivityEntry(
        task_id=task.id,
        project_id=task.project_id,
        actor=actor.id,
        verb=verb,
        at=at,
        changes=changes,
        request_id=correlation_id(),
        comment_id=comment_id,
    )


class ActivityService:
    def __init__(
        self, activity: ActivityRepository, tasks: TaskService, projects: ProjectRepository
    ) -> None:
        self._activity = activity
        self._tasks = tasks
        self._projects = projects

    def task_feed(
        self, actor: Actor, ref: str, *, cursor: str | None, limit: int
    ) -> Page[ActivityEntry]:
        task = self._tasks.get(actor, ref)
        return self._activity.page(task_id=task.id, cursor=cursor, limit=limit)

    def project_feed(
        self, actor: Actor, ref: str, *, cursor: str | None, limit: int
    ) -> Page[ActivityEntry]:
        """Includes the entries of the project's deleted tasks."""
        project = visible_project(actor, self._projects, ref)
        return self._activity.page(project_id=project.id, cursor=cursor, limit=limit)
