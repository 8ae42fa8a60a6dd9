"""The calendar feed (DESIGN 14): a secret URL per user serving their assigned, not-done tasks
with due dates. The token is random and stored only as its SHA-256 digest; a new one replaces
the old, which then finds nothing."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from tasktracker.domain.errors import NotFound
from tasktracker.domain.queries import Sort, TaskFilter
from tasktracker.domain.tasks import Status, Task
from tasktracker.domain.users import User
from tasktracker.services.clock import Clock, utc_now
from tasktracker.services.password_reset import token_hash
from tasktracker.services.ports import (
    CalendarFeedRepository,
    MembershipRepository,
    TaskReads,
    UserRepository,
)

log = logging.getLogger(__name__)

FEED_PATH = "/ical"
FEED_MAX_TASKS = 500  # the soonest due; a calendar of more is no use to anyone
NOT_DONE = (Status.OPEN, Status.IN_PROGRESS)
SOONEST_DUE_FIRST = Sort("due_date", descending=False)
ANY_DUE_DATE = datetime(1, 1, 1, tzinfo=UTC)  # `due_date >= this`: the task has one


@dataclass(frozen=True, slots=True)
class CalendarFeed:
    user: User
    tasks: list[Task]


class CalendarService:
    def __init__(
        self,
        feeds: CalendarFeedRepository,
        users: UserRepository,
        memberships: MembershipRepository,
        reads: TaskReads,
        public_url: str,
        clock: Clock = utc_now,
    ) -> None:
        self._feeds = feeds
        self._users = users
        self._memberships = memberships
        self._reads = reads
        self._public_url = public_url.rstrip("/")
        self._clock = clock

    @property
    def public_url(self) -> str:
        return self._public_url

    def issue(self, user: User) -> str:
        """A new secret feed URL for `user`, replacing their earlier one."""
        token = secrets.token_urlsafe(32)
        self._feeds.put(user.id, token_hash(token), self._clock())
        log.info("calendar feed issued user=%s", user.id)
        return f"{self._public_url}{FEED_PATH}/{token}.ics"

    def feed(self, token: str) -> CalendarFeed:
        """The feed's user and their assigned, not-done tasks with a due date in the projects
        they still belong to, soonest due first (at most FEED_MAX_TASKS). NotFound for an
        unknown or replaced token, and for a disabled user."""
        user_id = self._feeds.user_for(token_hash(token))
        user = self._users.get(user_id) if user_id else None
        if user is None or not user.active:
            raise NotFound("no such calendar feed")
        projects = tuple(self._memberships.roles_of(user.id))
        flt = TaskFilter(
            status=NOT_DONE, assignee=user.id, due_after=ANY_DUE_DATE, projects=projects
        )
        tasks = self._reads.first(flt, SOONEST_DUE_FIRST, FEED_MAX_TASKS, self._clock())
        return CalendarFeed(user, tasks)
