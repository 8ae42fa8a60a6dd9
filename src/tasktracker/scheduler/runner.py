"""The scheduler loop: hold the lease, run APScheduler while holding it, and keep its jobs in
step with the `alert_schedules` collection that the API writes on any replica.

Every `SCHEDULER_POLL_INTERVAL` seconds a process tries to take or renew the lease. The holder
starts APScheduler (jobs in MongoDB, `alert_jobs`), then reconciles: a job per schedule document,
none for deleted ones. A holder that cannot renew stops before its lease runs out; a standby
takes over at most one lease period plus one poll after the holder died. A firing that happens
twice anyway (a stalled holder, a retried job) is dropped by its run id (services/alerts.py).
While active, the holder also fires due task reminders every `REMINDER_POLL_INTERVAL` seconds
(scheduler/reminders.py; each fires once: services/reminders.py).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.mongodb import MongoDBJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from tasktracker.bootstrap import Container
from tasktracker.scheduler import jobs
from tasktracker.scheduler.reminders import ReminderPoller

log = logging.getLogger(__name__)

LEASE_NAME = "alert-scheduler"
JOBS_COLLECTION = "alert_jobs"
# Stop being active this long before the lease would run out without a renewal.
LEASE_MARGIN = 0.2
# A firing that raises (MongoDB unreachable, say) is retried in its thread with backoff.
FIRE_ATTEMPTS = 6
FIRE_RETRY_DELAY = 1.0
FIRE_RETRY_DELAY_MAX = 30.0


class SharedClientJobStore(MongoDBJobStore):
    """MongoDBJobStore on the application's client, which it must not close on shutdown."""

    def shutdown(self) -> None:
        pass


class AlertScheduler:
    def __init__(self, container: Container, owner: str | None = None) -> None:
        self._c = container
        s = container.settings
        self._lease_ttl = timedelta(seconds=s.scheduler_lease)
        self._poll = s.scheduler_poll_interval
        self._leases = container.adapters.leases
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._key = container.adapters.db.name
        self._scheduler: BackgroundScheduler | None = None
        self._reminders: ReminderPoller | None = None
        self._valid_until = 0.0
        self._running: set[str] = set()
        self._running_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.active = threading.Event()

    # --- lifecycle --------------------------------------------------------------------------

    def start_thread(self) -> AlertScheduler:
        """Run in a background thread (embedded mode: a thread of `tasktracker run`)."""
        self._thread = threading.Thread(target=self.run, name="alert-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def run(self) -> None:
        log.info("scheduler %s: standing by for the lease", self.owner)
        try:
            while not self._stop.is_set():
                self.tick()
                self._stop.wait(self._poll)
        finally:
            self._deactivate("stopping")
            try:
                self._leases.release(LEASE_NAME, self.owner)
            except Exception as exc:
                log.warning("scheduler: lease not released: %s", type(exc).__name__)

    def tick(self) -> None:
        """One round: take or renew the lease, then act on it."""
        started = time.monotonic()
        try:
            held = self._leases.acquire(LEASE_NAME, self.owner, self._c.clock(), self._lease_ttl)
        except Exception as exc:
            log.warning("scheduler: lease check failed: %s", type(exc).__name__)
            if self.active.is_set() and time.monotonic() >= self._valid_until:
                self._deactivate("lease not renewed in time")
            return
        if not held:
            self._deactivate("another scheduler holds the lease")
            return
        self._valid_until = started + self._lease_ttl.total_seconds() * (1 - LEASE_MARGIN)
        try:
            if not self.active.is_set():
                self._activate()
            self.reconcile()
        except Exception:
            log.exception("scheduler: round failed")

    def _activate(self) -> None:
        s = self._c.settings
        self._c.services.alerts.ensure_default_digest(s.alert_digest_time, s.alert_digest_timezone)
        scheduler = BackgroundScheduler(
            jobstores={
                "default": SharedClientJobStore(
                    database=self._key, collection=JOBS_COLLECTION, client=self._c.adapters.client
                )
            },
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        jobs.register(self._key, self._fire)
        scheduler.start()
        self._scheduler = scheduler
        fire = self._c.services.reminders.fire_due
        self._reminders = ReminderPoller(fire, s.reminder_poll_interval).start()
        self.active.set()
        log.info("scheduler %s: active (lease %ss)", self.owner, s.scheduler_lease)

    def _deactivate(self, reason: str) -> None:
        if not self.active.is_set():
            return
        self.active.clear()
        jobs.unregister(self._key, self._fire)
        if self._reminders is not None:
            self._reminders.stop()
            self._reminders = None
        if self._scheduler is not None:
            try:
                self._scheduler.shutdown(wait=False)
            except Exception as exc:
                log.warning("scheduler: shutdown failed: %s", type(exc).__name__)
            self._scheduler = None
        log.info("scheduler %s: standing by (%s)", self.owner, reason)

    # --- jobs -------------------------------------------------------------------------------

    def reconcile(self) -> None:
        """One APScheduler job per schedule document, with the document's trigger."""
        scheduler = self._scheduler
        if scheduler is None:
            return
        schedules = {s.id: s for s in self._c.services.alerts.pending()}
        current = {job.id: job for job in scheduler.get_jobs()}
        for job_id in current.keys() - schedules.keys():
            self._remove(scheduler, job_id)
        with self._running_lock:
            running = set(self._running)
        for schedule in schedules.values():
            job = current.get(schedule.id)
            trigger = schedule.trigger()
            if job is not None and repr(job.trigger) == repr(trigger):
                continue
            if job is None and schedule.id in running:
                continue  # a one-off being fired right now: its job is gone already
            scheduler.add_job(
                jobs.fire_alert,
                trigger,
                args=[self._key, schedule.id],
                id=schedule.id,
                name=f"alert {schedule.kind} {schedule.id}",
                replace_existing=True,
            )
            log.info("scheduler: %s alert %s scheduled", schedule.kind, schedule.id)

    @staticmethod
    def _remove(scheduler: BackgroundScheduler, job_id: str) -> None:
        try:
            scheduler.remove_job(job_id)
        except JobLookupError:
            return
        log.info("scheduler: alert %s unscheduled (its schedule was deleted)", job_id)

    def _fire(self, schedule_id: str) -> None:
        """Fire with bounded retries (a firing is idempotent, so retrying is safe); a one-off
        that still fails keeps its document and is scheduled again by the next reconcile."""
        with self._running_lock:
            self._running.add(schedule_id)
        try:
            for attempt in range(1, FIRE_ATTEMPTS + 1):
                try:
                    self._c.services.alerts.fire(schedule_id)
                    return
                except Exception as exc:
                    if attempt == FIRE_ATTEMPTS or not self.active.is_set():
                        raise
                    delay = min(FIRE_RETRY_DELAY * 2 ** (attempt - 1), FIRE_RETRY_DELAY_MAX)
                    log.warning(
                        "scheduler: alert %s failed (%s); retry %d in %.0fs",
                        schedule_id,
                        type(exc).__name__,
                        attempt,
                        delay,
                    )
                    if self._stop.wait(delay):
                        raise
        finally:
            with self._running_lock:
                self._running.discard(schedule_id)
