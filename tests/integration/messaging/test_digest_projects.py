"""Digest letters and projects, end to end (API -> scheduler -> RabbitMQ -> agent -> SMTP): each
member's letter lists only tasks of projects they belong to, grouped under project headings; a
task still assigned to someone who left its project is neither listed nor counted; an event
published before projects existed still makes a letter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tasktracker.domain.events import Event, EventType
from tests.support.alerts import (
    DIGEST_SUBJECT,
    create_schedule,
    digests_to,
    wait_for_run,
    wait_until_delivered,
)
from tests.support.api import Account, Api
from tests.support.smtp import html_of, text_of
from tests.support.times import iso
from tests.support.waiting import wait_until

PROJECTS = "/api/v1/projects"


def remove_member(api: Api, owner: Account, project: str, user: Account) -> None:
    r = api.client.delete(f"{PROJECTS}/{project}/members/{user.id}", headers=owner.headers)
    assert r.status_code == 204, r.get_json()


def task(api: Api, who: Account, title: str, project: str, assignee: Account, **fields) -> str:
    body = {"title": title, "project": project, "assignee": assignee.id, **fields}
    r = api.client.post("/api/v1/tasks", json=body, headers=who.headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["key"]


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_each_letter_lists_only_the_members_projects_grouped_by_project(
    api, container, agent, smtp, scheduler
):
    boss = api.admin("boss")
    alice, bob = api.member("alice"), api.member("bob")
    api.create_project(alice, "OPS", "Operations")  # alice owns OPS, bob owns WEB
    api.create_project(bob, "WEB", "Website")
    api.set_role(alice, "OPS", bob, "member")
    api.set_role(bob, "WEB", alice, "member")
    now = datetime.now(UTC)
    overdue_at, soon_at = now - timedelta(days=1), now + timedelta(hours=5)
    overdue, soon = iso(overdue_at), iso(soon_at)

    rotate = task(api, alice, "rotate the keys", "OPS", alice, due_date=overdue)
    report = task(api, alice, "write the report", "GEN", alice)
    patch = task(api, alice, "patch the servers", "OPS", bob, due_date=soon)
    homepage = task(api, bob, "redesign the homepage", "WEB", bob)
    footer = task(api, bob, "fix the footer", "WEB", alice, due_date=overdue)
    remove_member(api, bob, "WEB", alice)  # "fix the footer" stays assigned to her
    assert api.client.get(f"/api/v1/tasks/{footer}", headers=alice.headers).status_code == 404

    run = wait_for_run(container, create_schedule(api, boss, {"type": "now"}))
    assert run["members"] == 2
    wait_until_delivered(container, run)

    [to_alice] = digests_to(smtp, alice.email)
    text = text_of(to_alice)
    assert "you have 2 open task(s): 1 overdue, 0 due soon." in text  # the footer is not counted
    assert "fix the footer" not in text and footer not in text and "Website" not in text
    assert lines(text)[2:6] == [
        "OPS — Operations",
        f"- {rotate} rotate the keys [open] due {shown(overdue_at)} — OVERDUE",
        "GEN — General",
        f"- {report} write the report [open]",
    ]
    html = html_of(to_alice)
    assert "fix the footer" not in html and "Website" not in html
    assert html.index("OPS — Operations") < html.index(rotate) < html.index("GEN — General")
    assert html.index("GEN — General") < html.index(report)

    [to_bob] = digests_to(smtp, bob.email)
    text = text_of(to_bob)
    assert "you have 2 open task(s): 0 overdue, 1 due soon." in text
    assert "rotate the keys" not in text and "write the report" not in text
    assert lines(text)[2:6] == [
        "OPS — Operations",
        f"- {patch} patch the servers [open] due {shown(soon_at)} — due soon",
        "WEB — Website",
        f"- {homepage} redesign the homepage [open]",
    ]
    assert digests_to(smtp, boss.email) == []


def test_a_member_removed_from_their_only_project_gets_no_letter(
    api, container, agent, smtp, scheduler
):
    boss = api.admin("boss")
    alice, bob = api.member("alice"), api.member("bob")
    api.create_project(alice, "OPS", "Operations")
    api.set_role(alice, "OPS", bob, "member")
    task(api, alice, "rotate the keys", "OPS", bob)
    task(api, alice, "patch the servers", "OPS", alice)
    remove_member(api, alice, "OPS", bob)

    run = wait_for_run(container, create_schedule(api, boss, {"type": "now"}))
    assert run["members"] == 1
    wait_until_delivered(container, run)
    assert "patch the servers" in text_of(digests_to(smtp, alice.email)[0])
    assert digests_to(smtp, bob.email) == []


def test_an_event_published_before_projects_still_makes_a_letter(api, container, agent, smtp):
    """A digest queued before the upgrade: tasks without key or project fields form one list."""
    payload = {
        "user_id": "a" * 24,
        "username": "olga",
        "email": "olga@example.com",
        "run_id": "daily-digest@2026-11-23",
        "counts": {"total": 3, "overdue": 1, "due_soon": 0},
        "tasks": [
            {"id": "1" * 24, "title": "pay the invoice", "status": "open", "priority": "high",
             "due_date": "2026-11-20T09:00:00+00:00", "overdue": True, "due_soon": False},
            {"id": "2" * 24, "title": "write the report", "status": "open",
             "priority": "medium", "due_date": None, "overdue": False, "due_soon": False},
        ],
        "more": 1,
    }  # fmt: skip
    event = Event(EventType.ALERTS_PENDING_TASKS, payload, datetime.now(UTC))
    container.adapters.broker.publish(event)

    [letter] = wait_until(lambda: digests_to(smtp, "olga@example.com"), timeout=20)
    assert letter["Subject"] == DIGEST_SUBJECT
    assert lines(text_of(letter))[1:5] == [
        "you have 3 open task(s): 1 overdue, 0 due soon.",
        "- pay the invoice [open] due 2026-11-20 09:00 UTC — OVERDUE",
        "- write the report [open]",
        "… and 1 more.",
    ]
    assert "<h3" not in html_of(letter) and "write the report" in html_of(letter)


def shown(when: datetime) -> str:
    """A due date as the letter shows it."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
