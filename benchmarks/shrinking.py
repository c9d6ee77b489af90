"""Per planted bug: runs to find it (uniform random and PCT) and faults before and after shrinking.

    python benchmarks/shrinking.py [--seeds 200] [--shrink 10]

The bugs are the registry tests of tests/programs/planted_shrink.py, each under
its own fault profile. For each: the seed of the first failure (runs to find
= that + 1) and the failure rate over `--seeds` seeds under the uniform
schedule, under the swarm profile (uniform schedule), and under PCT (depth
2; k is the test's own `pct_steps` or the default), then the first `--shrink` failing seeds of the test's own schedule
shrunk: faults injected before and after (minimum, median, maximum), and
replays per shrink. Everything but the seconds is deterministic.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sim  # noqa: E402
from sim.lowlevel import load_test, run_seed  # noqa: E402

BUGS = ("test_double_debit", "test_check_then_act", "test_race_first_argument", "test_stale_cache")


def _failing(
    loaded: sim.lowlevel.LoadedTest, seeds: range, faults: str | None = None, **options: object
) -> list[sim.lowlevel.SeedRun]:
    chosen = {**loaded.test.options, **options}
    runs = (run_seed(loaded.make_main(), seed=s, faults=faults or loaded.test.faults, test_id=loaded.test_id,
                     options=chosen) for s in seeds)
    return [r for r in runs if not r.ok]


def _found(failing: list[sim.lowlevel.SeedRun], total: int) -> str:
    if not failing:
        return f"not in {total}"
    return f"{failing[0].seed + 1:>4} ({len(failing) / total:6.1%})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--shrink", type=int, default=10, help="failing seeds to shrink per bug")
    args = parser.parse_args()
    seeds = range(args.seeds)
    print(f"{'bug':<26} {'faults':<7} {'uniform: runs (rate)':>21} {'swarm: runs (rate)':>21}"
          f" {'pct d=2: runs (rate)':>21}"
          f"  {'shrunk faults, min/median/max':>30}  {'replays':>9}  {'s/shrink':>8}")
    for name in BUGS:
        loaded = load_test(f"tests/programs/planted_shrink.py::{name}", root=ROOT)
        uniform = _failing(loaded, seeds, schedule="uniform")
        swarm = _failing(loaded, seeds, faults="swarm", schedule="uniform")
        pct = _failing(loaded, seeds, schedule="pct", depth=2)
        own = _failing(loaded, seeds)[: args.shrink]
        before, after, replays, seconds = [], [], [], []
        for run in own:
            start = time.perf_counter()
            result = sim.shrink(run.simulation.trace, root=ROOT)
            seconds.append(time.perf_counter() - start)
            before.append(result.faults_before)
            after.append(result.faults_after)
            replays.append(result.runs)

        def spread(values: list[int]) -> str:
            if not values:
                return "-"
            return f"{min(values)}/{statistics.median(values):g}/{max(values)}"

        print(
            f"{name:<26} {str(loaded.test.faults):<7} {_found(uniform, len(seeds)):>21} "
            f"{_found(swarm, len(seeds)):>21} "
            f"{_found(pct, len(seeds)):>21}  {spread(before) + ' -> ' + spread(after):>30}"
            f"  {spread(replays):>9}  {statistics.mean(seconds) if seconds else 0:8.2f}"
        )


if __name__ == "__main__":
    main()
