"""Task reminders end to end: API -> `reminders` -> the active scheduler (a thread, or two
`tasktracker scheduler` processes) -> outbox -> RabbitMQ -> agent -> one SMTP letter each.

"No letter" is proven by a later reminder that does arrive: the scheduler fires in time order
and the agent mails in queue order, so once the later letter is in, an earlier one would be too.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from tasktracker.bootstrap import Container
from tasktracker.domain.events import EventType
from tasktracker.schemas.tasks import TaskCreate
from tasktracker.services.reminders import FiringRound, ReminderService
from tests.support.alerts import LEASE
from tests.support.api import Account, Api
from tests.support.scheduler import lease_holder_pid
from tests.support.smtp import SmtpServer, html_of, text_of
from tests.support.times import iso
from tests.support.waiting import wait_until

REMINDER = str(EventType.TASK_REMINDER)


def in_seconds(seconds: float) -> str:
    return iso(datetime.now(UTC) + timedelta(seconds=seconds))


def reminded_task(api: Api, who: Account, seconds: float, **fields: object) -> dict:
    return api.create_task(who, reminders=[{"at": in_seconds(seconds)}], **fields)


def reminders_of(smtp: SmtpServer, who: Account, task: dict) -> list:
    return [m for m in smtp.letters_to(who.email) if f"[{task['key']}] Reminder" in m["Subject"]]


def reminder_events(container: Container) -> int:
    return container.adapters.db.outbox.count_documents({"type": REMINDER})


def test_a_reminder_two_seconds_ahead_mails_the_assignee_once(
    api, container, agent, smtp, scheduler
):
    alice, bob = api.member("alice"), api.member("bob")
    due = in_seconds(86_400)
    task = reminded_task(api, alice, 2, assignee=bob.id, title="renew the domain", due_date=due)
    later = reminded_task(api, alice, 4, assignee=bob.id)

    wait_until(lambda: reminders_of(smtp, bob, later), timeout=20)
    (letter,) = reminders_of(smtp, bob, task)
    assert letter["Subject"].startswith(f"[{task['key']}] Reminder: renew the domain (due ")
    assert "renew the domain" in text_of(letter) and task["key"] in html_of(letter)
    assert reminders_of(smtp, alice, task) == []
    assert len(reminders_of(smtp, bob, later)) == 1
    doc = container.adapters.db.reminders.find_one({"task_id": task["id"]})
    assert doc["fired_at"] is not None
    assert reminder_events(container) == 2


def test_a_redelivered_reminder_event_sends_no_second_letter(
    api, container, agent, smtp, scheduler
):
    alice = api.member("alice")
    task = reminded_task(api, alice, 1)
    wait_until(lambda: reminders_of(smtp, alice, task), timeout=20)

    event = container.adapters.db.outbox.find_one({"type": REMINDER})
    container.adapters.db.outbox.update_one(
        {"_id": event["_id"]}, {"$set": {"sent_at": None, "lease_until": datetime.now(UTC)}}
    )
    container.relay.run_once()  # published again, as a relay that lost its record would
    later = reminded_task(api, alice, 1)
    wait_until(lambda: reminders_of(smtp, alice, later), timeout=20)
    assert len(reminders_of(smtp, alice, task)) == 1


def test_an_unassigned_task_reminds_its_reporter(api, container, agent, smtp, scheduler):
    alice = api.member("alice")
    task = reminded_task(api, alice, 2)
    wait_until(lambda: reminders_of(smtp, alice, task), timeout=20)


def test_done_and_deleted_tasks_send_nothing(api, container, agent, smtp, scheduler):
    alice = api.member("alice")
    done = reminded_task(api, alice, 2)
    api.finish_task(alice, done)
    deleted = reminded_task(api, alice, 2)
    r = api.client.delete(f"/api/v1/tasks/{deleted['id']}", headers=alice.headers)
    assert r.status_code == 204
    later = reminded_task(api, alice, 3)

    wait_until(lambda: reminders_of(smtp, alice, later), timeout=20)
    assert reminders_of(smtp, alice, done) == reminders_of(smtp, alice, deleted) == []
    assert reminder_events(container) == 1


def test_killing_the_active_scheduler_lets_the_standby_fire_once(
    api, container, agent, smtp, scheduler_processes
):
    alice = api.member("alice")
    processes = [scheduler_processes(), scheduler_processes()]
    holder = wait_until(lambda: lease_holder_pid(container), timeout=30)
    active = next(p for p in processes if p.pid == holder)
    standby = next(p for p in processes if p.pid != holder)

    due = datetime.now(UTC) + timedelta(seconds=LEASE * 2)
    task = api.create_task(alice, reminders=[{"at": iso(due)}])
    active.kill()
    wait_until(lambda: lease_holder_pid(container) == standby.pid, timeout=LEASE * 3)
    assert datetime.now(UTC) < due  # the killed scheduler never had its chance
    later = api.create_task(alice, reminders=[{"at": iso(due + timedelta(seconds=1))}])

    wait_until(lambda: reminders_of(smtp, alice, later), timeout=30)
    assert len(reminders_of(smtp, alice, task)) == 1
    assert reminder_events(container) == 2
    assert ": active (lease" in standby.output()


def test_racing_firers_write_one_event_per_reminder(api, container, settings, make_container):
    """Two firers (each its own client, as two scheduler processes) fire the same due reminders
    at the same moment: every reminder reaches the outbox once."""
    alice = api.member("alice")
    user = container.adapters.users.get(alice.id)
    assert user is not None
    actor = container.services.projects.actor(user)
    at = iso(datetime.now(UTC) + timedelta(hours=1))
    for n in range(120):
        data = TaskCreate.model_validate({"title": f"task {n}", "reminders": [{"at": at}]})
        container.services.tasks.create(actor, data)
    # their time has come (as if an hour had passed)
    past = datetime.now(UTC) - timedelta(seconds=1)
    container.adapters.db.reminders.update_many({}, {"$set": {"remind_at": past}})

    # small batches, so the two take turns and collide over and over
    firers = [
        ReminderService(c.events, c.clock, batch_size=10)
        for c in (make_container(settings) for _ in range(2))
    ]
    start = threading.Barrier(len(firers))
    rounds: list[FiringRound] = []

    def fire(service) -> None:
        start.wait()
        rounds.append(service.fire_due())

    threads = [threading.Thread(target=fire, args=(f,)) for f in firers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sum(r.fired for r in rounds) == 120
    assert reminder_events(container) == 120
    assert container.adapters.db.reminders.count_documents({"fired_at": None}) == 0
