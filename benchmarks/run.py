"""Benchmarks: dispatch-sim's cost per call, side by side with the Dispatch SDK's test server.

    python benchmarks/run.py [--quick] [--repeat N] [--markdown FILE]

For each workload and fault profile it prints the median wall time of
several runs, calls per second, microseconds per call, peak memory per call
(a separate run under tracemalloc) and trace bytes per event. The SDK's own
test server runs the first four workloads when `dispatch-py` is installed
(see requirements-baseline.txt; it is skipped with a message otherwise). The
floor is the same number of bare coroutine sends, the least any
coroutine-based runner pays per call.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import cbor2

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workloads as wl  # noqa: E402


def _simulate(workload: Any, faults: str) -> Any:
    import sim

    simulation = sim.Simulation(seed=1, faults=faults)
    simulation.run(workload())
    return simulation


def _time(workload: Any, faults: str, repeat: int) -> tuple[float, Any]:
    times = []
    simulation = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        simulation = _simulate(workload, faults)
        times.append(time.perf_counter() - start)
    return statistics.median(times), simulation


def _peak_memory(workload: Any, faults: str) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        _simulate(workload, faults)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _floor(calls: int) -> float:
    async def step(i: int) -> int:
        return i

    start = time.perf_counter()
    for i in range(calls):
        coro = step(i)
        try:
            coro.send(None)
        except StopIteration:
            pass
    return time.perf_counter() - start


def _baseline(names: list[str], repeat: int) -> dict[str, float] | str:
    """Median seconds per workload on the SDK's test server, run in a subprocess."""
    python = os.environ.get("DISPATCH_SDK_PYTHON", sys.executable)
    probe = subprocess.run([python, "-c", "import dispatch.test"], capture_output=True, text=True)
    if probe.returncode != 0:
        return (
            "skipped: dispatch-py is not installed (pip install -r benchmarks/"
            "requirements-baseline.txt, or set DISPATCH_SDK_PYTHON to a Python that has it)"
        )
    done = subprocess.run(
        [python, str(HERE / "sdk_baseline.py"), str(repeat), *names],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}"
    results = {}
    for line in done.stdout.splitlines():
        name, _, seconds = line.rpartition("\t")
        results[name] = float(seconds)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 100k-call workloads")
    parser.add_argument("--repeat", type=int, default=5, help="runs per workload (median)")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args()

    table = wl.WORKLOADS
    rows: list[list[str]] = []
    header = ["workload", "faults", "calls", "wall ms", "calls/s", "µs/call",
              "floor µs", "peak B/call", "trace B/event", "SDK ms", "SDK/us"]
    baseline = _baseline(list(wl.SHARED), 3)
    skipped: list[str] = []
    for name, (workload, calls) in table.items():
        big = calls >= 100_000
        if big and args.quick:
            continue
        repeat = 1 if big else (3 if calls >= 10_000 else args.repeat)
        floor = _floor(calls) / calls * 1e6
        for faults in ("none", "light"):
            if big and faults == "light":
                # Each injected crash replays the caller's whole journal, and
                # a 100k-call gather resumes ~10k times: minutes, not seconds.
                skipped.append(name)
                continue
            seconds, simulation = _time(workload, faults, repeat)
            peak = _peak_memory(workload, faults)
            trace_bytes = len(cbor2.dumps(simulation.trace._events, canonical=True))
            sdk = baseline.get(name) if isinstance(baseline, dict) and faults == "none" else None
            rows.append(
                [
                    name,
                    faults,
                    str(calls),
                    f"{seconds * 1e3:.1f}",
                    f"{calls / seconds:,.0f}",
                    f"{seconds / calls * 1e6:.1f}",
                    f"{floor:.2f}",
                    "-" if peak is None else f"{peak / calls:,.0f}",
                    f"{trace_bytes / len(simulation.trace):.1f}",
                    "-" if sdk is None else f"{sdk * 1e3:.1f}",
                    "-" if sdk is None else f"{sdk / seconds:.0f}x",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    info = (
        f"{time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, {platform.machine()}"
    )
    lines = [
        f"Machine: {info}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]
    if not isinstance(baseline, dict):
        lines += ["", f"SDK baseline {baseline}"]
    if skipped:
        lines += [
            "",
            f"Not run with light faults: {', '.join(skipped)}. A crash fault rebuilds the "
            "coroutine by replaying its whole journal, so its cost grows with the number of "
            "resumes (a 10k-call gather under light faults already spends most of its time "
            "there).",
        ]
    text = "\n".join(lines)
    print()
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
