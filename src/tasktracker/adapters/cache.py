"""Key/value cache: Memcached (several nodes through pymemcache's HashClient, pooled) or an
in-process dict for the embedded default, and a near cache in front of either for sessions. All
answer `None`/`False` instead of raising when the cache is unreachable: the cache only ever
speeds things up, MongoDB stays the source of truth."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pymemcache.client.hash import HashClient
from pymemcache.exceptions import MemcacheError

from tasktracker.endpoints import parse_servers
from tasktracker.services.ports import Cache

log = logging.getLogger(__name__)


class MemcachedCache:
    """JSON values in Memcached. Failures are logged once per outage, not once per call."""

    def __init__(self, servers: str, *, pool_size: int = 16, timeout: float = 0.25) -> None:
        self._client = HashClient(
            parse_servers(servers),
            connect_timeout=timeout,
            timeout=timeout,
            use_pooling=True,
            max_pool_size=pool_size,
            retry_attempts=1,
            retry_timeout=1,
            dead_timeout=2,
            ignore_exc=False,
            no_delay=True,
        )
        self.healthy = True
        self._state_lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            raw = self._client.get(key)
        except (MemcacheError, OSError) as exc:
            self._mark_down(exc)
            return None
        self._mark_up()
        return json.loads(raw) if raw else None

    def set(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        try:
            self._client.set(
                key, json.dumps(value, separators=(",", ":")), expire=ttl, noreply=False
            )
        except (MemcacheError, OSError) as exc:
            self._mark_down(exc)
            return False
        self._mark_up()
        return True

    def delete_many(self, keys: list[str]) -> bool:
        if not keys:
            return True
        try:
            self._client.delete_many(keys, noreply=False)
        except (MemcacheError, OSError) as exc:
            self._mark_down(exc)
            return False
        self._mark_up()
        return True

    def ping(self) -> bool:
        """True when Memcached answers (HashClient turns a node it just saw fail into misses)."""
        try:
            self._client.set("tasktracker:ping", "1", expire=10, noreply=False)
            answered = self._client.get("tasktracker:ping") is not None
        except (MemcacheError, OSError) as exc:
            self._mark_down(exc)
            return False
        if answered:
            self._mark_up()
        return answered

    def _mark_down(self, exc: Exception) -> None:
        with self._state_lock:
            if self.healthy:
                self.healthy = False
                log.warning(
                    "memcached unavailable (%s); serving from MongoDB until it is back",
                    type(exc).__name__,
                )

    def _mark_up(self) -> None:
        if self.healthy:
            return
        with self._state_lock:
            if not self.healthy:
                self.healthy = True
                log.info("memcached is back")

    def close(self) -> None:
        self._client.close()


class InProcessCache:
    """The embedded default: a dict with expiry times, safe across threads."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self.healthy = True

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            expires, raw = item
            if expires < time.monotonic():
                del self._items[key]
                return None
        return json.loads(raw)

    def set(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        with self._lock:
            self._items[key] = (time.monotonic() + ttl, json.dumps(value))
        return True

    def delete_many(self, keys: list[str]) -> bool:
        with self._lock:
            for key in keys:
                self._items.pop(key, None)
        return True

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        self._items.clear()


class NearCache:
    """A short-lived copy, in this process, of what another cache answered: a hit costs no
    round trip. What this process writes or deletes it sees at once; what another process
    changes, it sees once its copy is `ttl` seconds old (at most one second for sessions)."""

    MAX_ITEMS = 50_000  # cleared when full: one round trip per key to refill

    def __init__(
        self, shared: Cache, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._shared = shared
        self._ttl = ttl
        self._clock = clock
        self._items: dict[str, tuple[float, dict[str, Any]]] = {}

    @property
    def healthy(self) -> bool:
        return self._shared.healthy

    def get(self, key: str) -> dict[str, Any] | None:
        item = self._items.get(key)
        if item is not None and self._clock() - item[0] < self._ttl:
            return item[1]
        value = self._shared.get(key)
        if value is None:
            self._items.pop(key, None)
        else:
            self._keep(key, value)
        return value

    def set(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        stored = self._shared.set(key, value, ttl)
        self._keep(key, value)
        return stored

    def delete_many(self, keys: list[str]) -> bool:
        for key in keys:
            self._items.pop(key, None)
        return self._shared.delete_many(keys)

    def ping(self) -> bool:
        return self._shared.ping()

    def close(self) -> None:
        self._items.clear()
        self._shared.close()

    def _keep(self, key: str, value: dict[str, Any]) -> None:
        if len(self._items) >= self.MAX_ITEMS:
            self._items.clear()
        self._items[key] = (self._clock(), value)
