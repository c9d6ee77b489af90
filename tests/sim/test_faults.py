"""Tests for sim._faults.FaultProfile: presets, coercion, validation."""

from __future__ import annotations

import math

import attrs
import pytest

from sim import PROFILES, FaultProfile
from sim._faults import FAULT_KINDS

RATES = ["endpoint_error", "response_lost", "crash", "reorder"]


def test_default_profile_injects_nothing() -> None:
    p = FaultProfile()
    assert p.name == "custom"
    assert (p.endpoint_error, p.response_lost, p.crash, p.max_latency, p.reorder) == (0, 0, 0, 0, 0)
    assert p.swarm is False
    assert p.is_none is True


def test_preset_names() -> None:
    assert list(PROFILES) == ["none", "light", "heavy", "swarm"]
    for name, profile in PROFILES.items():
        assert profile.name == name


def test_none_preset() -> None:
    p = FaultProfile.named("none")
    assert p == FaultProfile("none")
    assert p.is_none is True
    assert p.swarm is False


def test_light_preset() -> None:
    p = FaultProfile.named("light")
    assert (p.endpoint_error, p.response_lost, p.crash, p.max_latency, p.reorder) == (
        0.02,
        0.01,
        0.02,
        0.05,
        0.1,
    )
    assert p.swarm is False
    assert p.is_none is False


def test_heavy_preset() -> None:
    p = FaultProfile.named("heavy")
    assert (p.endpoint_error, p.response_lost, p.crash, p.max_latency, p.reorder) == (
        0.15,
        0.1,
        0.15,
        0.5,
        0.5,
    )
    assert p.swarm is False
    assert p.is_none is False


def test_swarm_preset() -> None:
    p = FaultProfile.named("swarm")
    assert (p.endpoint_error, p.response_lost, p.crash, p.max_latency, p.reorder) == (
        0.3,
        0.2,
        0.3,
        1.0,
        0.8,
    )
    assert p.swarm is True
    assert p.is_none is False


def test_heavier_presets_have_higher_rates() -> None:
    light, heavy = PROFILES["light"], PROFILES["heavy"]
    for name in [*RATES, "max_latency"]:
        assert getattr(light, name) < getattr(heavy, name)


def test_named_returns_the_preset_object() -> None:
    assert FaultProfile.named("light") is PROFILES["light"]


@pytest.mark.parametrize("name", ["medium", "", "None", "LIGHT", " light"])
def test_named_unknown(name: str) -> None:
    with pytest.raises(ValueError) as info:
        FaultProfile.named(name)
    assert str(info.value) == (
        f"unknown fault profile {name!r}; known profiles: none, light, heavy, swarm"
    )


def test_named_unknown_error_has_no_keyerror_context() -> None:
    with pytest.raises(ValueError) as info:
        FaultProfile.named("nope")
    assert info.value.__suppress_context__ is True
    assert info.value.__cause__ is None


def test_coerce_none_means_none_profile() -> None:
    assert FaultProfile.coerce(None) is PROFILES["none"]


@pytest.mark.parametrize("name", list(PROFILES))
def test_coerce_name(name: str) -> None:
    assert FaultProfile.coerce(name) is PROFILES[name]


def test_coerce_profile_is_returned_as_is() -> None:
    p = FaultProfile("mine", crash=0.5)
    assert FaultProfile.coerce(p) is p


def test_coerce_unknown_name() -> None:
    with pytest.raises(ValueError, match=r"^unknown fault profile 'bogus'; known profiles: "):
        FaultProfile.coerce("bogus")


@pytest.mark.parametrize("bad", [1, 0.5, b"light", ["light"], {"name": "x"}])
def test_coerce_bad_type(bad: object) -> None:
    with pytest.raises(TypeError) as info:
        FaultProfile.coerce(bad)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"faults must be a profile name or a FaultProfile, not {type(bad).__qualname__}"
    )


@pytest.mark.parametrize("name", [*RATES, "max_latency"])
def test_is_none_false_when_any_kind_is_on(name: str) -> None:
    assert FaultProfile(**{name: 0.01}).is_none is False


def test_is_none_ignores_swarm_flag_and_name() -> None:
    assert FaultProfile("x", swarm=True).is_none is True


def test_frozen() -> None:
    p = FaultProfile()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.crash = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("name", RATES)
@pytest.mark.parametrize("value", [0, 0.0, 0.5, 1, 1.0])
def test_rates_in_range_accepted(name: str, value: float) -> None:
    assert getattr(FaultProfile(**{name: value}), name) == value


@pytest.mark.parametrize("name", RATES)
@pytest.mark.parametrize("value", [-0.01, 1.01, 2, -1, math.nan, math.inf, "0.5", None])
def test_rates_out_of_range_rejected(name: str, value: object) -> None:
    with pytest.raises(ValueError) as info:
        FaultProfile(**{name: value})
    assert str(info.value) == f"FaultProfile.{name} must be within [0, 1], got {value!r}"


@pytest.mark.parametrize("value", [0, 0.0, 0.5, 3, 100.0])
def test_latency_accepted(value: float) -> None:
    assert FaultProfile(max_latency=value).max_latency == value


@pytest.mark.parametrize("value", [-0.001, -1, math.nan, math.inf, "1", None, True])
def test_latency_rejected(value: object) -> None:
    with pytest.raises(ValueError) as info:
        FaultProfile(max_latency=value)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"FaultProfile.max_latency must be a finite number of seconds >= 0, got {value!r}"
    )


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_swarm_keeps_a_kind_that_is_the_only_one_on(kind: str) -> None:
    # Decisions._swarm reads the kinds from FaultProfile's fields: none is dropped.
    import random

    from sim._decisions import Decisions

    profile = FaultProfile(swarm=True, **{kind: 1.0})
    chosen = [Decisions(profile, random.Random(seed)).profile for seed in range(20)]
    assert any(getattr(p, kind) > 0 for p in chosen), f"swarm never turns {kind} on"
    assert all(getattr(p, k) == 0 for p in chosen for k in FAULT_KINDS if k != kind)
