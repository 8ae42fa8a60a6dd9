"""Notification letters, outbox -> RabbitMQ -> agent -> MongoDB batches -> SMTP: who hears,
changes coalesced per person and task, exactly one letter per batch and recipient through
duplicates, killed agents and competing agents; and the digest's two notification features."""

from __future__ import annotations

import signal
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from tasktracker.adapters.mongo.comments import CommentRepository
from tasktracker.agent.runner import Background
from tasktracker.bootstrap import Container
from tasktracker.domain.comments import Comment
from tasktracker.settings import Settings
from tests.support.alerts import create_schedule, digests_to, wait_for_run, wait_until_delivered
from tests.support.api import Account, Api
from tests.support.commands import start_agent
from tests.support.notifications import (
    change_lines,
    comment,
    fanned_out,
    letters_about,
    record,
    status_change,
    wait_until_mailed,
)
from tests.support.smtp import SmtpServer, html_of, text_of
from tests.support.waiting import wait_until

WINDOW = 2.0  # NOTIFY_COALESCE_SECONDS in these tests
LINK = "https://tasks.example.com/api/v1/tasks"


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, object]) -> dict[str, object]:
    return {**settings_overrides, "notify_coalesce_seconds": WINDOW, "notify_flush_interval": 0.05}


def team(api: Api, *names: str) -> list[Account]:
    """Members of a project OPS that the first of them owns."""
    accounts = [api.member(name) for name in names]
    api.create_project(accounts[0], "OPS", "Operations")
    for account in accounts[1:]:
        api.set_role(accounts[0], "OPS", account, "member")
    return accounts


def ops_task(api: Api, who: Account, title: str = "Rotate the keys") -> dict[str, Any]:
    return api.create_task(who, title=title, project="OPS")


def one_letter(smtp: SmtpServer, who: Account, task: dict[str, Any], timeout: float = 20.0):
    return wait_until(lambda: letters_about(smtp, who.email, task["key"]), timeout)[0]


def users(container: Container) -> Any:
    return container.adapters.db.users


def by_id(account: Account) -> dict[str, ObjectId]:
    return {"_id": ObjectId(account.id)}


# --- who hears ---------------------------------------------------------------------------------


def test_a_mention_mails_the_mentioned_watcher_once_and_never_the_author(
    api, container, agent, smtp
):
    ann, bob, cat = team(api, "ann", "bob", "cat")
    task = ops_task(api, ann)
    said = "@bob could you <b>look</b> at\nthis?"
    record(container, comment(container, task, ann, [ann, bob, cat], said, mentions=[bob]))

    to_bob, to_cat = one_letter(smtp, bob, task), one_letter(smtp, cat, task)
    wait_until_mailed(container, 1)
    assert to_bob["Subject"] == f"[{task['key']}] Rotate the keys"
    assert change_lines(to_bob) == ["ann mentioned you: @bob could you <b>look</b> at this?"]
    assert change_lines(to_cat) == ["ann commented: @bob could you <b>look</b> at this?"]
    assert f"{LINK}/{task['key']}" in text_of(to_bob)
    html = html_of(to_bob)
    assert "<b>look</b>" not in html and "&lt;b&gt;look&lt;/b&gt;" in html
    assert to_bob["Message-ID"].endswith(".notification@tasktracker>")
    assert letters_about(smtp, ann.email, task["key"]) == []
    assert len(letters_about(smtp, bob.email, task["key"])) == 1


def test_preferences_membership_and_activity_decide_who_hears(api, container, agent, smtp):
    ann, bob, dan, eve = team(api, "ann", "bob", "dan", "eve")
    cat = api.member("cat")  # not a member of OPS
    users(container).update_one(by_id(bob), {"$set": {"notifications.status_changed": False}})
    users(container).update_one(by_id(dan), {"$set": {"active": False}})
    task = ops_task(api, ann)

    watchers = [ann, bob, cat, dan, eve]
    record(container, status_change(container, task, ann, watchers, "open", "in_progress"))
    assert change_lines(one_letter(smtp, eve, task)) == [
        "ann changed the status from open to in_progress"
    ]
    wait_until_mailed(container, 1)
    for nobody in (ann, bob, cat, dan):
        assert letters_about(smtp, nobody.email, task["key"]) == [], nobody.username

    # Comments are another kind: bob still hears of those.
    record(container, comment(container, task, ann, watchers, "done?"))
    assert change_lines(one_letter(smtp, bob, task)) == ["ann commented: done?"]


def test_changes_made_through_the_api_reach_each_watcher_in_one_letter(
    api, container, clock, agent, smtp
):
    clock.set(datetime.now(UTC))  # nothing is due until the test moves the clock
    ann, bob, cat = team(api, "ann", "bob", "cat")
    task = api.create_task(ann, title="Rotate the keys", project="OPS", assignee=bob.id)
    r = api.client.patch(
        "/api/v1/users/me/notifications", json={"status_changed": False}, headers=cat.headers
    )
    assert r.status_code == 200, r.get_json()
    r = api.client.post(
        f"/api/v1/tasks/{task['key']}/comments", json={"body": "@cat please check"},
        headers=bob.headers,
    )  # fmt: skip
    assert r.status_code == 201, r.get_json()
    r = api.client.patch(
        f"/api/v1/tasks/{task['id']}", json={"status": "in_progress"}, headers=bob.headers
    )
    assert r.status_code == 200, r.get_json()
    wait_until(lambda: fanned_out(container) == 3)  # assigned, commented, status changed

    clock.advance(seconds=WINDOW)
    wait_until_mailed(container, 3)
    [to_ann] = letters_about(smtp, ann.email, task["key"])
    assert change_lines(to_ann) == [
        "bob commented: @cat please check",
        "bob changed the status from open to in_progress",
    ]
    [to_bob] = letters_about(smtp, bob.email, task["key"])
    assert change_lines(to_bob) == ["ann assigned the task to you"]
    [to_cat] = letters_about(smtp, cat.email, task["key"])  # mentioned; status changes off
    assert change_lines(to_cat) == ["bob mentioned you: @cat please check"]


# --- coalescing --------------------------------------------------------------------------------


def test_three_quick_status_changes_become_one_letter_listing_them_in_order(
    api, container, agent, smtp
):
    ann, bob = team(api, "ann", "bob")
    task = ops_task(api, ann)
    for before, after in (("open", "in_progress"), ("in_progress", "done"), ("done", "open")):
        record(container, status_change(container, task, ann, [ann, bob], before, after))

    letter = one_letter(smtp, bob, task)
    wait_until_mailed(container, 3)
    assert letter["Subject"] == f"[{task['key']}] Rotate the keys — 3 updates"
    assert change_lines(letter) == [
        "ann changed the status from open to in_progress",
        "ann changed the status from in_progress to done",
        "ann changed the status from done to open",
    ]
    assert len(letters_about(smtp, bob.email, task["key"])) == 1


def test_the_window_counts_from_the_first_waiting_change(api, container, clock, agent, smtp):
    clock.set(datetime.now(UTC))
    ann, bob = team(api, "ann", "bob")
    task = ops_task(api, ann)

    def change(before: str, after: str, handled: int) -> None:
        record(container, status_change(container, task, ann, [bob], before, after))
        wait_until(lambda: fanned_out(container) == handled)

    change("open", "in_progress", 1)
    clock.advance(seconds=WINDOW - 0.5)
    change("in_progress", "done", 2)  # joins the waiting batch without extending it
    assert letters_about(smtp, bob.email, task["key"]) == []
    clock.advance(seconds=0.5)
    [first] = wait_until(lambda: letters_about(smtp, bob.email, task["key"]))
    wait_until_mailed(container, 2)
    assert len(change_lines(first)) == 2

    change("done", "open", 3)  # after the letter: a new batch, with a window of its own
    clock.advance(seconds=WINDOW - 0.5)
    assert len(letters_about(smtp, bob.email, task["key"])) == 1
    clock.advance(seconds=0.5)
    second = wait_until(lambda: letters_about(smtp, bob.email, task["key"])[1:])[0]
    assert change_lines(second) == ["ann changed the status from done to open"]
    assert second["Subject"] == f"[{task['key']}] Rotate the keys"


# --- exactly once ------------------------------------------------------------------------------


def test_the_same_event_published_three_times_makes_one_letter(api, container, agent, smtp, caplog):
    ann, bob = team(api, "ann", "bob")
    task = ops_task(api, ann)
    event = status_change(container, task, ann, [bob], "open", "done")
    with caplog.at_level("INFO", logger="tasktracker.agent.notifier"):
        record(container, event)
        # The relay publishes it again (as after a crash before it was marked sent), and so
        # does a stray direct publish.
        long_ago = datetime(2000, 1, 1, tzinfo=UTC)
        container.adapters.db.outbox.update_one(
            {"_id": event.event_id}, {"$set": {"sent_at": None, "lease_until": long_ago}}
        )
        assert container.relay.run_once() == 1
        container.adapters.broker.publish(event)
        wait_until(lambda: caplog.text.count("duplicate ignored") >= 2)

    one_letter(smtp, bob, task)
    wait_until_mailed(container, 1)
    assert len(letters_about(smtp, bob.email, task["key"])) == 1


def test_two_agents_send_one_letter_per_batch_and_recipient(
    api, container, agent, agent_container, clock, smtp
):
    clock.set(datetime.now(UTC))
    second = Background(agent_container, relay=False).start()
    try:
        assert second.agent is not None and second.agent.ready.wait(15)
        ann, *watchers = team(api, "ann", "bob", "cat", "dan")
        tasks = [ops_task(api, ann, f"task {n}") for n in range(4)]
        steps = (("open", "in_progress"), ("in_progress", "done"), ("done", "open"))
        for task in tasks:
            for before, after in steps:
                event = status_change(container, task, ann, [ann, *watchers], before, after)
                record(container, event)
                container.adapters.broker.publish(event)  # and a duplicate
        wait_until(lambda: fanned_out(container) == len(tasks) * len(steps), timeout=30)

        clock.advance(seconds=WINDOW)  # every batch is due at once: both flushers compete
        wait_until_mailed(container, len(tasks) * len(steps), timeout=30)
    finally:
        second.stop()
    for task in tasks:
        for who in watchers:
            [letter] = letters_about(smtp, who.email, task["key"])
            assert len(change_lines(letter)) == len(steps)
        assert letters_about(smtp, ann.email, task["key"]) == []


def start_agent_process(agent_settings: Settings, **settings: object) -> subprocess.Popen:
    return start_agent(
        agent_settings,
        public_url=agent_settings.public_url,
        delivery_lease=agent_settings.delivery_lease,
        notify_flush_interval=0.05,
        **settings,
    )


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def welcome_everyone(agent_container: Container, smtp: SmtpServer, accounts: int) -> None:
    """Mail the signups' welcome letters first, so the agent process only sends notifications."""
    background = Background(agent_container, relay=False).start()
    try:
        wait_until(lambda: smtp.count >= accounts, timeout=20)
    finally:
        background.stop()


def test_a_batch_left_waiting_by_a_killed_agent_is_mailed_once_by_the_next(
    api, container, agent_settings, agent_container, clock, smtp
):
    ann, bob = team(api, "ann", "bob")
    task = ops_task(api, ann)
    batches = container.adapters.db.notifications
    process = start_agent_process(agent_settings, notify_coalesce_seconds=60)
    try:
        record(container, status_change(container, task, ann, [bob], "open", "done"))
        wait_until(lambda: batches.find_one({"items": {"$exists": True}}), timeout=30)
        kill(process)  # after the fan-out, long before the batch is due
    finally:
        if process.poll() is None:
            process.kill()
    assert letters_about(smtp, bob.email, task["key"]) == []

    clock.advance(seconds=60)
    background = Background(agent_container, relay=False).start()
    try:
        one_letter(smtp, bob, task)
        wait_until_mailed(container, 1)
    finally:
        background.stop()
    assert len(letters_about(smtp, bob.email, task["key"])) == 1


def test_a_letter_whose_agent_died_while_sending_goes_out_once_with_the_same_message_id(
    api, container, agent_settings, agent_container, smtp
):
    ann, bob = team(api, "ann", "bob")
    task = ops_task(api, ann)
    welcome_everyone(agent_container, smtp, 2)
    batches = container.adapters.db.notifications

    smtp.collector.hold = True  # the letter stalls inside the SMTP conversation
    process = start_agent_process(agent_settings, notify_coalesce_seconds=0.2)
    try:
        record(container, status_change(container, task, ann, [bob], "open", "done"))
        assert smtp.collector.held.wait(30), "the agent never started sending"
        claimed = batches.find_one({"sending": {"$exists": True}})
        kill(process)  # claimed, half sent, never recorded
    finally:
        if process.poll() is None:
            process.kill()
    smtp.collector.release()  # the half-sent letter is refused: it was never delivered
    assert claimed is not None
    assert letters_about(smtp, bob.email, task["key"]) == []

    # A new agent takes the claim over once its lease (DELIVERY_LEASE) ran out.
    background = Background(agent_container, relay=False).start()
    try:
        letter = one_letter(smtp, bob, task, timeout=30)
        wait_until_mailed(container, 1)
    finally:
        background.stop()
    assert letter["Message-ID"] == f"<{claimed['sending']['letter_id']}.notification@tasktracker>"
    assert len(letters_about(smtp, bob.email, task["key"])) == 1


# --- the digest --------------------------------------------------------------------------------


def fire_digest(api: Api, container: Container, admin: Account) -> dict:
    run = wait_for_run(container, create_schedule(api, admin, {"type": "now"}))
    wait_until_delivered(container, run)
    return run


def test_a_member_who_switched_the_digest_off_gets_none(api, container, agent, smtp, scheduler):
    boss = api.admin("boss")
    alice, bob = api.member("alice"), api.member("bob")
    for who in (alice, bob):
        api.create_task(who, title=f"{who.username}'s task", assignee=who.id)
    users(container).update_one(by_id(alice), {"$set": {"notifications.digest": False}})

    run = fire_digest(api, container, boss)
    assert run["members"] == 1
    assert digests_to(smtp, alice.email) == []
    assert "bob's task" in text_of(digests_to(smtp, bob.email)[0])


def add_comment(
    container: Container, task: dict, author: Account, body: str | None, age: timedelta
) -> None:
    at = container.clock() - age
    CommentRepository(container.adapters.db).add(
        Comment(
            id="",
            task_id=task["id"],
            project_id=task["project_id"],
            author=author.id,
            body=body,
            created_at=at,
            deleted_at=at if body is None else None,
        )
    )


def test_each_digest_task_shows_its_newest_live_comment(api, container, agent, smtp, scheduler):
    boss = api.admin("boss")
    alice, bob, carol = api.member("alice"), api.member("bob"), api.member("carol")
    talked = api.create_task(alice, title="talked about", assignee=alice.id)
    quiet = api.create_task(alice, title="quiet", assignee=alice.id)
    newest = "the <newest> live\n\ncomment " + "x" * 300
    add_comment(container, talked, bob, "an old one", timedelta(hours=3))
    add_comment(container, talked, carol, newest, timedelta(hours=2))
    add_comment(container, talked, bob, None, timedelta(hours=1))  # newer, but deleted

    fire_digest(api, container, boss)
    [letter] = digests_to(smtp, alice.email)
    text = text_of(letter)
    lines = text.splitlines()
    shown = lines[lines.index(f"- {talked['key']} talked about [open]") + 1]
    assert shown.startswith("  latest comment by carol: the <newest> live comment xxx")
    assert shown.endswith("…") and len(shown) == len("  latest comment by carol: ") + 120
    assert f"- {quiet['key']} quiet [open]" in lines
    assert text.count("latest comment by") == 1 and "an old one" not in text
    html = html_of(letter)
    assert "Latest comment by <strong>carol</strong>: the &lt;newest&gt; live comment" in html
