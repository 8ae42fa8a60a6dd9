"""The calendar feed (DESIGN 14): its secret URL, and the caller's assigned tasks as an
iCalendar document of VTODOs (RFC 5545), built with `icalendar`."""

from __future__ import annotations

from collections.abc import Iterable

from icalendar import Calendar, Todo, vDuration
from pydantic import BaseModel, Field

from tasktracker.domain.tasks import Priority, Status, Task

PRODID = "-//TaskTracker//Calendar feed//EN"
UID_DOMAIN = "tasktracker"
REFRESH = "PT1H"  # how often a client should fetch the feed again (a hint)
TODO_STATUS = {Status.OPEN: "NEEDS-ACTION", Status.IN_PROGRESS: "IN-PROCESS"}
TODO_PRIORITY = {Priority.CRITICAL: 1, Priority.HIGH: 3, Priority.MEDIUM: 5, Priority.LOW: 7}


class CalendarFeedUrl(BaseModel):
    url: str = Field(
        description="secret: whoever has it reads the caller's assigned tasks. Posting again "
        "replaces it (the old URL then answers 404)",
        examples=["https://tasks.example.com/ical/2xXkWp….ics"],
    )


class CalendarTokenPath(BaseModel):
    token: str


def task_uid(task: Task) -> str:
    return f"{task.id}@{UID_DOMAIN}"


def calendar_feed(tasks: Iterable[Task], name: str, public_url: str) -> bytes:
    """`tasks` as VTODOs: UID, SUMMARY (`KEY title`), DUE, STATUS, PRIORITY, URL (the task in
    the API), CREATED, LAST-MODIFIED and DTSTAMP (both the last change: a published calendar
    without METHOD stamps a component with its last revision, RFC 5545 3.8.7.2)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    calendar.add("refresh-interval", vDuration.from_ical(REFRESH), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH)
    for task in tasks:
        calendar.add_component(todo(task, public_url))
    return calendar.to_ical()


def todo(task: Task, public_url: str) -> Todo:
    item = Todo()
    item.add("uid", task_uid(task))
    item.add("dtstamp", task.updated_at)
    item.add("summary", f"{task.key} {task.title}")
    if task.start_date and task.due_date and task.start_date < task.due_date:
        item.add("dtstart", task.start_date)
    item.add("due", task.due_date)
    item.add("status", TODO_STATUS.get(task.status, "NEEDS-ACTION"))
    item.add("priority", TODO_PRIORITY[task.priority])
    item.add("url", f"{public_url}/api/v1/tasks/{task.id}")
    item.add("created", task.created_at)
    item.add("last-modified", task.updated_at)
    if task.description:
        item.add("description", task.description)
    if task.labels:
        item.add("categories", task.labels)
    return item
