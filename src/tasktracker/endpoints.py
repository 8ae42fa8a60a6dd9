"""Service addresses as settings give them (an SMTP URL, a Memcached node list), parsed.

Pure parsing with no I/O: Settings validates with it at start-up and the adapters connect with
it, so the settings never import an adapter."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True, slots=True)
class SmtpEndpoint:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpEndpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must look like smtp://host:port or smtps://user:pass@host:port")
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def parse_servers(servers: str) -> list[tuple[str, int]]:
    """`host:port[,host:port...]` as (host, port) pairs."""
    nodes = []
    for item in servers.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"'{item}' is not host:port")
        nodes.append((host, int(port)))
    return nodes
