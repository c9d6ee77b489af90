"""Under sim.hypothesis.simulations(), trio's task order is drawn by Hypothesis too.

Every drawn simulation has the same seed, so before, its trio order was the
same in every example: an ordering bug that seed misses was out of reach.
Now each batch of runnable tasks is a drawn permutation: Hypothesis finds
the bug, and the example it reports fails again when replayed.
"""

from __future__ import annotations

import trio
from hypothesis import HealthCheck, given, settings

import sim
from sim.hypothesis import simulations


async def two_tasks() -> None:
    order: list[str] = []

    async def task(name: str) -> None:
        for _ in range(3):
            await trio.sleep(0)
            order.append(name)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(task, "a")
        nursery.start_soon(task, "b")
    assert order != ["b", "a"] * 3, f"b ran first in every step: {order}"


def test_the_seed_alone_misses_the_ordering_bug() -> None:
    sim.Simulation(seed=sim.DEFAULT_SEED, faults="none").run(two_tasks)


def test_hypothesis_draws_the_task_order_and_finds_the_bug() -> None:
    examples: list[sim.Simulation] = []

    @settings(max_examples=200, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(s=simulations(faults="none"))
    def test(s: sim.Simulation) -> None:
        examples.append(s)
        s.run(two_tasks)

    try:
        test()
    except AssertionError as exc:
        assert "b ran first in every step" in str(exc)
    else:
        raise AssertionError(f"Hypothesis did not find the order in {len(examples)} examples")
    assert {s.seed for s in examples} == {sim.DEFAULT_SEED}


def test_a_pct_simulation_keeps_its_own_order() -> None:
    drawn: list[sim.Simulation] = []

    @settings(max_examples=3, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(s=simulations(faults="none", schedule="pct"))
    def test(s: sim.Simulation) -> None:
        drawn.append(s)

    test()
    assert drawn and all(type(s._task_order).__name__ == "_PriorityOrder" for s in drawn)
