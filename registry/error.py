"""Exception classes that carry a Dispatch call status.

Raising one of these from a function ends the attempt with the status named
by the class's ``status`` attribute (see :func:`registry._status.status_for_error`).
Temporary statuses are retried; the others are final.

Several classes also derive from the builtin exception they stand for, so
ordinary ``except`` clauses keep working: :class:`TimeoutError` is a builtin
:class:`TimeoutError`, :class:`InvalidArgumentError` and
:class:`InvalidResponseError` are :class:`ValueError`, the network errors are
:class:`ConnectionError`, and :class:`PermissionDeniedError` is a
:class:`PermissionError`.

They are ordinary exception classes: every one can be built with no argument
or with a message (or any positional arguments, as ``Exception`` allows), so
they pickle and cross call boundaries like builtin exceptions.

A subclass may set its own ``status`` (a :class:`~sim.Status`); a
subclass that does not inherits its parent's. The base :class:`DispatchError`
has ``UNSPECIFIED``, as in the Dispatch SDK (so does a direct subclass that
sets none); UNSPECIFIED is not a temporary status, so it is not retried.
"""

from __future__ import annotations

import builtins
from typing import Any, ClassVar

from sim import Error, Status

__all__ = [
    "DispatchError",
    "FunctionTraceback",
    "TimeoutError",
    "ThrottleError",
    "InvalidArgumentError",
    "InvalidResponseError",
    "TemporaryError",
    "PermanentError",
    "IncompatibleStateError",
    "DNSError",
    "TCPError",
    "TLSError",
    "HTTPError",
    "UnauthenticatedError",
    "PermissionDeniedError",
    "NotFoundError",
    "NonDeterminismError",
    "exception_for_error",
    "exception_for_status",
]


class DispatchError(Exception):
    """Base class of the errors that carry a status; on its own, UNSPECIFIED (never retried)."""

    status: ClassVar[Status] = Status.UNSPECIFIED

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        status = cls.__dict__.get("status")
        if "status" in cls.__dict__ and not isinstance(status, Status):
            raise TypeError(
                f"{cls.__qualname__}.status must be a Status, "
                f"got {status!r} ({type(status).__qualname__})"
            )


class TimeoutError(DispatchError, builtins.TimeoutError):
    """The operation timed out (TIMEOUT); also a builtin TimeoutError."""

    status = Status.TIMEOUT


class ThrottleError(DispatchError):
    """The operation was throttled (THROTTLED)."""

    status = Status.THROTTLED


class InvalidArgumentError(DispatchError, ValueError):
    """An argument was invalid (INVALID_ARGUMENT); also a ValueError."""

    status = Status.INVALID_ARGUMENT


class InvalidResponseError(DispatchError, ValueError):
    """A response was invalid (INVALID_RESPONSE); also a ValueError."""

    status = Status.INVALID_RESPONSE


class TemporaryError(DispatchError):
    """A transient failure worth retrying (TEMPORARY_ERROR)."""

    status = Status.TEMPORARY_ERROR


class PermanentError(DispatchError):
    """A failure that retrying cannot fix (PERMANENT_ERROR)."""

    status = Status.PERMANENT_ERROR


class IncompatibleStateError(DispatchError):
    """Saved state is incompatible with the running code (INCOMPATIBLE_STATE)."""

    status = Status.INCOMPATIBLE_STATE


class DNSError(DispatchError, ConnectionError):
    """A name could not be resolved (DNS_ERROR); also a ConnectionError."""

    status = Status.DNS_ERROR


class TCPError(DispatchError, ConnectionError):
    """A TCP connection failed (TCP_ERROR); also a ConnectionError."""

    status = Status.TCP_ERROR


class TLSError(DispatchError, ConnectionError):
    """A TLS handshake or session failed (TLS_ERROR); also a ConnectionError."""

    status = Status.TLS_ERROR


class HTTPError(DispatchError, ConnectionError):
    """An HTTP exchange failed (HTTP_ERROR); also a ConnectionError."""

    status = Status.HTTP_ERROR


class UnauthenticatedError(DispatchError):
    """The caller is not authenticated (UNAUTHENTICATED)."""

    status = Status.UNAUTHENTICATED


class PermissionDeniedError(DispatchError, PermissionError):
    """The caller lacks permission (PERMISSION_DENIED); also a PermissionError."""

    status = Status.PERMISSION_DENIED


class NotFoundError(DispatchError):
    """The requested resource does not exist (NOT_FOUND)."""

    status = Status.NOT_FOUND


class NonDeterminismError(PermanentError):
    """On replay the function took another step than its journal records (final)."""

    # It depends on the wall clock, unseeded randomness or outside state; the
    # message names the journaled step and the new one.


class FunctionTraceback(Exception):
    """The traceback of a failure inside a registered function, as its caller sees it.

    It is the ``__cause__`` of the exception a caller gets, so a failure
    report shows where the function raised before it shows the caller.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return "\n" + self.text


def _with_remote_cause(exc: BaseException, traceback: bytes) -> None:
    try:
        exc.__cause__ = FunctionTraceback(traceback.decode("utf-8", "replace").rstrip("\n"))
    except (AttributeError, TypeError):
        pass  # an exception that refuses attributes keeps its own cause


_BY_STATUS: dict[Status, type[DispatchError]] = {
    cls.status: cls
    for cls in (
        TimeoutError,
        ThrottleError,
        InvalidArgumentError,
        InvalidResponseError,
        TemporaryError,
        PermanentError,
        IncompatibleStateError,
        DNSError,
        TCPError,
        TLSError,
        HTTPError,
        UnauthenticatedError,
        PermissionDeniedError,
        NotFoundError,
    )
}


def exception_for_status(status: Status, message: str) -> DispatchError:
    """An instance of the error class that stands for `status`."""
    return _BY_STATUS.get(status, DispatchError)(message)


def exception_for_error(error: Error) -> BaseException:
    """The exception a caller sees for `error`: the original, or the class of its status.

    When the error carries a traceback, it is chained as the exception's
    cause (a `FunctionTraceback`), so a report shows where the function raised.
    """
    if isinstance(error.value, BaseException):
        exc: BaseException = error.value
    else:
        exc = exception_for_status(error.status, f"{error.type or error.status.name}: {error.message or ''}")
    traceback = error.traceback
    if isinstance(traceback, bytes) and traceback:
        _with_remote_cause(exc, traceback)
    return exc
