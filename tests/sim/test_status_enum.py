"""Tests for sim._status.Status: values, names, and which statuses are temporary."""

from __future__ import annotations

import pytest

from sim import Status
from sim._status import Status as StatusDirect

EXPECTED = [
    ("UNSPECIFIED", 0),
    ("OK", 1),
    ("TIMEOUT", 2),
    ("THROTTLED", 3),
    ("INVALID_ARGUMENT", 4),
    ("INVALID_RESPONSE", 5),
    ("TEMPORARY_ERROR", 6),
    ("PERMANENT_ERROR", 7),
    ("INCOMPATIBLE_STATE", 8),
    ("DNS_ERROR", 9),
    ("TCP_ERROR", 10),
    ("TLS_ERROR", 11),
    ("HTTP_ERROR", 12),
    ("UNAUTHENTICATED", 13),
    ("PERMISSION_DENIED", 14),
    ("NOT_FOUND", 15),
]

TEMPORARY = {
    "TIMEOUT",
    "THROTTLED",
    "TEMPORARY_ERROR",
    "INCOMPATIBLE_STATE",
    "DNS_ERROR",
    "TCP_ERROR",
    "TLS_ERROR",
    "HTTP_ERROR",
}


def test_reexported_from_package() -> None:
    assert Status is StatusDirect


def test_exactly_sixteen_members_in_order() -> None:
    assert [(s.name, s.value) for s in Status] == EXPECTED
    assert len(Status) == 16


@pytest.mark.parametrize(("name", "value"), EXPECTED)
def test_value_and_lookup(name: str, value: int) -> None:
    status = Status[name]
    assert int(status) == value
    assert status == value  # an IntEnum compares to its int
    assert Status(value) is status


@pytest.mark.parametrize(("name", "value"), EXPECTED)
def test_str_is_bare_name(name: str, value: int) -> None:
    assert str(Status[name]) == name
    assert f"{Status[name]}" == name
    assert repr(Status[name]) == f"Status.{name}"


def test_str_ok() -> None:
    assert str(Status.OK) == "OK"


@pytest.mark.parametrize(("name", "value"), EXPECTED)
def test_temporary_exactly_for_the_retried_statuses(name: str, value: int) -> None:
    assert Status[name].temporary is (name in TEMPORARY)


def test_temporary_set() -> None:
    assert {s.name for s in Status if s.temporary} == TEMPORARY


def test_out_of_range_values_are_rejected() -> None:
    with pytest.raises(ValueError):
        Status(16)
    with pytest.raises(ValueError):
        Status(-1)
