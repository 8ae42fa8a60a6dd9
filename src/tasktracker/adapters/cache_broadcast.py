"""Cache invalidations over RabbitMQ: what keeps the API processes' near caches in step.

A process that changes a key in the shared cache (a logout, a demotion, a new membership)
publishes the key to the fanout exchange `tasktracker.cache`, and waits for the broker's
confirm, which RabbitMQ sends once the message is in every bound queue — so before the request
that made the change is answered, every other process has the news on its way. Each process
listens on an exclusive queue of its own (gone with its connection) and drops its copies of
the keys it hears of. While that connection is down the near cache serves nothing
(`live` is False): every read asks the shared cache, as without a near cache. The connection has
no heartbeats: a broker that vanishes without closing it (a network partition) goes unnoticed
here, and the copies then live SESSION_LOCAL_TTL (at most a second), which is what bounds any
lost message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from kombu import Connection, Exchange, Queue
from kombu.message import Message

from tasktracker.adapters.broker import NO_WAIT, Broker, PublishFailed

log = logging.getLogger(__name__)

CACHE_EXCHANGE = Exchange("tasktracker.cache", type="fanout", durable=True)
DRAIN_TIMEOUT = 0.25  # seconds: how often the listener looks whether it should stop


class CacheBroadcast:
    def __init__(
        self,
        broker: Broker,
        url: str,
        *,
        reconnect_delay: float = 1.0,
    ) -> None:
        self._broker = broker
        self._url = url
        self._reconnect_delay = reconnect_delay
        self._origin = uuid.uuid4().hex  # this process: its own messages come back to it
        self._live = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._publishing = True  # to log a failed publish once per outage
        self._reported_down = False  # likewise for the listening side

    @property
    def live(self) -> bool:
        return self._live.is_set()

    def publish(self, keys: list[str]) -> bool:
        body = json.dumps({"origin": self._origin, "keys": keys}).encode()
        try:
            self._broker.publish_raw(body, CACHE_EXCHANGE, "", declare=[CACHE_EXCHANGE])
        except PublishFailed as exc:
            if self._publishing:
                self._publishing = False
                log.warning(
                    "cache invalidation not broadcast (%s): other API processes drop their "
                    "copies when they are a SESSION_LOCAL_TTL old",
                    exc,
                )
            return False
        self._publishing = True
        return True

    def listen(self, on_keys: Callable[[list[str]], None], on_lost: Callable[[], None]) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, args=(on_keys, on_lost), name="cache-invalidations", daemon=True
        )
        self._thread.start()

    def wait_live(self, timeout: float) -> bool:
        return self._live.wait(timeout)

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self, on_keys: Callable[[list[str]], None], on_lost: Callable[[], None]) -> None:
        while not self._stopping.is_set():
            try:
                self._consume(on_keys)
            except Exception as exc:  # any failure: the stream can no longer be trusted
                if not self._reported_down:
                    self._reported_down = True
                    log.warning(
                        "cache invalidations unavailable (%s); sessions are read from "
                        "Memcached on every request until they are back",
                        type(exc).__name__,
                    )
            self._live.clear()
            on_lost()
            self._stopping.wait(self._reconnect_delay)

    def _consume(self, on_keys: Callable[[list[str]], None]) -> None:
        queue = Queue(
            f"tasktracker.cache.{self._origin}",
            CACHE_EXCHANGE,
            durable=False,
            exclusive=True,
            auto_delete=True,
        )

        def on_message(body: Any, message: Message) -> None:
            if body.get("origin") != self._origin:
                on_keys(list(body.get("keys", ())))

        with Connection(self._url, heartbeat=0, connect_timeout=5) as conn:
            # a cluster (`amqp://node-1//;amqp://node-2//;…`): each node once, without waiting
            conn.ensure_connection(max_retries=self._url.count(";"), **NO_WAIT)
            with conn.Consumer(queue, callbacks=[on_message], no_ack=True, accept=["json"]):
                self._live.set()
                self._reported_down = False
                log.info("cache invalidations live")
                while not self._stopping.is_set():
                    with contextlib.suppress(TimeoutError):
                        conn.drain_events(timeout=DRAIN_TIMEOUT)
