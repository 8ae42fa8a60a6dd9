"""Notification rules without servers: who hears about an event and as what, the item a batch
keeps, how a batch reads as a letter, and the letter's HTML escaping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tasktracker.agent.letters import LetterError, LetterWriter
from tasktracker.agent.notifications import (
    MalformedNotice,
    Notice,
    candidates,
    compose,
    line_of,
    notice_item,
    recipients,
    watchers_of,
)
from tasktracker.domain.events import Event, EventType
from tasktracker.domain.notifications import NotificationKind as Kind
from tasktracker.domain.notifications import NotificationPreferences
from tasktracker.domain.schedules import Recipient
from tasktracker.settings import SettingsError, load_settings

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
ANN, BOB, CAT, DAN = "a" * 24, "b" * 24, "c" * 24, "d" * 24
ON = NotificationPreferences()


def event(type_: EventType, **fields: Any) -> Event:
    payload = {
        "task_id": "t" * 24,
        "key": "OPS-12",
        "project_id": "p" * 24,
        "project_key": "OPS",
        "title": "Rotate the keys",
        "status": "open",
        "assignee": BOB,
        "reporter": ANN,
        "due_date": None,
        **fields,
    }
    return Event(type_, payload, NOW)


def everyone(*users: str) -> dict[str, NotificationPreferences]:
    return dict.fromkeys(users, ON)


def off(**kinds: bool) -> NotificationPreferences:
    return NotificationPreferences.of(kinds)


# --- who hears ---------------------------------------------------------------------------------


def test_an_assignment_goes_to_the_new_assignee_only():
    e = event(EventType.TASK_ASSIGNED, actor=ANN, actor_name="ann", watchers=[ANN, BOB, CAT])
    assert recipients(e, everyone(ANN, BOB, CAT)) == [Notice(BOB, Kind.ASSIGNED)]


def test_nobody_hears_of_assigning_a_task_to_oneself():
    e = event(EventType.TASK_ASSIGNED, actor=BOB, actor_name="bob", watchers=[ANN, BOB])
    assert recipients(e, everyone(ANN, BOB)) == []


def test_a_status_change_goes_to_every_watcher_but_the_actor():
    e = event(
        EventType.TASK_STATUS_CHANGED,
        previous_status="open",
        status="in_progress",
        actor=BOB,
        actor_name="bob",
        watchers=[ANN, BOB, CAT],
    )
    assert recipients(e, everyone(ANN, BOB, CAT)) == [
        Notice(ANN, Kind.STATUS_CHANGED),
        Notice(CAT, Kind.STATUS_CHANGED),
    ]


def test_an_old_event_without_watchers_or_actor_reads_as_assignee_and_reporter():
    e = event(EventType.TASK_STATUS_CHANGED, previous_status="open")
    assert watchers_of(e.payload) == [BOB, ANN]
    assert recipients(e, everyone(ANN, BOB)) == [
        Notice(BOB, Kind.STATUS_CHANGED),
        Notice(ANN, Kind.STATUS_CHANGED),
    ]
    unassigned = event(EventType.TASK_STATUS_CHANGED, assignee=None)
    assert watchers_of(unassigned.payload) == [ANN]


def test_a_comment_mentions_some_and_tells_the_other_watchers():
    e = event(
        EventType.COMMENT_CREATED,
        actor=ANN,
        actor_name="ann",
        comment_id="c1",
        excerpt="@cat look",
        mentions=[CAT, ANN],
        watchers=[ANN, BOB, CAT],
    )
    assert recipients(e, everyone(ANN, BOB, CAT)) == [
        Notice(CAT, Kind.MENTIONED),
        Notice(BOB, Kind.COMMENTED),
    ]


def test_a_mentioned_watcher_who_switched_mentions_off_still_hears_of_the_comment():
    e = event(EventType.COMMENT_CREATED, actor=ANN, mentions=[CAT, DAN], watchers=[ANN, CAT])
    no_mentions = off(mentioned=False)
    eligible = {CAT: no_mentions, DAN: no_mentions}
    # dan does not watch: with mentions off he hears nothing.
    assert recipients(e, eligible) == [Notice(CAT, Kind.COMMENTED)]
    assert recipients(e, {CAT: off(mentioned=False, commented=False)}) == []


@pytest.mark.parametrize(
    ("type_", "kind"),
    [
        (EventType.TASK_ASSIGNED, "assigned"),
        (EventType.TASK_STATUS_CHANGED, "status_changed"),
        (EventType.COMMENT_CREATED, "commented"),
    ],
)
def test_a_kind_switched_off_is_not_sent(type_: EventType, kind: str):
    e = event(type_, actor=ANN, watchers=[BOB])
    assert recipients(e, {BOB: off(**{kind: False})}) == []
    assert recipients(e, {BOB: off(digest=False)}) != []


def test_only_eligible_users_hear_and_only_candidates_are_looked_up():
    e = event(EventType.TASK_STATUS_CHANGED, actor=ANN, watchers=[ANN, BOB, CAT, BOB, 7, None])
    assert candidates(e) == [BOB, CAT]
    # cat left the project or is inactive: the store did not answer him as eligible.
    assert recipients(e, everyone(BOB)) == [Notice(BOB, Kind.STATUS_CHANGED)]


def test_an_event_without_a_task_id_cannot_become_an_item():
    e = event(EventType.TASK_ASSIGNED, task_id=None)
    with pytest.raises(MalformedNotice):
        notice_item(e, Kind.ASSIGNED)


def test_an_item_keeps_what_its_line_needs():
    e = event(
        EventType.COMMENT_CREATED,
        actor=ANN,
        actor_name="ann",
        comment_id="c1",
        excerpt="hello",
        mentions=[BOB],
        watchers=[BOB],
    )
    item = notice_item(e, Kind.MENTIONED)
    assert item == {
        "event_id": e.event_id,
        "type": "comment.created",
        "kind": "mentioned",
        "at": NOW,
        "task_id": "t" * 24,
        "actor": ANN,
        "actor_name": "ann",
        "key": "OPS-12",
        "title": "Rotate the keys",
        "project_id": "p" * 24,
        "project_key": "OPS",
        "status": "open",
        "comment_id": "c1",
        "excerpt": "hello",
    }


# --- how a batch reads -------------------------------------------------------------------------


def item(kind: Kind, at: int, **fields: Any) -> dict[str, Any]:
    return {
        "kind": str(kind),
        "at": NOW + timedelta(seconds=at),
        "task_id": "t" * 24,
        "key": "OPS-12",
        "title": "Rotate the keys",
        **fields,
    }


def test_each_kind_reads_as_who_did_what():
    lines = [
        line_of(item(Kind.STATUS_CHANGED, 0, actor_name="alice", previous_status="open",
                     status="in_progress")),
        line_of(item(Kind.ASSIGNED, 0, actor_name="bob")),
        line_of(item(Kind.COMMENTED, 0, actor_name="carol", excerpt="looks\n\n good")),
        line_of(item(Kind.MENTIONED, 0, actor_name="dave", excerpt="@you see")),
        line_of(item(Kind.ASSIGNED, 0)),
    ]  # fmt: skip
    assert [line.text for line in lines] == [
        "alice changed the status from open to in_progress",
        "bob assigned the task to you",
        "carol commented: looks good",
        "dave mentioned you: @you see",
        "Someone assigned the task to you",
    ]


def test_a_batch_lists_its_changes_in_order_under_the_tasks_current_title():
    items = [
        item(Kind.STATUS_CHANGED, 5, actor_name="b", previous_status="in_progress",
             status="done", title="Rotate all keys"),
        item(Kind.STATUS_CHANGED, 0, actor_name="a", previous_status="open", status="in_progress"),
    ]  # fmt: skip
    letter = compose(items)
    assert letter.subject == "[OPS-12] Rotate all keys — 2 updates"
    assert [line.actor for line in letter.lines] == ["a", "b"]
    assert compose(items[:1]).subject == "[OPS-12] Rotate all keys"


def test_a_task_from_before_projects_is_named_by_title_and_linked_by_id():
    letter = compose([item(Kind.ASSIGNED, 0, key=None, title="Old\ntask")])
    assert letter.subject == "Old task"
    assert letter.task_ref == "t" * 24


def test_a_batch_needs_items_of_known_kinds():
    with pytest.raises(MalformedNotice):
        compose([])
    with pytest.raises(MalformedNotice):
        compose([item("archived", 0)])  # type: ignore[arg-type]


def writer() -> LetterWriter:
    return LetterWriter(resets=None, public_url="https://tasks.example.com/")  # type: ignore[arg-type]


def test_the_letter_links_the_task_and_escapes_what_users_typed():
    items = [
        item(Kind.COMMENTED, 0, actor_name="<b>eve</b>", excerpt="<script>alert(1)</script>",
             title="A & B"),
        item(Kind.ASSIGNED, 1, actor_name="bob", title="A & B"),
    ]  # fmt: skip
    letter = writer().notification("f" * 32, Recipient("ann", "ann@example.com"), items)
    assert letter.to == "ann@example.com"
    assert letter.message_id == f"<{'f' * 32}.notification@tasktracker>"
    assert letter.subject == "[OPS-12] A & B — 2 updates"
    assert "https://tasks.example.com/api/v1/tasks/OPS-12" in letter.text
    assert "- <b>eve</b> commented: <script>alert(1)</script>" in letter.text
    assert "- bob assigned the task to you" in letter.text
    assert "<script>" not in letter.html and "&lt;script&gt;" in letter.html
    assert "<b>eve</b>" not in letter.html and "A &amp; B" in letter.html
    assert 'href="https://tasks.example.com/api/v1/tasks/OPS-12"' in letter.html


def test_a_batch_that_cannot_be_written_is_a_letter_error():
    with pytest.raises(LetterError):
        writer().notification("x", Recipient("ann", "ann@example.com"), [])


# --- settings ----------------------------------------------------------------------------------


def test_the_notification_settings_have_defaults_and_are_validated(tmp_path):
    settings = load_settings(DATA_DIR=tmp_path)
    assert (settings.notify_coalesce_seconds, settings.notify_flush_interval) == (120.0, 1.0)
    assert (
        load_settings(NOTIFY_COALESCE_SECONDS="0", DATA_DIR=tmp_path).notify_coalesce_seconds == 0
    )
    with pytest.raises(SettingsError, match="NOTIFY_COALESCE_SECONDS"):
        load_settings(NOTIFY_COALESCE_SECONDS="-1", DATA_DIR=tmp_path)
    with pytest.raises(SettingsError, match="NOTIFY_FLUSH_INTERVAL"):
        load_settings(NOTIFY_FLUSH_INTERVAL="0", DATA_DIR=tmp_path)
