"""The shared workloads on the Dispatch SDK's local test server (run by run.py).

    python benchmarks/sdk_baseline.py REPEAT NAME...

Prints one line per workload: the name, a tab, the median seconds.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ["DISPATCH_BENCH_FRAMEWORK"] = "dispatch"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dispatch.test  # noqa: E402

import workloads as wl  # noqa: E402


def main() -> None:
    repeat = int(sys.argv[1])
    names = sys.argv[2:]
    table = wl.WORKLOADS
    timings: dict[str, list[float]] = {name: [] for name in names}

    async def measure() -> None:
        for name in names:
            workload, _ = table[name]
            for _ in range(repeat):
                start = time.perf_counter()
                await workload()
                timings[name].append(time.perf_counter() - start)

    dispatch.test.function(measure)()
    for name in names:
        print(f"{name}\t{statistics.median(timings[name])}")


if __name__ == "__main__":
    main()
