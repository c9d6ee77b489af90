"""Runs that cannot end, end: trio-level time, spinning tasks, runaway fan-out and memory.

Each run here would hang or exhaust memory without its cap; each ends with a
LivelockError that names what looped or grew, and every call it dispatched
still has an outcome event.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
import trio

import registry
import registry.test
import sim
from sim import LivelockError, Simulation


def run(main: Any, **options: Any) -> Simulation:
    """Run `main` expecting a LivelockError; the simulation, for its trace."""
    options.setdefault("faults", "none")
    simulation = Simulation(**options)
    with pytest.raises(LivelockError) as caught:
        simulation.run(main)
    simulation.error = caught.value  # type: ignore[attr-defined]
    return simulation


def every_call_has_one_outcome(simulation: Simulation) -> Counter[str]:
    dispatched = [e.dispatch_id for e in simulation.trace if e.kind == "dispatch"]
    ended = Counter(e.dispatch_id for e in simulation.trace if e.kind == "outcome")
    assert dispatched, "the run dispatched nothing"
    assert all(ended[d] == 1 for d in dispatched), "a call has no outcome event, or two"
    return Counter(e.detail for e in simulation.trace if e.kind == "outcome")


# -- trio-level time -----------------------------------------------------------------


def test_a_trio_sleep_loop_in_the_test_stops_at_max_virtual_time() -> None:
    async def main() -> None:
        while True:
            await trio.sleep(1)

    simulation = run(main, max_virtual_time=100)
    message = str(simulation.error)  # type: ignore[attr-defined]
    assert "max_virtual_time=100.0s in a trio-level wait" in message
    assert re.search(r"waiting: \S*main at test_caps.py:\d+", message)  # what looped, and where
    assert simulation.now() <= 100


def test_a_trio_sleep_loop_in_a_function_stops_at_max_virtual_time(reg: registry.Registry) -> None:
    @reg.function
    async def heartbeat() -> None:
        while True:
            await trio.sleep(1)

    async def main() -> None:
        await heartbeat()

    simulation = run(main, max_virtual_time=50)
    message = str(simulation.error)  # type: ignore[attr-defined]
    assert "trio-level wait" in message
    assert "heartbeat (attempt 1, awaiting trio)" in message
    assert every_call_has_one_outcome(simulation) == {"aborted: LivelockError": 1}
    assert simulation.trace.header["aborted"].startswith("LivelockError: the simulation exceeded its cap")


def test_a_trio_timeout_past_the_cap_ends_the_run_too() -> None:
    async def main() -> None:
        with trio.fail_after(10_000):
            await trio.Event().wait()

    run(main, max_virtual_time=100)


def test_trio_sleeps_within_the_cap_still_move_virtual_time() -> None:
    async def main() -> float:
        for _ in range(99):
            await trio.sleep(1)
        return sim.now()

    assert Simulation(faults="none", max_virtual_time=100).run(main) == 99.0


# -- spinning without progress ---------------------------------------------------------


def test_a_checkpoint_loop_in_the_test_ends_at_the_stalled_round_cap() -> None:
    async def main() -> None:
        while True:
            await trio.lowlevel.checkpoint()

    simulation = run(main, max_stalled_rounds=2_000)
    message = str(simulation.error)  # type: ignore[attr-defined]
    assert "more than max_stalled_rounds=2000 trio scheduling rounds" in message
    assert re.search(r"looping: \S*main at test_caps.py:\d+", message)


def test_a_sleep_zero_loop_in_a_function_ends_naming_the_call(reg: registry.Registry) -> None:
    @reg.function
    async def spin() -> None:
        while True:
            await trio.sleep(0)

    async def main() -> None:
        await spin()

    simulation = run(main, max_stalled_rounds=2_000)
    assert "spin (attempt 1, awaiting trio)" in str(simulation.error)  # type: ignore[attr-defined]
    assert every_call_has_one_outcome(simulation) == {"aborted: LivelockError": 1}


def test_many_checkpoints_with_progress_between_are_not_stalled() -> None:
    # 3,000 checkpoints, but virtual time moves every 500: never 1,000 stalled in a row.
    async def main() -> None:
        for i in range(3_000):
            await trio.lowlevel.checkpoint()
            if i % 500 == 0:
                await trio.sleep(1)

    Simulation(faults="none", max_stalled_rounds=1_000).run(main)


def test_the_default_caps_are_documented_values() -> None:
    simulation = Simulation()
    assert simulation._runtime._max_stalled_rounds == 100_000
    assert simulation._service.max_live_calls == 150_000
    assert simulation._service.max_memory == 2 * 1024**3


# -- runaway fan-out ---------------------------------------------------------------------


def test_calls_that_double_end_at_the_live_call_cap(reg: registry.Registry) -> None:
    @reg.function
    async def double(n: int) -> None:
        await registry.gather(double(n + 1), double(n + 1))

    async def main() -> None:
        await double(0)

    simulation = run(main, max_live_calls=3_000)
    message = str(simulation.error)  # type: ignore[attr-defined]
    assert "more than max_live_calls=3000 calls without an outcome" in message
    assert re.search(r"live calls by dispatcher: \S*double -> \S*double x\d+", message)
    assert re.search(r"busiest functions: \S*double \(\d+ calls, \d+ unfinished", message)
    details = every_call_has_one_outcome(simulation)
    assert details["aborted: LivelockError"] > 3_000


def test_a_call_cycle_ends_at_the_live_call_cap(reg: registry.Registry) -> None:
    @reg.function
    async def ping(n: int) -> None:
        await pong(n + 1)

    @reg.function
    async def pong(n: int) -> None:
        await ping(n + 1)

    async def main() -> None:
        await ping(0)

    simulation = run(main, max_live_calls=2_000)
    message = str(simulation.error)  # type: ignore[attr-defined]
    assert re.search(r"ping -> \S*pong x\d+", message) and re.search(r"pong -> \S*ping x\d+", message)
    every_call_has_one_outcome(simulation)


def test_the_memory_guard_ends_a_run_whose_records_pile_up(reg: registry.Registry) -> None:
    # Calls that finish do not count as live, but their records and events stay.
    @reg.function
    async def leaf(n: int) -> int:
        return n

    async def main() -> None:
        n = 0
        while True:
            await leaf(n)
            n += 1

    simulation = run(main, max_memory=10_000_000)
    message = str(simulation.error)  # type: ignore[attr-defined]
    assert "passed max_memory=10000000 bytes" in message
    assert "calls" in message and "events" in message
    every_call_has_one_outcome(simulation)


def test_a_wide_gather_below_the_cap_runs(reg: registry.Registry) -> None:
    @reg.function
    async def leaf(n: int) -> int:
        return n

    @reg.function
    async def fan_out(n: int) -> int:
        return sum(await registry.gather(*(leaf(i) for i in range(n))))

    async def main() -> int:
        return await fan_out(3_000)

    assert Simulation(faults="none", max_live_calls=3_001).run(main) == sum(range(3_000))
