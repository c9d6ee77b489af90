"""The status of a call attempt, as the Dispatch protocol defines it."""

from __future__ import annotations

import enum

__all__ = ["Status"]


class Status(enum.IntEnum):
    """Outcome category of one call attempt.

    Temporary statuses are retried by the service; all others end the call.
    ``str(status)`` is the bare name, e.g. ``"TIMEOUT"``.
    """

    UNSPECIFIED = 0
    OK = 1
    TIMEOUT = 2
    THROTTLED = 3
    INVALID_ARGUMENT = 4
    INVALID_RESPONSE = 5
    TEMPORARY_ERROR = 6
    PERMANENT_ERROR = 7
    INCOMPATIBLE_STATE = 8
    DNS_ERROR = 9
    TCP_ERROR = 10
    TLS_ERROR = 11
    HTTP_ERROR = 12
    UNAUTHENTICATED = 13
    PERMISSION_DENIED = 14
    NOT_FOUND = 15

    @property
    def temporary(self) -> bool:
        """Whether the service retries an attempt that ended with this status."""
        return self in _TEMPORARY

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Status.{self.name}"


_TEMPORARY = frozenset(
    {
        Status.TIMEOUT,
        Status.THROTTLED,
        Status.TEMPORARY_ERROR,
        Status.INCOMPATIBLE_STATE,
        Status.DNS_ERROR,
        Status.TCP_ERROR,
        Status.TLS_ERROR,
        Status.HTTP_ERROR,
    }
)
