"""A Python return or raise of a registered function, as the Output the service gets.

The one place that decides it, for sync functions, async frames and functions
that fail before they start: a value gets its status from
`status_for_output` (OK unless a registered output type says otherwise), a
`Reset` becomes a tail call, any other exception an error with the status
`status_for_error` gives it.
"""

from __future__ import annotations

from typing import Any

from sim import Error, Input, Output, Status
from sim.lowlevel import Answer, Attempt

from ._status import _output_types, status_for_error, status_for_output
from ._steps import Reset
from ._traceback import format_failure
from .error import exception_for_status

__all__ = ["answer_for_value", "output_for_exception", "output_for_final_error", "output_for_primitive", "output_for_value"]


def output_for_value(value: Any, subject: str) -> Output:
    """The Output of a function (named `subject` in errors) that returned `value`."""
    # Without registered output types every value is OK: skip the lookup.
    status = status_for_output(value) if _output_types else Status.OK
    if status is Status.OK:
        return Output("value", Status.OK, value)
    error = exception_for_status(status, f"{subject} returned a value with status {status}")
    return Output.error(Error.from_exception(error, status))


def answer_for_value(value: Any, subject: str) -> Answer:
    """`output_for_value` as a fast endpoint answers: ``(value,)`` when its status is OK."""
    if not _output_types:  # without registered output types every value is OK
        return (value,)
    return output_for_value(value, subject)


def output_for_exception(exc: BaseException, inp: Attempt | Input | None = None) -> Output:
    """The Output of a function that raised `exc`: a tail call for a `Reset`, else an error.

    With the attempt's `inp`, the error carries the traceback of the raise,
    naming the function, its DispatchID and the attempt.
    """
    if isinstance(exc, Reset):
        return Output.tail_call(exc.call)
    status = status_for_error(exc)
    if status is Status.OK:
        # An error is never OK (sim.Error refuses it, as the SDK does): one
        # mapped to OK fails the call, and the caller gets the exception itself.
        status = Status.PERMANENT_ERROR
    if inp is None:
        return Output.error(Error.from_exception(exc, status))
    # Built here rather than by from_exception, whose full traceback would be
    # formatted only to be replaced by the trimmed one.
    error = Error(status, type(exc).__qualname__, _message(exc), exc)
    error.traceback = format_failure(exc, inp.function, inp.dispatch_id, inp.attempt)
    return Output.error(error)


def _message(exc: BaseException) -> str:
    # An exception whose __str__ raises still fails its call as itself.
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__module__}.{type(exc).__qualname__} object>"


def output_for_final_error(exc: BaseException) -> Output:
    """An error Output that is never retried, whatever `exc` is (the harness's own failures)."""
    return Output.error(Error.from_exception(exc, Status.PERMANENT_ERROR))


def output_for_primitive(returned: Any, name: str) -> Output:
    """What primitive function `name` returned, checked: an Output, or an error naming it."""
    if isinstance(returned, Output):
        return returned
    shown = repr(returned)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    problem = TypeError(
        f"primitive function {name} returned {type(returned).__qualname__} ({shown}), "
        "not an Output; return Output.value(...), Output.error(...), Output.poll(...) "
        "or Output.tail_call(...)"
    )
    # The endpoint's answer is malformed: final, retrying returns the same.
    return Output.error(Error.from_exception(problem, Status.INVALID_RESPONSE))
