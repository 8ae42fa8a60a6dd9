"""Ports and processes: what `tasktracker stack` uses to start, wait for and stop its processes,
and what the tests use for the servers they start themselves.

Only the standard library, and nothing specific to TaskTracker: free ports, "does something
listen / answer", pids that may have been reused, and whole process groups.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

STOP_TIMEOUT = 10.0
LOCALHOST = "127.0.0.1"


# --- ports -------------------------------------------------------------------------------------


def free_port(host: str = LOCALHOST) -> int:
    """A port nothing listens on now (the kernel's pick, from the ephemeral range)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def free_port_below_ephemeral(host: str = LOCALHOST) -> int:
    """A free port below the ephemeral range, for a server that stops and listens there again.
    While it is stopped, clients keep dialling its port; with an ephemeral port one of them can
    connect to itself (TCP simultaneous open) and hold the port, so the server could not listen
    there again."""
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    low = int(ephemeral[0])
    for _ in range(200):
        port = random.randrange(20000, min(low, 32768))
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Return once something listens on host:port; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")
        time.sleep(0.02)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """A GET of `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


# --- processes ---------------------------------------------------------------------------------


def start_time(pid: int) -> int:
    """When the process started (clock ticks after boot); -1 when there is no such process.
    With the pid it tells a process from a later one that was given the same pid."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return -1


def pid_alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child, not yet reaped) is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send `sig` to a process group; False when there is no such group (or it is not ours)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Some process of the group is still running (zombies do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def stop_groups(pgids: Iterable[int], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the process groups, then SIGKILL what is left of them after `timeout`."""
    pending = [pgid for pgid in pgids if signal_group(pgid, signal.SIGTERM)]
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = [pgid for pgid in pending if group_alive(pgid)]
        time.sleep(0.05)
    for pgid in pending:
        signal_group(pgid, signal.SIGKILL)


def stop_process(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
    """Terminate a child process and reap it; kill it when it is still there after `timeout`."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
