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
from typing import Any, Protocol

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

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        try:
            stored = self._client.add(
                key, json.dumps(value, separators=(",", ":")), expire=ttl, noreply=False
            )
        except (MemcacheError, OSError) as exc:
            self._mark_down(exc)
            return False
        self._mark_up()
        return bool(stored)

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

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        with self._lock:
            item = self._items.get(key)
            if item is not None and item[0] >= time.monotonic():
                return False
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


class Invalidations(Protocol):
    """How near caches in several processes keep in step (adapters/cache_broadcast.py over
    RabbitMQ): each process tells the others which keys it changed in the shared cache."""

    @property
    def live(self) -> bool:
        """True while this process is sure to hear every other process's changes."""
        ...

    def publish(self, keys: list[str]) -> bool: ...

    def listen(self, on_keys: Callable[[list[str]], None], on_lost: Callable[[], None]) -> None:
        """Start (once) calling `on_keys` with what other processes changed, and `on_lost` when
        that stream broke (what was missed meanwhile is unknown)."""
        ...

    def close(self) -> None: ...


class NearCache:
    """A short-lived copy, in this process, of what the shared cache answered: a hit costs no
    round trip. What this process writes or deletes it sees at once; what another process
    changes, it hears of through `invalidations` and drops its copy. While that stream is not
    live, nothing is served from here (every read asks the shared cache); a copy is in any case
    served for at most `ttl` seconds (at most one for sessions), which bounds what a lost
    message can cost."""

    MAX_ITEMS = 50_000  # cleared when full: one round trip per key to refill

    def __init__(
        self,
        shared: Cache,
        ttl: float,
        invalidations: Invalidations,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shared = shared
        self._ttl = ttl
        self._invalidations = invalidations
        self._clock = clock
        self._items: dict[str, tuple[float, dict[str, Any]]] = {}
        # Bumped by every drop, so a value read from the shared cache before a drop is not
        # kept after it.
        self._generation = 0
        self._lock = threading.Lock()
        self._listening = False

    @property
    def healthy(self) -> bool:
        return self._shared.healthy

    @property
    def live(self) -> bool:
        """True while copies may be served: this process hears what the others change."""
        return self._invalidations.live

    def get(self, key: str) -> dict[str, Any] | None:
        if not self._listening:
            self._listen()
        item = self._items.get(key)
        if item is not None and self._clock() - item[0] < self._ttl and self._invalidations.live:
            return item[1]
        generation = self._generation
        value = self._shared.get(key)
        if value is None:
            self._items.pop(key, None)
        else:
            self._keep(key, value, generation)
        return value

    def set(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        generation = self._generation
        stored = self._shared.set(key, value, ttl)
        self._keep(key, value, generation)
        self._invalidations.publish([key])
        return stored

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        """Nothing to tell the others: the key was absent from the shared cache, and whoever
        removed it told them then."""
        generation = self._generation
        stored = self._shared.add(key, value, ttl)
        if stored:
            self._keep(key, value, generation)
        return stored

    def delete_many(self, keys: list[str]) -> bool:
        self.drop(keys)
        deleted = self._shared.delete_many(keys)
        self._invalidations.publish(keys)
        return deleted

    def drop(self, keys: list[str]) -> None:
        """Forget this process's copies of `keys` (another process changed them)."""
        with self._lock:
            self._generation += 1
            for key in keys:
                self._items.pop(key, None)

    def drop_all(self) -> None:
        with self._lock:
            self._generation += 1
            self._items.clear()

    def ping(self) -> bool:
        return self._shared.ping()

    def close(self) -> None:
        self.drop_all()
        self._invalidations.close()
        self._shared.close()

    def _listen(self) -> None:
        """Started by the first read, in the process that serves requests (after any fork)."""
        with self._lock:
            if self._listening:
                return
            self._listening = True
        self._invalidations.listen(self.drop, self.drop_all)

    def _keep(self, key: str, value: dict[str, Any], generation: int) -> None:
        if not self._invalidations.live:
            return
        with self._lock:
            if generation != self._generation:
                return
            if len(self._items) >= self.MAX_ITEMS:
                self._items.clear()
            self._items[key] = (self._clock(), value)
