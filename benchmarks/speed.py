"""What a user of seed sweeps feels, side by side with the floor of the model, in one run.

    python benchmarks/speed.py [--repeat N] [--markdown FILE]

Prints three tables, every figure the minimum over `--repeat` repeats (the
machine is shared and noisy; the minimum is the least disturbed run):

1. The fixed cost per seed: an empty simulation (`Simulation(...).run` of a
   coroutine that does nothing), a bare `trio.run` of the same, and the floor
   prototype's empty run (benchmarks/floor.py).
2. Seeds per second of the order workflow of examples/orders.py (three orders
   placed concurrently, 15 calls) under faults none, light and heavy: a fresh
   simulation per seed, seeds 0, 1, 2, ...; beside it the floor prototype's
   run of the same workflow (benchmarks/floor.py's orders shape, checked to
   give ours' results first), and ours/floor in seeds/s. Under the table,
   issue 13's targets as fractions of its floor's seeds/s without faults
   (2,500 and 1,800 of 7,265 for none and light) beside this run's.
3. Microseconds per call of a fresh run per shape (sequential 200, gather
   100, merge sort 256; faults none and light), ours and the floor's, and
   the ratio ours/floor: how close to the limit the simulator is.

With `--instructions`, it prints instead exact machine-instruction counts per
seed (valgrind's callgrind; the difference between two processes running N
and M seeds, divided by M - N, so start-up and imports cancel out) for the
empty simulation, a bare `trio.run`, the floor's empty run and the order
workflow under none, light and heavy, ours and the floor's (with ours/floor):
figures the machine's load does not move. With `--opcodes`, it prints the
bytecode instructions per seed of the same runs (seeds 0-9 after a warm-up
seed), the other exact count. Its processes run with
PYTHONHASHSEED=0 unless it is set: randomized string hashing moves the counts
of the same code by 2-3% between processes.

The exact bytecode counts per call stay in benchmarks/hotpath.py --opcodes,
and the side-by-side with the Dispatch SDK in benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import re
import shutil
import subprocess
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


# Issue 13's figures for the order workflow on its machine: the floor's seeds/s
# without faults and the targets for ours. Ratios to the floor carry to any machine.
_ISSUE_FLOOR = 7265
_ISSUE_TARGETS = {"none": 2500, "light": 1800}


def _same_orders(faults: str) -> None:
    """Check that the floor's order workflow gives ours' results and side effects (seed 0)."""
    ours = sim.Simulation(seed=0, faults=faults).run(orders.scenario())
    seen = (ours, dict(orders.charges), dict(orders.stock), set(orders.reservations))
    lowest = floor.FloorSim(0, faults).run(floor.orders_scenario())
    if seen != (lowest, floor.charges, floor.stock, floor.reservations):
        raise RuntimeError(f"the floor's order workflow differs from ours under {faults}: {seen}")


def seeds_per_second(repeat: int, seeds: int = 50) -> tuple[list[list[str]], dict[tuple[str, str], float]]:
    """Rows: seeds/s of the order workflow, ours and the floor's, a fresh run per seed; and
    the seeds/s by ("ours" or "floor", faults)."""
    rows, rates = [], {}
    for faults in ("none", "light", "heavy"):
        _same_orders(faults)

        def sweep(faults: str = faults) -> None:
            for seed in range(seeds):
                sim.Simulation(seed=seed, faults=faults).run(orders.scenario())

        def lowest(faults: str = faults) -> None:
            for seed in range(seeds):
                floor.run_shape("orders", faults, seed)

        ours, floors = seeds / _best(sweep, repeat), seeds / _best(lowest, repeat)
        rates["ours", faults], rates["floor", faults] = ours, floors
        rows.append([
            faults, f"{ours:,.0f}", f"{1e6 / ours:,.0f}", f"{floors:,.0f}", f"{1e6 / floors:,.0f}",
            f"{ours / floors:.3f}",
        ])  # fmt: skip
    return rows, rates


def targets(rates: dict[tuple[str, str], float]) -> list[list[str]]:
    """Rows: issue 13's seeds/s targets as fractions of its floor without faults, and this run's."""
    rows = []
    for faults, target in _ISSUE_TARGETS.items():
        now = rates["ours", faults] / rates["floor", "none"]
        rows.append([faults, f"{target:,} / {_ISSUE_FLOOR:,} = {target / _ISSUE_FLOOR:.3f}", f"{now:.3f}"])
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


# What `--count UNIT N` runs N of: one seed each, seeds 0, 1, 2, ...
_UNITS: dict[str, Callable[[int], Any]] = {
    "empty simulation": lambda seed: sim.Simulation(seed=seed, faults="none").run(_nothing()),
    "bare trio.run": lambda seed: trio.run(_nothing),
    "empty floor run": lambda seed: floor.run_shape("empty", "none", seed),
    "orders, none": lambda seed: sim.Simulation(seed=seed, faults="none").run(orders.scenario()),
    "orders, light": lambda seed: sim.Simulation(seed=seed, faults="light").run(orders.scenario()),
    "orders, heavy": lambda seed: sim.Simulation(seed=seed, faults="heavy").run(orders.scenario()),
    "floor orders, none": lambda seed: floor.run_shape("orders", "none", seed),
    "floor orders, light": lambda seed: floor.run_shape("orders", "light", seed),
    "floor orders, heavy": lambda seed: floor.run_shape("orders", "heavy", seed),
}
# Seeds per process in the two callgrind runs of a unit (their difference is what is counted).
_COUNTS = {
    "empty simulation": (20, 120), "bare trio.run": (20, 120), "empty floor run": (20, 120),
    "floor orders, none": (20, 120), "floor orders, light": (20, 120), "floor orders, heavy": (20, 120),
}  # fmt: skip


def _collected(unit: str, n: int) -> int:
    """Instructions valgrind counts for a process running `n` of `unit`."""
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, __file__, "--count", unit, str(n),
    ]  # fmt: skip
    # A fixed hash seed: with str hashing randomized per process, the counts of
    # the same code move by 2-3% between runs (dict and set layouts differ).
    env = {**os.environ, "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"valgrind printed no instruction count for {unit!r}: {done.stderr[-300:]}")
    return int(found.group(1))


def instructions() -> tuple[list[list[str]], list[list[str]]]:
    """Rows: machine instructions per seed of each unit, and times the floor's empty run;
    and the order workflow's, ours and the floor's, with ours/floor."""
    per_seed = {}
    for unit in _UNITS:
        low, high = _COUNTS.get(unit, (5, 35))
        per_seed[unit] = (_collected(unit, high) - _collected(unit, low)) / (high - low)
    lowest = per_seed["empty floor run"]
    units = [[unit, f"{count / 1e6:.3f}", f"{count / lowest:.0f}x"] for unit, count in per_seed.items()]
    ratios = []
    for faults in ("none", "light", "heavy"):
        ours, floors = per_seed[f"orders, {faults}"], per_seed[f"floor orders, {faults}"]
        ratios.append([faults, f"{ours / 1e6:.3f}", f"{floors / 1e6:.3f}", f"{ours / floors:.1f}x"])
    return units, ratios


def bytecodes(seeds: int = 10) -> list[list[str]]:
    """Rows: bytecode instructions per seed of each unit, seeds 0 to `seeds` - 1,
    after an uncounted warm-up seed (the same count on every run, for a given Python)."""
    rows = []
    for unit, run in _UNITS.items():
        run(10_000)  # warm-up: imports, caches, the shared trio run
        counted = [0]

        def trace(frame: Any, event: str, arg: Any) -> Any:
            frame.f_trace_opcodes = True
            return count

        def count(frame: Any, event: str, arg: Any) -> Any:
            if event == "opcode":
                counted[0] += 1
            return count

        sys.settrace(trace)
        try:
            for seed in range(seeds):
                run(seed)
        finally:
            sys.settrace(None)
        rows.append([unit, f"{counted[0] / seeds:,.0f}"])
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
    parser.add_argument(
        "--instructions", action="store_true", help="print callgrind instruction counts per seed instead"
    )
    parser.add_argument(
        "--opcodes", action="store_true", help="print bytecode instructions per seed instead (sys.settrace)"
    )
    parser.add_argument("--count", nargs=2, metavar=("UNIT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count:  # one process of --instructions: run N of UNIT and exit
        unit, n = args.count
        for seed in range(int(n)):
            _UNITS[unit](seed)
        return 0
    with open("/proc/loadavg") if os.path.exists("/proc/loadavg") else open(os.devnull) as f:
        load = f.read().split()[:3]
    machine = (
        f"Machine: {time.strftime('%Y-%m-%d %H:%M')}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, {platform.machine()}, load average {' '.join(load) or '?'}"
    )
    if args.instructions:
        if shutil.which("valgrind") is None:
            print("--instructions needs valgrind on the PATH", file=sys.stderr)
            return 2
        units, ratios = instructions()
        lines = [
            machine,
            "",
            "Machine instructions per seed (callgrind; a fresh simulation per seed; x the floor's empty run):",
            "",
            *_table(["run", "M instructions", "x floor empty"], units),
            "",
            "The order workflow (15 calls), M instructions per seed, ours and the floor's:",
            "",
            *_table(["faults", "ours", "floor", "ours/floor"], ratios),
        ]
    elif args.opcodes:
        lines = [
            machine,
            "",
            "Bytecode instructions per seed (seeds 0-9 after a warm-up seed; a fresh simulation per seed):",
            "",
            *_table(["run", "bytecodes"], bytecodes()),
        ]
    if args.instructions or args.opcodes:
        print("\n".join(lines))
        if args.markdown:
            Path(args.markdown).write_text("\n".join(lines) + "\n")
        return 0
    per_second, rates = seeds_per_second(args.repeat)
    lines = [
        machine,
        "",
        "Fixed cost per seed (µs, and times the floor's):",
        "",
        *_table(["run", "µs", "x floor"], fixed_cost(args.repeat)),
        "",
        "The order workflow of examples/orders.py (15 calls), a fresh run per seed, "
        "ours and the floor's (benchmarks/floor.py):",
        "",
        *_table(
            ["faults", "ours seeds/s", "ours µs/seed", "floor seeds/s", "floor µs/seed", "ours/floor seeds/s"],
            per_second,
        ),
        "",
        "Issue 13's targets as fractions of its floor's seeds/s without faults, and this run's:",
        "",
        *_table(["faults", "target/floor none (issue)", "ours/floor none (this run)"], targets(rates)),
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
