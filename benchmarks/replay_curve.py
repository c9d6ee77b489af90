"""The cost curve of a long fan-out under crash faults: does it stay flat?

    python benchmarks/replay_curve.py [--sizes 1000,10000,100000] [--faults none,light]

For each size and fault profile it runs `gather N` (benchmarks/workloads.py)
once, in a fresh process of its own (so no earlier run's heap is alive
around it), and prints CPU µs per call (process time: on a loaded machine
much steadier than wall time), wall µs per call, the collector's share (time
spent in gc callbacks' start-to-stop, and the collections per generation),
peak RSS, and what the replay budget did for the caller: crashes and lost
resume responses injected (rebuilds) and held back (`replay_budget` events).
The last columns compare each size with the one before it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

_CHILD = r"""
import gc, json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import workloads as wl
import sim

n, faults = int(sys.argv[2]), sys.argv[3]
spent = [0.0]
collections = [0, 0, 0]
started = [0.0]

def watch(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        spent[0] += time.perf_counter() - started[0]
        collections[info["generation"]] += 1

gc.collect()
simulation = sim.Simulation(seed=1, faults=faults)
gc.callbacks.append(watch)
cpu, wall = time.process_time(), time.perf_counter()
simulation.run(wl.fan_out(n))
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
gc.callbacks.remove(watch)
root = None
polled = False
rebuilds = held = 0
for event in simulation.trace:
    root = root or event.dispatch_id
    if event.dispatch_id != root:
        continue
    if event.kind == "attempt" and event.status == "POLL":
        polled = True  # from here on, a crash or a lost response means a rebuild
    elif event.kind == "fault" and event.detail in ("crash", "response_lost") and polled:
        rebuilds += 1
    elif event.kind == "replay_budget":
        held += 1
print(json.dumps({
    "cpu": cpu, "wall": wall, "gc": spent[0], "collections": collections, "rebuilds": rebuilds,
    "held": held, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
}))
"""


def _run(n: int, faults: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(HERE), str(n), faults],
        capture_output=True, text=True, check=False, env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    if done.returncode != 0:
        raise SystemExit(f"gather {n} under {faults} failed: {done.stderr.strip().splitlines()[-1:]}")
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="fan-out sizes, comma-separated")
    parser.add_argument("--faults", default="none,light", help="fault profiles, comma-separated")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    header = ["gather", "faults", "CPU µs/call", "wall µs/call", "gc µs/call", "collections gen 0/1/2",
              "rebuilds", "held back", "peak RSS MB", "CPU/call vs previous size"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    for faults in args.faults.split(","):
        previous = None
        for n in sizes:
            r = _run(n, faults)
            calls = n + 1
            cpu = float(r["cpu"]) / calls * 1e6  # type: ignore[arg-type]
            ratio = "-" if previous is None else f"{cpu / previous:.2f}x"
            previous = cpu
            gens = "/".join(str(c) for c in r["collections"])  # type: ignore[attr-defined]
            row = [f"{n:,}", faults, f"{cpu:.1f}", f"{float(r['wall']) / calls * 1e6:.1f}",  # type: ignore[arg-type]
                   f"{float(r['gc']) / calls * 1e6:.2f}", gens, str(r["rebuilds"]), str(r["held"]),  # type: ignore[arg-type]
                   f"{int(r['rss']) / 2**20:.0f}", ratio]  # type: ignore[call-overload]
            print("| " + " | ".join(row) + " |", flush=True)
    print(f"\nload average at the start: {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
