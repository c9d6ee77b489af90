"""Benchmarks: dispatch-sim's cost per call, side by side with the Dispatch SDK's test server.

    python benchmarks/run.py [--quick] [--repeat N] [--markdown FILE]

For each workload and fault profile it prints two median wall times: "run
ms", a fresh Simulation per repeat (trio startup, setup and the final drain
included: what one seed of a seed sweep costs), and "in-run ms", the workload
awaited repeatedly inside one running simulation after a warm-up, which is
how the SDK is timed inside its test server. Calls per second and
microseconds per call come from in-run ms. It also prints peak memory per
call (a separate fresh run under tracemalloc) and trace bytes per event (the
saved trace file, header included). When
`dispatch-py` is installed (see requirements-baseline.txt; skipped with a
message otherwise) the SDK's test server runs the four shared workloads both
ways: "SDK/us" is its in-server time over our in-run time, "run ratio" its
fresh-server time over our fresh run. The floor is the same number of bare
coroutine sends, the least any coroutine-based runner pays per call. A cost
curve follows the table: µs/call at ~1k, ~10k and ~100k calls per shape.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any


HERE = Path(__file__).resolve().parent
# Bound here: inside a simulation `time.perf_counter` reads virtual time (the
# deterministic environment), and the in-run timing runs inside one.
_wall = time.perf_counter
sys.path.insert(0, str(HERE))

import workloads as wl  # noqa: E402


def _simulate(workload: Any, faults: str) -> Any:
    import sim

    simulation = sim.Simulation(seed=1, faults=faults)
    simulation.run(workload())
    return simulation


def _time_run(workload: Any, faults: str, repeat: int) -> tuple[float, Any]:
    """Median seconds of a fresh simulation per repeat, and the last simulation.

    What one seed of a seed sweep costs: trio startup, setup and the final drain.
    """
    times = []
    simulation = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        simulation = _simulate(workload, faults)
        times.append(time.perf_counter() - start)
    return statistics.median(times), simulation


def _time_in_run(workload: Any, faults: str, repeat: int) -> float:
    """Median seconds of the workload awaited `repeat` times inside one simulation.

    Measured the way sdk_baseline.py times the SDK inside its running test
    server, so that per-run setup is excluded on both sides.
    """
    import sim

    times: list[float] = []

    async def main() -> None:
        await workload()  # untimed warm-up, as on the SDK side
        for _ in range(repeat):
            gc.collect()  # as in _time_run, so no collection of earlier garbage lands in a timing
            start = _wall()
            await workload()
            times.append(_wall() - start)

    sim.Simulation(seed=1, faults=faults).run(main)
    return statistics.median(times)


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


def _baseline(names: list[str], repeat: int) -> dict[str, tuple[float, float]] | str:
    """Median seconds per workload on the SDK's test server, run in a subprocess.

    Each value is (inside one running server, a fresh server per run); a
    string says why there are none.
    """
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
        # Names contain spaces but no tabs, so split the two numbers off the right.
        name, in_server, fresh = line.rsplit("\t", 2)
        results[name] = (float(in_server), float(fresh))
    return results


BIG = 90_000
"""Calls from which a workload counts as ~100k: --quick skips it, and it runs once.
(merge sort 50k makes 99,999 calls.)"""

NO_LIGHT_FAULTS: tuple[str, ...] = ()
"""Workloads not run with light faults. None since the replay budget counts a call's
journal size: a 100k-call gather is rebuilt a bounded number of times (README, "Fault
profiles"), so its light run costs seconds, not minutes."""

HEADER = ["workload", "faults", "calls", "run ms", "in-run ms", "calls/s", "µs/call",
          "floor µs", "peak B/call", "trace B/event", "SDK ms", "SDK/us", "SDK run ms",
          "run ratio"]


def _repeats(calls: int, default: int) -> int:
    # Fewer repeats for the long workloads keep the whole script to minutes.
    return 1 if calls >= BIG else (3 if calls >= 10_000 else default)


def _saved_size(trace: Any) -> int:
    """Bytes of the trace saved as a file (its header included): what a trace costs on disk."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.trace"
        trace.save(path)
        return path.stat().st_size


def _row(
    name: str, calls: int, faults: str, repeat: int, floor: float,
    sdk: tuple[float, float] | None,
) -> tuple[list[str], float]:
    """One table row, and the in-run microseconds per call (for the cost curve)."""
    workload, _ = wl.WORKLOADS[name]
    run, simulation = _time_run(workload, faults, repeat)
    in_run = _time_in_run(workload, faults, repeat)
    peak = _peak_memory(workload, faults)
    trace_bytes = _saved_size(simulation.trace)
    us_per_call = in_run / calls * 1e6
    row = [
        name,
        faults,
        str(calls),
        f"{run * 1e3:.1f}",
        f"{in_run * 1e3:.1f}",
        f"{calls / in_run:,.0f}",
        f"{us_per_call:.1f}",
        f"{floor:.2f}",
        f"{peak / calls:,.0f}",
        f"{trace_bytes / len(simulation.trace):.1f}",
        # Like for like: the SDK inside its running server against our in-run,
        # and a fresh SDK server against a fresh simulation.
        "-" if sdk is None else f"{sdk[0] * 1e3:.1f}",
        "-" if sdk is None else f"{sdk[0] / in_run:.0f}x",
        "-" if sdk is None else f"{sdk[1] * 1e3:.1f}",
        "-" if sdk is None else f"{sdk[1] / run:.0f}x",
    ]
    return row, us_per_call


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def _curve(us_per_call: dict[str, float], quick: bool) -> list[str]:
    """The cost curve: in-run µs/call at ~1k, ~10k and ~100k calls per shape."""

    def cell(name: str) -> str:
        return f"{us_per_call[name]:.1f}" if name in us_per_call else "-"

    def ratio(big: str, small: str) -> str:
        if big not in us_per_call or small not in us_per_call:
            return "-"
        return f"{us_per_call[big] / us_per_call[small]:.2f}x"

    rows = [
        [shape, cell(k1), cell(k10), cell(k100), ratio(k10, k1), ratio(k100, k1)]
        for shape, (k1, k10, k100) in wl.CURVE.items()
    ]
    lines = [
        "Cost curve: µs/call from in-run ms, faults none (the goal: 100k within 1.5x of 1k).",
        "",
        *_table(["shape", "~1k", "~10k", "~100k", "10k/1k", "100k/1k"], rows),
    ]
    if quick:
        lines += ["", "~100k not run (--quick)."]
    return lines


def _notes(baseline: dict[str, tuple[float, float]] | str) -> list[str]:
    notes = [
        "run ms: a fresh Simulation per repeat (trio startup, setup and the final drain "
        "included: what one seed of a seed sweep costs). in-run ms: the workload awaited "
        "repeatedly inside one running simulation, after an untimed warm-up, the way the "
        "SDK is timed inside its test server. calls/s and µs/call are from in-run ms. "
        "Under light faults each in-run repeat takes later draws of the seed, so its faults "
        "differ from the fresh run's (which are the same every repeat).",
    ]
    if isinstance(baseline, dict):
        notes.append(
            "SDK ms: the Dispatch SDK's test server, the workload awaited inside one running "
            "server after a warm-up; SDK/us = SDK ms / in-run ms. SDK run ms: a fresh test "
            "server per run; run ratio = SDK run ms / run ms."
        )
    else:
        notes.append(f"SDK baseline {baseline}")
    return notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the ~100k-call workloads")
    parser.add_argument("--repeat", type=int, default=5, help="runs per workload (median)")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args()

    baseline = _baseline(list(wl.SHARED), 3)
    rows: list[list[str]] = []
    us_per_call: dict[str, float] = {}
    skipped: list[str] = []
    for name, (_, calls) in wl.WORKLOADS.items():
        if calls >= BIG and args.quick:
            continue
        repeat = _repeats(calls, args.repeat)
        floor = _floor(calls) / calls * 1e6
        for faults in ("none", "light"):
            if faults == "light" and name in NO_LIGHT_FAULTS:
                skipped.append(name)
                continue
            sdk = baseline.get(name) if isinstance(baseline, dict) and faults == "none" else None
            row, us = _row(name, calls, faults, repeat, floor, sdk)
            if faults == "none":
                us_per_call[name] = us
            rows.append(row)
            print(" | ".join(row), flush=True)
    info = (
        f"{time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, {platform.machine()}"
    )
    lines = [f"Machine: {info}", "", *_table(HEADER, rows), ""]
    lines += [line for note in _notes(baseline) for line in (note, "")]
    if skipped:
        lines += [
            f"Not run with light faults: {', '.join(skipped)}.",
            "",
        ]
    lines += _curve(us_per_call, args.quick)
    text = "\n".join(lines)
    print()
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
