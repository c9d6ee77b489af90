"""Profile one benchmark workload and print where the time goes.

    python benchmarks/hotpath.py "merge sort 5k" [none|light|heavy|swarm] [--sort tottime|cumulative]
    python benchmarks/hotpath.py "gather 100" --opcodes
    python benchmarks/hotpath.py "gather 100" --instructions

By default it profiles with cProfile and prints the table of functions and the
number of Python-level calls made per simulated call. With --opcodes it counts
the bytecode instructions executed instead, per function and per simulated
call: the same count on every machine and every run (for a given Python), so a
change to the hot path can be measured exactly where wall time on a noisy
machine cannot. Both measure the workload awaited inside a running simulation,
after one untimed warm-up run, as benchmarks/run.py's in-run column does.

Fewer bytecodes is not always less work. CPython 3.11 specializes attribute
reads and stores on instances and slots, not a call of a method-wrapper
(`itertools.count().__next__`) nor a read of an attribute found on the class
through an instance: a change that trades the first for the second can save
bytecodes and cost machine instructions. Confirm a change with callgrind
(`--instructions`: machine instructions per call, a fresh simulation awaiting
the workload six times less one awaiting it once, under valgrind; and
`speed.py --instructions` per seed) before keeping it.
"""

from __future__ import annotations

import argparse
import cProfile
import collections
import os
import pstats
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads as wl  # noqa: E402

import sim  # noqa: E402


def _profile(workload: Any, calls: int, faults: str, sort: str, top: int) -> None:
    profiler = cProfile.Profile()

    async def measured() -> None:
        await workload()
        profiler.enable()
        await workload()
        profiler.disable()

    sim.Simulation(seed=1, faults=faults).run(measured())
    stats = pstats.Stats(profiler)
    total_calls = sum(nc for _, nc, _, _, _ in stats.stats.values())  # type: ignore[attr-defined]
    print(f"{total_calls / calls:.1f} Python-level calls per simulated call")
    stats.sort_stats(sort).print_stats(top)


def _count_opcodes(workload: Any, calls: int, faults: str, top: int) -> None:
    counts: collections.Counter[str] = collections.Counter()

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        code = frame.f_code
        where = f"{Path(code.co_filename).name}:{code.co_firstlineno}:{code.co_name}"

        def count(frame: FrameType, event: str, arg: Any) -> Any:
            if event == "opcode":
                counts[where] += 1
            return count

        return count

    async def measured() -> None:
        await workload()
        sys.settrace(trace)
        try:
            await workload()
        finally:
            sys.settrace(None)

    sim.Simulation(seed=1, faults=faults).run(measured())
    total = sum(counts.values())
    print(f"{total / calls:.0f} bytecode instructions per simulated call ({total} in all)")
    print(f"{'per call':>9}  function")
    for where, n in counts.most_common(top):
        print(f"{n / calls:9.1f}  {where}")


def _count_instructions(name: str, calls: int, faults: str) -> None:
    # callgrind on two processes, one awaiting the workload 6 times and one once,
    # in a fresh simulation: start-up, imports and the first run's warm-up cancel.
    # A fixed hash seed: randomized string hashing moves the counts by 2-3%.
    env = {**os.environ, "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}
    collected = []
    for awaits in (1, 6):
        command = [
            "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
            sys.executable, __file__, name, faults, "--awaits", str(awaits),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
        found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
        if found is None:
            raise RuntimeError(f"valgrind printed no instruction count: {done.stderr[-300:]}")
        collected.append(int(found.group(1)))
    print(f"{(collected[1] - collected[0]) / 5 / calls:,.0f} machine instructions per simulated call")


def _await(workload: Any, faults: str, awaits: int) -> None:
    async def repeated() -> None:
        for _ in range(awaits):
            await workload()

    sim.Simulation(seed=1, faults=faults).run(repeated())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(wl.WORKLOADS))
    parser.add_argument("faults", nargs="?", default="none")
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--opcodes", action="store_true", help="count bytecode instructions")
    parser.add_argument(
        "--instructions", action="store_true", help="count machine instructions (valgrind's callgrind)"
    )
    parser.add_argument("--awaits", type=int, help=argparse.SUPPRESS)  # one process of --instructions
    args = parser.parse_args()

    workload, calls = wl.WORKLOADS[args.workload]
    if args.awaits is not None:
        _await(workload, args.faults, args.awaits)
        return 0
    if args.instructions and shutil.which("valgrind") is None:
        print("--instructions needs valgrind on the PATH", file=sys.stderr)
        return 2
    print(f"{args.workload} ({calls} calls, faults {args.faults}):", end=" ")
    if args.instructions:
        _count_instructions(args.workload, calls, args.faults)
    elif args.opcodes:
        _count_opcodes(workload, calls, args.faults, args.top)
    else:
        _profile(workload, calls, args.faults, args.sort, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
