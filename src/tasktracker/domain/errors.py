"""Domain errors. The API maps each class to one HTTP status and a problem body."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: `title` is the short problem title, the message is the detail."""

    title = "Request failed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(DomainError):
    title = "Invalid input"


class AuthenticationFailed(DomainError):
    title = "Authentication failed"


class Forbidden(DomainError):
    title = "Forbidden"


class NotFound(DomainError):
    title = "Not found"


class Conflict(DomainError):
    title = "Conflict"


class ConcurrentChange(Conflict):
    """A transaction collided with a concurrent one and was rolled back; retrying may work."""

    title = "Concurrent change"


class InvalidTransition(Conflict):
    title = "Invalid status transition"


class PreconditionFailed(DomainError):
    title = "Precondition failed"


class ServiceUnavailable(DomainError):
    title = "Service unavailable"


class NotImplementedYet(DomainError):
    title = "Not implemented"
