"""Careless input gets an error where it is written: the test decorators and Simulation check
their options when they are created, naming the bad value and the valid ones."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import registry
import registry.test
import sim
from sim import FaultProfile, Simulation
from sim.lowlevel import simulation_test

BAD = [
    ({"sed": 1}, TypeError, "unknown option 'sed'; did you mean 'seed'?"),
    ({"drian": False}, TypeError, "unknown option 'drian'; did you mean 'drain'?"),
    ({"faults": "hevy"}, ValueError, "unknown fault profile 'hevy'; known profiles: none, light, heavy, swarm"),
    ({"retry": "fast"}, TypeError, "retry must be a sim.RetryPolicy (or None), got 'fast' (str)"),
    ({"rng": "x"}, TypeError, "rng must be a random.Random (or None), got 'x' (str)"),
    ({"max_events": True}, TypeError, "max_events must be a positive int, got True (bool)"),
    ({"max_virtual_time": "10"}, TypeError, "max_virtual_time must be a number of seconds, got '10' (str)"),
    ({"max_live_calls": 0}, ValueError, "max_live_calls must be a positive int, got 0"),
    ({"deterministic_environment": "yes"}, TypeError, "deterministic_environment must be True or False"),
]


@pytest.mark.parametrize(("options", "error", "message"), BAD, ids=[next(iter(o)) for o, _, _ in BAD])
@pytest.mark.parametrize("entry", ["function", "method", "Simulation"])
def test_bad_options_fail_where_they_are_written(
    entry: str, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        if entry == "Simulation":
            Simulation(**options)
        else:
            getattr(registry.test, entry)(**options)  # the decorator itself, before any test runs
    assert str(caught.value) == message or str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("seeds", "error", "message"),
    [
        (5, TypeError, "seeds=5 is an int: give an iterable such as range(5)"),
        (itertools.count(), TypeError, "seeds must have a length (a range, list or tuple), got count"),
        ((s for s in range(3)), TypeError, "seeds must have a length"),
        (range(10**9), ValueError, "seeds has 1000000000 seeds; at most 1000000 are allowed"),
        ("123", TypeError, "seeds must be an iterable of ints such as range(5)"),
        ([1, "2"], TypeError, "seeds must be ints, got '2' (str)"),
        ([], ValueError, "seeds= is empty"),
    ],
)
def test_bad_seeds_fail_where_they_are_written(seeds: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        registry.test.function(seeds=seeds)


def test_a_bad_seed_fails_at_the_decorator() -> None:
    with pytest.raises(TypeError, match="seed must be an int, got '1' "):
        registry.test.function(seed="1")


def test_fault_profile_fields_are_typed() -> None:
    with pytest.raises(TypeError, match="FaultProfile.swarm must be True or False, got 'no'"):
        FaultProfile(swarm="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="FaultProfile.name must be a str"):
        FaultProfile(name=3)  # type: ignore[arg-type]


def test_faults_none_means_no_faults_at_every_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCH_SIM_FAULTS", "heavy")  # the default, when none is named
    seen: list[str] = []

    async def profile() -> None:
        seen.append(sim.current().faults.name)

    @registry.test.function(faults=None)
    async def explicit_none() -> None:
        await profile()

    @registry.test.function
    async def unnamed() -> None:
        await profile()

    explicit_none()
    unnamed()
    registry.test.run(profile, faults=None)
    registry.test.run(profile)
    Simulation(faults=None).run(profile)
    assert seen == ["none", "heavy", "none", "heavy", "none"]
    assert simulation_test(explicit_none).faults == "none"  # type: ignore[union-attr]
    assert simulation_test(unnamed).faults is None  # type: ignore[union-attr]


def test_good_options_still_pass() -> None:
    @registry.test.function(seeds=range(2), faults="none", max_events=10_000, max_live_calls=100, drain=True)
    async def fine() -> None:
        pass

    fine()
