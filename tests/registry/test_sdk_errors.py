"""The SDK's Error and Output surface: statuses from status_for_error, tracebacks, Output.exit."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

import registry
import registry.test
from registry import CallResult, Error, Input, Output, Status


def test_from_exception_takes_its_status_from_status_for_error() -> None:
    assert Error.from_exception(ConnectionError("reset")).status is Status.TCP_ERROR
    assert Error.from_exception(TimeoutError()).status is Status.TIMEOUT
    assert Error.from_exception(KeyError("k")).status is Status.PERMANENT_ERROR
    assert Error.from_exception(registry.error.DispatchError()).status is Status.UNSPECIFIED
    # An explicit status still wins.
    assert Error.from_exception(ConnectionError(), Status.NOT_FOUND).status is Status.NOT_FOUND


def test_from_exception_follows_registered_error_types() -> None:
    class Flaky(Exception):
        pass

    registry.register_error_type(Flaky, Status.THROTTLED)
    assert Error.from_exception(Flaky()).status is Status.THROTTLED


def test_keyboard_interrupt_maps_as_in_the_sdk() -> None:
    assert registry.status_for_error(KeyboardInterrupt()) is Status.TEMPORARY_ERROR


def test_error_with_status_ok_is_refused() -> None:
    with pytest.raises(ValueError, match="status OK"):
        Error(Status.OK, "T", "m")
    with pytest.raises(ValueError, match="status OK"):
        Error.from_exception(ValueError(), Status.OK)


def test_error_traceback_is_settable_bytes_outside_equality() -> None:
    error = Error(Status.TEMPORARY_ERROR, "T", "m")
    assert error.traceback is None
    error.traceback = b"Traceback ..."
    assert error.traceback == b"Traceback ..."
    assert error == Error(Status.TEMPORARY_ERROR, "T", "m")
    assert hash(error) == hash(Error(Status.TEMPORARY_ERROR, "T", "m"))
    with pytest.raises(attrs.exceptions.FrozenAttributeError):
        error.status = Status.TIMEOUT  # type: ignore[misc]


def test_primitive_error_from_connection_error_is_retried(reg: registry.Registry) -> None:
    attempts: list[int] = []

    @reg.primitive_function
    def flaky(inp: Input) -> Output:
        attempts.append(inp.attempt)
        if len(attempts) < 3:
            return Output.error(Error.from_exception(ConnectionError("reset by peer")))
        return Output.value("through")

    async def main() -> Any:
        return await registry.call(flaky.build_call())

    @reg.function
    async def caller() -> Any:
        return await main()

    assert registry.test.run(caller(), faults="none") == "through"
    assert len(attempts) == 3


def test_output_exit_as_in_the_sdk(reg: registry.Registry) -> None:
    @reg.function
    def target(x: int) -> int:
        return x * 10

    assert Output.exit().output_value is None
    assert Output.exit(CallResult(output=7)).output_value == 7
    error = Error(Status.PERMANENT_ERROR, "E", "bad")
    assert Output.exit(CallResult(error=error)).output_error is error
    tail = Output.exit(tail_call=target.build_call(4))
    assert tail.tail_call_request.function == target.name
    with pytest.raises(TypeError, match="CallResult"):
        Output.exit(result=7)  # type: ignore[arg-type]

    @reg.primitive_function
    def exits(inp: Input) -> Output:
        return Output.exit(tail_call=target.build_call(inp.input))

    async def main() -> Any:
        return await registry.call(exits.build_call(3))

    @reg.function
    async def caller() -> Any:
        return await main()

    assert registry.test.run(caller(), faults="none") == 30


def test_from_exception_fills_the_traceback_as_in_the_sdk() -> None:
    try:
        raise OSError("disk")
    except OSError as exc:
        error = Error.from_exception(exc)
    assert error.status is Status.TEMPORARY_ERROR
    assert isinstance(error.traceback, bytes)
    text = error.traceback.decode()
    assert text.startswith("Traceback (most recent call last):")
    assert "test_from_exception_fills_the_traceback_as_in_the_sdk" in text
    assert text.rstrip().endswith("OSError: disk")
    # An exception never raised has no traceback to give.
    assert Error.from_exception(OSError("never raised")).traceback is None
