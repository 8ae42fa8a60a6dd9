"""Read-only task queries for the API: lists with filters and cursors, summaries — each limited
to the projects the caller may see."""

from __future__ import annotations

from dataclasses import replace

from tasktracker.domain.projects import Actor
from tasktracker.domain.queries import Page, Sort, TaskFilter
from tasktracker.domain.task_counts import utc_hour
from tasktracker.domain.tasks import Status, Task
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.ports import ProjectRepository, TaskCounts, TaskReads, UserRepository
from tasktracker.services.projects import visible_project
from tasktracker.services.tasks import resolve_assignee

ME = "me"


class TaskQueryService:
    def __init__(
        self,
        reads: TaskReads,
        users: UserRepository,
        projects: ProjectRepository,
        clock: Clock = utc_now,
    ) -> None:
        self._reads = reads
        self._users = users
        self._projects = projects
        self._clock = clock

    def list(
        self,
        actor: Actor,
        flt: TaskFilter,
        sort: str,
        cursor: str | None,
        limit: int,
        project: str | None = None,
    ) -> Page[Task]:
        """One page of the tasks the caller may see (of `project` when given: id or key);
        `flt.assignee` may be a user id, a username or 'me'."""
        assignee = actor.id if flt.assignee == ME else resolve_assignee(self._users, flt.assignee)
        flt = replace(flt, assignee=assignee, projects=self._scope(actor, project))
        return self._reads.page(flt, Sort.parse(sort), cursor, limit, self._clock())

    def mine(
        self, actor: Actor, statuses: tuple[Status, ...], sort: str, cursor: str | None, limit: int
    ) -> Page[Task]:
        """One page of the tasks assigned to the caller (in projects they still belong to)."""
        flt = TaskFilter(status=statuses, assignee=actor.id, projects=self._scope(actor))
        return self._reads.page(flt, Sort.parse(sort), cursor, limit, self._clock())

    def summary(self, actor: Actor) -> dict[str, int]:
        """Counts by status, the total, and how many are overdue — of the visible tasks: the
        counters (by status, and of open tasks by due day and by due hour, for the time before
        the current hour) and a count of the open tasks that fell due earlier in the current
        hour (domain/task_counts.py)."""
        scope, now = self._scope(actor), self._clock()
        hour = utc_hour(now)
        sums = self._reads.counter_sums(scope, hour.date())
        overdue = sums.overdue_before(hour) + self._reads.overdue_since(hour, now, scope)
        return {**sums.counts, "overdue": overdue}

    def status_counts(self, actor: Actor) -> TaskCounts:
        """Counts by status and the total of the visible tasks (no overdue count: it is the
        one part of the summary that costs a count of tasks)."""
        return self._reads.counts(self._scope(actor))

    def newest(self, actor: Actor, limit: int, assignee: str | None = None) -> list[Task]:
        """The `limit` newest visible tasks (of `assignee`), newest first."""
        flt = TaskFilter(assignee=assignee, projects=self._scope(actor))
        return self._reads.newest(flt, limit, self._clock())

    def oldest(self, actor: Actor, limit: int, assignee: str | None = None) -> list[Task]:
        """The first `limit` visible tasks (of `assignee`), oldest first: the original's order."""
        flt = TaskFilter(assignee=assignee, projects=self._scope(actor))
        return self._reads.first(flt, Sort(descending=False), limit, self._clock())

    def _scope(self, actor: Actor, project: str | None = None) -> tuple[str, ...] | None:
        """The projects to look in: `project` if the caller may see it, else all they see."""
        if project is not None:
            return (visible_project(actor, self._projects, project).id,)
        return actor.visible_projects()
