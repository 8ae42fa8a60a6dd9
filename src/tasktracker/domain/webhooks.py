"""Webhooks: a project's subscriptions to its events, their deliveries, and the rules both follow
(which events a hook takes, which addresses it may reach, when an attempt is tried again).

Pure: resolving a host name and posting happen in adapters/webhook_http.py; storing in
adapters/mongo/webhooks.py; sending in agent/webhooks.py.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.events import WEBHOOK_EVENTS, Event, EventType

ALL_EVENTS = "*"
SUBSCRIBABLE = frozenset(str(t) for t in WEBHOOK_EVENTS)
SECRET_PREFIX = "whsec_"
SECRET_OVERLAP = timedelta(hours=24)  # after a rotation the old secret also signs this long
MAX_URL_LENGTH = 2048
EXCERPT_LIMIT = 1024  # characters of a receiver's answer kept in the delivery log
_DELIVERY_NAMESPACE = uuid.UUID("5b0e4c3e-61f3-4a55-9a0c-7b1d2a9e8f10")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600}


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Secret:
    value: str  # whsec_<base64>
    created_at: datetime
    expires_at: datetime | None = None  # set on the old secret when it is rotated out


@dataclass(slots=True)
class Webhook:
    id: str
    project_id: str
    url: str
    events: list[str]
    active: bool
    secrets: list[Secret]  # newest first
    created_by: str
    created_at: datetime
    updated_at: datetime
    failures_in_a_row: int = 0
    disabled_reason: str | None = None

    def wants(self, event_type: str) -> bool:
        return self.active and (ALL_EVENTS in self.events or event_type in self.events)

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets that sign a delivery now: the current one, and a rotated-out one during
        its overlap."""
        return [s.value for s in self.secrets if s.expires_at is None or s.expires_at > now]


@dataclass(slots=True)
class Delivery:
    """One event for one hook. Its id is the `webhook-id` header: the same on every attempt and
    every redelivery, so a receiver dedupes on it."""

    id: str
    webhook_id: str
    project_id: str
    event_id: str
    type: str
    body: str  # the JSON sent, fixed when the delivery is made
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    response_status: int | None = None
    duration_ms: int | None = None
    response_excerpt: str | None = None
    error: str | None = None
    lease_until: datetime | None = None
    owner: str | None = None


def delivery_id(event_id: str, webhook_id: str) -> str:
    """Stable per event and hook: a redelivered event, or one fanned out twice, keeps it."""
    return uuid.uuid5(_DELIVERY_NAMESPACE, f"{event_id}:{webhook_id}").hex[:24]


def check_events(events: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(events))
    if not chosen:
        raise InvalidInput("events must name at least one event type, or be ['*']")
    if ALL_EVENTS in chosen:
        if len(chosen) > 1:
            raise InvalidInput("'*' already means every event; send it alone")
        return chosen
    unknown = [e for e in chosen if e not in SUBSCRIBABLE]
    if unknown:
        allowed = ", ".join(sorted(SUBSCRIBABLE))
        raise InvalidInput(f"unknown event types: {', '.join(unknown)}; choose from {allowed}")
    return chosen


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host, without credentials or a fragment."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"the url is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput("the url is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("the url must start with http:// or https://")
    if not parts.hostname:
        raise InvalidInput("the url must name a host")
    if parts.username or parts.password:
        raise InvalidInput("the url must not carry credentials; verify the signature instead")
    if parts.fragment:
        raise InvalidInput("the url must not have a #fragment")
    if port == 0:
        raise InvalidInput("the url's port must be 1-65535")
    return url


# --- which addresses a hook may reach ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AllowList:
    """WEBHOOK_ALLOWED_HOSTS: host names and addresses/CIDRs a hook may reach although they are
    loopback, private, link-local, multicast or reserved (tests allow 127.0.0.1)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        hosts: set[str] = set()
        networks = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                if not re.fullmatch(r"[A-Za-z0-9.-]+", item):
                    raise ValueError(f"'{item}' is not a host name or an address/CIDR") from None
                hosts.add(item.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(ip in network for network in self.networks)


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: an IPv4 address in the low 32 bits
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated (RFC 4291), and '::', '::1'


def refused_address(address: str, allow: AllowList) -> str | None:
    """Why a hook may not reach `address` (None: it may). An IPv6 address that carries an IPv4
    one (mapped, NAT64, 6to4, IPv4-compatible) is judged by the IPv4 address as well."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if allow.allows_address(str(ip)):
        return None
    if not ip.is_global or ip.is_multicast:
        return f"{ip} is a loopback, private, link-local, multicast or reserved address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.sixtofour
        if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if (
            embedded is not None
            and (not embedded.is_global or embedded.is_multicast)
            and not allow.allows_address(str(embedded))
        ):
            return (
                f"{ip} carries {embedded}, a loopback, private, link-local, multicast or "
                "reserved address"
            )
    return None


# --- when to try again -------------------------------------------------------------------------


def parse_schedule(text: str) -> tuple[timedelta, ...]:
    """'10s,1m,5m,30m,2h,8h' -> the delays before the 2nd, 3rd, ... attempt."""
    delays = []
    for item in text.split(","):
        match = _DURATION.match(item)
        if not match:
            raise ValueError(f"'{item.strip()}' is not a delay such as 10s, 1m or 2h")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        if seconds <= 0:
            raise ValueError("every delay must be longer than 0")
        delays.append(timedelta(seconds=seconds))
    return tuple(delays)


def retriable(status: int | None) -> bool:
    """None: a timeout or a connection error."""
    return status is None or status == 429 or status >= 500


# --- what is sent ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Body:
    """The JSON a receiver gets (DESIGN 14)."""

    id: str
    type: str
    occurred_at: str
    project: dict[str, Any]
    actor: dict[str, Any] | None
    data: dict[str, Any]
    previous: dict[str, Any] = field(default_factory=dict)


def body_of(event: Event) -> Body:
    p = event.payload
    actor = {"id": p["actor"], "username": p.get("actor_name")} if p.get("actor") else None
    return Body(
        id=event.event_id,
        type=str(event.type),
        occurred_at=event.occurred_at.isoformat(),
        project={"id": p.get("project_id"), "key": p.get("project_key")},
        actor=actor,
        data=dict(p.get("data") or {}),
        previous=dict(p.get("previous") or {}),
    )


def ping_data(webhook: Webhook) -> dict[str, Any]:
    return {"webhook_id": webhook.id, "url": webhook.url, "events": webhook.events}


def is_webhook_event(event_type: EventType) -> bool:
    return event_type in WEBHOOK_EVENTS
