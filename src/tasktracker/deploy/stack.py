"""The production topology on this machine, without Docker (`make stack` / `make stack-down`).

nginx (Debian's) on STACK_PORT -> STACK_REPLICAS x `tasktracker api` (granian) -> MongoDB
(MONGO_URL, else a SecantusDB server process), RabbitMQ (AMQP_URL, else 127.0.0.1:5672, which
must be running), Memcached (MEMCACHED_SERVERS, else a memcached process); plus `tasktracker
agent` (letters and the outbox relay). Every process runs in a session of its own and is recorded
in STACK_DIR/pids/, so `down()` stops exactly what `up()` started, whole process groups.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from tasktracker.deploy.nginx import NginxConfig, render
from tasktracker.deploy.processes import (
    free_port,
    http_ok,
    pid_alive,
    port_open,
    signal_group,
    start_time,
    stop_groups,
)
from tasktracker.metrics import MULTIPROC_ENV
from tasktracker.settings import JWT_SECRET_MIN_LENGTH, Settings, load_settings

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
START_TIMEOUT = 60.0
# The agent's metrics port in the stack unless AGENT_METRICS_PORT is set (0: none).
STACK_AGENT_METRICS_PORT = 9101
# Stopped in these phases, each process of a phase at once: the front first, the data last.
STOP_PHASES = (("nginx",), ("api-", "agent", "scheduler"), ("memcached", "mongodb"))


class StackError(Exception):
    """The stack cannot start (or stop); the message says why."""


def process_environment() -> dict[str, str]:
    """The environment over `.env`, as Settings reads them: what the stack's processes get."""
    dotenv = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    return {**dotenv, **os.environ}


def stack_settings(env: Mapping[str, str]) -> Settings:
    """`env` as Settings, checked before anything starts. The stack gives its processes a
    MongoDB server and a generated JWT_SECRET when those are unset, so until it has, stand-ins
    take their place here (only for the rules that need them; nothing else reads them)."""
    stand_ins = {"MONGO_URL": "mongodb://127.0.0.1/", "JWT_SECRET": "x" * JWT_SECRET_MIN_LENGTH}
    supplied = {name: value for name, value in stand_ins.items() if not env.get(name)}
    return load_settings(**{**env, **supplied})


@dataclass(frozen=True)
class StackOptions:
    state_dir: Path = Path("var/stack")
    port: int = 8080
    replicas: int = 2
    api_port: int = 8001  # replica i (from 1) listens on api_port + i - 1
    agent_metrics_port: int = STACK_AGENT_METRICS_PORT
    host: str = "127.0.0.1"
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str]) -> StackOptions:
        """The stack `settings` describe (STACK_*, AGENT_METRICS_PORT); its processes get `env`
        with what the stack adds."""
        metrics_port = (
            settings.agent_metrics_port
            if "agent_metrics_port" in settings.model_fields_set
            else STACK_AGENT_METRICS_PORT
        )
        return cls(
            state_dir=settings.stack_dir.absolute(),
            port=settings.stack_port,
            replicas=settings.stack_replicas,
            api_port=settings.stack_api_port,
            agent_metrics_port=metrics_port,
            env=dict(env),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StackOptions:
        """From `env`, else from the environment over `.env`; a bad setting raises
        SettingsError naming it."""
        env = process_environment() if env is None else dict(env)
        return cls.from_settings(stack_settings(env), env)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def replica_names(self) -> list[str]:
        return [f"api-{i}" for i in range(1, self.replicas + 1)]

    def replica_port(self, name: str) -> int:
        return self.api_port + int(name.removeprefix("api-")) - 1


@dataclass
class Process:
    name: str
    pid: int
    started: int  # start time in clock ticks after boot (/proc/PID/stat): tells a reused pid
    cmd: list[str]
    log: str

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=1)


ENDPOINTS_FILE = "endpoints.json"


class Stack:
    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.dir = options.state_dir
        self.pid_dir = self.dir / "pids"
        self.log_dir = self.dir / "logs"

    # --- up -------------------------------------------------------------------------------

    def up(self) -> str:
        """Start everything; answer nginx's URL. On any failure stop what was started."""
        self.prepare()
        try:
            env = self.service_env()
            self.write_endpoints(env)
            for name in self.options.replica_names():
                self.start_replica(name, env)
            self.start(
                "agent",
                [sys.executable, "-m", "tasktracker", "agent"],
                {
                    **env,
                    "DATA_DIR": str(self.dir / "agent"),
                    "AGENT_METRICS_PORT": str(self.options.agent_metrics_port),
                },
            )
            self.start(
                "scheduler",
                [sys.executable, "-m", "tasktracker", "scheduler"],
                {**env, "DATA_DIR": str(self.dir / "scheduler")},
            )
            for name in self.options.replica_names():
                self.wait_ready(name, f"{self.replica_url(name)}/readyz")
            if self.options.agent_metrics_port:
                self.wait_port("agent", self.options.agent_metrics_port)
            self.start_nginx()
            self.wait_ready("nginx", f"{self.options.url}/readyz")
        except BaseException:
            self.down()
            raise
        return self.options.url

    def prepare(self) -> None:
        """Make the state directories; forget the records of a stack that is gone."""
        if running := self.running():
            raise StackError(f"already running ({', '.join(running)}); stop it with stack down")
        for path in (self.pid_dir, self.log_dir, self.dir / "tmp"):
            path.mkdir(parents=True, exist_ok=True)
        for stale in self.pid_dir.glob("*.json"):
            stale.unlink()

    def service_env(self) -> dict[str, str]:
        """The environment every TaskTracker process of the stack shares."""
        # Each replica keeps its workers' metrics in its own DATA_DIR.
        base = {k: v for k, v in self.options.env.items() if k != MULTIPROC_ENV}
        amqp_url = self.check_amqp(base.get("AMQP_URL") or DEFAULT_AMQP_URL)
        return {
            **base,
            "HOST": self.options.host,
            "AMQP_URL": amqp_url,
            "MONGO_URL": base.get("MONGO_URL") or self.start_mongodb(),
            "MEMCACHED_SERVERS": base.get("MEMCACHED_SERVERS") or self.start_memcached(),
            "JWT_SECRET": base.get("JWT_SECRET") or self.jwt_secret(),
            "PUBLIC_URL": base.get("PUBLIC_URL") or self.options.url,
        }

    def write_endpoints(self, env: Mapping[str, str]) -> None:
        """Where the stack's services listen (no secrets), for tools such as bench/run.py."""
        endpoints = {
            "url": self.options.url,
            "mongo_url": env["MONGO_URL"],
            "mongo_db": env.get("MONGO_DB") or "tasktracker",
            "memcached_servers": env["MEMCACHED_SERVERS"],
        }
        (self.dir / ENDPOINTS_FILE).write_text(json.dumps(endpoints, indent=1))

    def start_replica(self, name: str, env: dict[str, str]) -> None:
        port = self.options.replica_port(name)
        self.start(
            name,
            [sys.executable, "-m", "tasktracker", "api"],
            {
                **env,
                "PORT": str(port),
                "INSTANCE_NAME": name,
                "DATA_DIR": str(self.dir / name),
                "TRUSTED_PROXIES": "1",
            },
        )

    def start_mongodb(self) -> str:
        port = free_port()
        self.start(
            "mongodb",
            [
                sys.executable,
                "-m",
                "secantus",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--storage-path",
                str(self.dir / "mongodb"),
            ],
        )
        self.wait_port("mongodb", port)
        # Without retryable writes, as the embedded mode (adapters/mongo/connection.connect).
        return f"mongodb://127.0.0.1:{port}/?directConnection=true&retryWrites=false"

    def start_memcached(self) -> str:
        port = free_port()
        self.start("memcached", memcached_command(port))
        self.wait_port("memcached", port)
        return f"127.0.0.1:{port}"

    def check_amqp(self, url: str) -> str:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 5672
        if not port_open(host, port, timeout=2):
            raise StackError(
                f"RabbitMQ is not reachable at {host}:{port} (start it: rabbitmq-server -detached,"
                " or set AMQP_URL)"
            )
        return url

    def jwt_secret(self) -> str:
        path = self.dir / "jwt_secret"
        if path.exists() and (stored := path.read_text().strip()):
            return stored
        path.touch(mode=0o600)
        secret = secrets.token_urlsafe(48)
        path.write_text(secret)
        return secret

    def start_nginx(self) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(binary):
            raise StackError("nginx is not installed (scripts/ensure-services.sh installs it)")
        upstreams = tuple(
            f"{self.options.host}:{self.options.replica_port(name)}"
            for name in self.options.replica_names()
        )
        config = NginxConfig(
            upstreams, listen=f"{self.options.host}:{self.options.port}", state_dir=self.dir
        )
        conf = self.dir / "nginx.conf"
        conf.write_text(render(config))
        prefix = ["-p", str(self.dir), "-c", str(conf), "-e", str(self.dir / "nginx-error.log")]
        check = subprocess.run([binary, *prefix, "-t", "-q"], capture_output=True, text=True)
        if check.returncode != 0:
            raise StackError(f"nginx rejects {conf}: {check.stderr.strip()}")
        self.start("nginx", [binary, *prefix, "-g", "daemon off;"])

    def replica_url(self, name: str) -> str:
        return f"http://{self.options.host}:{self.options.replica_port(name)}"

    # --- processes ------------------------------------------------------------------------

    def start(self, name: str, cmd: list[str], env: Mapping[str, str] | None = None) -> Process:
        log = self.log_dir / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                cmd,
                env=dict(env or self.options.env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        record = Process(name, proc.pid, start_time(proc.pid), cmd, str(log))
        (self.pid_dir / f"{name}.json").write_text(record.to_json())
        return record

    def processes(self) -> list[Process]:
        if not self.pid_dir.exists():
            return []
        records = [Process(**json.loads(p.read_text())) for p in self.pid_dir.glob("*.json")]
        return sorted(records, key=lambda r: (_phase(r.name), r.name))

    def running(self) -> list[str]:
        return [p.name for p in self.processes() if is_ours(p)]

    def process(self, name: str) -> Process:
        for record in self.processes():
            if record.name == name:
                return record
        raise StackError(f"no process {name!r} in {self.pid_dir}")

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal one process group of the stack (tests kill a replica this way)."""
        record = self.process(name)
        if is_ours(record):
            signal_group(record.pid, sig)

    def down(self) -> list[str]:
        """Stop every process this stack started and still running, phase by phase; answer
        their names. A recorded pid that is gone (or now another process) is left alone."""
        stopped: list[str] = []
        for phase in range(len(STOP_PHASES) + 1):
            records = [r for r in self.processes() if _phase(r.name) == phase]
            ours = [r for r in records if is_ours(r)]
            stop_groups([r.pid for r in ours])
            for record in records:
                (self.pid_dir / f"{record.name}.json").unlink(missing_ok=True)
            stopped += [r.name for r in ours]
        return stopped

    # --- waiting --------------------------------------------------------------------------

    def wait_port(self, name: str, port: int) -> None:
        self._wait(name, lambda: port_open(self.options.host, port))

    def wait_ready(self, name: str, url: str) -> None:
        self._wait(name, lambda: http_ok(url))

    def _wait(self, name: str, ready: Callable[[], bool]) -> None:
        record = self.process(name)
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            if not pid_alive(record.pid):
                raise StackError(f"{name} exited; see {record.log}:\n{_tail(record.log)}")
            if time.monotonic() > deadline:
                raise StackError(f"{name} not ready after {START_TIMEOUT:.0f}s; see {record.log}")
            time.sleep(0.1)


def _phase(name: str) -> int:
    for phase, prefixes in enumerate(STOP_PHASES):
        if name.startswith(prefixes):
            return phase
    return len(STOP_PHASES)


def is_ours(record: Process) -> bool:
    """The pid is alive and is still the process we started (not a reused pid)."""
    return pid_alive(record.pid) and start_time(record.pid) == record.started


def _tail(path: str, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def memcached_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The command line of a memcached on host:port (no UDP, 64 MB; runs as root when we are)."""
    binary = shutil.which("memcached") or "/usr/bin/memcached"
    if not os.path.exists(binary):
        raise StackError("memcached is not installed (scripts/ensure-services.sh installs it)")
    command = [binary, "-l", host, "-p", str(port), "-U", "0", "-m", "64"]
    if os.geteuid() == 0:
        command += ["-u", "root"]
    return command
