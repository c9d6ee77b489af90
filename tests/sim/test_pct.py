"""The PCT schedule: a planted depth-2 ordering bug that uniform random order rarely finds.

tests/programs/planted_shrink.py::test_stale_cache fails only when the reader
goes first in every batch of its read phase and the writer goes first in
the batch where both act. Measured over 200 seeds each: the uniform schedule
finds it in about 1 % of runs (2**-7 expected), PCT with depth 2 and k near
the run's length in about 10 %, and within the first 50 seeds. PCT runs are
deterministic (across hash seeds too) and replay from their trace, and the
uniform schedule is untouched by the option.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

import registry
from sim import Simulation
from sim.lowlevel import load_test, run_seed

ROOT = Path(__file__).resolve().parents[2]
TARGET = "tests/programs/planted_shrink.py::test_stale_cache"


def failing_seeds(seeds: range, **options: object) -> list[int]:
    loaded = load_test(TARGET, root=ROOT)
    chosen = {**loaded.test.options, **options}
    return [
        seed for seed in seeds
        if not run_seed(loaded.make_main(), seed=seed, faults="none", options=chosen).ok
    ]


def test_pct_finds_the_depth_2_bug_that_uniform_order_rarely_finds() -> None:
    uniform = failing_seeds(range(200), schedule="uniform")
    pct = failing_seeds(range(200))  # the test's own options: pct, depth 2, k = 36
    assert len(uniform) <= 6, uniform  # 2**-7 of 200 is 1.6
    assert len(pct) >= 12, pct
    assert len(pct) >= 4 * max(len(uniform), 1)
    assert min(pct) < 50
    # One change point is needed: with none (depth 1) the reader never falls behind.
    assert failing_seeds(range(50), depth=1) == []


def test_a_pct_run_replays_from_its_trace_and_is_deterministic() -> None:
    loaded = load_test(TARGET, root=ROOT)
    (seed, *_) = failing_seeds(range(50))
    first = run_seed(loaded.make_main(), seed=seed, faults="none", test_id=loaded.test_id, options=loaded.test.options)
    schedule = first.simulation.trace.header["schedule"]
    assert schedule["name"] == "pct" and schedule["depth"] == 2 and schedule["steps"] == 36
    assert 20 <= schedule["taken"] <= 60  # what k would fit this test
    replay = run_seed(loaded.make_main(), simulation=Simulation.from_trace(first.simulation.trace))
    assert replay.digest == first.digest and replay.signature == first.signature


def test_pct_orders_calls_due_at_the_same_time(reg: registry.Registry) -> None:
    order: list[int] = []

    @reg.function
    def step(n: int) -> None:
        order.append(n)

    async def main() -> None:
        order.clear()
        ids = [step.dispatch(n) for n in range(6)]
        for i in ids:
            await reg.client.wait(i)

    def run(seed: int, **options: object) -> tuple[int, ...]:
        Simulation(seed=seed, faults="none", **options).run(main)  # type: ignore[arg-type]
        return tuple(order)

    assert run(3) == tuple(range(6))  # uniform: due at the same time, run in dispatch order
    orders = {run(seed, schedule="pct") for seed in range(10)}
    assert len(orders) > 3  # priorities order them differently from seed to seed
    assert all(sorted(o) == list(range(6)) for o in orders)


def test_bad_schedule_options_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="schedule must be one of 'uniform', 'pct', got 'fair'"):
        Simulation(schedule="fair")
    with pytest.raises(ValueError, match="depth must be an int >= 1, got 0"):
        Simulation(schedule="pct", depth=0)
    with pytest.raises(ValueError, match="pct_steps must be an int >= 1"):
        Simulation(schedule="pct", pct_steps=-1)


def test_trio_gets_its_own_random_source_back_after_a_pct_run() -> None:
    before = trio._core._run._r  # the module global a PCT run replaces for its duration
    Simulation(schedule="pct", faults="none").run(trio.sleep(0))
    assert trio._core._run._r is before


PCT_DIGEST = """
import sys
from sim.lowlevel import load_test, run_seed
loaded = load_test(sys.argv[1])
print(run_seed(loaded.make_main(), seed=int(sys.argv[2]), faults="light", options=loaded.test.options).digest)
"""


def test_pct_traces_are_the_same_across_hash_seeds() -> None:
    digests = {
        subprocess.run(
            [sys.executable, "-c", PCT_DIGEST, TARGET, "5"],
            capture_output=True, text=True, cwd=ROOT, check=True,
            env=dict(os.environ, PYTHONHASHSEED=hash_seed), timeout=120,
        ).stdout
        for hash_seed in ("0", "1", "7")
    }
    assert len(digests) == 1, digests
