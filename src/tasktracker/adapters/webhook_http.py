"""Posting a webhook delivery (DESIGN 14): the SSRF guard that resolves a hook's host and checks
every address it resolves to, the Standard Webhooks signature, and the sender.

The sender connects to an address the guard has just checked (never to the host name, which
would be a second DNS lookup and a window for DNS rebinding); the URL's host travels only in the
`Host` header and, for https, as the TLS server name the certificate is checked against.
Redirects are not followed, nothing is retried here (the dispatcher retries on its schedule), one
deadline bounds the whole exchange, and at most a few KiB of the answer are read.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.client import HTTPException
from typing import Protocol
from urllib.parse import quote, urlsplit

from standardwebhooks.webhooks import Webhook
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.ssl_match_hostname import CertificateError

from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.webhooks import EXCERPT_LIMIT, AllowList, check_url, refused_address

READ_LIMIT = 4 * EXCERPT_LIMIT + 4  # bytes of an answer read: enough for EXCERPT_LIMIT characters
DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"[a-z0-9_.-]+")
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")  # control characters and white space
# What a path or query may hold unescaped: RFC 3986 pchar, '/', '?' and existing %-escapes.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


# --- resolving -----------------------------------------------------------------------------------


class ResolutionError(OSError):
    """A host name that does not resolve (now)."""


class Resolver(Protocol):
    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses `host` resolves to, in the order to try them; ResolutionError (or any
        OSError) when it does not resolve."""
        ...


class SystemResolver:
    """The system's resolver (getaddrinfo): IPv4 and IPv6 addresses, each once, in its order."""

    def resolve(self, host: str, port: int) -> list[str]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise ResolutionError(f"{host} does not resolve: {e.strerror or e}") from e
        except (UnicodeError, ValueError) as e:
            raise ResolutionError(f"{host} is not a valid host name: {e}") from e
        addresses = [
            str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)
        ]
        if not addresses:
            raise ResolutionError(f"{host} resolves to no IPv4 or IPv6 address")
        return list(dict.fromkeys(addresses))


# --- the guard -----------------------------------------------------------------------------------


class TargetRefused(InvalidInput):
    """The url may not be reached: not http(s), malformed, or it resolves to an address that is
    loopback, private, link-local, multicast or reserved and not allowed."""


class HostUnresolvable(InvalidInput):
    """The url's host does not resolve. Refused when a hook is saved; at a send it is a failed
    attempt that is tried again (DNS may be back by then)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: where to connect (`addresses`, each checked) and what to say there."""

    url: str
    scheme: str  # http | https
    host: str  # lower case, IDNA-encoded, without the brackets of an IPv6 literal
    port: int
    addresses: tuple[str, ...]
    host_header: str  # host[:port] as the URL gives it
    path: str  # path and query, percent-encoded where needed

    @property
    def is_https(self) -> bool:
        return self.scheme == "https"


class TargetGuard:
    """Resolves a hook's host and refuses it when any address it resolves to may not be reached
    (DESIGN 14 SSRF). Used when a hook is saved and again before every send."""

    def __init__(self, allow: AllowList, resolver: Resolver) -> None:
        self.allow = allow
        self.resolver = resolver

    def check(self, url: str) -> Target:
        try:
            url = check_url(url)
        except InvalidInput as e:
            raise TargetRefused(e.detail) from None
        if _UNSAFE.search(url):
            raise TargetRefused("the url must not contain spaces or control characters")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = _host_of(parts.hostname or "")
        port = parts.port or DEFAULT_PORTS[scheme]
        bracketed = f"[{host}]" if ":" in host else host
        literal = _ip_literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = list(dict.fromkeys(self.resolver.resolve(host, port)))
            except OSError as e:
                raise HostUnresolvable(f"the url's host does not resolve: {e}") from None
            if not addresses:
                raise HostUnresolvable(f"the url's host does not resolve: {host} has no address")
        if literal is not None or not self.allow.allows_host(host):
            for address in addresses:
                try:
                    why = refused_address(address, self.allow)
                except ValueError:
                    why = f"{address!r} is not an address"
                if why:
                    raise TargetRefused(
                        f"the url's host {bracketed} may not be reached: {why}; webhooks only "
                        "reach public addresses"
                    )
        return Target(
            url=url,
            scheme=scheme,
            host=host,
            port=port,
            addresses=tuple(addresses),
            host_header=bracketed if parts.port is None else f"{bracketed}:{parts.port}",
            path=quote(parts.path or "/", safe=_PATH_SAFE)
            + (f"?{quote(parts.query, safe=_QUERY_SAFE)}" if parts.query else ""),
        )


def _host_of(hostname: str) -> str:
    host = hostname.lower()
    if _ip_literal(host) is not None:
        return host
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise TargetRefused("the url's host is not a valid host name") from None
    if not _HOST_NAME.fullmatch(host) or host.startswith(".") or ".." in host:
        raise TargetRefused("the url's host is not a valid host name")
    return host


def _ip_literal(host: str) -> str | None:
    """The address an IP-literal host names (normalised), None for a host name."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


# --- signing -------------------------------------------------------------------------------------


def unix_seconds(timestamp: datetime) -> int:
    """The `webhook-timestamp` of `timestamp` (a naive datetime is taken as UTC)."""
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    return math.floor(timestamp.timestamp())


def sign(secrets: list[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """The `webhook-signature` header: `v1,<base64 HMAC-SHA256>` per secret, space-separated
    (after a rotation the old secret signs too)."""
    if not secrets:
        raise ValueError("no secret to sign the delivery with")
    # standardwebhooks.sign() reads the timestamp's wall clock as UTC whatever its zone: give it
    # the UTC instant, whole seconds, exactly what the webhook-timestamp header says.
    at = datetime.fromtimestamp(unix_seconds(timestamp), tz=UTC)
    return " ".join(Webhook(secret).sign(msg_id, at, body) for secret in secrets)


# --- sending -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one attempt came to. `status` None: no answer (`error` says why); `refused`: the
    guard refused the target and nothing was sent."""

    status: int | None
    duration_ms: int
    excerpt: str | None = None
    error: str | None = None
    refused: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _Deadline:
    """One deadline for a whole exchange. Socket timeouts bound each read, not their sum (a
    receiver dribbling a byte at a time would hold a sender for ever); when the deadline passes
    this shuts the connection's socket down, which ends whatever read or write is waiting."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._conn: HTTPConnection | None = None
        self._done = False
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return max(self._end - time.monotonic(), 0.001)

    def watch(self, conn: HTTPConnection | None) -> None:
        with self._lock:
            self._conn = conn

    def finish(self) -> None:
        """Before the connection is closed: the timer must not touch its socket after that."""
        with self._lock:
            self._done = True
            self._conn = None
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            sock = self._conn.sock if self._conn is not None else None
            if sock is not None:
                # The base method: for a TLS socket, shut the TCP connection down under it
                # without touching the TLS state the sending thread is using.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _ConnectFailed(Exception):
    """No TCP connection to one address; the next one is tried."""


class WebhookSender:
    """POSTs one delivery. Thread-safe: no state is shared between calls."""

    def __init__(
        self,
        guard: TargetGuard,
        timeout: float,
        user_agent: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.guard = guard
        self.timeout = timeout
        self.user_agent = user_agent
        self.ssl_context = ssl_context  # None: the system's CAs, certificates verified

    def post(
        self, url: str, body: str, msg_id: str, secrets: list[str], now: datetime
    ) -> SendResult:
        started = time.monotonic()

        def result(
            status: int | None = None,
            excerpt: str | None = None,
            error: str | None = None,
            refused: bool = False,
        ) -> SendResult:
            duration = round((time.monotonic() - started) * 1000)
            return SendResult(status, duration, excerpt, error, refused)

        try:
            target = self.guard.check(url)
        except HostUnresolvable as e:
            return result(error=f"dns: {e.detail}")
        except InvalidInput as e:
            return result(error=f"refused: {e.detail}", refused=True)
        try:
            headers = {
                "Host": target.host_header,
                "Content-Type": "application/json",
                "User-Agent": self.user_agent,
                "webhook-id": msg_id,
                "webhook-timestamp": str(unix_seconds(now)),
                "webhook-signature": sign(secrets, msg_id, now, body),
                "Connection": "close",
            }
        except Exception as e:
            return result(error=f"signing: {e}")
        try:
            status, excerpt, error = self._exchange(target, body.encode("utf-8"), headers)
        except Exception as e:  # never out of post: the dispatcher records what went wrong
            return result(error=f"error: {type(e).__name__}: {e}")
        return result(status, excerpt, error)

    def _exchange(
        self, target: Target, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None, str | None]:
        deadline = _Deadline(self.timeout)
        conn: HTTPConnection | None = None
        try:
            failures: list[str] = []
            for address in target.addresses:
                try:
                    conn = self._connect(target, address, deadline)
                    break
                except _ConnectFailed as e:
                    failures.append(str(e))
                    if deadline.expired:
                        break
                except _TlsFailed as e:
                    return None, None, str(e)
            if conn is None:
                kind = "timeout" if deadline.expired else "connection"
                return None, None, f"{kind}: {'; '.join(failures) or 'no address'}"
            phase = "sending"
            try:
                conn.request("POST", target.path, body=body, headers=headers, preload_content=False)
                phase = "waiting for the answer"
                response = conn.getresponse()
            except Exception as e:
                return None, None, _describe(e, deadline, self.timeout, phase)
            if deadline.expired:
                # Cut off while the headers came in (http.client takes the end of the stream
                # for the end of the headers): the status cannot be trusted.
                return None, None, _describe(TimeoutError(), deadline, self.timeout, phase)
            raw = b""
            try:
                while len(raw) < READ_LIMIT:
                    chunk = response.read(READ_LIMIT - len(raw), decode_content=False)
                    if not chunk:
                        break
                    raw += chunk
            except Exception:  # the status is the answer; the body is only an excerpt for the log
                pass
            excerpt = raw.decode("utf-8", errors="replace")[:EXCERPT_LIMIT] or None
            return response.status, excerpt, None
        finally:
            deadline.finish()
            if conn is not None:
                conn.close()

    def _connect(self, target: Target, address: str, deadline: _Deadline) -> HTTPConnection:
        timeout = deadline.remaining()
        conn: HTTPConnection
        if target.is_https:
            conn = HTTPSConnection(
                address,
                target.port,
                timeout=timeout,
                server_hostname=target.host,
                assert_hostname=target.host,
                ssl_context=self.ssl_context,
            )
        else:
            conn = HTTPConnection(address, target.port, timeout=timeout)
        deadline.watch(conn)
        shown = f"[{address}]:{target.port}" if ":" in address else f"{address}:{target.port}"
        try:
            conn.connect()
        except Exception as e:
            deadline.watch(None)  # the timer no longer touches this socket; then close it
            conn.close()
            if deadline.expired:
                raise _ConnectFailed(f"{shown}: timed out connecting") from e
            if isinstance(e, (ssl.SSLError, CertificateError)):
                # The same certificate at every address: no point in trying the next one.
                raise _TlsFailed(f"tls: {shown}: {e}") from e
            if isinstance(e, (NewConnectionError, ConnectTimeoutError, OSError)):
                raise _ConnectFailed(f"{shown}: {_reason(e)}") from e
            raise
        if deadline.expired:
            deadline.watch(None)
            conn.close()
            raise _ConnectFailed(f"{shown}: timed out connecting")
        return conn


class _TlsFailed(Exception):
    """The TLS handshake or the certificate check failed."""


def _reason(error: BaseException) -> str:
    cause = error.__cause__ or error.__context__
    if isinstance(error, NewConnectionError) and isinstance(cause, OSError):
        return cause.strerror or str(cause)
    if isinstance(error, ConnectTimeoutError):
        return "timed out connecting"
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return str(error)


def _describe(error: BaseException, deadline: _Deadline, timeout: float, phase: str) -> str:
    if deadline.expired or isinstance(error, (socket.timeout, TimeoutError, Urllib3Timeout)):
        return f"timeout: no answer within {timeout:g}s ({phase})"
    if isinstance(error, (ssl.SSLError, CertificateError)):
        return f"tls: {error}"
    if isinstance(error, (HTTPException, Urllib3Error)):
        return f"protocol: {type(error).__name__}: {error} ({phase})"
    if isinstance(error, OSError):
        return f"connection: {error.strerror or error} ({phase})"
    return f"error: {type(error).__name__}: {error} ({phase})"
