"""The nginx configuration for N API replicas, rendered from one template for the local stack
(`make stack`: a state directory, 127.0.0.1 ports) and for compose (service names, port 80)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

_UPSTREAM = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$")
_LISTEN = re.compile(r"^([A-Za-z0-9.-]+:)?\d{1,5}$")


@dataclass(frozen=True)
class NginxConfig:
    upstreams: tuple[str, ...]
    listen: str = "80"
    # Set: pid file, temp files and logs live there (nginx run by `make stack`, not as root's
    # system service); unset: the distribution's defaults (the nginx image in compose).
    state_dir: Path | None = None
    worker_processes: str = "auto"
    keepalive: int = 32
    client_max_body_size: str = "1m"
    connect_timeout: str = "2s"
    next_upstream_tries: int = 0  # 0: every replica once

    def __post_init__(self) -> None:
        if not self.upstreams:
            raise ValueError("at least one upstream (host:port) is needed")
        for upstream in self.upstreams:
            if not _UPSTREAM.match(upstream):
                raise ValueError(f"upstream must be host:port, not {upstream!r}")
        if not _LISTEN.match(self.listen):
            raise ValueError(f"listen must be [host:]port, not {self.listen!r}")

    @property
    def tries(self) -> int:
        return self.next_upstream_tries or len(self.upstreams)


_templates = Environment(
    loader=PackageLoader("tasktracker.deploy", "templates"),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def render(config: NginxConfig) -> str:
    state = config.state_dir
    return _templates.get_template("nginx.conf.j2").render(
        upstreams=config.upstreams,
        listen=config.listen,
        state_dir=state,
        error_log=f"{state}/nginx-error.log" if state else "/dev/stderr",
        access_log=f"{state}/nginx-access.log" if state else "/dev/stdout",
        worker_processes=config.worker_processes,
        keepalive=config.keepalive,
        client_max_body_size=config.client_max_body_size,
        connect_timeout=config.connect_timeout,
        next_upstream_tries=config.tries,
    )
