"""Notifications in tests: task events shaped as the API publishes them (task_payload plus actor
and watchers), recorded through the real outbox; the letters about a task; waiting until every
batch was mailed."""

from __future__ import annotations

from collections.abc import Iterable
from email.message import EmailMessage
from functools import partial
from typing import Any

from tasktracker.adapters.mongo.unit_of_work import MongoUnitOfWork
from tasktracker.bootstrap import Container, outbox_grace
from tasktracker.domain.events import Event, EventType
from tasktracker.services.events import OutboxEventRecorder
from tests.support.api import Account
from tests.support.smtp import SmtpServer, text_of
from tests.support.waiting import wait_until


def ids(accounts: Iterable[Account]) -> list[str]:
    return [a.id for a in accounts]


def task_event(
    container: Container,
    type_: EventType,
    task: dict[str, Any],
    actor: Account | None,
    watchers: Iterable[Account],
    **fields: Any,
) -> Event:
    """An event about `task` (as the API answered it), by `actor`, with these watchers."""
    payload = {
        "task_id": task["id"],
        "key": task["key"],
        "project_id": task["project_id"],
        "project_key": task["project_key"],
        "title": task["title"],
        "status": task["status"],
        "assignee": task["assignee"],
        "reporter": task["reporter"],
        "due_date": task["due_date"],
        "watchers": ids(watchers),
        **({"actor": actor.id, "actor_name": actor.username} if actor else {}),
        **fields,
    }
    return Event(type_, payload, container.clock())


def status_change(
    container: Container,
    task: dict[str, Any],
    actor: Account,
    watchers: Iterable[Account],
    before: str,
    after: str,
) -> Event:
    return task_event(
        container,
        EventType.TASK_STATUS_CHANGED,
        task,
        actor,
        watchers,
        status=after,
        previous_status=before,
    )


def comment(
    container: Container,
    task: dict[str, Any],
    author: Account,
    watchers: Iterable[Account],
    excerpt: str,
    mentions: Iterable[Account] = (),
) -> Event:
    return task_event(
        container,
        EventType.COMMENT_CREATED,
        task,
        author,
        watchers,
        comment_id="c" * 24,
        excerpt=excerpt,
        mentions=ids(mentions),
    )


def record(container: Container, *events: Event) -> None:
    """Commit the events to the outbox in one transaction and publish them after commit: the
    path every API change takes."""
    c = container
    recorder = OutboxEventRecorder(
        partial(MongoUnitOfWork, c.adapters.client, c.adapters.db, outbox_grace(c.settings)),
        c.adapters.outbox,
        c.adapters.broker,
        c.clock,
    )
    with recorder.transaction() as uow:
        uow.record(*events)


def letters_about(smtp: SmtpServer, address: str, key: str) -> list[EmailMessage]:
    return [m for m in smtp.letters_to(address) if m["Subject"].startswith(f"[{key}] ")]


def change_lines(letter: EmailMessage) -> list[str]:
    """The changes a notification letter lists, in its order."""
    return [line[2:] for line in text_of(letter).splitlines() if line.startswith("- ")]


def fanned_out(container: Container) -> int:
    """How many events the agents have fanned out (each once, however often it came)."""
    return container.adapters.db.notification_events.count_documents({})


def wait_until_mailed(container: Container, events: int, timeout: float = 20.0) -> None:
    """`events` events were fanned out and no batch waits or is being sent: no letter about
    them can come any more."""
    batches = container.adapters.db.notifications
    wait_until(
        lambda: fanned_out(container) >= events and batches.count_documents({}) == 0, timeout
    )
