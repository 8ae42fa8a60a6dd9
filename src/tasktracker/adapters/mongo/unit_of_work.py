"""One MongoDB transaction around a unit of work (a state change and its outbox events)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pymongo import MongoClient
from pymongo.client_session import ClientSession

T = TypeVar("T")


class MongoUnitOfWork:
    def __init__(self, client: MongoClient) -> None:
        self._client = client

    def run(self, work: Callable[[ClientSession], T]) -> T:
        """Run `work(session)` in a transaction; pymongo retries transient transaction errors
        and commits, or aborts when `work` raises."""
        with self._client.start_session() as session:
            return session.with_transaction(work)
