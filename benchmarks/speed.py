"""What a user of seed sweeps feels, side by side with the floor of the model, in one run.

    python benchmarks/speed.py [--repeat N] [--markdown FILE]

Prints three tables, every figure the minimum over `--repeat` repeats (the
machine is shared and noisy; the minimum is the least disturbed run):

1. The fixed cost per seed: an empty simulation (`Simulation(...).run` of a
   coroutine that does nothing), a bare `trio.run` of the same, and the floor
   prototype's empty run (benchmarks/floor.py).
2. Seeds per second of the order workflow of examples/orders.py (three orders
   placed concurrently, 15 calls) under faults none, light and heavy: a fresh
   simulation per seed, seeds 0, 1, 2, ...
3. Microseconds per call of a fresh run per shape (sequential 200, gather
   100, merge sort 256; faults none and light), ours and the floor's, and
   the ratio ours/floor: how close to the limit the simulator is.

The exact bytecode counts per call stay in benchmarks/hotpath.py --opcodes,
and the side-by-side with the Dispatch SDK in benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "examples"))

import floor  # noqa: E402
import orders  # noqa: E402
import trio  # noqa: E402
import workloads as wl  # noqa: E402

import sim  # noqa: E402


def _best(run: Callable[[], Any], repeat: int, inner: int = 1) -> float:
    """Least seconds one `run()` took, over `repeat` rounds of `inner` runs each."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        for _ in range(inner):
            run()
        best = min(best, (time.perf_counter() - start) / inner)
    return best


async def _nothing() -> None:
    pass


def fixed_cost(repeat: int) -> list[list[str]]:
    """Rows: what one seed costs before it does anything."""
    ours = _best(lambda: sim.Simulation(seed=1, faults="none").run(_nothing()), repeat, 200)
    bare = _best(lambda: trio.run(_nothing), repeat, 200)
    lowest = _best(lambda: floor.run_shape("empty", "none"), repeat, 200)
    return [
        ["empty simulation (ours)", f"{ours * 1e6:.0f}", f"{ours / lowest:.0f}x"],
        ["bare trio.run", f"{bare * 1e6:.0f}", f"{bare / lowest:.0f}x"],
        ["empty floor run", f"{lowest * 1e6:.1f}", "1x"],
    ]


def seeds_per_second(repeat: int, seeds: int = 50) -> list[list[str]]:
    """Rows: seeds/s of the order workflow, a fresh simulation per seed."""
    rows = []
    for faults in ("none", "light", "heavy"):

        def sweep(faults: str = faults) -> None:
            for seed in range(seeds):
                sim.Simulation(seed=seed, faults=faults).run(orders.scenario())

        seconds = _best(sweep, repeat)
        rows.append([faults, f"{seeds / seconds:,.0f}", f"{seconds / seeds * 1e6:,.0f}"])
    return rows


def shapes(repeat: int) -> list[list[str]]:
    """Rows: µs per call of a fresh run per shape, ours and the floor's."""
    rows = []
    for faults in ("none", "light"):
        for name, (_, calls) in floor.SHAPES.items():
            workload = wl.WORKLOADS[name][0]
            ours = _best(lambda: sim.Simulation(seed=1, faults=faults).run(workload()), repeat)
            lowest = _best(lambda: floor.run_shape(name, faults), repeat)
            rows.append([
                name, faults, str(calls), f"{ours / calls * 1e6:.1f}",
                f"{lowest / calls * 1e6:.1f}", f"{ours / lowest:.1f}x",
            ])  # fmt: skip
    return rows


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="repeats per figure (the minimum is kept)")
    parser.add_argument("--markdown", help="also write the tables to this file")
    args = parser.parse_args()
    with open("/proc/loadavg") if os.path.exists("/proc/loadavg") else open(os.devnull) as f:
        load = f.read().split()[:3]
    lines = [
        f"Machine: {time.strftime('%Y-%m-%d %H:%M')}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, {platform.machine()}, load average {' '.join(load) or '?'}",
        "",
        "Fixed cost per seed (µs, and times the floor's):",
        "",
        *_table(["run", "µs", "x floor"], fixed_cost(args.repeat)),
        "",
        "The order workflow of examples/orders.py (15 calls), a fresh simulation per seed:",
        "",
        *_table(["faults", "seeds/s", "µs/seed"], seeds_per_second(args.repeat)),
        "",
        "A fresh run per shape, µs per call, ours and the floor prototype's (benchmarks/floor.py):",
        "",
        *_table(["shape", "faults", "calls", "ours µs", "floor µs", "ours/floor"], shapes(args.repeat)),
    ]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
