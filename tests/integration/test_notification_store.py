"""The notification batches on the MongoDB-wire server, under concurrency: fan-outs (some of the
same event at once) race claims by several flushers, some of which die holding a claim; every
event still reaches exactly one finished letter, once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pymongo.errors import PyMongoError

from tasktracker.adapters.mongo.notifications import NotificationStore, Push
from tasktracker.bootstrap import Container

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=1)  # every batch due
LEASE = timedelta(minutes=5)
TASKS = ("t1", "t2", "t3")


def store_of(container: Container) -> NotificationStore:
    return NotificationStore(container.adapters.client, container.adapters.db)


def push(event_id: str, task: str) -> Push:
    return Push("u1", task, {"event_id": event_id, "kind": "status_changed", "at": T0})


def fan_out(store: NotificationStore, event_id: str, task: str) -> bool:
    """As the consumer does: a collision that outlasts the store's retries is tried again."""
    while True:
        try:
            return store.fan_out(event_id, [push(event_id, task)], T0, timedelta(0))
        except PyMongoError:
            continue


def test_a_batch_collects_items_and_is_claimed_once(container):
    store = store_of(container)
    assert fan_out(store, "e1", "t1") and fan_out(store, "e2", "t1")
    assert not fan_out(store, "e1", "t1")  # a duplicate adds nothing

    assert store.claim_due("a", T0 - timedelta(seconds=1), LEASE) is None  # not due yet
    batch = store.claim_due("a", T0, LEASE)
    assert batch is not None and [i["event_id"] for i in batch.items] == ["e1", "e2"]
    assert store.claim_due("b", LATER, LEASE) is None  # one letter in flight per batch
    assert store.take_over("b", T0 + LEASE - timedelta(seconds=1), LEASE) is None

    fan_out(store, "e3", "t1")  # arrives while the letter is out: waits for a letter of its own
    taken = store.take_over("b", T0 + LEASE, LEASE)
    assert taken is not None and (taken.letter_id, taken.items) == (batch.letter_id, batch.items)
    store.finish(taken)
    store.finish(batch)  # the dead owner's late finish changes nothing
    nxt = store.claim_due("a", LATER, LEASE)
    assert nxt is not None and [i["event_id"] for i in nxt.items] == ["e3"]
    assert nxt.letter_id != batch.letter_id
    store.finish(nxt)
    assert store.waiting() == 0


def test_racing_fan_outs_and_flushers_put_every_event_in_exactly_one_letter(container):
    store = store_of(container)
    events = [(f"e{n:03d}", TASKS[n % len(TASKS)]) for n in range(120)]
    fanned: Counter[str] = Counter()
    letters: list[list[str]] = []
    lock = threading.Lock()
    pushing, died = threading.Event(), threading.Event()
    pushing.set()

    def pusher(share: list[tuple[str, str]]) -> None:
        for event_id, task in share:
            if fan_out(store, event_id, task):
                with lock:
                    fanned[event_id] += 1

    def flusher(name: str, dies_every: int) -> None:
        claims = 0
        while pushing.is_set() or store.waiting():
            dies = dies_every > 0 and (claims + 1) % dies_every == 0
            # A claim its flusher dies holding has run out when the others look; no other has.
            lease = timedelta(0) if dies else LEASE
            batch = store.take_over(name, LATER + LEASE / 2, lease) or store.claim_due(
                name, LATER, lease
            )
            if batch is None:
                continue
            claims += 1
            if dies:
                died.set()
                continue  # another flusher takes the claim over
            with lock:
                letters.append([item["event_id"] for item in batch.items])
            store.finish(batch)

    # Every event is fanned out by two pushers at once (a republish racing the original).
    pushers = [threading.Thread(target=pusher, args=(events[i::2],)) for i in range(2)]
    pushers += [threading.Thread(target=pusher, args=(events[i::2],)) for i in range(2)]
    flushers = [
        threading.Thread(target=flusher, args=(f"f{i}", dies)) for i, dies in enumerate((0, 0, 3))
    ]
    run(pushers, flushers, pushing.clear)

    assert died.is_set(), "no flusher died holding a claim"
    assert fanned == Counter({event_id: 1 for event_id, _ in events})
    delivered = Counter(event_id for letter in letters for event_id in letter)
    assert delivered == fanned
    assert all(letters)  # no empty letter
    assert store.waiting() == 0


def run(
    first: list[threading.Thread], then: list[threading.Thread], done: Callable[[], None]
) -> None:
    for thread in first + then:
        thread.start()
    for thread in first:
        thread.join(60)
    done()
    for thread in then:
        thread.join(60)
    assert not any(t.is_alive() for t in first + then), "a worker hung"
