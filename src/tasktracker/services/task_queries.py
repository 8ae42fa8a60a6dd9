"""Read-only task queries for the API: lists with filters and cursors, summaries."""

from __future__ import annotations

from dataclasses import replace

from tasktracker.domain.queries import Page, Sort, TaskFilter
from tasktracker.domain.tasks import Status, Task
from tasktracker.domain.users import User
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.ports import TaskReads, UserRepository
from tasktracker.services.tasks import resolve_assignee

ME = "me"


class TaskQueryService:
    def __init__(self, reads: TaskReads, users: UserRepository, clock: Clock = utc_now) -> None:
        self._reads = reads
        self._users = users
        self._clock = clock

    def list(
        self, actor: User, flt: TaskFilter, sort: str, cursor: str | None, limit: int
    ) -> Page[Task]:
        """One page of tasks; `flt.assignee` may be a user id, a username or 'me'."""
        assignee = actor.id if flt.assignee == ME else resolve_assignee(self._users, flt.assignee)
        flt = replace(flt, assignee=assignee)
        return self._reads.page(flt, Sort.parse(sort), cursor, limit, self._clock())

    def mine(
        self, actor: User, statuses: tuple[Status, ...], sort: str, cursor: str | None, limit: int
    ) -> Page[Task]:
        """One page of the tasks assigned to the caller."""
        flt = TaskFilter(status=statuses, assignee=actor.id)
        return self._reads.page(flt, Sort.parse(sort), cursor, limit, self._clock())

    def summary(self) -> dict[str, int]:
        """Counts by status, the total, and how many are overdue."""
        return self._reads.summary(self._clock())

    def newest(self, limit: int, assignee: str | None = None) -> list[Task]:
        return self._reads.newest(limit, assignee)

    def oldest(self, limit: int, assignee: str | None = None) -> list[Task]:
        """The first `limit` tasks (of `assignee`), oldest first: the original's order."""
        return self._reads.oldest(limit, assignee)
