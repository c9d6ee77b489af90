"""The shared workloads on the Dispatch SDK's local test server (run by run.py).

    python benchmarks/sdk_baseline.py REPEAT NAME...

Prints one line per workload: the name, a tab, the median seconds of the
workload awaited inside one running test server (after an untimed warm-up,
as run.py's "in-run" side), a tab, and the median seconds of a fresh test
server per run (`dispatch.test.function` around one await: server start,
the workload and shutdown, as run.py's "run" side).
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


def in_server(names: list[str], repeat: int) -> dict[str, float]:
    """Median seconds of each workload awaited `repeat` times in one test server."""
    timings: dict[str, list[float]] = {name: [] for name in names}

    async def measure() -> None:
        for name in names:
            workload, _ = wl.WORKLOADS[name]
            # Untimed, like run.py's in-run warm-up: the first await pays for
            # the server's lazy setup (the HTTP client session, for one).
            await workload()
            for _ in range(repeat):
                start = time.perf_counter()
                await workload()
                timings[name].append(time.perf_counter() - start)

    dispatch.test.function(measure)()
    return {name: statistics.median(t) for name, t in timings.items()}


def fresh(name: str, repeat: int) -> float:
    """Median seconds of one await of the workload, each in a new test server."""
    workload, _ = wl.WORKLOADS[name]

    async def one_run() -> None:
        await workload()

    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        dispatch.test.function(one_run)()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    repeat = int(sys.argv[1])
    names = sys.argv[2:]
    warm = in_server(names, repeat)
    for name in names:
        print(f"{name}\t{warm[name]}\t{fresh(name, repeat)}", flush=True)


if __name__ == "__main__":
    main()
