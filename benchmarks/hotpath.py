"""Profile one benchmark workload with cProfile and print where the time goes.

    python benchmarks/hotpath.py "merge sort 5k" [none|light|heavy|swarm] [--sort tottime|cumulative]

Besides the table of functions, it prints the number of Python-level calls
made per simulated call: a repeatable measure of the hot path's length, which
wall time on a noisy machine is not.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads as wl  # noqa: E402

import sim  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(wl.WORKLOADS))
    parser.add_argument("faults", nargs="?", default="none")
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    workload, calls = wl.WORKLOADS[args.workload]
    simulation = sim.Simulation(seed=1, faults=args.faults)
    profiler = cProfile.Profile()
    profiler.enable()
    simulation.run(workload())
    profiler.disable()
    stats = pstats.Stats(profiler)
    total_calls = sum(nc for _, nc, _, _, _ in stats.stats.values())  # type: ignore[attr-defined]
    print(f"{args.workload} ({calls} calls, faults {args.faults}): "
          f"{total_calls / calls:.1f} Python-level calls per simulated call")
    stats.sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
