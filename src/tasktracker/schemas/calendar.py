"""The calendar feed (DESIGN 14): its secret URL, and the caller's assigned tasks as an
iCalendar document of VTODOs (RFC 5545), built with `icalendar`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from icalendar import Calendar, Todo, vDuration, vRecur
from pydantic import BaseModel, Field

from tasktracker.domain.recurrence import Recurrence
from tasktracker.domain.tasks import Priority, Status, Task
from tasktracker.domain.time_zones import time_zone

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
    without METHOD stamps a component with its last revision, RFC 5545 3.8.7.2). A recurring
    task carries its RRULE, with DTSTART and DUE in its time zone (and that zone's VTIMEZONE)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    calendar.add("refresh-interval", vDuration.from_ical(REFRESH), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH)
    for task in tasks:
        calendar.add_component(todo(task, public_url))
    calendar.add_missing_timezones()
    return calendar.to_ical()


def todo(task: Task, public_url: str) -> Todo:
    item = Todo()
    item.add("uid", task_uid(task))
    item.add("dtstamp", task.updated_at)
    item.add("summary", f"{task.key} {task.title}")
    series = task.series
    if series is not None and task.due_date is not None:
        add_series(item, task, series, task.due_date)
    else:
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


def add_series(item: Todo, task: Task, series: Recurrence, due: datetime) -> None:
    """DTSTART (the start date when earlier, else the due date: a recurrence needs a start),
    DUE when later than it, and the rest of the series as RRULE, on the task's wall clock."""
    zone = time_zone(series.zone_name)
    start = task.start_date if task.start_date and task.start_date < due else due
    item.add("dtstart", start.astimezone(zone))
    if start < due:
        item.add("due", due.astimezone(zone))
    item.add("rrule", vRecur.from_ical(series.remaining_rule()))
