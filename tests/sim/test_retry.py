"""Tests for sim._retry.RetryPolicy: defaults, backoff and validation."""

from __future__ import annotations

import math

import attrs
import pytest

from sim import RetryPolicy


def test_defaults() -> None:
    p = RetryPolicy()
    assert p.max_attempts == 20
    assert p.initial_backoff == 0.1
    assert p.multiplier == 2.0
    assert p.max_backoff == 60.0
    assert p.jitter == 0.5
    assert p.max_duration == 3600.0


def test_frozen_and_equal() -> None:
    p = RetryPolicy()
    assert p == RetryPolicy()
    assert p != RetryPolicy(max_attempts=3)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.max_attempts = 3  # type: ignore[misc]


def test_first_backoff_is_initial() -> None:
    assert RetryPolicy().backoff(1, 0) == 0.1
    assert RetryPolicy(initial_backoff=0.7).backoff(1, 0.0) == 0.7


def test_backoff_doubles() -> None:
    p = RetryPolicy(initial_backoff=1.0, jitter=0.0)
    assert [p.backoff(n, 0.0) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]


def test_backoff_default_sequence() -> None:
    p = RetryPolicy()
    expected = [0.1 * 2.0 ** (n - 1) for n in range(1, 10)]
    assert [p.backoff(n, 0.0) for n in range(1, 10)] == pytest.approx(expected)


def test_backoff_custom_multiplier() -> None:
    p = RetryPolicy(initial_backoff=1.0, multiplier=3.0)
    assert [p.backoff(n, 0.0) for n in range(1, 5)] == [1.0, 3.0, 9.0, 27.0]


def test_backoff_is_capped() -> None:
    p = RetryPolicy()
    # 0.1 * 2**9 = 51.2, 0.1 * 2**10 = 102.4 -> capped at 60
    assert p.backoff(10, 0.0) == pytest.approx(51.2)
    assert p.backoff(11, 0.0) == 60.0
    assert p.backoff(20, 0.0) == 60.0
    assert RetryPolicy(initial_backoff=1.0, max_backoff=5.0).backoff(4, 0.0) == 5.0


def test_backoff_initial_above_cap_is_capped() -> None:
    assert RetryPolicy(initial_backoff=10.0, max_backoff=2.0).backoff(1, 0.0) == 2.0


def test_jitter_adds_up_to_jitter_times_base() -> None:
    p = RetryPolicy(initial_backoff=1.0, jitter=0.5)
    assert p.backoff(1, 0.0) == 1.0
    assert p.backoff(1, 0.5) == pytest.approx(1.25)
    assert p.backoff(1, 1.0) == pytest.approx(1.5)
    assert p.backoff(3, 1.0) == pytest.approx(4.0 * 1.5)


def test_jitter_applies_to_capped_base() -> None:
    p = RetryPolicy(jitter=0.5)
    assert p.backoff(30, 1.0) == pytest.approx(90.0)
    assert p.backoff(30, 0.2) == pytest.approx(66.0)


def test_zero_jitter_ignores_fraction() -> None:
    p = RetryPolicy(initial_backoff=2.0, jitter=0.0)
    assert p.backoff(1, 0.999) == 2.0


def test_full_jitter_doubles_at_most() -> None:
    p = RetryPolicy(initial_backoff=2.0, jitter=1.0)
    assert p.backoff(1, 0.999) == pytest.approx(2.0 * 1.999)


def test_backoff_monotonic_in_failures_and_fraction() -> None:
    p = RetryPolicy()
    values = [p.backoff(n, 0.3) for n in range(1, 25)]
    assert values == sorted(values)
    fractions = [p.backoff(4, f / 10) for f in range(10)]
    assert fractions == sorted(fractions)


def test_backoff_many_failures_stays_capped() -> None:
    # Regression: multiplier ** (failures - 1) overflowed before the cap applied.
    assert RetryPolicy().backoff(1100, 0.0) == 60.0
    assert RetryPolicy(multiplier=10.0).backoff(400, 0.0) == 60.0
    assert RetryPolicy(multiplier=10.0).backoff(400, 1.0) == pytest.approx(90.0)
    assert RetryPolicy(multiplier=0.5).backoff(5000, 0.0) == 0.0


# -- validation ------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, 1.5, "3", None])
def test_bad_max_attempts(value: object) -> None:
    with pytest.raises(ValueError) as info:
        RetryPolicy(max_attempts=value)  # type: ignore[arg-type]
    assert str(info.value) == f"RetryPolicy.max_attempts must be an int >= 1, got {value!r}"


def test_max_attempts_one_is_fine() -> None:
    assert RetryPolicy(max_attempts=1).max_attempts == 1


@pytest.mark.parametrize("name", ["initial_backoff", "multiplier", "max_backoff", "max_duration"])
@pytest.mark.parametrize("value", [0, 0.0, -0.5, -3, math.nan])
def test_non_positive_durations(name: str, value: float) -> None:
    with pytest.raises(ValueError) as info:
        RetryPolicy(**{name: value})
    assert str(info.value) == f"RetryPolicy.{name} must be > 0, got {value!r}"


def test_bad_initial_backoff_exact_message() -> None:
    with pytest.raises(ValueError, match=r"^RetryPolicy\.initial_backoff must be > 0, got -1\.0$"):
        RetryPolicy(initial_backoff=-1.0)


@pytest.mark.parametrize("value", [-0.1, 1.01, 2, -1, math.nan])
def test_bad_jitter(value: float) -> None:
    with pytest.raises(ValueError) as info:
        RetryPolicy(jitter=value)
    assert str(info.value) == f"RetryPolicy.jitter must be within [0, 1], got {value!r}"


@pytest.mark.parametrize("value", [0, 0.0, 1, 1.0, 0.25])
def test_jitter_bounds_inclusive(value: float) -> None:
    assert RetryPolicy(jitter=value).jitter == value


def test_retry_delay_answers_the_whole_question() -> None:
    from sim import Status

    policy = RetryPolicy(max_attempts=3, initial_backoff=1.0, multiplier=2.0, jitter=0.5, max_duration=10.0)
    draws: list[float] = []

    def jitter() -> float:
        draws.append(0.5)
        return 0.5

    assert policy.retry_delay(Status.PERMANENT_ERROR, 1, 0.0, 0.0, jitter) is None
    assert draws == []  # no decision drawn for a status that is not retried
    assert policy.retry_delay(Status.TIMEOUT, 1, 0.0, 0.0, jitter) == 1.25
    assert policy.retry_delay(Status.TIMEOUT, 2, 0.0, 0.0, jitter) == 2.5
    assert policy.retry_delay(Status.TIMEOUT, 3, 0.0, 0.0, jitter) is None  # out of attempts
    assert len(draws) == 2
    assert policy.retry_delay(Status.THROTTLED, 1, 0.0, 8.75, jitter) == 1.25  # ends at 10.0: allowed
    assert policy.retry_delay(Status.THROTTLED, 1, 0.0, 9.0, jitter) is None  # past max_duration
