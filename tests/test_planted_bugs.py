"""Planted bugs that only faults reveal: each is found within a bounded number of seeds.

Each bug is invisible with faults off (checked too), so finding it is the
simulator's doing: a lost response re-runs a non-idempotent step, latency
interleaves a check and an act, reordering lets the second racer win, and a
crash replays a branch taken on the wall clock.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Coroutine
from typing import Any

import trio

import registry
import registry.test
import sim
from registry.error import NonDeterminismError

SEEDS = range(100)
_names = itertools.count()




def first_failing_seed(
    scenario: Callable[[], Coroutine[Any, Any, Any]],
    faults: str,
    expected: type[BaseException] = AssertionError,
) -> tuple[int, sim.Simulation] | None:
    for seed in SEEDS:
        simulation = sim.Simulation(seed=seed, faults=faults)
        try:
            simulation.run(scenario())
        except expected:
            return seed, simulation
    return None


def test_non_idempotent_debit_is_charged_twice(reg: registry.Registry) -> None:
    balance = {"alice": 0}

    @reg.function
    def debit(account: str, cents: int) -> None:
        balance[account] -= cents  # no idempotency key: a retry debits again

    @reg.function
    async def checkout(account: str) -> None:
        for _ in range(10):
            await debit(account, 100)

    async def scenario() -> None:
        balance["alice"] = 10_000
        await checkout("alice")
        assert balance["alice"] == 9_000, f"balance is {balance['alice']}"

    assert first_failing_seed(scenario, "none") is None
    found = first_failing_seed(scenario, "heavy")
    assert found is not None, "no seed in 100 found the double debit"
    _, simulation = found
    lost = [e for e in simulation.trace if e.detail == "response_lost" and e.function.endswith(".debit")]
    assert lost, "the failing run should show a lost debit response"


def test_check_then_act_across_two_calls_overdraws(reg: registry.Registry) -> None:
    account = {"balance": 0}

    @reg.function
    def read_balance() -> int:
        return account["balance"]

    @reg.function
    def withdraw(cents: int) -> None:
        account["balance"] -= cents

    @reg.function
    async def pay(cents: int) -> bool:
        if await read_balance() >= cents:  # check ...
            await withdraw(cents)  # ... then act, in another call
            return True
        return False

    async def scenario() -> None:
        account["balance"] = 100
        first = pay.dispatch(100)
        await trio.sleep(0.05)  # the second payment starts a little later
        second = pay.dispatch(100)
        await reg.client.wait(first)
        await reg.client.wait(second)
        assert account["balance"] >= 0, f"overdrawn: {account['balance']}"

    assert first_failing_seed(scenario, "none") is None
    assert first_failing_seed(scenario, "heavy") is not None


def test_race_assumed_to_favour_its_first_argument(reg: registry.Registry) -> None:
    @reg.function
    def primary() -> str:
        return "primary"

    @reg.function
    def fallback() -> str:
        return "fallback"

    @reg.function
    async def fetch() -> str:
        return await registry.race(primary(), fallback())

    async def scenario() -> None:
        assert await fetch() == "primary"

    assert first_failing_seed(scenario, "none") is None
    assert first_failing_seed(scenario, "swarm") is not None


def test_wall_clock_branch_is_caught_on_replay(reg: registry.Registry) -> None:
    @reg.function
    def step(n: int) -> int:
        return n

    @reg.function
    async def workflow() -> int:
        total = 0
        for n in range(5):
            total += await step(n)
            if time.monotonic_ns() // 1000 % 2:  # the bug: a branch on the wall clock
                total += await step(100)
        return total

    async def scenario() -> None:
        await workflow()

    assert first_failing_seed(scenario, "none", NonDeterminismError) is None
    found = first_failing_seed(scenario, "heavy", NonDeterminismError)
    assert found is not None
    _, simulation = found
    assert any(e.detail == "crash" for e in simulation.trace)


def test_none_runs_each_function_once_and_heavy_re_executes_but_stays_right(
    reg: registry.Registry,
) -> None:
    runs: list[int] = []

    @reg.function
    def square(x: int) -> int:
        runs.append(x)
        return x * x

    @reg.function
    async def fan_out(n: int) -> list[int]:
        return await registry.gather(*(square(i) for i in range(n)))

    async def scenario() -> list[int]:
        return await fan_out(50)

    expected = [i * i for i in range(50)]
    assert registry.test.run(scenario, faults="none") == expected
    assert sorted(runs) == list(range(50))

    re_executed = 0
    for seed in range(10):
        runs.clear()
        simulation = sim.Simulation(seed=seed, faults="heavy")
        assert simulation.run(scenario()) == expected
        re_executed += len(runs) > 50
        attempts = max(e.attempt for e in simulation.trace)
        assert attempts <= sim.RetryPolicy().max_attempts + 50
    assert re_executed > 0, "heavy faults never re-executed a function in 10 seeds"
