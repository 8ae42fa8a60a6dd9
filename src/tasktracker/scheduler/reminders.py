"""The active scheduler's reminder loop: every REMINDER_POLL_INTERVAL seconds, fire the task
reminders whose time has come (services/reminders.py makes each fire once, whoever fires it)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class ReminderPoller:
    """Runs `fire` in a thread of its own from `start()` until `stop()`."""

    def __init__(self, fire: Callable[[], object], interval: float) -> None:
        self._fire = fire
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reminder-poller", daemon=True)

    def start(self) -> ReminderPoller:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._fire()
            except Exception:
                log.exception("reminders: firing round failed; next round in %ss", self._interval)
            self._stop.wait(self._interval)
