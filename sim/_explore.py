"""Systematic exploration: run a test once per fault point (and per pair of them), each as a script.

`explore(target, depth=1)` runs the test once with an empty `FaultScript`
(nothing injected), which lists every fault point the run met: each attempt
(an endpoint error before it, a lost response after it), each resume of a
suspended coroutine (a crash before it), each evaluation of a `sim.buggify`
site. Then it runs the test once per point, with exactly that fault scripted.
At depth 2 it also runs every pair (a, b) where b is a point met after a in
the run with a injected, so it includes the points a's fault created (the
retry after a lost response is a new attempt, a new point); a pair holding
a point that already fails alone is skipped, as it would only repeat that
failure. Failures are grouped by signature, as a sweep groups them.

"Exhaustive" means: every single fault at the points of the fault-free run
(depth 1), or every pair as above (depth 2), each with one endpoint status
(TIMEOUT), no latency and results in order, under one seed (one trio task
order). Faults at points that only a pair creates, latency, reordering and
other task orders are left to sweeps.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from pathlib import Path

import attrs

from ._decisions import ScriptedDecisions
from ._faults import FaultProfile
from ._runner import LoadedTest, SeedRun, load_test, run_seed
from ._script import Fault, FaultScript

__all__ = ["ExploreGroup", "ExploreResult", "ExploreRun", "explore"]


@attrs.frozen
class ExploreRun:
    """One run of an exploration: its script (empty for the run without faults) and outcome."""

    script: str
    ok: bool
    digest: str
    signature: str | None = None
    error: str = ""
    traceback: str = ""


@attrs.frozen
class ExploreGroup:
    """Failing schedules that share a signature; `scripts` in the order they ran."""

    signature: str
    scripts: tuple[str, ...]
    error: str
    traceback: str

    @property
    def count(self) -> int:
        """How many schedules failed this way."""
        return len(self.scripts)

    @property
    def first(self) -> str:
        """The first schedule that failed this way (the fewest faults: depth 1 runs first)."""
        return self.scripts[0]


@attrs.frozen
class ExploreResult:
    """What an exploration ran and found.

    `points` are the fault points of the run without faults; `runs` every
    run after it (depth 1 first, then pairs); `pairs` how many pairs depth 2
    had to run (some may be cut by the budget: `complete` is False then).
    """

    target: str
    seed: int
    depth: int
    budget: int | None
    baseline: ExploreRun
    points: tuple[str, ...]
    runs: tuple[ExploreRun, ...]
    pairs: int
    seconds: float

    @property
    def complete(self) -> bool:
        """Whether every schedule of the depth ran (the budget did not cut it short)."""
        return len(self.runs) == len(self.points) + self.pairs or not self.baseline.ok

    @property
    def failures(self) -> int:
        """Failing runs, the run without faults included."""
        return sum(1 for r in (self.baseline, *self.runs) if not r.ok)

    @property
    def ok(self) -> bool:
        """Whether no schedule failed."""
        return self.failures == 0

    @property
    def groups(self) -> list[ExploreGroup]:
        """Failing schedules grouped by signature, the most frequent first (then by first run)."""
        found: dict[str, list[ExploreRun]] = {}
        for run in (self.baseline, *self.runs):
            if not run.ok:
                found.setdefault(run.signature or "?", []).append(run)
        groups = [
            ExploreGroup(signature, tuple(r.script for r in runs), runs[0].error, runs[0].traceback)
            for signature, runs in found.items()
        ]
        order = {run.script: i for i, run in enumerate((self.baseline, *self.runs))}
        return sorted(groups, key=lambda g: (-g.count, order[g.first]))

    def points_by_kind(self) -> dict[str, int]:
        """How many fault points of each kind the run without faults met."""
        counts: dict[str, int] = {}
        for point in self.points:
            kind = point.split(None, 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
        return dict(sorted(counts.items()))

    def summary_line(self) -> str:
        """``explore: P fault points, N runs, F failed in G groups``."""
        cut = "" if self.complete else f" (budget of {self.budget} runs reached)"
        return (
            f"explore: {len(self.points)} fault points, {1 + len(self.runs)} runs{cut}, "
            f"{self.failures} failed in {len(self.groups)} groups"
        )


def _record(script: str, run: SeedRun) -> ExploreRun:
    error = run.error
    if error is None:
        return ExploreRun(script, True, run.digest)
    return ExploreRun(
        script,
        False,
        run.digest,
        run.signature,
        f"{type(error).__qualname__}: {error}".splitlines()[0][:500],
        "".join(traceback.format_exception(error))[-8000:],
    )


def run_script(loaded: LoadedTest, script: FaultScript, seed: int) -> tuple[SeedRun, list[Fault]]:
    """Run the test once under `script`; returns the run and the fault points it met."""
    run = run_seed(loaded.make_main(), seed=seed, faults=FaultProfile.coerce(script), test_id=loaded.test_id,
                   options=loaded.test.options)
    decisions = run.simulation.decisions
    assert isinstance(decisions, ScriptedDecisions)
    return run, list(dict.fromkeys(decisions.points))


def explore(
    target: str,
    depth: int = 1,
    budget: int | None = None,
    *,
    seed: int | None = None,
    root: str | Path | None = None,
    on_run: Callable[[ExploreRun], None] | None = None,
) -> ExploreResult:
    """Run the simulation test `target` (a pytest id) once per fault point (depth 1) or also
    per pair of points (depth 2), each as a `FaultScript`, and return what failed.

    `budget` caps the runs after the first one (None: no cap); `seed` is the
    seed of every run (default: the test's first); `on_run` is called with
    each run as it ends.
    """
    if isinstance(depth, bool) or depth not in (1, 2):
        raise ValueError(f"depth must be 1 or 2, got {depth!r}")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
        raise ValueError(f"budget must be a positive number of runs, got {budget!r}")
    start = time.perf_counter()
    loaded = load_test(target, root=Path(root).resolve() if root else None)
    loaded.make_main()  # a test that takes fixtures cannot run outside pytest: say so now
    chosen = loaded.test.seeds[0] if seed is None else seed
    first, points = run_script(loaded, FaultScript(), chosen)
    baseline = _record("", first)
    runs: list[ExploreRun] = []
    pairs: list[tuple[Fault, Fault]] = []

    def add(run: ExploreRun) -> None:
        runs.append(run)
        if on_run is not None:
            on_run(run)

    def room() -> bool:
        return budget is None or len(runs) < budget

    if on_run is not None:
        on_run(baseline)
    if baseline.ok:
        seen: set[tuple[str, str]] = set()
        failing: set[Fault] = set()  # points that fail alone: a pair holding one adds nothing
        for point in points:
            if not room():
                break
            run, met = run_script(loaded, FaultScript((point,)), chosen)
            add(_record(str(point), run))
            if not run.ok:
                failing.add(point)
            elif depth == 2:
                after = met[met.index(point) + 1 :] if point in met else met
                for other in after:
                    key = (str(point), str(other))
                    if key not in seen and key[::-1] not in seen:
                        seen.add(key)
                        pairs.append((point, other))
        pairs = [pair for pair in pairs if pair[1] not in failing]
        for pair in pairs:
            if not room():
                break
            run, _ = run_script(loaded, FaultScript(pair), chosen)
            add(_record(str(FaultScript(pair)), run))
    return ExploreResult(
        loaded.test_id,
        chosen,
        depth,
        budget,
        baseline,
        tuple(str(p) for p in points),
        tuple(runs),
        len(pairs),
        time.perf_counter() - start,
    )

