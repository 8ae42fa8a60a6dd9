"""The correlation id of the work in progress (the API's request id), carried by events.

A context variable keeps services free of Flask: the API sets it per request.
"""

from __future__ import annotations

from contextvars import ContextVar

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def set_correlation_id(value: str | None) -> None:
    _correlation_id.set(value)


def correlation_id() -> str | None:
    return _correlation_id.get()
