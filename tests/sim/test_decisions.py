"""Tests for sim._decisions.Decisions: benign shrinking, rates, swarm, recording."""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest

from sim import FaultProfile, Status
from sim._decisions import ENDPOINT_FAULT_STATUSES, Decisions


class Fixed(random.Random):
    """A Random whose random() always returns one value."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


class Scripted(random.Random):
    """A Random whose random() returns the given values in order."""

    def __init__(self, values: Iterable[float]) -> None:
        super().__init__(0)
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


ALL = FaultProfile(
    "all", endpoint_error=1.0, response_lost=1.0, crash=1.0, max_latency=2.0, reorder=1.0
)
HALF = FaultProfile(
    "half", endpoint_error=0.5, response_lost=0.5, crash=0.5, max_latency=2.0, reorder=0.5
)


def test_endpoint_fault_statuses() -> None:
    assert ENDPOINT_FAULT_STATUSES == (
        Status.TIMEOUT,
        Status.THROTTLED,
        Status.HTTP_ERROR,
        Status.TCP_ERROR,
        Status.DNS_ERROR,
        Status.TLS_ERROR,
    )
    assert all(s.temporary for s in ENDPOINT_FAULT_STATUSES)


def test_profile_kept_when_not_swarm() -> None:
    d = Decisions(HALF, random.Random(1))
    assert d.profile is HALF
    assert d.requested is HALF
    assert d.record == []


# -- "none" profile: no draws except jitter ----------------------------------------


def test_none_profile_draws_nothing() -> None:
    d = Decisions(FaultProfile.named("none"), random.Random(0))
    for _ in range(5):
        assert d.endpoint_fault() is None
        assert d.response_lost() is False
        assert d.crash() is False
        assert d.latency() == 0.0
        assert d.reorder(5) is None
    assert d.record == []


def test_jitter_always_draws() -> None:
    d = Decisions(FaultProfile.named("none"), Fixed(0.25))
    assert d.jitter() == 0.25
    assert d.jitter() == 0.25
    assert d.record == [0.25, 0.25]


def test_jitter_in_unit_interval() -> None:
    d = Decisions(FaultProfile.named("none"), random.Random(3))
    values = [d.jitter() for _ in range(200)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert values == d.record


# -- rate 1.0: always a fault ---------------------------------------------------


@pytest.mark.parametrize("u", [0.0, 0.3, 0.999999])
def test_rate_one_is_always_a_fault(u: float) -> None:
    d = Decisions(ALL, Fixed(u))
    assert d.endpoint_fault() is not None
    assert d.response_lost() is True
    assert d.crash() is True
    assert d.reorder(3) is not None


def test_rate_one_with_real_random() -> None:
    d = Decisions(ALL, random.Random(11))
    for _ in range(100):
        assert d.endpoint_fault() in ENDPOINT_FAULT_STATUSES
        assert d.response_lost() is True
        assert d.crash() is True


# -- shrinking: small draws are benign -------------------------------------------


def test_zero_draw_is_benign() -> None:
    d = Decisions(HALF, Fixed(0.0))
    assert d.endpoint_fault() is None
    assert d.response_lost() is False
    assert d.crash() is False
    assert d.latency() == 0.0
    assert d.reorder(4) is None
    assert d.jitter() == 0.0
    # endpoint_fault, response_lost, crash, latency, reorder's chance, jitter
    assert d.record == [0.0] * 6


def test_high_draw_is_a_fault_at_half_rate() -> None:
    d = Decisions(HALF, Fixed(0.999))
    assert d.endpoint_fault() is ENDPOINT_FAULT_STATUSES[-1]
    assert d.response_lost() is True
    assert d.crash() is True
    assert d.latency() == pytest.approx(2.0 * 0.999)
    assert d.reorder(4) == (3, 4)


def test_threshold_is_one_minus_rate() -> None:
    p = FaultProfile(crash=0.5)
    assert Decisions(p, Fixed(0.4999)).crash() is False
    assert Decisions(p, Fixed(0.5)).crash() is True


def test_zero_rate_with_high_draw_is_no_fault_and_no_draw() -> None:
    d = Decisions(FaultProfile(crash=0.5), Fixed(0.999))
    assert d.response_lost() is False
    assert d.endpoint_fault() is None
    assert d.record == []


def test_endpoint_fault_first_kind_for_small_second_draw() -> None:
    d = Decisions(ALL, Scripted([0.9, 0.0]))
    assert d.endpoint_fault() is Status.TIMEOUT
    assert d.record == [0.9, 0.0]


@pytest.mark.parametrize("index", range(len(ENDPOINT_FAULT_STATUSES)))
def test_endpoint_fault_picks_each_status(index: int) -> None:
    n = len(ENDPOINT_FAULT_STATUSES)
    d = Decisions(ALL, Scripted([0.5, (index + 0.5) / n]))
    assert d.endpoint_fault() is ENDPOINT_FAULT_STATUSES[index]


def test_endpoint_fault_with_real_random_covers_all_statuses() -> None:
    d = Decisions(ALL, random.Random(5))
    seen = {d.endpoint_fault() for _ in range(500)}
    assert seen == set(ENDPOINT_FAULT_STATUSES)


def test_rates_roughly_respected() -> None:
    d = Decisions(FaultProfile(crash=0.2), random.Random(42))
    hits = sum(d.crash() for _ in range(5000))
    assert 850 < hits < 1150


# -- latency ------------------------------------------------------------------------


def test_latency_bounds() -> None:
    d = Decisions(FaultProfile(max_latency=0.5), random.Random(9))
    values = [d.latency() for _ in range(500)]
    assert all(0.0 <= v < 0.5 for v in values)
    assert values == [0.5 * u for u in d.record]


def test_latency_scales_draw() -> None:
    assert Decisions(FaultProfile(max_latency=4.0), Fixed(0.25)).latency() == 1.0


# -- reorder ---------------------------------------------------------------------------


@pytest.mark.parametrize("ready", [0, 1])
def test_reorder_needs_two_ready(ready: int) -> None:
    d = Decisions(ALL, Fixed(0.9))
    assert d.reorder(ready) is None
    assert d.record == []


def test_reorder_draws() -> None:
    d = Decisions(ALL, Scripted([0.5, 0.4, 0.0]))
    assert d.reorder(5) == (2, 1)
    assert d.record == [0.5, 0.4, 0.0]


def test_reorder_not_chosen_draws_once() -> None:
    d = Decisions(HALF, Fixed(0.1))
    assert d.reorder(5) is None
    assert d.record == [0.1]


@pytest.mark.parametrize("ready", [2, 3, 7, 50])
def test_reorder_within_bounds(ready: int) -> None:
    d = Decisions(ALL, random.Random(ready))
    for _ in range(300):
        result = d.reorder(ready)
        assert result is not None
        start, size = result
        assert 0 <= start < ready
        assert 1 <= size <= ready


@pytest.mark.parametrize("ready", [2, 3, 10])
def test_reorder_extremes(ready: int) -> None:
    assert Decisions(ALL, Scripted([0.0, 0.0, 0.0])).reorder(ready) == (0, 1)
    assert Decisions(ALL, Fixed(0.9999999)).reorder(ready) == (ready - 1, ready)


# -- swarm --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(30))
def test_swarm_resolves_to_concrete_profile(seed: int) -> None:
    preset = FaultProfile.named("swarm")
    d = Decisions(preset, random.Random(seed))
    p = d.profile
    assert d.requested is preset
    assert p.name == "swarm*"
    assert p.swarm is False
    for name in ["endpoint_error", "response_lost", "crash", "max_latency", "reorder"]:
        assert 0.0 <= getattr(p, name) <= getattr(preset, name)
    # one chance draw per kind, plus a rate draw for each kind turned on
    on = sum(
        1
        for name in ["endpoint_error", "response_lost", "crash", "max_latency", "reorder"]
        if getattr(p, name) > 0
    )
    assert 5 + on <= len(d.record) <= 10


def test_swarm_zero_draws_turn_everything_off() -> None:
    d = Decisions(FaultProfile.named("swarm"), Fixed(0.0))
    assert d.profile == FaultProfile("swarm*")
    assert d.profile.is_none
    assert d.record == [0.0] * 5


def test_swarm_high_draws_turn_everything_on() -> None:
    d = Decisions(FaultProfile.named("swarm"), Fixed(0.5))
    assert d.profile == FaultProfile(
        "swarm*", endpoint_error=0.15, response_lost=0.1, crash=0.15, max_latency=0.5, reorder=0.4
    )
    assert d.record == [0.5] * 10


def test_swarm_scripted_subset() -> None:
    # endpoint_error on at 0.5 of 0.3; response_lost off; crash on at 0.1 of 0.3;
    # max_latency off; reorder on at 1/4 of 0.8.
    rng = Scripted([0.7, 0.5, 0.2, 0.6, 0.1, 0.4, 0.9, 0.25])
    d = Decisions(FaultProfile.named("swarm"), rng)
    p = d.profile
    assert p.endpoint_error == pytest.approx(0.15)
    assert p.response_lost == 0.0
    assert p.crash == pytest.approx(0.03)
    assert p.max_latency == 0.0
    assert p.reorder == pytest.approx(0.2)
    assert d.record == [0.7, 0.5, 0.2, 0.6, 0.1, 0.4, 0.9, 0.25]


def test_custom_swarm_name() -> None:
    d = Decisions(FaultProfile("mine", crash=1.0, swarm=True), Fixed(0.5))
    assert d.profile.name == "mine*"
    assert d.profile.crash == 0.5


# -- record and determinism -------------------------------------------------------------


def test_record_lists_every_draw_in_order() -> None:
    values = [0.9, 0.3, 0.2, 0.8, 0.6, 0.7, 0.1, 0.95, 0.5, 0.25]
    d = Decisions(HALF, Scripted(values))
    assert d.endpoint_fault() is ENDPOINT_FAULT_STATUSES[1]  # 0.9 -> fault, 0.3 -> index 1
    assert d.response_lost() is False  # 0.2
    assert d.crash() is True  # 0.8
    assert d.latency() == pytest.approx(1.2)  # 0.6 * 2
    assert d.jitter() == 0.7
    assert d.reorder(4) is None  # 0.1
    assert d.reorder(4) == (2, 2)  # 0.95, 0.5 -> start 2, 0.25 -> size 2
    assert d.record == values


def _run(seed: int, profile: FaultProfile) -> tuple[list[object], list[float]]:
    d = Decisions(profile, random.Random(seed))
    results: list[object] = []
    for _ in range(50):
        results += [
            d.endpoint_fault(),
            d.response_lost(),
            d.crash(),
            d.latency(),
            d.jitter(),
            d.reorder(4),
        ]
    return results, d.record


@pytest.mark.parametrize("profile", ["light", "heavy", "swarm"])
def test_same_seed_same_record(profile: str) -> None:
    p = FaultProfile.named(profile)
    a = _run(7, p)
    b = _run(7, p)
    assert a == b
    assert len(a[1]) > 0


def test_different_seeds_differ() -> None:
    p = FaultProfile.named("heavy")
    assert _run(1, p)[1] != _run(2, p)[1]


def test_record_replays_the_same_decisions() -> None:
    p = FaultProfile.named("swarm")
    results, record = _run(3, p)
    replayed, record2 = _run_scripted(record, p)
    assert replayed == results
    assert record2 == record


def _run_scripted(values: list[float], profile: FaultProfile) -> tuple[list[object], list[float]]:
    d = Decisions(profile, Scripted(values))
    results: list[object] = []
    for _ in range(50):
        results += [
            d.endpoint_fault(),
            d.response_lost(),
            d.crash(),
            d.latency(),
            d.jitter(),
            d.reorder(4),
        ]
    return results, d.record


def test_infinite_max_latency_rejected_or_finite() -> None:
    import math

    try:
        p = FaultProfile(max_latency=math.inf)
    except ValueError as exc:
        assert "max_latency" in str(exc)
        return
    assert Decisions(p, Fixed(0.0)).latency() == 0.0
    assert math.isfinite(Decisions(p, Fixed(0.5)).latency())


@pytest.mark.parametrize("profile", ["light", "swarm"])
def test_a_seed_text_draws_what_its_random_would(profile: str) -> None:
    # A Simulation hands its seed text; the Random is made on the first draw, the draws the same.
    p = FaultProfile.named(profile)
    eager = Decisions(p, random.Random("dispatch-sim:7:decisions"))
    lazy = Decisions(p, "dispatch-sim:7:decisions")
    for d in (eager, lazy):
        for _ in range(30):
            d.endpoint_fault(), d.latency(), d.jitter(), d.reorder(3)
    assert lazy.record == eager.record


def test_a_seed_text_is_seeded_only_on_the_first_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[object] = []
    real = random.Random

    class Counting(real):  # type: ignore[valid-type, misc]
        def __init__(self, x: object = None) -> None:
            made.append(x)
            super().__init__(x)

    monkeypatch.setattr(random, "Random", Counting)
    d = Decisions(FaultProfile.named("none"), "dispatch-sim:3:decisions")
    assert (d.endpoint_fault(), d.latency(), d.crash()) == (None, 0.0, False)
    assert made == []  # a run without faults never seeds a generator
    first, second = d.jitter(), d.jitter()
    assert made == ["dispatch-sim:3:decisions"]
    expected = real("dispatch-sim:3:decisions")
    assert [first, second] == d.record == [expected.random(), expected.random()]
    assert len(made) == 1  # one generator, drawn from ever after


def test_a_seed_text_makes_no_reference_cycle() -> None:
    # A finished simulation is freed by reference counting alone, drawn from or not.
    import gc
    import weakref

    d = Decisions(FaultProfile.named("none"), "dispatch-sim:1:decisions")
    gc.collect()
    gc.disable()
    try:
        gone = weakref.ref(d)
        del d
        assert gone() is None
        drawn = Decisions(FaultProfile.named("none"), "dispatch-sim:1:decisions")
        drawn.jitter()
        gone = weakref.ref(drawn)
        del drawn
        assert gone() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("name", ["none", "light", "heavy", "swarm"])
@pytest.mark.parametrize("seed", range(8))
def test_the_plain_source_decides_as_the_base_class(name: str, seed: int) -> None:
    # decisions_for hands plain profiles a class with the draws written out:
    # the same questions must get the same answers from the same draws.
    from sim._decisions import _PlainDecisions, decisions_for

    profile = FaultProfile.named(name)
    plain = decisions_for(profile, random.Random(seed))
    assert type(plain) is _PlainDecisions
    base = Decisions(profile, random.Random(seed))
    asks = random.Random(seed + 100)
    for _ in range(400):
        question = asks.choice(["endpoint_fault", "response_lost", "crash", "latency", "jitter", "reorder"])
        if question == "reorder":
            ready = asks.randrange(6)
            assert plain.reorder(ready) == base.reorder(ready)
        else:
            assert getattr(plain, question)() == getattr(base, question)()
    assert plain.record == base.record
    assert plain.profile == base.profile


def test_the_plain_source_decides_as_the_base_class_at_the_edges() -> None:
    from sim._decisions import _PlainDecisions

    for rate in (0.0, 0.02, 0.5, 1.0):
        profile = FaultProfile(
            "edge", endpoint_error=rate, response_lost=rate, crash=rate, max_latency=2.0 * rate
        )
        for u in (0.0, 0.4999, 0.5, 0.98, 0.9999999):
            plain, base = _PlainDecisions(profile, Fixed(u)), Decisions(profile, Fixed(u))
            for question in ("endpoint_fault", "response_lost", "crash", "latency", "jitter"):
                assert getattr(plain, question)() == getattr(base, question)()
            assert plain.record == base.record
