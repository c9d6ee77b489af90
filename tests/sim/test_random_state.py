"""The `random` module's state is saved before a run and put back after it exactly, by the
byte copy where CPython's layout allows it and by getstate/setstate elsewhere."""

from __future__ import annotations

import random
import sys
import threading
from random import randint  # bound before any run: a method of the module's generator

import pytest

import sim
from sim import _random_state


@pytest.fixture(params=["byte copy", "getstate"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "getstate":
        monkeypatch.setattr(_random_state, "save", random.getstate)
        monkeypatch.setattr(_random_state, "restore", random.setstate)
    elif not _random_state.BYTE_COPY:
        pytest.skip("no byte copy on this interpreter")
    return str(request.param)


def test_cpython_takes_the_byte_copy() -> None:
    # Where this fails, the interpreter's layout of random.Random changed: runs are
    # still exact (getstate/setstate), but each pays ~15 µs more.
    if sys.implementation.name == "cpython":
        assert _random_state.BYTE_COPY


def test_save_and_restore_give_back_the_exact_state(way: str) -> None:
    random.seed("before")
    random.gauss(0.0, 1.0)  # a gauss_next is part of the state
    [random.random() for _ in range(300)]  # mid-block
    state = random.getstate()
    saved = _random_state.save()
    random.seed("elsewhere")
    [random.random() for _ in range(2000)]  # the block regenerated, more than once
    random.gauss(0.0, 1.0)
    _random_state.restore(saved)
    assert random.getstate() == state
    expected = [random.random() for _ in range(1000)]
    _random_state.restore(saved)  # a saved state can be put back again
    assert [random.random() for _ in range(1000)] == expected


def test_a_run_seeds_the_module_and_puts_its_state_back(way: str) -> None:
    async def draw() -> tuple[list[int], float]:
        drawn = [randint(0, 1_000_000) for _ in range(1500)]
        return drawn, random.gauss(0.0, 1.0)

    random.seed(12345)
    random.gauss(0.0, 1.0)
    state = random.getstate()
    first = sim.Simulation(seed=4, faults="none").run(draw())
    assert random.getstate() == state
    second = sim.Simulation(seed=4, faults="none").run(draw())
    assert random.getstate() == state
    assert first == second  # seeded by the run's seed, names bound before the run included
    assert first != sim.Simulation(seed=5, faults="none").run(draw())
    random.seed("dispatch-sim:4:user")
    assert first == ([randint(0, 1_000_000) for _ in range(1500)], random.gauss(0.0, 1.0))


def test_runs_in_threads_each_put_the_state_back(way: str) -> None:
    async def draw() -> float:
        return random.random()

    random.seed(7)
    state = random.getstate()
    results: list[float] = []

    def worker(seed: int) -> None:
        results.append(sim.Simulation(seed=seed, faults="none").run(draw()))

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert random.getstate() == state
    assert sorted(results) == sorted(sim.Simulation(seed=s, faults="none").run(draw()) for s in range(4))


def test_no_byte_copy_without_the_gil_or_off_cpython(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    assert _random_state._byte_copier() is None
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: True, raising=False)
    monkeypatch.setattr(sys, "implementation", type("Other", (), {"name": "pypy"})())
    assert _random_state._byte_copier() is None
