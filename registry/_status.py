"""Map the outcome of a call attempt (an exception or an output) to a Status.

:func:`status_for_error` decides, for each failed attempt, whether the service
retries it (a temporary status) or ends the call. :func:`status_for_output`
does the same for a value a function returned. Both can be taught about
application types with :func:`register_error_type` and
:func:`register_output_type`.

Registered handlers live in two module-level dicts keyed by type; a later
registration for the same type replaces the earlier one. Registration is
process-wide, like the SDK's.
"""

from __future__ import annotations

import ssl
from typing import Any, Callable, Union

from registry.error import DispatchError
from sim import Status
from sim.lowlevel import set_error_classifier

__all__ = [
    "status_for_error",
    "status_for_output",
    "register_error_type",
    "register_output_type",
]

ErrorHandler = Union[Status, Callable[[BaseException], Status]]
OutputHandler = Union[Status, Callable[[Any], Status]]

_error_types: dict[type, ErrorHandler] = {}
_output_types: dict[type, OutputHandler] = {}


def status_for_error(error: BaseException) -> Status:
    """Return the status of an attempt that raised ``error``.

    The decision is made in two stages.

    1. Walk ``type(error).__mro__`` from the most specific class. At each
       class, a handler registered with :func:`register_error_type` decides;
       failing that, if the class is a :class:`registry.error.DispatchError`
       that sets its own ``status``, that status decides. The first class
       that decides wins, so a handler registered for a base class applies to
       its subclasses, a handler on a subclass beats one on a base, and
       ``DNSError`` gives ``DNS_ERROR`` even though it is also a
       ``ConnectionError``. A handler registered for ``DNSError`` itself
       overrides its class status.
    2. Otherwise, the first of these builtin categories that matches:
       ``TimeoutError`` -> TIMEOUT; ``ssl.SSLError`` (and subclasses such as
       ``ssl.SSLCertVerificationError``) -> TLS_ERROR; ``TypeError``,
       ``ValueError`` -> INVALID_ARGUMENT; ``ConnectionError`` -> TCP_ERROR;
       ``PermissionError`` -> PERMISSION_DENIED; ``FileNotFoundError`` ->
       NOT_FOUND; ``EOFError``, ``InterruptedError``, ``KeyboardInterrupt``
       (as in the SDK's table) and any other ``OSError`` -> TEMPORARY_ERROR;
       anything else -> PERMANENT_ERROR. (A function raising
       ``KeyboardInterrupt`` still stops the run: only ``Exception`` ends an
       attempt.)

    Registered handlers therefore win over the builtin categories even when
    registered for a more general class (a handler for ``OSError`` also
    decides for ``ConnectionRefusedError``), as in the Dispatch SDK.

    Raises:
        TypeError: ``error`` is not an exception instance, or a callable
            handler returned something other than a :class:`Status`.
    """
    if not isinstance(error, BaseException):
        raise TypeError(
            "status_for_error() expects an exception instance, "
            f"got {error!r} ({type(error).__qualname__})"
        )
    registered = _error_types
    for cls in type(error).__mro__:
        handler = registered.get(cls)
        if handler is not None:
            return _apply(handler, error, cls, "error")
        own = cls.__dict__.get("status")
        if isinstance(own, Status) and issubclass(cls, DispatchError):
            return own

    if isinstance(error, TimeoutError):
        return Status.TIMEOUT
    # ssl.SSLError is an OSError (and SSLCertVerificationError a ValueError):
    # test it before those branches, or it can never be reached.
    if isinstance(error, ssl.SSLError):
        return Status.TLS_ERROR
    if isinstance(error, (TypeError, ValueError)):
        return Status.INVALID_ARGUMENT
    if isinstance(error, ConnectionError):
        return Status.TCP_ERROR
    if isinstance(error, PermissionError):
        return Status.PERMISSION_DENIED
    if isinstance(error, FileNotFoundError):
        return Status.NOT_FOUND
    if isinstance(error, (EOFError, InterruptedError, KeyboardInterrupt, OSError)):
        return Status.TEMPORARY_ERROR
    return Status.PERMANENT_ERROR


def status_for_output(output: object) -> Status:
    """Return the status of an attempt that returned ``output``.

    Handlers registered with :func:`register_output_type` are looked up along
    ``type(output).__mro__``; the first match decides. Without one the
    status is OK.

    Raises:
        TypeError: a callable handler returned something other than a
            :class:`Status`.
    """
    registered = _output_types
    if registered:
        for cls in type(output).__mro__:
            handler = registered.get(cls)
            if handler is not None:
                return _apply(handler, output, cls, "output")
    return Status.OK


def register_error_type(
    error_type: type[BaseException],
    handler: Status | Callable[[BaseException], Status],
) -> None:
    """Decide the status of errors of ``error_type`` (and its subclasses).

    ``handler`` is either a :class:`Status` or a callable that receives the
    exception and returns a :class:`Status`. Registering the same type again
    replaces the previous handler. See :func:`status_for_error` for how
    handlers, error classes and builtin categories are ordered.

    Raises:
        TypeError: ``error_type`` is not an exception class, or ``handler`` is
            neither a Status nor callable.
    """
    if not (isinstance(error_type, type) and issubclass(error_type, BaseException)):
        raise TypeError(
            "register_error_type() expects an exception class, "
            f"got {error_type!r} ({type(error_type).__qualname__})"
        )
    _error_types[error_type] = _check_handler(handler, "register_error_type")


def register_output_type(
    output_type: type,
    handler: Status | Callable[[Any], Status],
) -> None:
    """Decide the status of outputs of ``output_type`` (and its subclasses).

    ``handler`` is either a :class:`Status` or a callable that receives the
    output and returns a :class:`Status`. Registering the same type again
    replaces the previous handler. See :func:`status_for_output`.

    Raises:
        TypeError: ``output_type`` is not a class, or ``handler`` is neither
            a Status nor callable.
    """
    if not isinstance(output_type, type):
        raise TypeError(
            "register_output_type() expects a class, "
            f"got {output_type!r} ({type(output_type).__qualname__})"
        )
    _output_types[output_type] = _check_handler(handler, "register_output_type")


def _check_handler(handler: Any, func: str) -> Any:
    if isinstance(handler, Status) or callable(handler):
        return handler
    raise TypeError(
        f"{func}() handler must be a Status or a callable returning one, "
        f"got {handler!r} ({type(handler).__qualname__})"
    )


def _apply(handler: Any, value: Any, cls: type, kind: str) -> Status:
    if isinstance(handler, Status):
        return handler
    result = handler(value)
    if not isinstance(result, Status):
        raise TypeError(
            f"{kind} handler {_describe(handler)} registered for "
            f"{cls.__module__}.{cls.__qualname__} returned {result!r} "
            f"({type(result).__qualname__}), expected a Status"
        )
    return result


def _describe(handler: Any) -> str:
    name = getattr(handler, "__qualname__", None)
    if isinstance(name, str):
        module = getattr(handler, "__module__", None)
        return f"{module}.{name}" if module else name
    return repr(handler)


# As in the SDK, Error.from_exception(exc) without a status asks status_for_error.
set_error_classifier(status_for_error)
