"""Exact instruction counts per seed of what a seed pays outside its calls (issue 13, seedsetup).

    python benchmarks/seed_setup.py [UNIT ...]

For each unit, valgrind's callgrind counts the instructions of two processes
running N and M seeds; (M - N) / (M - N seeds) is the cost of one seed, start-up
and imports cancelled out. Units: the empty simulation, the order workflow
under none/light/heavy (as benchmarks/speed.py --instructions), and a sweep
worker's batch (`sim._sweep.run_batch`, one call for all the seeds) of
benchmarks/sweep_targets.py's `test_empty` and `test_checkout` (heavy).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "examples"))


async def _nothing() -> None:
    pass


def _simulations(faults: str, scenario: Callable[[], Any]) -> Callable[[int], None]:
    def run(n: int) -> None:
        import sim

        for seed in range(n):
            sim.Simulation(seed=seed, faults=faults).run(scenario())

    return run


def _orders(faults: str) -> Callable[[int], None]:
    def run(n: int) -> None:
        import orders

        _simulations(faults, orders.scenario)(n)

    return run


def _batch(test: str, faults: str) -> Callable[[int], None]:
    def run(n: int) -> None:
        from sim import _sweep

        _sweep.run_batch(f"sweep_targets.py::{test}", str(HERE), range(n), faults)

    return run


UNITS: dict[str, tuple[Callable[[int], None], tuple[int, int]]] = {
    "empty": (_simulations("none", _nothing), (20, 220)),
    "orders-none": (_orders("none"), (5, 45)),
    "orders-light": (_orders("light"), (5, 45)),
    "orders-heavy": (_orders("heavy"), (5, 45)),
    "batch-empty": (_batch("test_empty", "none"), (20, 220)),
    "batch-checkout-heavy": (_batch("test_checkout", "heavy"), (20, 120)),
}


def _warm(unit: str) -> None:
    # One seed before the counted ones, so that first-use caches fill in both processes.
    UNITS[unit][0](1)


def collected(unit: str, n: int) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
               sys.executable, __file__, "--count", unit, str(n)]  # fmt: skip
    # One hash seed for both processes: str hashes (set and dict layouts) move the count a little.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if found is None:
        raise RuntimeError(done.stderr[-500:])
    return int(found.group(1))


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--count"]:
        unit, n = args[1], int(args[2])
        _warm(unit)
        UNITS[unit][0](n)
        return 0
    for unit in args or list(UNITS):
        low, high = UNITS[unit][1]
        per_seed = (collected(unit, high) - collected(unit, low)) / (high - low)
        print(f"{unit:24} {per_seed / 1e6:8.4f} M instructions per seed", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
