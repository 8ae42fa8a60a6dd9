"""The container health probe (`python -m tasktracker.probe URL`) against real sockets."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tasktracker.deploy.processes import free_port
from tasktracker.probe import healthy, main


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def test_http_probe_needs_a_2xx(http_port: int):
    assert healthy(f"http://127.0.0.1:{http_port}/healthz")
    assert not healthy(f"http://127.0.0.1:{http_port}/other")
    assert not healthy(f"http://127.0.0.1:{free_port()}/healthz", timeout=1)


def test_tcp_probe_needs_a_listener(http_port: int):
    assert healthy(f"tcp://127.0.0.1:{http_port}")
    assert not healthy(f"tcp://127.0.0.1:{free_port()}", timeout=1)


def test_probe_exit_codes(http_port: int):
    assert main([f"http://127.0.0.1:{http_port}/healthz"]) == 0
    assert main([f"tcp://127.0.0.1:{free_port()}"]) == 1
    assert main([]) == 2
    run = [sys.executable, "-m", "tasktracker.probe", f"http://127.0.0.1:{http_port}/healthz"]
    assert subprocess.run(run, timeout=30).returncode == 0
