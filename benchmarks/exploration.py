"""Runs to first find each planted bug, strategy by strategy.

    python benchmarks/exploration.py [--max-runs 200]

The bugs are the tests of tests/programs/planted_bugs.py (the four of
tests/test_planted_bugs.py, as loadable tests, plus a specific crash point,
one lost response among 60 calls and a buggify point). Each strategy is one
function taking a test id and returning the number of runs until the first
failing one (counting that run), or None when none failed within the cap;
add a column by adding a function to STRATEGIES. Run from the project root.
Counts are deterministic, except for the wall-clock bug, whose failure
depends on the wall clock by design.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sim  # noqa: E402
from sim.lowlevel import load_test, run_seed  # noqa: E402

PROGRAM = "tests/programs/planted_bugs.py"
BUGS = (
    ("double debit (lost response)", "test_double_debit"),
    ("check then act (latency)", "test_check_then_act"),
    ("race favours first (reorder)", "test_race_favours_first"),
    ("wall-clock branch (crash)", "test_wall_clock_branch"),
    ("receipt window (one crash point)", "test_receipt_window"),
    ("invoice among 60 calls (one lost response)", "test_invoice_among_many"),
    ("stale replica (buggify)", "test_stale_replica"),
)

MAX_RUNS = 200


def _seeds_until_failure(target: str, faults: str) -> int | None:
    loaded = load_test(target, root=ROOT)
    for seed in range(MAX_RUNS):
        run = run_seed(loaded.make_main(), seed=seed, faults=faults, test_id=loaded.test_id,
                       options=loaded.test.options)
        if not run.ok:
            return seed + 1
    return None


def uniform_light(target: str) -> int | None:
    """Seeds 0, 1, 2, ... under the light profile."""
    return _seeds_until_failure(target, "light")


def uniform_heavy(target: str) -> int | None:
    """Seeds 0, 1, 2, ... under the heavy profile."""
    return _seeds_until_failure(target, "heavy")


def swarm(target: str) -> int | None:
    """Seeds 0, 1, 2, ... under swarm (each seed a random subset of fault kinds)."""
    return _seeds_until_failure(target, "swarm")


def explore_depth1(target: str) -> int | None:
    """The fault-free run, then one run per fault point, in the order they were met."""
    result = sim.explore(target, depth=1, budget=MAX_RUNS - 1, root=ROOT)
    for index, run in enumerate((result.baseline, *result.runs), 1):
        if not run.ok:
            return index
    return None


Strategy = Callable[[str], "int | None"]
STRATEGIES: list[tuple[str, Strategy]] = [
    ("uniform light", uniform_light),
    ("uniform heavy", uniform_heavy),
    ("swarm", swarm),
    ("explore depth 1", explore_depth1),
]


def table() -> list[str]:
    """The table's lines: one row per bug, one column per strategy."""
    width = max(len(name) for name, _ in BUGS)
    head = f"{'bug':<{width}}" + "".join(f" | {name:>15}" for name, _ in STRATEGIES)
    lines = [head, "-" * len(head)]
    for name, test in BUGS:
        target = f"{PROGRAM}::{test}"
        cells = []
        for _, strategy in STRATEGIES:
            found = strategy(target)
            cells.append(f"> {MAX_RUNS}" if found is None else str(found))
        lines.append(f"{name:<{width}}" + "".join(f" | {c:>15}" for c in cells))
    return lines


def main() -> int:
    global MAX_RUNS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-runs", type=int, default=MAX_RUNS, help="give up on a strategy after this many runs")
    MAX_RUNS = parser.parse_args().max_runs
    for line in table():
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
