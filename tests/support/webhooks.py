"""A real webhook receiver for the tests: an HTTP server on 127.0.0.1 in a background thread that
verifies each delivery's Standard Webhooks signature, records it, and answers as the test
programmed it (statuses, delays, holding requests until released). It can stop and listen on
the same port again ("the receiver was down for a while").

    with Receiver(secrets=[secret]) as receiver:
        receiver.answer(500, 500)           # then the default, 200
        ...
        first, second, third = receiver.wait_for(3)

or ask for the `receiver` fixture (see there how a conftest or a test module gets it).
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import json
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from tasktracker.deploy.processes import free_port_below_ephemeral

HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Answer:
    """How the receiver answers one request. status None: close the connection unanswered."""

    status: int | None = 200
    delay: float = 0.0
    body: bytes | None = None  # None: the status's reason phrase
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    json: Any  # the body parsed, None when it is not JSON
    verified: bool  # some secret verified the signature
    verified_by: tuple[str, ...]  # the secrets that verified it, in `secrets` order
    webhook_id: str | None
    status: int | None  # what the receiver answered (None: it closed without answering)
    at: float  # time.monotonic() when the request arrived

    @property
    def signatures(self) -> list[str]:
        return self.headers.get("webhook-signature", "").split()


class Receiver:
    """The server. `secrets` (a list the test may change at any time) verify the deliveries."""

    def __init__(
        self,
        secrets: list[str] | None = None,
        *,
        status: int = 200,
        delay: float = 0.0,
        path: str = "/hook",
        check_timestamp: bool = True,
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.secrets: list[str] = list(secrets or [])
        self.default_status = status
        self.default_delay = delay
        self.path = path
        self.tls = tls  # a server-side context: the receiver speaks https
        # False: a signature also verifies when its timestamp is far from now (for tests that
        # move the application's clock); the signature itself is still checked.
        self.check_timestamp = check_timestamp
        # Below the ephemeral range, so that a sender dialling the port while the receiver is
        # stopped cannot end up holding it (see free_port_below_ephemeral).
        self.port = port or free_port_below_ephemeral(HOST)
        self._cond = threading.Condition()
        self._received: list[Received] = []
        self._answers: deque[Answer] = deque()
        self._gate = threading.Event()
        self._gate.set()
        self._held = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- where ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + self.path

    # --- running ----------------------------------------------------------------------------

    def start(self) -> Receiver:
        """Listen (again) on the same port."""
        if self._server is not None:
            return self
        self._stopping = threading.Event()
        server = None
        for _ in range(50):  # the port can linger for a moment after stop()
            try:
                server = _Server((HOST, self.port), _Handler, self)
                break
            except OSError as e:
                if e.errno != errno.EADDRINUSE:
                    raise
                self._stopping.wait(0.05)
        if server is None:
            raise RuntimeError(f"port {self.port} stays in use; cannot listen again")
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; requests being held or delayed are dropped unanswered (recorded with
        status None) and the hold ends."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        self._stopping.set()
        self.release()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(5)

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- programming the answers ------------------------------------------------------------

    def answer(
        self,
        *statuses: int | None,
        delay: float = 0.0,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Queue one answer per status for the next requests; after them, the default. None as a
        status closes the connection without an answer."""
        data = body.encode() if isinstance(body, str) else body
        with self._cond:
            self._answers.extend(Answer(s, delay, data, dict(headers or {})) for s in statuses)

    def hold(self) -> None:
        """Requests arriving from now on wait (unanswered) until `release()` or `stop()`."""
        with self._cond:
            if self._gate.is_set():
                self._gate = threading.Event()

    def release(self) -> None:
        with self._cond:
            self._gate.set()

    def wait_held(self, n: int = 1, timeout: float = 20.0) -> None:
        """Until `n` requests are waiting for `release()`."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._held >= n, timeout):
                raise AssertionError(f"{self._held} requests held after {timeout}s, not {n}")

    # --- what arrived -----------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self._cond:
            return list(self._received)

    @property
    def count(self) -> int:
        with self._cond:
            return len(self._received)

    def wait_for(self, n: int, timeout: float = 20.0) -> list[Received]:
        """Every request so far, once at least `n` have been answered."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._received) >= n, timeout):
                arrived = [f"{r.method} {r.path} -> {r.status}" for r in self._received]
                raise AssertionError(
                    f"{len(self._received)} requests within {timeout}s, not {n}: {arrived}"
                )
            return list(self._received)

    def clear(self) -> None:
        """Forget what arrived and the queued answers."""
        with self._cond:
            self._received.clear()
            self._answers.clear()

    # --- the handler's side -----------------------------------------------------------------

    def _arrive(self) -> tuple[Answer, threading.Event, threading.Event]:
        with self._cond:
            if self._answers:
                answer = self._answers.popleft()
            else:
                answer = Answer(self.default_status, self.default_delay)
            gate = self._gate
            if not gate.is_set():
                self._held += 1
                self._cond.notify_all()
            return answer, gate, self._stopping

    def _unhold(self) -> None:
        with self._cond:
            self._held -= 1

    def _record(self, received: Received) -> None:
        with self._cond:
            self._received.append(received)
            self._received.sort(key=lambda r: r.at)
            self._cond.notify_all()

    def _verify(self, body: bytes, headers: dict[str, str]) -> tuple[str, ...]:
        with self._cond:
            secrets = list(self.secrets)
        return tuple(s for s in secrets if _verifies(s, body, headers, self.check_timestamp))


def _verifies(secret: str, body: bytes, headers: dict[str, str], check_timestamp: bool) -> bool:
    try:
        hook = Webhook(secret)
        if check_timestamp:
            hook.verify(body, headers, json_parse=False)
            return True
        # The same check without the 5-minute window around now.
        msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
        at = datetime.fromtimestamp(int(stamp), tz=UTC)
        expected = hook.sign(msg_id, at, body.decode()).encode()
        return any(
            hmac.compare_digest(expected, s.encode())
            for s in headers.get("webhook-signature", "").split()
        )
    except Exception:
        return False


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A started receiver for the test, stopped at teardown. A conftest makes it available with
    `from tests.support.webhooks import receiver  # noqa: F401`; a test module that asks for it
    by name binds it instead (`receiver = webhooks.receiver`), which ruff does not flag."""
    with Receiver() as started:
        yield started


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, owner: Receiver) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender that hung up (timed out, read enough) is not the test's failure


class _Handler(BaseHTTPRequestHandler):
    server: _Server  # type: ignore[assignment]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        arrived = time.monotonic()
        owner = self.server.owner
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer, gate, stopping = owner._arrive()
        if not gate.is_set():
            try:
                gate.wait()  # release() or stop() opens it
            finally:
                owner._unhold()
        if answer.delay:
            stopping.wait(answer.delay)
        status = None if stopping.is_set() else answer.status
        verified_by = owner._verify(body, headers)
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        owner._record(
            Received(
                method=self.command,
                path=self.path,
                headers=headers,
                body=body,
                json=parsed,
                verified=bool(verified_by),
                verified_by=verified_by,
                webhook_id=headers.get("webhook-id"),
                status=status,
                at=arrived,
            )
        )
        if status is None:
            self.close_connection = True
            return
        payload = answer.body if answer.body is not None else _phrase(status).encode()
        with contextlib.suppress(OSError):
            self.send_response(status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(payload)

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _handle


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return str(status)
