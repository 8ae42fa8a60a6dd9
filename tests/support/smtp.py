"""A real SMTP server for the tests (aiosmtpd), collecting what it accepts."""

from __future__ import annotations

import asyncio
import email
import threading
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

from tasktracker.deploy.processes import free_port_below_ephemeral
from tests.support.waiting import wait_until


class Collector:
    """aiosmtpd's handler: keeps every letter; can hold one DATA to refuse it later."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        self.peers: list[Any] = []  # each accepted letter's client address: one per connection
        self.hold = False  # while True, the next DATA waits until `release()`
        self.held = threading.Event()
        self._released = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hold:
            self.hold = False
            self.held.set()
            while not self._released.is_set():
                await asyncio.sleep(0.02)
            return "451 4.3.0 try again later"
        message = email.message_from_bytes(envelope.content, policy=default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.peers.append(session.peer)
        return "250 OK"

    def release(self) -> None:
        self._released.set()


class SmtpServer:
    """aiosmtpd on a port it can stop and listen on again; a context manager too."""

    def __init__(self) -> None:
        self.port = free_port_below_ephemeral()
        self.collector = Collector()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def letters_to(self, address: str) -> list[EmailMessage]:
        with self.collector._lock:
            return [m for m in self.collector.messages if m["To"] == address]

    @property
    def count(self) -> int:
        return len(self.collector.messages)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return part.get_content()


def wait_for_letters(
    smtp: SmtpServer, address: str, count: int = 1, timeout: float = 15.0
) -> list[EmailMessage]:
    """The letters to `address`, once there are at least `count` of them."""
    return wait_until(
        lambda: len(smtp.letters_to(address)) >= count and smtp.letters_to(address), timeout
    )
