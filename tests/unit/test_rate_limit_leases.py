"""The leased fixed window: the budget holds across replicas, with one shared round trip per
lease instead of per request (the shared counter is a fake with a clock of the test's own)."""

from __future__ import annotations

import itertools

import pytest
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import STRATEGIES, FixedWindowRateLimiter

from tasktracker.api.rate_limit_leases import (
    PLAIN,
    LeasedFixedWindowRateLimiter,
    leased_strategy,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class SharedCounters(MemoryStorage):
    """Memcached's fixed-window counters as limits' storage sees them: `incr` creates a key
    with its expiry, `get_expiry` says when it ends; every call is a round trip. (A limits
    storage, on the test's clock.)"""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock
        self._values: dict[str, tuple[int, float]] = {}
        self.round_trips = 0

    def _live(self, key: str) -> tuple[int, float]:
        value, ends = self._values.get(key, (0, 0.0))
        return (value, ends) if ends > self._clock() else (0, 0.0)

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        self.round_trips += 1
        value, ends = self._live(key)
        ends = ends or self._clock() + expiry
        self._values[key] = (value + amount, ends)
        return value + amount

    def get(self, key: str) -> int:
        self.round_trips += 1
        return self._live(key)[0]

    def get_expiry(self, key: str) -> float:
        self.round_trips += 1
        return self._live(key)[1] or self._clock()


def replicas(count: int, lease: int, clock: Clock) -> tuple[SharedCounters, list]:
    shared = SharedCounters(clock)
    strategy = STRATEGIES[leased_strategy(lease)]
    limiters = []
    for _ in range(count):
        limiter = strategy(shared)
        limiter.clock = clock
        limiters.append(limiter)
    return shared, limiters


def admitted(limiters: list, item, hits: int, who: str = "user:alice") -> int:
    """Requests let through out of `hits`, spread round-robin over the replicas."""
    spread = itertools.islice(itertools.cycle(limiters), hits)
    return sum(limiter.hit(item, who) for limiter in spread)


def test_one_replica_lets_the_whole_budget_through_with_one_round_trip_per_lease():
    clock = Clock()
    shared, [limiter] = replicas(1, lease=10, clock=clock)
    item = parse("600/minute")
    assert admitted([limiter], item, 700) == 600
    # 60 leases of 10, a window-end lookup never needed (the first lease opened the window),
    # then one refused lease per request past the budget.
    assert shared.round_trips == 60 + 100


@pytest.mark.parametrize("count", [2, 3])
def test_replicas_together_never_let_more_than_the_budget_through(count):
    clock = Clock()
    shared, limiters = replicas(count, lease=10, clock=clock)
    item = parse("600/minute")
    let_through = admitted(limiters, item, 2_000)
    assert let_through <= 600
    # Units stranded in the other replicas' leases are all it can cost.
    assert let_through >= 600 - count * (10 - 1)
    assert shared.round_trips < 2_000


def test_a_budget_under_forty_is_never_leased():
    clock = Clock()
    shared, limiters = replicas(2, lease=10, clock=clock)
    item = parse("39/minute")
    assert admitted(limiters, item, 50) == 39
    assert shared.round_trips == 50  # every request asked the shared counter


def test_a_lease_is_at_most_a_twentieth_of_the_budget():
    limiter = STRATEGIES[leased_strategy(50)](SharedCounters(Clock()))
    assert limiter.units_per_lease(parse("100/minute")) == 5
    assert limiter.units_per_lease(parse("10000/minute")) == 50


def test_a_new_window_brings_a_fresh_budget_and_old_leases_are_dropped():
    clock = Clock()
    _, limiters = replicas(2, lease=10, clock=clock)
    item = parse("200/minute")
    assert admitted(limiters, item, 300) <= 200
    clock.now += 61  # the window is over: leftovers of the old leases must not be spent
    assert admitted(limiters, item, 300) >= 200 - 2 * 9
    assert admitted(limiters, item, 1) == 0  # and the new window's budget is spent too


def test_a_replica_joining_a_window_learns_when_it_ends():
    clock = Clock()
    shared, (first, second) = replicas(2, lease=10, clock=clock)
    item = parse("200/minute")
    assert first.hit(item, "user:alice")
    clock.now += 30
    assert second.hit(item, "user:alice")
    clock.now += 31  # the window `first` opened is over, though `second` joined it late
    assert all(limiter.hit(item, "user:alice") for limiter in (first, second))
    assert shared.get("LIMITER/user:alice/200/1/minute") == 20  # one lease each, new window


def test_callers_have_budgets_of_their_own():
    clock = Clock()
    _, limiters = replicas(2, lease=10, clock=clock)
    item = parse("100/minute")
    assert admitted(limiters, item, 200, who="user:alice") <= 100
    assert admitted(limiters, item, 50, who="user:bob") == 50


def test_a_lease_of_one_is_the_plain_fixed_window():
    assert leased_strategy(1) == PLAIN
    assert STRATEGIES[PLAIN] is FixedWindowRateLimiter
    name = leased_strategy(7)
    assert issubclass(STRATEGIES[name], LeasedFixedWindowRateLimiter)
    assert STRATEGIES[name].lease == 7
    assert leased_strategy(7) == name  # registered once
