"""status_for_error / status_for_output and their registration functions."""

from __future__ import annotations

import asyncio
import errno
import io
import json
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

import registry._status as status_module
import registry.error as error
from registry._status import (
    register_error_type,
    register_output_type,
    status_for_error,
    status_for_output,
)
from sim._status import Status


@pytest.fixture(autouse=True)
def restore_handlers() -> Iterator[None]:
    """Snapshot the module's handler dicts and put them back afterwards."""
    saved_errors = dict(status_module._error_types)
    saved_outputs = dict(status_module._output_types)
    try:
        yield
    finally:
        status_module._error_types.clear()
        status_module._error_types.update(saved_errors)
        status_module._output_types.clear()
        status_module._output_types.update(saved_outputs)


class CustomError(Exception):
    pass


class CustomBase(Exception):
    pass


class CustomChild(CustomBase):
    pass


class CustomGrandchild(CustomChild):
    pass


def test_public_api() -> None:
    assert sorted(status_module.__all__) == sorted(
        ["status_for_error", "status_for_output", "register_error_type", "register_output_type"]
    )
    for name in status_module.__all__:
        assert getattr(status_module, name).__doc__


# --- builtin mapping ---------------------------------------------------------

BUILTINS: list[tuple[BaseException, Status]] = [
    (TimeoutError(), Status.TIMEOUT),
    (socket.timeout(), Status.TIMEOUT),
    (asyncio.TimeoutError(), Status.TIMEOUT),
    (TypeError("t"), Status.INVALID_ARGUMENT),
    (ValueError("v"), Status.INVALID_ARGUMENT),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"), Status.INVALID_ARGUMENT),
    (json.JSONDecodeError("msg", "doc", 0), Status.INVALID_ARGUMENT),
    (io.UnsupportedOperation("u"), Status.INVALID_ARGUMENT),
    (ssl.SSLError("tls"), Status.TLS_ERROR),
    (ssl.SSLCertVerificationError("cert"), Status.TLS_ERROR),
    (ssl.SSLZeroReturnError(), Status.TLS_ERROR),
    (ssl.SSLEOFError(), Status.TLS_ERROR),
    (ConnectionError(), Status.TCP_ERROR),
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), Status.TCP_ERROR),
    (ConnectionResetError(), Status.TCP_ERROR),
    (ConnectionAbortedError(), Status.TCP_ERROR),
    (BrokenPipeError(), Status.TCP_ERROR),
    (PermissionError(), Status.PERMISSION_DENIED),
    (FileNotFoundError(errno.ENOENT, "missing", "/x"), Status.NOT_FOUND),
    (EOFError(), Status.TEMPORARY_ERROR),
    (InterruptedError(), Status.TEMPORARY_ERROR),
    (OSError(), Status.TEMPORARY_ERROR),
    (OSError(errno.ENOENT, "no such file"), Status.NOT_FOUND),  # OSError() picks the subclass
    (IsADirectoryError(), Status.TEMPORARY_ERROR),
    (FileExistsError(), Status.TEMPORARY_ERROR),
    (BlockingIOError(), Status.TEMPORARY_ERROR),
    (socket.gaierror(), Status.TEMPORARY_ERROR),
    (Exception(), Status.PERMANENT_ERROR),
    (CustomError("c"), Status.PERMANENT_ERROR),
    (KeyError("k"), Status.PERMANENT_ERROR),
    (RuntimeError(), Status.PERMANENT_ERROR),
    (ZeroDivisionError(), Status.PERMANENT_ERROR),
    (NotImplementedError(), Status.PERMANENT_ERROR),
]


@pytest.mark.parametrize(
    ("exc", "expected"), BUILTINS, ids=[f"{type(e).__name__}-{i}" for i, (e, _) in enumerate(BUILTINS)]
)
def test_builtin_mapping(exc: BaseException, expected: Status) -> None:
    result = status_for_error(exc)
    assert result is expected
    assert isinstance(result, Status)


def test_ssl_errors_are_oserrors_yet_map_to_tls() -> None:
    # The SDK's TLS branch is unreachable because of this subclassing.
    assert issubclass(ssl.SSLError, OSError)
    assert issubclass(ssl.SSLCertVerificationError, ValueError)
    assert status_for_error(ssl.SSLCertVerificationError()) is Status.TLS_ERROR


def test_user_subclass_of_builtin_uses_nearest_builtin_category() -> None:
    class Refused(ConnectionRefusedError):
        pass

    class BadTLS(ssl.SSLError):
        pass

    assert status_for_error(Refused()) is Status.TCP_ERROR
    assert status_for_error(BadTLS()) is Status.TLS_ERROR


def test_timeout_checked_before_value_error() -> None:
    class Both(ValueError, TimeoutError):
        pass

    assert status_for_error(Both()) is Status.TIMEOUT


def test_base_exception_outside_exception_is_permanent() -> None:
    class Stop(BaseException):
        pass

    assert status_for_error(Stop()) is Status.PERMANENT_ERROR
    assert status_for_error(GeneratorExit()) is Status.PERMANENT_ERROR


@pytest.mark.parametrize("value", [None, 3, "ValueError", ValueError])
def test_status_for_error_rejects_non_exceptions(value: object) -> None:
    with pytest.raises(TypeError, match=r"status_for_error\(\) expects an exception instance"):
        status_for_error(value)  # type: ignore[arg-type]


# --- registry.error classes against builtin categories ------------------------


def test_dispatch_classes_beat_builtin_categories() -> None:
    # DNSError is a ConnectionError (TCP_ERROR) but its own status decides.
    assert status_for_error(error.DNSError()) is Status.DNS_ERROR
    assert status_for_error(error.HTTPError()) is Status.HTTP_ERROR
    assert status_for_error(error.TLSError()) is Status.TLS_ERROR
    # InvalidResponseError is a ValueError (INVALID_ARGUMENT) but keeps its own.
    assert status_for_error(error.InvalidResponseError()) is Status.INVALID_RESPONSE
    assert status_for_error(error.TimeoutError()) is Status.TIMEOUT


def test_dispatch_class_mixed_with_builtin() -> None:
    class Odd(ValueError, error.TCPError):
        pass

    assert status_for_error(Odd()) is Status.TCP_ERROR


def test_status_attribute_on_non_dispatch_class_is_ignored() -> None:
    class HasStatus(Exception):
        status = Status.THROTTLED

    assert status_for_error(HasStatus()) is Status.PERMANENT_ERROR


# --- registered error handlers ------------------------------------------------


def test_register_status_handler() -> None:
    register_error_type(CustomError, Status.THROTTLED)
    assert status_for_error(CustomError()) is Status.THROTTLED


def test_register_callable_handler_receives_the_error() -> None:
    seen: list[BaseException] = []

    def handler(exc: BaseException) -> Status:
        seen.append(exc)
        return Status.TEMPORARY_ERROR if "again" in str(exc) else Status.PERMANENT_ERROR

    register_error_type(CustomError, handler)
    first, second = CustomError("try again"), CustomError("give up")
    assert status_for_error(first) is Status.TEMPORARY_ERROR
    assert status_for_error(second) is Status.PERMANENT_ERROR
    assert seen == [first, second]


def test_register_replaces_previous_handler() -> None:
    register_error_type(CustomError, Status.THROTTLED)
    register_error_type(CustomError, Status.NOT_FOUND)
    assert status_for_error(CustomError()) is Status.NOT_FOUND


def test_handler_on_base_applies_to_subclasses() -> None:
    register_error_type(CustomBase, Status.HTTP_ERROR)
    assert status_for_error(CustomBase()) is Status.HTTP_ERROR
    assert status_for_error(CustomChild()) is Status.HTTP_ERROR
    assert status_for_error(CustomGrandchild()) is Status.HTTP_ERROR


def test_handler_on_subclass_wins_over_base() -> None:
    register_error_type(CustomBase, Status.HTTP_ERROR)
    register_error_type(CustomChild, Status.UNAUTHENTICATED)
    assert status_for_error(CustomBase()) is Status.HTTP_ERROR
    assert status_for_error(CustomChild()) is Status.UNAUTHENTICATED
    assert status_for_error(CustomGrandchild()) is Status.UNAUTHENTICATED


def test_handler_order_follows_mro_for_multiple_inheritance() -> None:
    class Left(Exception):
        pass

    class Right(Exception):
        pass

    class Both(Left, Right):
        pass

    register_error_type(Right, Status.DNS_ERROR)
    assert status_for_error(Both()) is Status.DNS_ERROR
    register_error_type(Left, Status.TCP_ERROR)
    assert status_for_error(Both()) is Status.TCP_ERROR


def test_handler_on_builtin_overrides_builtin_category() -> None:
    register_error_type(ValueError, Status.THROTTLED)
    assert status_for_error(ValueError()) is Status.THROTTLED
    assert status_for_error(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "x")) is Status.THROTTLED
    assert status_for_error(TypeError()) is Status.INVALID_ARGUMENT


def test_handler_on_general_class_beats_more_specific_builtin_category() -> None:
    # Registered handlers come first, anywhere along the MRO.
    register_error_type(OSError, Status.PERMANENT_ERROR)
    assert status_for_error(ConnectionRefusedError()) is Status.PERMANENT_ERROR
    assert status_for_error(TimeoutError()) is Status.PERMANENT_ERROR
    assert status_for_error(ssl.SSLError()) is Status.PERMANENT_ERROR


def test_handler_on_base_does_not_override_dispatch_class_status() -> None:
    register_error_type(ValueError, Status.THROTTLED)
    register_error_type(ConnectionError, Status.THROTTLED)
    register_error_type(error.DispatchError, Status.UNAUTHENTICATED)
    assert status_for_error(error.InvalidArgumentError()) is Status.INVALID_ARGUMENT
    assert status_for_error(error.DNSError()) is Status.DNS_ERROR
    assert status_for_error(error.DispatchError()) is Status.UNAUTHENTICATED


def test_handler_on_dispatch_class_itself_overrides_its_status() -> None:
    register_error_type(error.DNSError, Status.PERMANENT_ERROR)
    assert status_for_error(error.DNSError()) is Status.PERMANENT_ERROR
    assert status_for_error(error.TCPError()) is Status.TCP_ERROR


def test_handler_on_intermediate_user_class_beats_dispatch_base_status() -> None:
    class AppError(error.TemporaryError):
        pass

    class AppSubError(AppError):
        pass

    register_error_type(AppError, Status.NOT_FOUND)
    assert status_for_error(AppSubError()) is Status.NOT_FOUND


def test_handler_may_return_any_status_including_ok() -> None:
    register_error_type(CustomError, lambda e: Status.OK)
    assert status_for_error(CustomError()) is Status.OK


def test_handler_exception_propagates() -> None:
    def handler(exc: BaseException) -> Status:
        raise RuntimeError("handler broke")

    register_error_type(CustomError, handler)
    with pytest.raises(RuntimeError, match="handler broke"):
        status_for_error(CustomError())


# --- bad registrations and bad handler results --------------------------------


@pytest.mark.parametrize("bad_type", [int, object, CustomError(), "ValueError", None])
def test_register_error_type_rejects_non_exception_types(bad_type: Any) -> None:
    before = set(status_module._error_types)
    with pytest.raises(TypeError, match=r"register_error_type\(\) expects an exception class, got "):
        register_error_type(bad_type, Status.OK)
    assert status_module._error_types.keys() <= before


@pytest.mark.parametrize("bad_handler", [4, "TIMEOUT", None, 2.0])
def test_register_error_type_rejects_bad_handlers(bad_handler: Any) -> None:
    with pytest.raises(
        TypeError,
        match=r"register_error_type\(\) handler must be a Status or a callable returning one, got ",
    ):
        register_error_type(CustomError, bad_handler)
    assert CustomError not in status_module._error_types


def test_register_error_type_message_names_the_value() -> None:
    with pytest.raises(TypeError, match=r"got 'oops' \(str\)"):
        register_error_type(CustomError, "oops")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"got <class 'int'> \(type\)"):
        register_error_type(int, Status.OK)  # type: ignore[arg-type]


def bad_error_handler(exc: BaseException) -> Any:
    return 4


def test_error_handler_returning_non_status() -> None:
    register_error_type(CustomBase, bad_error_handler)
    with pytest.raises(TypeError) as info:
        status_for_error(CustomChild())
    message = str(info.value)
    assert "error handler" in message
    assert f"{__name__}.bad_error_handler" in message
    assert f"registered for {__name__}.CustomBase" in message
    assert "returned 4 (int), expected a Status" in message


def test_error_handler_returning_none() -> None:
    register_error_type(CustomError, lambda e: None)
    with pytest.raises(TypeError, match=r"<lambda> registered for .*CustomError returned None \(NoneType\)"):
        status_for_error(CustomError())


def test_callable_object_handler_is_named_by_repr() -> None:
    class Handler:
        def __call__(self, exc: BaseException) -> Any:
            return "OK"

        def __repr__(self) -> str:
            return "<the handler>"

    register_error_type(CustomError, Handler())
    with pytest.raises(TypeError, match=r"error handler <the handler> registered for .* returned 'OK' \(str\)"):
        status_for_error(CustomError())


# --- output handlers ----------------------------------------------------------


class Response:
    def __init__(self, code: int) -> None:
        self.code = code


class SpecialResponse(Response):
    pass


def response_status(response: Response) -> Status:
    if response.code == 429:
        return Status.THROTTLED
    return Status.OK if response.code < 400 else Status.PERMANENT_ERROR


@pytest.mark.parametrize("output", [None, 0, "x", b"x", [1], {"a": 1}, Response(500), CustomError()])
def test_status_for_output_defaults_to_ok(output: object) -> None:
    assert status_for_output(output) is Status.OK


def test_register_output_status_handler() -> None:
    register_output_type(str, Status.INVALID_RESPONSE)
    assert status_for_output("x") is Status.INVALID_RESPONSE
    assert status_for_output(b"x") is Status.OK


def test_register_output_callable_handler() -> None:
    register_output_type(Response, response_status)
    assert status_for_output(Response(200)) is Status.OK
    assert status_for_output(Response(429)) is Status.THROTTLED
    assert status_for_output(Response(500)) is Status.PERMANENT_ERROR


def test_output_handler_on_base_applies_to_subclass_and_subclass_wins() -> None:
    register_output_type(Response, response_status)
    assert status_for_output(SpecialResponse(429)) is Status.THROTTLED
    register_output_type(SpecialResponse, Status.NOT_FOUND)
    assert status_for_output(SpecialResponse(200)) is Status.NOT_FOUND
    assert status_for_output(Response(200)) is Status.OK


def test_output_handler_for_none_and_object() -> None:
    register_output_type(type(None), Status.INVALID_RESPONSE)
    assert status_for_output(None) is Status.INVALID_RESPONSE
    assert status_for_output(0) is Status.OK
    register_output_type(object, Status.TEMPORARY_ERROR)
    assert status_for_output(0) is Status.TEMPORARY_ERROR
    assert status_for_output(None) is Status.INVALID_RESPONSE


def test_output_handlers_do_not_affect_errors() -> None:
    register_output_type(CustomError, Status.THROTTLED)
    assert status_for_error(CustomError()) is Status.PERMANENT_ERROR
    register_error_type(CustomError, Status.NOT_FOUND)
    assert status_for_output(CustomError()) is Status.THROTTLED


@pytest.mark.parametrize("bad_type", [3, "str", None, Response(1)])
def test_register_output_type_rejects_non_types(bad_type: Any) -> None:
    with pytest.raises(TypeError, match=r"register_output_type\(\) expects a class, got "):
        register_output_type(bad_type, Status.OK)


@pytest.mark.parametrize("bad_handler", [1, "OK", None])
def test_register_output_type_rejects_bad_handlers(bad_handler: Any) -> None:
    with pytest.raises(
        TypeError,
        match=r"register_output_type\(\) handler must be a Status or a callable returning one, got ",
    ):
        register_output_type(Response, bad_handler)
    assert Response not in status_module._output_types


def test_output_handler_returning_non_status() -> None:
    register_output_type(Response, lambda r: r.code)
    with pytest.raises(TypeError) as info:
        status_for_output(SpecialResponse(200))
    message = str(info.value)
    assert "output handler" in message
    assert f"registered for {__name__}.Response" in message
    assert "returned 200 (int), expected a Status" in message


# --- the fixture really isolates tests ----------------------------------------


def test_registrations_leak_check_part_one() -> None:
    register_error_type(CustomGrandchild, Status.THROTTLED)
    register_output_type(SpecialResponse, Status.THROTTLED)


def test_registrations_leak_check_part_two() -> None:
    assert CustomGrandchild not in status_module._error_types
    assert SpecialResponse not in status_module._output_types
    assert status_for_error(CustomGrandchild()) is Status.PERMANENT_ERROR
    assert status_for_output(SpecialResponse(200)) is Status.OK
