"""Notification letters: the consumer fans each task event out into per-(recipient, task)
batches in MongoDB and acknowledges at once (it never waits for the coalescing window); a
flusher thread mails each batch once it is due.

Exactly once per batch and recipient: the fan-out is idempotent per event (its marker commits
with its items), a batch is claimed atomically by one flusher, and a claim whose agent died is
taken over after its lease with the same letter id (so the same Message-ID). The one window
left is the one `deliveries` accepts too: an agent that dies after the SMTP server accepted a
letter but before `finish` recorded it leaves the claim to expire, and the letter goes out
again — with the same Message-ID, so mail systems can recognise the repeat.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from pymongo.errors import PyMongoError

from tasktracker.adapters.mailer import Mailer, MailError
from tasktracker.adapters.mongo.notifications import Batch, NotificationStore, Push
from tasktracker.agent.consumer import Outcome, RetryPolicy
from tasktracker.agent.letters import LetterError, LetterWriter
from tasktracker.agent.notifications import (
    NOTIFYING,
    MalformedNotice,
    candidates,
    notice_item,
    project_id_of,
    recipients,
    task_id_of,
)
from tasktracker.domain.errors import ConcurrentChange
from tasktracker.domain.events import Event, EventType
from tasktracker.metrics import LETTERS_FAILED, LETTERS_SENT, NOTIFICATIONS_QUEUED
from tasktracker.services.clock import Clock

log = logging.getLogger(__name__)

KIND = "notification"  # the letters' metric label
# Most batches one flush round sends before it looks at the stop flag again.
FLUSH_ROUND = 100


@dataclass(frozen=True, slots=True)
class NotifyPolicy:
    window: timedelta  # NOTIFY_COALESCE_SECONDS
    lease: timedelta  # DELIVERY_LEASE: how long a letter being sent is reserved for one agent
    retry: RetryPolicy  # the backoff between attempts of a letter the mail server refused


class Notifier:
    def __init__(
        self,
        store: NotificationStore,
        letters: LetterWriter,
        mailer: Mailer,
        clock: Clock,
        policy: NotifyPolicy,
    ) -> None:
        self._store = store
        self._letters = letters
        self._mailer = mailer
        self._clock = clock
        self._policy = policy
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def handlers(self) -> Mapping[EventType, Callable[[Event], Outcome]]:
        """The consumer's handler of each event type that notifies someone."""
        return dict.fromkeys(NOTIFYING, self.fan_out)

    # --- the consumer's side -------------------------------------------------------------------

    def fan_out(self, event: Event) -> Outcome:
        """Queue the event's notifications in their batches; never waits for a window."""
        try:
            pushes = self._pushes(event)
            # Recorded even when nobody is to hear: every event handled leaves its marker.
            if not self._store.fan_out(event.event_id, pushes, self._clock(), self._policy.window):
                log.info("notifier: event %s already fanned out; duplicate ignored", event.event_id)
                return Outcome.DONE
        except MalformedNotice as exc:
            log.error("notifier: event %s cannot notify anyone: %s", event.event_id, exc)
            return Outcome.POISON
        except (PyMongoError, ConcurrentChange) as exc:
            log.warning("notifier: event %s not fanned out: %s", event.event_id, type(exc).__name__)
            return Outcome.RETRY
        for push in pushes:
            NOTIFICATIONS_QUEUED.labels(push.item["kind"]).inc()
        log.info("notifier: event %s queued for %d recipient(s)", event.event_id, len(pushes))
        return Outcome.DONE

    def _pushes(self, event: Event) -> list[Push]:
        task_id, project_id = task_id_of(event), project_id_of(event)
        eligible = self._store.eligible(project_id, candidates(event))
        return [
            Push(notice.user_id, task_id, notice_item(event, notice.kind))
            for notice in recipients(event, eligible)
        ]

    # --- the flusher's side --------------------------------------------------------------------

    def run_forever(self, stop: threading.Event, interval: float) -> None:
        while not stop.is_set():
            try:
                self.flush_due(stop)
            except Exception:
                log.exception("notifier: flush round failed")
            stop.wait(interval)

    def flush_due(self, stop: threading.Event | None = None) -> int:
        """Send every batch that is due (and every letter whose lease ran out); answer how many
        batches were handled."""
        handled = 0
        while handled < FLUSH_ROUND and not (stop and stop.is_set()):
            batch = self._claim()
            if batch is None:
                break
            self.send(batch)
            handled += 1
        return handled

    def _claim(self) -> Batch | None:
        now, lease = self._clock(), self._policy.lease
        return self._store.take_over(self.owner, now, lease) or self._store.claim_due(
            self.owner, now, lease
        )

    def send(self, batch: Batch) -> None:
        """Mail a claimed batch, then finish it; a refused letter is tried again later."""
        recipient = self._store.recipient(batch.user_id, batch.project_id)
        if recipient is None:
            log.info("notifier: letter %s dropped: the recipient left or is inactive", batch.id)
            self._store.finish(batch)
            return
        try:
            self._mailer.send(self._letters.notification(batch.letter_id, recipient, batch.items))
        except LetterError as exc:
            LETTERS_FAILED.labels(KIND).inc()
            log.error("notifier: letter %s cannot be written: %s", batch.letter_id, exc)
            self._store.finish(batch)
            return
        except Exception as exc:
            self._postpone(batch, exc)
            return
        LETTERS_SENT.labels(KIND).inc()
        self._finish(batch)

    def _postpone(self, batch: Batch, exc: Exception) -> None:
        LETTERS_FAILED.labels(KIND).inc()
        delay = self._policy.retry.delay(batch.attempts + 1)
        if isinstance(exc, MailError):
            log.warning(
                "notifier: letter %s not sent (%s); again in %.1fs", batch.letter_id, exc, delay
            )
        else:
            log.exception("notifier: letter %s failed; again in %.1fs", batch.letter_id, delay)
        # Should this fail too, the lease runs out and the letter is taken over all the same.
        self._store.postpone(batch, self._clock() + timedelta(seconds=delay))

    def _finish(self, batch: Batch) -> None:
        try:
            self._store.finish(batch)
        except PyMongoError as exc:
            # The at-least-once window: the lease will run out and the letter go out again,
            # with the same Message-ID.
            log.error("notifier: letter %s sent but not recorded: %s", batch.letter_id, exc)
            return
        log.info(
            "notifier: letter %s sent for batch %s (%d change(s))",
            batch.letter_id,
            batch.id,
            len(batch.items),
        )
