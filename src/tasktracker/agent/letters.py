"""Letters rendered from Jinja2 templates (text + HTML), one kind per event type."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from jinja2 import (
    Environment,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    select_autoescape,
)

from tasktracker.adapters.mailer import Letter
from tasktracker.agent.notifications import MalformedNotice, compose
from tasktracker.domain.events import Event, EventType
from tasktracker.domain.schedules import Recipient
from tasktracker.services.password_reset import PasswordResetService

LetterBuilder = Callable[[Event], Letter]


class LetterError(ValueError):
    """The event lacks what its letter needs; retrying cannot help."""


class NewestComments(Protocol):
    def newest(self, task_ids: Iterable[str]) -> Mapping[str, tuple[str, str]]:
        """Task id -> (author's username, a short excerpt) of its newest live comment; tasks
        without one are left out."""
        ...


def template_environment() -> Environment:
    return Environment(
        loader=PackageLoader("tasktracker.agent", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def _field(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise LetterError(f"the event payload has no '{name}'")
    return value


def _text(task: dict[str, Any], name: str) -> str:
    value = task.get(name)
    return value if isinstance(value, str) else ""


def digest_task(task: dict[str, Any]) -> dict[str, Any]:
    """One digest line: the due date shown as `YYYY-MM-DD HH:MM UTC`. A payload from before
    projects has no key or project fields: they read as empty."""
    due = task.get("due_date")
    if isinstance(due, str):
        try:
            due = datetime.fromisoformat(due).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        except ValueError:
            raise LetterError("a task in the payload has a malformed due_date") from None
    return {
        "id": _text(task, "id"),
        "key": _text(task, "key"),
        "title": str(task.get("title", "")),
        "status": str(task.get("status", "")),
        "due_date": due,
        "overdue": bool(task.get("overdue")),
        "due_soon": bool(task.get("due_soon")),
        "project_key": _text(task, "project_key"),
        "project_name": _text(task, "project_name"),
        "comment": None,  # {"author", "excerpt"} of its newest comment, when it has one
    }


def project_heading(key: str, name: str) -> str:
    """`OPS — Operations`; the key alone without a name, the name alone without a key."""
    return " — ".join(part for part in (key, name) if part)


def digest_projects(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The digest's lines grouped by project, each project where its first (most urgent) task
    is, its tasks in digest order. Tasks without project fields (a payload from before
    projects) form one unnamed group; it has a heading only beside named ones."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for task in tasks:
        groups.setdefault((task["project_key"], task["project_name"]), []).append(task)
    several = len(groups) > 1
    return [
        {
            "key": key,
            "name": name,
            "heading": project_heading(key, name) or ("Other tasks" if several else ""),
            "tasks": members,
        }
        for (key, name), members in groups.items()
    ]


class LetterWriter:
    def __init__(
        self,
        resets: PasswordResetService,
        public_url: str,
        comments: NewestComments | None = None,
    ) -> None:
        self._env = template_environment()
        self._resets = resets
        self._public_url = public_url.rstrip("/")
        self._comments = comments

    def builders(self) -> dict[EventType, LetterBuilder]:
        return {
            EventType.USER_REGISTERED: self.welcome,
            EventType.PASSWORD_RESET_REQUESTED: self.password_reset,
            EventType.ALERTS_PENDING_TASKS: self.pending_tasks,
            EventType.WEBHOOK_DISABLED: self.webhook_disabled,
            EventType.TASK_REMINDER: self.task_reminder,
        }

    def welcome(self, event: Event) -> Letter:
        p = event.payload
        context = {"username": _field(p, "username"), "email": _field(p, "email")}
        return self._render(event, "welcome", "Welcome to TaskTracker", context)

    def password_reset(self, event: Event) -> Letter:
        p = event.payload
        username, email = _field(p, "username"), _field(p, "email")
        issued = self._resets.issue_token(_field(p, "user_id"))
        link = f"{self._public_url}/reset-password?{urlencode({'token': issued.token})}"
        context = {
            "username": username,
            "email": email,
            "token": issued.token,
            "link": link,
            "expires_at": issued.expires_at.strftime("%Y-%m-%d %H:%M"),
        }
        return self._render(event, "password_reset", "Reset your TaskTracker password", context)

    def webhook_disabled(self, event: Event) -> Letter:
        p = event.payload
        context = {
            "username": _field(p, "username"),
            "email": _field(p, "email"),
            "url": _field(p, "url"),
            "project_key": _field(p, "project_key"),
            "reason": _field(p, "reason"),
            "link": f"{self._public_url}/api/v1/webhooks/{quote(_field(p, 'webhook_id'))}",
        }
        subject = f"Webhook disabled in {context['project_key']}"
        return self._render(event, "webhook_disabled", subject, context)

    def task_reminder(self, event: Event) -> Letter:
        """`[OPS-12] Reminder: Title (due 2030-05-01 09:00 UTC)` to the assignee (else the
        reporter) named in the event."""
        p = event.payload
        key, title = _field(p, "key"), _field(p, "title")
        due = digest_task(p)["due_date"]
        context = {
            "username": _field(p, "username"),
            "email": _field(p, "email"),
            "key": key,
            "title": title,
            "project_key": _field(p, "project_key"),
            "due_date": due,
            "link": f"{self._public_url}/api/v1/tasks/{quote(key)}",
        }
        subject = f"[{key}] Reminder: {title}" + (f" (due {due})" if due else "")
        return self._render(event, "task_reminder", subject, context)

    def pending_tasks(self, event: Event) -> Letter:
        p = event.payload
        tasks = p.get("tasks")
        if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
            raise LetterError("the event payload has no 'tasks' list")
        counts = p.get("counts") if isinstance(p.get("counts"), dict) else {}
        lines = self._with_comments([digest_task(t) for t in tasks])
        context = {
            "username": _field(p, "username"),
            "email": _field(p, "email"),
            "tasks": lines,
            "projects": digest_projects(lines),
            "total": int(counts.get("total", len(tasks))),
            "overdue": int(counts.get("overdue", sum(bool(t.get("overdue")) for t in tasks))),
            "due_soon": int(counts.get("due_soon", 0)),
            "more": int(p.get("more", 0)),
        }
        return self._render(event, "pending_tasks", "Your open TaskTracker tasks", context)

    def _with_comments(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each digest line with its task's newest comment (read when the letter is written)."""
        if self._comments is None:
            return lines
        newest = self._comments.newest(line["id"] for line in lines if line["id"])
        for line in lines:
            if found := newest.get(line["id"]):
                line["comment"] = {"author": found[0], "excerpt": found[1]}
        return lines

    def notification(
        self, letter_id: str, to: Recipient, items: Sequence[Mapping[str, Any]]
    ) -> Letter:
        """One letter for a batch of changes to one task; its Message-ID comes from the letter
        id, which stays the same when an agent that died while sending it is taken over."""
        try:
            composed = compose(items)
        except MalformedNotice as exc:
            raise LetterError(str(exc)) from None
        context = {
            "username": to.username,
            "email": to.email,
            "key": composed.key,
            "title": composed.title,
            "lines": composed.lines,
            "link": f"{self._public_url}/api/v1/tasks/{quote(composed.task_ref)}",
        }
        message_id = f"<{letter_id}.notification@tasktracker>"
        return self._letter(message_id, "notification", composed.subject, context)

    def _render(self, event: Event, template: str, subject: str, context: dict[str, Any]) -> Letter:
        message_id = f"<{event.event_id}.{template}@tasktracker>"
        return self._letter(message_id, template, subject, context)

    def _letter(
        self, message_id: str, template: str, subject: str, context: dict[str, Any]
    ) -> Letter:
        context = {**context, "subject": subject}
        try:
            text = self._env.get_template(f"{template}.txt.j2").render(context)
            html = self._env.get_template(f"{template}.html.j2").render(context)
        except TemplateError as exc:
            raise LetterError(f"cannot render {template}: {type(exc).__name__}") from None
        return Letter(
            to=context["email"],
            subject=subject,
            text=text,
            html=html,
            message_id=message_id,
        )
