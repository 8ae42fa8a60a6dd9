"""A fixed-window rate limit whose shared counter each replica takes a few units at a time.

Flask-Limiter's fixed window asks the shared counter (Memcached) on every request: one round
trip each, about a third of a cached `GET /tasks/{id}` (README: "The hot path"). Here a replica
takes a *lease* of up to RATE_LIMIT_LEASE units of a caller's budget in one `incr` and spends
them locally, so it asks once per lease.

The limit still holds across replicas: every request let through spends a unit of the shared
counter whose position is within the budget, so no more than the budget passes in a window,
however many replicas there are. The price: units leased but not spent when a caller's
requests move to another replica are lost for that window, so a caller spread over replicas
may be refused a little early — by at most (replicas x (lease - 1)) units. A lease is at most
a twentieth of the budget (LEASE_SHARE), and budgets under 40 a window are never leased: the
login, sign-up and password-reset limits stay exact.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from limits import RateLimitItem
from limits.strategies import STRATEGIES, FixedWindowRateLimiter

# A replica leases at most this share of a budget at once.
LEASE_SHARE = 20
# Leases kept before the expired ones are dropped (one per caller and limit).
MAX_LEASES = 10_000
PLAIN = "fixed-window"


@dataclass
class Lease:
    """Units of one counter's current window this replica has taken but not yet spent."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    left: int = 0
    window_ends: float = 0.0  # when the shared counter's window expires (epoch seconds)


class LeasedFixedWindowRateLimiter(FixedWindowRateLimiter):
    """`FixedWindowRateLimiter.hit` spending local leases of the shared counter; everything
    else (test, window stats, clear) reads the shared counter as the plain strategy does."""

    lease = 1  # units per lease at most (set by `leased_strategy`)
    clock: Callable[[], float] = staticmethod(time.time)

    def __init__(self, storage: object) -> None:
        super().__init__(storage)  # type: ignore[arg-type]
        self._leases: dict[str, Lease] = {}
        self._leases_lock = threading.Lock()

    def units_per_lease(self, item: RateLimitItem) -> int:
        return max(1, min(self.lease, item.amount // LEASE_SHARE))

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        block = self.units_per_lease(item)
        if block <= cost:
            return super().hit(item, *identifiers, cost=cost)
        key = item.key_for(*identifiers)
        lease = self._lease_for(key)
        with lease.lock:
            if lease.left >= cost and self.clock() < lease.window_ends:
                lease.left -= cost
                return True
            return self._take_lease(lease, key, item, block, cost)

    def _take_lease(
        self, lease: Lease, key: str, item: RateLimitItem, block: int, cost: int
    ) -> bool:
        """Take `block` more units from the shared counter; spend `cost` of those within the
        budget and keep the rest (the units past the budget are refused anyway)."""
        now = self.clock()
        upper = self.storage.incr(key, item.get_expiry(), amount=block)
        if upper == block:  # this lease opened the window
            lease.window_ends = now + item.get_expiry()
        elif now >= lease.window_ends:  # a window opened elsewhere: ask when it ends
            lease.window_ends = self.storage.get_expiry(key)
        within_budget = min(block, item.amount - (upper - block))
        if within_budget < cost:
            lease.left = 0
            return False
        lease.left = within_budget - cost
        return True

    def _lease_for(self, key: str) -> Lease:
        with self._leases_lock:
            lease = self._leases.get(key)
            if lease is None:
                if len(self._leases) >= MAX_LEASES:
                    self._drop_expired()
                lease = self._leases[key] = Lease()
            return lease

    def _drop_expired(self) -> None:
        now = self.clock()
        for key in [k for k, lease in self._leases.items() if lease.window_ends <= now]:
            del self._leases[key]


def leased_strategy(lease: int) -> str:
    """The Flask-Limiter strategy name for leases of up to `lease` units (registered with the
    `limits` strategies on first use); 1: the plain fixed window."""
    if lease <= 1:
        return PLAIN
    name = f"fixed-window-leased-{lease}"
    if name not in STRATEGIES:
        strategy = type(name, (LeasedFixedWindowRateLimiter,), {"lease": lease})
        STRATEGIES[name] = strategy  # type: ignore[assignment]
    return name
