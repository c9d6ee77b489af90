"""The Dispatch SDK's distributed merge sort, as a durable recursive fan-out."""

from __future__ import annotations

import itertools
import random

import pytest

import registry
import sim

_names = itertools.count()


@pytest.fixture
def sort():
    reg = registry.Registry(f"compat-merge-sort-{next(_names)}")

    @reg.function
    async def sort(values):
        if len(values) <= 1:
            return values
        middle = len(values) // 2
        left, right = await registry.gather(sort(values[:middle]), sort(values[middle:]))
        return merge(left, right)

    try:
        yield sort
    finally:
        reg.close()


def merge(left, right):
    out = []
    i = j = 0
    while i < len(left) and j < len(right):
        if left[i] <= right[j]:
            out.append(left[i])
            i += 1
        else:
            out.append(right[j])
            j += 1
    out.extend(left[i:])
    out.extend(right[j:])
    return out


def values_of(n, seed=0):
    rng = random.Random(seed)
    # big and negative ints too: they must stay exact ints
    return [rng.choice([rng.randint(-1000, 1000), rng.randint(-(2**80), 2**80)]) for _ in range(n)]


def sort_in_simulation(sort, values, faults="none", seed=0):
    simulation = sim.Simulation(seed=seed, faults=faults)
    return simulation.run(lambda: sort(values)), simulation


@pytest.mark.parametrize("n", [0, 1, 2, 10, 256])
def test_merge_sort_sorts_exactly(sort, n):
    values = values_of(n)
    result, s = sort_in_simulation(sort, values)
    assert result == sorted(values)
    assert all(type(v) is int for v in result)
    assert type(result) is list
    # one call per node of the recursion tree: 2n - 1 for n >= 1
    calls = [e for e in s.trace if e.kind == "dispatch"]
    assert len(calls) == max(1, 2 * n - 1)


def test_merge_sort_of_equal_and_duplicate_values(sort):
    values = [3, 1, 3, 1, 2, 2, 0, 0, 3]
    result, _ = sort_in_simulation(sort, values)
    assert result == [0, 0, 1, 1, 2, 2, 3, 3, 3]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("n", [10, 256])
def test_merge_sort_under_heavy_faults(sort, n, seed):
    values = values_of(n, seed)
    result, s = sort_in_simulation(sort, values, faults="heavy", seed=seed)
    assert result == sorted(values)
    assert all(type(v) is int for v in result)
    kinds = {e.detail for e in s.trace if e.kind == "fault"}
    if n == 256:
        # the run really was faulty: crashes and lost responses happened
        assert {"crash", "response_lost", "endpoint_error"} <= kinds


def test_merge_sort_under_crash_before_every_resume(sort):
    values = values_of(64, 7)
    result, _ = sort_in_simulation(sort, values, faults=sim.FaultProfile(crash=1.0))
    assert result == sorted(values)


@pytest.mark.parametrize("seed", range(6))
def test_merge_sort_under_swarm_faults(sort, seed):
    values = values_of(64, seed)
    result, _ = sort_in_simulation(sort, values, faults="swarm", seed=seed)
    assert result == sorted(values)
    assert all(type(v) is int for v in result)
