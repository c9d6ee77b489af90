"""Seed sweep throughput: fixed cost per seed, seeds/s on 1 and 2 processes and on Dask.

    python benchmarks/sweep.py                      # 10^3, 10^4, 10^5 seeds, every mode
    python benchmarks/sweep.py --skip-largest       # 10^3 and 10^4 only
    python benchmarks/sweep.py --sizes 20000 --modes jobs2 --targets checkout

Sweeps `benchmarks/sweep_targets.py` with `sim.sweep` in this process (the
parent), for each target (`empty`: a test doing nothing, the fixed cost per
seed; `checkout`: the README's checkout workflow under `heavy`), each mode
(`jobs1`: in this process; `jobs2`: a pool of two worker processes; `dask`:
a 2-worker Dask LocalCluster through ``Client.get_executor()``) and each
number of seeds. For every sweep it prints the wall time, seeds/s, µs per
seed, and the parent's resident memory at the start, at the end and its
peak (sampled every 1,000 seeds: is it flat in the number of seeds?), then
the ratios the issue sets targets for. Wall-clock figures depend on what
else the machine runs: the load average is printed before every row.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {
    "empty": "benchmarks/sweep_targets.py::test_empty",
    "checkout": "benchmarks/sweep_targets.py::test_checkout",
    "transfer": "examples/buggy_transfer.py::test_transfer",
}
MODES = ("jobs1", "jobs2", "dask")
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    """This process's resident memory now, in MB (Linux /proc)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


def load() -> str:
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


class _Memory:
    def __init__(self) -> None:
        self.start = rss_mb()
        self.peak = self.start
        self.count = 0

    def __call__(self, record: Any) -> None:
        self.count += 1
        if self.count % 1000 == 0:
            self.peak = max(self.peak, rss_mb())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _dask_cpu(executor: Any) -> float:
    if executor is None:
        return 0.0
    client = executor._client  # the executor's Client: Dask keeps it on this attribute
    return float(sum(client.run(time.process_time).values()))


def measure(target: str, seeds: int, mode: str, executor: Any) -> dict[str, Any]:
    import sim

    memory = _Memory()
    load_before = load()
    options: dict[str, Any] = {"jobs": 1}
    if mode == "jobs2":
        options = {"jobs": 2}
    elif mode == "dask":
        options = {"jobs": 2, "executor": executor}
    start, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    workers = _dask_cpu(executor)
    result = sim.sweep(target, range(seeds), root=ROOT, on_record=memory, **options)
    seconds = time.perf_counter() - start
    parent = time.process_time() - cpu
    # Pool workers are reaped when the sweep ends, so their CPU time is the children's;
    # Dask workers live on, and report their own.
    worker = _children_cpu() - children if mode != "dask" else _dask_cpu(executor) - workers
    end = rss_mb()
    assert result.runs == seeds and not result.interrupted, result.summary_line()
    return {
        "seconds": seconds,
        "rate": seeds / seconds,
        "us": seconds / seeds * 1e6,
        "failures": result.failures,
        "parent_us": parent / seeds * 1e6,
        "worker_us": worker / seeds * 1e6,
        "rss": (memory.start, end, max(memory.peak, end)),
        "load": load_before,
    }


@contextmanager
def _executor(mode: str) -> Iterator[Any]:
    """A 2-worker LocalCluster's executor for the dask mode (started before the clock
    runs, closed after), None otherwise: its scheduler lives in this process and
    would tax the other modes' parent CPU."""
    if mode != "dask":
        yield None
        return
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            client.run(_warm)  # the workers import sim first, as a long-lived cluster's would have
            yield client.get_executor()


def _warm() -> None:
    import sim  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="numbers of seeds, comma-separated")
    parser.add_argument("--skip-largest", action="store_true", help="leave out the largest size")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--targets", default="empty,checkout", help=f"comma-separated, of {', '.join(TARGETS)}")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if args.skip_largest and len(sizes) > 1:
        sizes = sizes[:-1]
    modes = [m for m in args.modes.split(",") if m]
    targets = [t for t in args.targets.split(",") if t]
    for name in modes:
        if name not in MODES:
            parser.error(f"--modes: unknown mode {name!r} (use {', '.join(MODES)})")
    for name in targets:
        if name not in TARGETS:
            parser.error(f"--targets: unknown target {name!r} (use {', '.join(TARGETS)})")
    os.chdir(ROOT)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python {platform.python_version()}, "
          f"{os.cpu_count()} cores, {platform.machine()}, load {load()}")
    results: dict[tuple[str, str, int], dict[str, Any]] = {}
    print("| target | mode | seeds | wall s | seeds/s | wall µs/seed | CPU µs/seed parent + workers | failed "
          "| parent RSS MB start/end/peak | load before |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for target in targets:
        for seeds in sizes:
            for mode in modes:
                with _executor(mode) as executor:
                    row = measure(TARGETS[target], seeds, mode, executor)
                results[target, mode, seeds] = row
                a, b, c = row["rss"]
                print(f"| {target} | {mode} | {seeds:,} | {row['seconds']:.1f} | {row['rate']:,.0f} | "
                      f"{row['us']:,.0f} | {row['parent_us']:,.0f} + {row['worker_us']:,.0f} | "
                      f"{row['failures']:,} | {a:.0f}/{b:.0f}/{c:.0f} | {row['load']} |",
                      flush=True)
    print()
    for target in targets:
        for seeds in sizes:
            one, two, dask = (results.get((target, m, seeds)) for m in MODES)
            parts = []
            if one and two:
                parts.append(f"jobs2/jobs1 {two['rate'] / one['rate']:.2f}x (target >= 1.7x)")
            if two and dask:
                parts.append(f"dask/jobs2 {dask['rate'] / two['rate']:.2f}x (target >= 0.67x)")
            if parts:
                print(f"{target} {seeds:,}: " + "; ".join(parts))
    heavy = results.get(("checkout", "jobs2", 100_000))
    if heavy:
        print(f"checkout 100,000 seeds under heavy, jobs 2: {heavy['seconds']:.0f} s (target < 120 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
