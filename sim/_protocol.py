"""The data that flows between the service and an endpoint: calls, inputs, outputs.

These mirror the Dispatch protocol types. `registry` builds on them and
re-exports them; the simulator never needs to know how a function is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from traceback import format_exception as _format_exception
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, TypeAlias

import attrs

from ._status import Status

if TYPE_CHECKING:
    from ._journal import Journal

__all__ = [
    "Arguments",
    "Call",
    "CallResult",
    "CorrelationID",
    "DispatchID",
    "Error",
    "Input",
    "Output",
]

DispatchID: TypeAlias = str
"""Opaque identifier the service gives to a dispatched call."""

CorrelationID: TypeAlias = "int | str | None"
"""Caller-chosen key that matches a child call's result to the call."""


_FRESH_DICT: Mapping[str, Any] = MappingProxyType({})  # the default of kwargs: a new dict


@attrs.frozen(init=False)
class Arguments:
    """Positional and keyword arguments of a call to a registered function."""

    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)

    def __init__(self, args: tuple[Any, ...] = (), kwargs: Mapping[str, Any] = _FRESH_DICT) -> None:
        # attrs' generated __init__ for a frozen class builds a bound setter per
        # instance; one is made per call (the programming model wraps every
        # call's arguments), so this stores the two fields through their slots'
        # own setters, bound once below (what object.__setattr__ would reach,
        # without naming the field on every call).
        _set_args(self, args)
        if kwargs is _FRESH_DICT:
            kwargs = {}
        _set_kwargs(self, kwargs)


# The setters of Arguments' two slots (the class attrs made), for its __init__.
_set_args: Callable[[Arguments, Any], None] = Arguments.__dict__["args"].__set__
_set_kwargs: Callable[[Arguments, Any], None] = Arguments.__dict__["kwargs"].__set__


@attrs.define
class Call:
    """A request to run `function` (at `endpoint`) with `input`.

    `correlation_id` is echoed back in the matching `CallResult`; it may be set
    after construction, as a scheduler does when it adds the call to a poll.
    """

    function: str
    input: Any = None
    endpoint: str | None = None
    correlation_id: int | str | None = None


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        cls = type(exc)
        return f"<unprintable {cls.__module__}.{cls.__qualname__} object>"


def _not_ok(instance: Error, attribute: Any, status: Status) -> None:
    # As in the Dispatch SDK: an Error always describes a failure.
    if status == Status.OK:
        raise ValueError("an Error cannot have status OK (use Output.value for a result)")


# The status an exception gets when Error.from_exception is not told one; the
# programming model (registry) installs its status_for_error here.
_classify: Callable[[BaseException], Status] | None = None


def set_error_classifier(classify: Callable[[BaseException], Status] | None) -> None:
    """Make `classify` decide the status of ``Error.from_exception(exc)`` without a status.

    Without one (None), such an error is a PERMANENT_ERROR.
    """
    global _classify
    _classify = classify


_FROZEN = attrs.setters.frozen


# Not attrs.frozen: `traceback` is settable, as in the SDK. Every other field
# stays read-only, so hashing on them (unsafe_hash) is safe.
@attrs.define(unsafe_hash=True)
class Error:
    """A failed attempt: its status, the exception type and message, and the value.

    `traceback` is the formatted traceback of the failure (UTF-8 bytes), or
    None; it is settable, and it is not part of equality, of the journal's
    comparisons, or of the trace digest.
    """

    status: Status = attrs.field(validator=_not_ok, on_setattr=_FROZEN)
    type: str | None = attrs.field(default=None, on_setattr=_FROZEN)
    message: str | None = attrs.field(default=None, on_setattr=_FROZEN)
    value: BaseException | None = attrs.field(default=None, eq=False, on_setattr=_FROZEN)
    traceback: bytes | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def from_exception(cls, exc: BaseException, status: Status | None = None) -> Error:
        """Describe `exc`; without `status`, the one ``status_for_error(exc)`` gives.

        (Before `registry` is imported, nothing classifies errors, and the
        status is PERMANENT_ERROR.) As in the SDK, `traceback` is the
        exception's formatted traceback when it has one.
        """
        if status is None:
            status = Status.PERMANENT_ERROR if _classify is None else _classify(exc)
        error = cls(
            status=status,
            type=type(exc).__qualname__,
            message=_safe_str(exc),  # an exception whose __str__ raises keeps its class
            value=exc,
        )
        if exc.__traceback__ is not None:
            error.traceback = "".join(_format_exception(exc)).encode("utf-8", "replace")
        return error

    def to_exception(self) -> BaseException:
        """The exception a caller sees: the original one, or a RuntimeError describing it."""
        if isinstance(self.value, BaseException):
            return self.value
        return RuntimeError(f"{self.type or self.status.name}: {self.message or ''}")


@attrs.frozen
class CallResult:
    """The outcome of a child call, delivered back to the caller's poll."""

    correlation_id: int | str | None = None
    output: Any = None
    error: Error | None = None
    dispatch_id: DispatchID = ""


_VALUE, _ERROR, _POLL, _TAIL_CALL = "value", "error", "poll", "tail_call"


@attrs.frozen
class _Poll:
    coroutine_state: bytes | None
    calls: tuple[Call, ...]
    min_results: int
    max_results: int
    max_wait_seconds: float | None


@attrs.frozen
class Output:
    """What a function attempt returns to the service. Build it with a class method."""

    kind: str
    status: Status = Status.OK
    _value: Any = None
    _error: Error | None = None
    _poll: _Poll | None = None
    _tail_call: Call | None = None

    @classmethod
    def value(cls, value: Any, status: Status | None = None) -> Output:
        """The call returns `value` (with `status`, OK by default)."""
        return cls(_VALUE, Status.OK if status is None else Status(status), value)

    @classmethod
    def error(cls, error: Error) -> Output:
        """The attempt failed with `error`; its status decides whether it is retried."""
        if not isinstance(error, Error):
            raise TypeError(f"Output.error() takes an Error, not {type(error).__qualname__}")
        return cls(_ERROR, error.status, error=error)

    @classmethod
    def poll(
        cls,
        coroutine_state: bytes | None = None,
        calls: Sequence[Call] | None = None,
        min_results: int = 1,
        max_results: int = 10,
        max_wait_seconds: float | None = None,
    ) -> Output:
        """Suspend: dispatch `calls`, then resume with `min_results`..`max_results` results.

        The counts are clamped to the calls still outstanding. With
        `max_wait_seconds`, the function resumes after that long with what has
        arrived, possibly nothing.
        """
        if coroutine_state is not None and not isinstance(coroutine_state, bytes | bytearray):
            raise TypeError("coroutine_state must be bytes or None")
        call_list = tuple(calls or ())
        for i, c in enumerate(call_list):
            if not isinstance(c, Call):
                raise TypeError(f"calls[{i}] is a {type(c).__qualname__}, not a Call")
        if min_results < 0 or max_results < 1:
            raise ValueError(
                f"need min_results >= 0 and max_results >= 1, got {min_results} and {max_results}"
            )
        if max_wait_seconds is not None and not max_wait_seconds >= 0:
            raise ValueError(f"max_wait_seconds must be >= 0, got {max_wait_seconds!r}")
        state = None if coroutine_state is None else bytes(coroutine_state)
        poll = _Poll(state, call_list, min_results, max_results, max_wait_seconds)
        return cls(_POLL, poll=poll)

    @classmethod
    def tail_call(cls, tail_call: Call) -> Output:
        """End this call's current function and continue the same call as `tail_call`."""
        if not isinstance(tail_call, Call):
            raise TypeError(f"tail_call takes a Call, not {type(tail_call).__qualname__}")
        return cls(_TAIL_CALL, tail_call=tail_call)

    @classmethod
    def exit(
        cls,
        result: CallResult | None = None,
        tail_call: Call | None = None,
        status: Status = Status.OK,
    ) -> Output:
        """End the function, as in the SDK: with `tail_call`, continue as that call;
        else with `result` (its error, or its output; None without one)."""
        if tail_call is not None:
            return cls.tail_call(tail_call)
        if result is not None and not isinstance(result, CallResult):
            raise TypeError(f"Output.exit(result=...) takes a CallResult, not {type(result).__qualname__}")
        if result is not None and result.error is not None:
            return cls.error(result.error)
        return cls.value(None if result is None else result.output, status)

    @property
    def is_poll(self) -> bool:
        return self.kind == _POLL

    def _get(self, kind: str, value: Any) -> Any:
        if self.kind != kind:
            raise ValueError(f"this Output is a {self.kind}, it has no {kind}")
        return value

    @property
    def output_value(self) -> Any:
        """The returned value (only for a value output)."""
        return self._get(_VALUE, self._value)

    @property
    def output_error(self) -> Error:
        """The error (only for an error output)."""
        return self._get(_ERROR, self._error)

    @property
    def poll_request(self) -> _Poll:
        """The poll (only for a poll output)."""
        return self._get(_POLL, self._poll)

    @property
    def tail_call_request(self) -> Call:
        """The call to continue as (only for a tail-call output)."""
        return self._get(_TAIL_CALL, self._tail_call)


@attrs.frozen
class Input:
    """What a function attempt receives: the first call's input, or a resume of a poll.

    Reading a field that belongs to the other phase raises ValueError.
    """

    dispatch_id: DispatchID
    function: str
    attempt: int
    creation_time: float
    parent_dispatch_id: DispatchID | None = None
    root_dispatch_id: DispatchID = ""
    _input: Any = None
    _first_call: bool = True
    _coroutine_state: bytes | None = None
    _call_results: tuple[CallResult, ...] = ()
    _poll_error: Error | None = None
    _journal: Journal | None = attrs.field(default=None, repr=False)

    @property
    def is_first_call(self) -> bool:
        """True for the first attempt of a function, False for a resume of its poll."""
        return self._first_call

    @property
    def is_resume(self) -> bool:
        return not self._first_call

    def _need(self, first: bool, name: str) -> None:
        if self._first_call != first:
            phase = "first call" if self._first_call else "resume"
            raise ValueError(f"Input.{name} is not available on a {phase}")

    @property
    def input(self) -> Any:
        """The call's input (first call only)."""
        self._need(True, "input")
        return self._input

    def input_arguments(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The positional and keyword arguments of the call (first call only)."""
        if not self._first_call:
            self._need(True, "input_arguments()")
        if not isinstance(self._input, Arguments):
            raise ValueError(
                f"the input of {self.function} is a {type(self._input).__qualname__}, not Arguments"
            )
        return tuple(self._input.args), dict(self._input.kwargs)

    @property
    def coroutine_state(self) -> bytes | None:
        """The state the function returned with its poll (resume only)."""
        self._need(False, "coroutine_state")
        return self._coroutine_state

    @property
    def call_results(self) -> tuple[CallResult, ...]:
        """Results of the polled calls delivered by this resume (resume only)."""
        self._need(False, "call_results")
        return self._call_results

    @property
    def poll_error(self) -> Error | None:
        """Why the last poll failed as a whole, if it did (resume only)."""
        self._need(False, "poll_error")
        return self._poll_error

    @property
    def journal(self) -> Journal:
        """Everything the service delivered to this call so far, to rebuild lost state."""
        if self._journal is None:
            raise ValueError(f"no journal is attached to this Input of {self.function}")
        return self._journal
