"""Who watches a task: the reporter, the assignee, commenters and mentioned users on their own,
anyone by choice (watch / unwatch). Letters go to watchers (agent/notifications)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasktracker.domain.notifications import Watcher, effective_watchers
from tasktracker.domain.projects import Action, Actor, require
from tasktracker.domain.tasks import Task
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.ports import (
    MembershipRepository,
    UnitOfWork,
    UserRepository,
    WatcherRepository,
)

if TYPE_CHECKING:
    from tasktracker.services.tasks import TaskService


def watchers_of(uow: UnitOfWork, task: Task) -> list[str]:
    """Who watches `task`, read inside the transaction that changes it."""
    return effective_watchers(task.reporter, task.assignee, uow.watchers.choices(task.id))


class WatcherService:
    def __init__(
        self,
        watchers: WatcherRepository,
        tasks: TaskService,
        memberships: MembershipRepository,
        users: UserRepository,
        clock: Clock = utc_now,
    ) -> None:
        self._watchers = watchers
        self._tasks = tasks
        self._memberships = memberships
        self._users = users
        self._clock = clock

    def watch(self, actor: Actor, ref: str) -> None:
        self._choose(actor, ref, watching=True)

    def unwatch(self, actor: Actor, ref: str) -> None:
        """Stop watching, even as the task's reporter or assignee."""
        self._choose(actor, ref, watching=False)

    def list(self, actor: Actor, ref: str) -> list[Watcher]:
        """The task's watchers who still belong to its project, in user id order."""
        task = self._tasks.get(actor, ref)
        chosen = self._watchers.choices(task.id)
        ids = sorted(
            user_id
            for user_id in effective_watchers(task.reporter, task.assignee, chosen)
            if self._memberships.get(task.project_id, user_id) is not None
        )
        names = self._users.usernames(ids)
        return [Watcher(user_id, names[user_id]) for user_id in ids if user_id in names]

    def _choose(self, actor: Actor, ref: str, *, watching: bool) -> None:
        task, project = self._tasks.locate(actor, ref)
        require(actor, Action.READ, project)
        self._watchers.choose(task.id, task.project_id, actor.id, watching, self._clock())
