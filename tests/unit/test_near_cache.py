"""The sessions' near cache: a copy in this process, dropped at once when another process says
it changed the key, never served while that news could be missed, and at most a ttl old."""

from __future__ import annotations

from typing import Any

from tasktracker.adapters.cache import NearCache
from tests.fakes import FakeCache, FakeInvalidations


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def near(shared: FakeCache, ticks: Ticks, invalidations: FakeInvalidations) -> NearCache:
    return NearCache(shared, ttl=1.0, invalidations=invalidations, clock=ticks)


class CountedCache(FakeCache):
    """A FakeCache that counts its reads (and runs `during_get` inside one, when set)."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0
        self.during_get: Any = None

    def get(self, key: str) -> dict[str, Any] | None:
        self.gets += 1
        if self.during_get is not None:
            self.during_get()
        return super().get(key)


def test_a_copy_serves_without_a_round_trip_until_it_is_a_ttl_old():
    shared, ticks = CountedCache(), Ticks()
    shared.set("k", {"v": 1}, 60)
    cache = near(shared, ticks, FakeInvalidations())
    assert cache.get("k") == {"v": 1}
    shared.set("k", {"v": 2}, 60)  # changed without a word (a lost message)
    ticks.now += 0.99
    assert cache.get("k") == {"v": 1} and shared.gets == 1
    ticks.now += 0.01
    assert cache.get("k") == {"v": 2} and shared.gets == 2


def test_what_another_process_changes_is_dropped_here_at_once():
    shared, ticks, hub = FakeCache(), Ticks(), []
    here = near(shared, ticks, FakeInvalidations(hub))
    there = near(shared, ticks, FakeInvalidations(hub))
    there.set("k", {"revoked": False}, 60)
    assert here.get("k") == {"revoked": False}
    there.set("k", {"revoked": True}, 60)  # a logout on the other replica
    assert here.get("k") == {"revoked": True}
    there.delete_many(["k"])  # a demotion there: the snapshot is dropped everywhere
    assert here.get("k") is None


def test_what_this_process_writes_or_deletes_it_sees_at_once_and_tells_the_others():
    shared, ticks, invalidations = FakeCache(), Ticks(), FakeInvalidations()
    cache = near(shared, ticks, invalidations)
    cache.set("k", {"revoked": False}, 60)
    assert cache.get("k") == {"revoked": False}
    cache.set("k", {"revoked": True}, 60)
    assert cache.get("k") == shared.get("k") == {"revoked": True}
    cache.delete_many(["k"])
    assert cache.get("k") is None and shared.get("k") is None
    assert invalidations.published == [["k"], ["k"], ["k"]]


def test_add_stores_only_what_is_absent_and_tells_nobody():
    shared, ticks, invalidations = FakeCache(), Ticks(), FakeInvalidations()
    cache = near(shared, ticks, invalidations)
    assert cache.add("k", {"v": 1}, 60) is True
    assert cache.add("k", {"v": 2}, 60) is False  # e.g. a revocation written meanwhile wins
    assert cache.get("k") == shared.get("k") == {"v": 1}
    assert invalidations.published == []


def test_while_the_news_may_be_missed_every_read_asks_the_shared_cache():
    shared, ticks, invalidations = CountedCache(), Ticks(), FakeInvalidations()
    shared.set("k", {"v": 1}, 60)
    cache = near(shared, ticks, invalidations)
    assert cache.get("k") == {"v": 1}
    invalidations.lose()  # the broker connection broke
    shared.set("k", {"v": 2}, 60)
    assert cache.get("k") == {"v": 2}
    shared.set("k", {"v": 3}, 60)
    assert cache.get("k") == {"v": 3} and shared.gets == 3


def test_a_value_read_while_another_process_changed_it_is_not_kept():
    shared, ticks, hub = CountedCache(), Ticks(), []
    shared.set("k", {"v": 1}, 60)
    here = near(shared, ticks, FakeInvalidations(hub))
    there = near(FakeCache(), ticks, FakeInvalidations(hub))
    here.get("other")  # starts listening
    # The drop arrives while this process's read of the old value is on its way.
    shared.during_get = lambda: there.delete_many(["k"])
    assert here.get("k") == {"v": 1}
    shared.during_get = None
    shared.set("k", {"v": 2}, 60)
    assert here.get("k") == {"v": 2}


def test_an_unreachable_shared_cache_is_reported_and_copies_still_expire():
    shared, ticks = FakeCache(), Ticks()
    cache = near(shared, ticks, FakeInvalidations())
    cache.get("k")
    cache.set("k", {"v": 1}, 60)
    shared.down = True
    assert cache.healthy is False
    assert cache.set("k", {"v": 2}, 60) is False
    assert cache.get("k") == {"v": 2}  # this process's own write
    ticks.now += 1.0
    assert cache.get("k") is None
