"""Container health probe: `python -m tasktracker.probe URL`, exit 0 when healthy.

`http://…` and `https://…` must answer 2xx; any other `scheme://host:port` must accept a TCP
connection. The slim image has no curl, so Docker and compose health checks use this.
"""

from __future__ import annotations

import socket
import sys
import urllib.request
from collections.abc import Sequence
from urllib.error import URLError
from urllib.parse import urlsplit

TIMEOUT = 3.0


def healthy(url: str, timeout: float = TIMEOUT) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return _http_ok(url, timeout)
    if not parts.hostname or not parts.port:
        raise ValueError(f"expected scheme://host:port, got {url!r}")
    return _tcp_open(parts.hostname, parts.port, timeout)


def _http_ok(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (URLError, OSError):
        return False


def _tcp_open(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m tasktracker.probe URL", file=sys.stderr)
        return 2
    return 0 if healthy(args[0]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
