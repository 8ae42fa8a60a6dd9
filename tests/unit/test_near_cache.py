"""The sessions' near cache: a copy in this process for at most its ttl, writes seen at once."""

from __future__ import annotations

from tasktracker.adapters.cache import NearCache
from tests.fakes import FakeCache


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def near(shared: FakeCache, ticks: Ticks) -> NearCache:
    return NearCache(shared, ttl=1.0, clock=ticks)


def test_a_copy_serves_until_it_is_a_ttl_old_then_the_shared_value_wins():
    shared, ticks = FakeCache(), Ticks()
    shared.set("k", {"v": 1}, 60)
    cache = near(shared, ticks)
    assert cache.get("k") == {"v": 1}
    shared.set("k", {"v": 2}, 60)  # another process changed it
    ticks.now += 0.99
    assert cache.get("k") == {"v": 1}
    ticks.now += 0.01
    assert cache.get("k") == {"v": 2}


def test_what_this_process_writes_or_deletes_it_sees_at_once():
    shared, ticks = FakeCache(), Ticks()
    cache = near(shared, ticks)
    cache.set("k", {"revoked": False}, 60)
    assert cache.get("k") == {"revoked": False}
    cache.set("k", {"revoked": True}, 60)
    assert cache.get("k") == shared.get("k") == {"revoked": True}
    cache.delete_many(["k"])
    assert cache.get("k") is None and shared.get("k") is None


def test_a_key_gone_from_the_shared_cache_is_not_kept():
    shared, ticks = FakeCache(), Ticks()
    shared.set("k", {"v": 1}, 60)
    cache = near(shared, ticks)
    assert cache.get("k") == {"v": 1}
    shared.delete_many(["k"])
    ticks.now += 1.0
    assert cache.get("k") is None
    shared.set("k", {"v": 3}, 60)
    assert cache.get("k") == {"v": 3}


def test_an_unreachable_shared_cache_is_reported_and_copies_still_expire():
    shared, ticks = FakeCache(), Ticks()
    cache = near(shared, ticks)
    cache.set("k", {"v": 1}, 60)
    shared.down = True
    assert cache.healthy is False
    assert cache.set("k", {"v": 2}, 60) is False
    assert cache.get("k") == {"v": 2}  # this process's own write
    ticks.now += 1.0
    assert cache.get("k") is None
