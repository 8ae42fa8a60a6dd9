"""Key/value cache: Memcached (several nodes through pymemcache's HashClient, pooled) or an
in-process dict for the embedded default. Both answer `None`/`False` instead of raising when the
cache is unreachable: the cache only ever speeds things up, MongoDB stays the source of truth."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from pymemcache.client.hash import HashClient
from pymemcache.exceptions import MemcacheError

from tasktracker.endpoints import parse_servers

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
