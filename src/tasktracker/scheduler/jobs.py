"""What APScheduler stores and calls. A stored job names `fire_alert` by its import path and
carries only plain arguments; the process's active scheduler registers the service that fires."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

_lock = threading.Lock()
_firers: dict[str, Callable[[str], object]] = {}


def register(key: str, fire: Callable[[str], object]) -> None:
    with _lock:
        _firers[key] = fire


def unregister(key: str, fire: Callable[[str], object]) -> None:
    with _lock:
        if _firers.get(key) is fire:
            del _firers[key]


def fire_alert(key: str, schedule_id: str) -> None:
    """The job function: `key` names the database whose scheduler owns the job."""
    with _lock:
        fire = _firers.get(key)
    if fire is None:
        log.warning("scheduler: no active scheduler for %s; alert %s left", key, schedule_id)
        return
    fire(schedule_id)
