"""The sweep parent's retained memory against the number of seeds.

    python benchmarks/sweep_memory.py                 # 10^3, 10^4, 10^5 empty seeds
    python benchmarks/sweep_memory.py --sizes 1000 20000 --jobs 2

For each size, sweeps `benchmarks/sweep_targets.py::test_empty` in a fresh
process (so one size's garbage does not count in the next) and prints what
the `SweepResult` keeps (tracemalloc: bytes allocated during the sweep and
still alive once it returned, with the result held), and the parent's
resident memory before, after and at its peak (getrusage). Memory, not time:
the figures do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = "benchmarks/sweep_targets.py::test_empty"


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _one(seeds: int, jobs: int) -> None:
    """Run one sweep in this process and print its figures as a JSON line."""
    import gc
    import resource
    import tracemalloc

    import sim

    sim.sweep(TARGET, range(3), root=ROOT)  # imports and caches warm, outside the measure
    gc.collect()
    before = _rss_mb()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    result = sim.sweep(TARGET, range(seeds), jobs=jobs, root=ROOT)
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # Linux gives KiB
    print(json.dumps({"seeds": result.runs, "jobs": jobs, "kept_bytes": kept,
                      "rss_before_mb": round(before, 1), "rss_after_mb": round(_rss_mb(), 1),
                      "rss_peak_mb": round(peak, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        _one(args.one, args.jobs)
        return
    print(f"{'seeds':>8} {'jobs':>4} {'kept by result':>15} {'B/seed':>7} {'RSS before':>10} "
          f"{'after':>7} {'peak':>7}")
    for size in args.sizes:
        done = subprocess.run([sys.executable, __file__, "--one", str(size), "--jobs", str(args.jobs)],
                              capture_output=True, text=True, cwd=ROOT, check=True)
        row = json.loads(done.stdout.splitlines()[-1])
        print(f"{row['seeds']:>8} {row['jobs']:>4} {row['kept_bytes']:>15,} "
              f"{row['kept_bytes'] / row['seeds']:>7.0f} {row['rss_before_mb']:>8.1f}MB "
              f"{row['rss_after_mb']:>5.1f}MB {row['rss_peak_mb']:>5.1f}MB", flush=True)


if __name__ == "__main__":
    main()
