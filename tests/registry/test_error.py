"""The error classes of registry.error: statuses, builtin bases, construction."""

from __future__ import annotations

import builtins
import copy
import pickle

import pytest

import registry.error as error
from registry._status import status_for_error
from sim._status import Status

# (class, its status, the builtin classes it must also be)
CLASSES = [
    (error.DispatchError, Status.UNSPECIFIED, ()),  # as in the SDK (issue 14)
    (error.TimeoutError, Status.TIMEOUT, (builtins.TimeoutError, OSError)),
    (error.ThrottleError, Status.THROTTLED, ()),
    (error.InvalidArgumentError, Status.INVALID_ARGUMENT, (ValueError,)),
    (error.InvalidResponseError, Status.INVALID_RESPONSE, (ValueError,)),
    (error.TemporaryError, Status.TEMPORARY_ERROR, ()),
    (error.PermanentError, Status.PERMANENT_ERROR, ()),
    (error.IncompatibleStateError, Status.INCOMPATIBLE_STATE, ()),
    (error.DNSError, Status.DNS_ERROR, (ConnectionError, OSError)),
    (error.TCPError, Status.TCP_ERROR, (ConnectionError, OSError)),
    (error.TLSError, Status.TLS_ERROR, (ConnectionError, OSError)),
    (error.HTTPError, Status.HTTP_ERROR, (ConnectionError, OSError)),
    (error.UnauthenticatedError, Status.UNAUTHENTICATED, ()),
    (error.PermissionDeniedError, Status.PERMISSION_DENIED, (PermissionError, OSError)),
    (error.NotFoundError, Status.NOT_FOUND, ()),
    (error.NonDeterminismError, Status.PERMANENT_ERROR, ()),
]
IDS = [cls.__name__ for cls, _, _ in CLASSES]


def test_all_lists_every_class() -> None:
    # FunctionTraceback: the cause chained to a function's error (issue 14).
    helpers = ["FunctionTraceback", "exception_for_error", "exception_for_status"]
    assert sorted(error.__all__) == sorted(IDS + helpers)
    for name in IDS:
        assert getattr(error, name).__module__ == "registry.error"


@pytest.mark.parametrize(("cls", "status", "bases"), CLASSES, ids=IDS)
def test_class_status_attribute(cls: type, status: Status, bases: tuple[type, ...]) -> None:
    assert cls.status is status
    assert isinstance(cls.status, Status)
    assert cls().status is status


@pytest.mark.parametrize(("cls", "status", "bases"), CLASSES, ids=IDS)
def test_status_for_error_uses_class_status(
    cls: type[BaseException], status: Status, bases: tuple[type, ...]
) -> None:
    assert status_for_error(cls()) is status
    assert status_for_error(cls("boom")) is status


@pytest.mark.parametrize(("cls", "status", "bases"), CLASSES, ids=IDS)
def test_builtin_bases(cls: type, status: Status, bases: tuple[type, ...]) -> None:
    exc = cls("boom")
    assert isinstance(exc, error.DispatchError)
    assert isinstance(exc, Exception)
    for base in bases:
        assert isinstance(exc, base)
        assert issubclass(cls, base)


def test_classes_without_builtin_bases_are_not_builtin_errors() -> None:
    for cls in (error.ThrottleError, error.TemporaryError, error.NotFoundError):
        assert not issubclass(cls, (OSError, ValueError))


def test_timeout_error_shadows_builtin_but_is_one() -> None:
    assert error.TimeoutError is not builtins.TimeoutError
    with pytest.raises(builtins.TimeoutError):
        raise error.TimeoutError("slow")


@pytest.mark.parametrize(("cls", "status", "bases"), CLASSES, ids=IDS)
def test_construction_forms(cls: type[BaseException], status: Status, bases: tuple[type, ...]) -> None:
    assert cls().args == ()
    exc = cls("the message")
    assert exc.args == ("the message",)
    assert str(exc) == "the message"


@pytest.mark.parametrize(("cls", "status", "bases"), CLASSES, ids=IDS)
def test_pickle_and_copy_round_trip(
    cls: type[BaseException], status: Status, bases: tuple[type, ...]
) -> None:
    for exc in (cls(), cls("the message")):
        for clone in (pickle.loads(pickle.dumps(exc)), copy.deepcopy(exc)):
            assert type(clone) is cls
            assert clone.args == exc.args
            assert str(clone) == str(exc)


@pytest.mark.parametrize(("cls", "status", "bases"), CLASSES, ids=IDS)
def test_every_class_has_a_docstring(cls: type, status: Status, bases: tuple[type, ...]) -> None:
    assert cls.__doc__ and cls.__doc__.strip()
    assert "\n" not in cls.__doc__.strip()


def test_module_docstring() -> None:
    assert error.__doc__ and error.__doc__.strip()


def test_subclass_inherits_status() -> None:
    class ResolverDown(error.DNSError):
        pass

    assert ResolverDown.status is Status.DNS_ERROR
    assert status_for_error(ResolverDown("x")) is Status.DNS_ERROR


def test_subclass_may_set_its_own_status() -> None:
    class Gone(error.DispatchError):
        status = Status.NOT_FOUND

    class ServerBusy(error.HTTPError):
        status = Status.THROTTLED

    assert status_for_error(Gone()) is Status.NOT_FOUND
    assert status_for_error(ServerBusy()) is Status.THROTTLED


def test_subclass_with_non_status_status_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"Bad\.status must be a Status, got 4 \(int\)"):

        class Bad(error.DispatchError):
            status = 4  # type: ignore[assignment]


def test_instance_attribute_does_not_change_status() -> None:
    exc = error.TemporaryError("x")
    exc.status = Status.OK  # type: ignore[misc]
    assert status_for_error(exc) is Status.TEMPORARY_ERROR


def test_a_subclass_without_its_own_status_is_unspecified_and_final() -> None:
    class AppError(error.DispatchError):
        pass

    assert status_for_error(AppError("x")) is Status.UNSPECIFIED
    assert not Status.UNSPECIFIED.temporary


def test_keyboard_interrupt_maps_as_in_the_sdk() -> None:
    assert status_for_error(KeyboardInterrupt()) is Status.TEMPORARY_ERROR
