"""Branching fresh runs off a recorded one: how likely the failure is from a given event on.

`fork(trace, at=E, seeds=N)` replays the trace's decisions up to event E and
draws the rest from N new seeds, one branch each, and reports like a sweep:
how many branches fail, grouped by signature, and how many fail as the
recorded run did. Branching early and late shows where the bug becomes
likely (or certain), as FoundationDB's re-seeding and Antithesis' multiverse
debugging do.

Which draws come before event E is found by replaying the trace once with a
source that notes, for each draw, how many events the trace held when it was
drawn: no trace needs to record it, so digests are untouched. An event
depends only on draws taken before it was written, so the branches share the
recorded events ``0..E-1`` exactly (checked). trio's task order and the
`random` module follow the recorded seed in every branch, as in a replay.
"""

from __future__ import annotations

import bisect
import random
import time
import traceback
from collections.abc import Callable, Mapping, Sized
from pathlib import Path
from typing import Any

import attrs

from ._decisions import RecordedRandom
from ._runner import recorded_run, run_seed
from ._simulation import Simulation
from ._sweep import SeedRecord, SweepResult
from ._trace import Trace

__all__ = ["ForkResult", "fork"]


class _CountingRandom(RecordedRandom):
    """Replays a record and notes how many events the trace held at each draw."""

    def __init__(self, draws: list[float]) -> None:
        super().__init__(draws)
        self.events: Sized = ()  # the trace, once the simulation exists
        self.at_event: list[int] = []

    def random(self) -> float:
        self.at_event.append(len(self.events))
        return super().random()


class _BranchRandom(random.Random):
    """The recorded draws of a prefix, then fresh ones from a seeded source."""

    def __init__(self, prefix: list[float], seed: str) -> None:
        super().__init__(seed)
        self._prefix = prefix
        self._next = 0

    def random(self) -> float:
        i = self._next
        if i < len(self._prefix):
            self._next = i + 1
            return self._prefix[i]
        return super().random()


@attrs.frozen
class ForkResult:
    """The branches of a fork: one sweep-like record per new seed.

    `kept` is how many recorded draws every branch replays before drawing
    fresh ones; `signature` the recorded run's failure (None if it passed);
    `prefix_diverged` counts branches whose first `at` events differed from
    the recording (user code that is not deterministic); `traces` holds the
    trace of the first branch of each failure signature.
    """

    original: Trace
    at: int
    kept: int
    signature: str | None
    sweep: SweepResult
    prefix_diverged: int = 0
    traces: Mapping[str, Trace] = attrs.field(factory=dict)

    @property
    def failures(self) -> int:
        """Branches that failed, whatever their signature."""
        return self.sweep.failures

    @property
    def same_failure(self) -> int:
        """Branches that failed as the recorded run did."""
        return sum(1 for r in self.sweep.records if not r.ok and r.signature == self.signature)

    def report(self) -> str:
        """Lines like a sweep's summary, with the branch point and the failure's rate."""
        runs = self.sweep.runs
        total = len(self.original)
        draws = len(self.original.header.get("decisions") or [])
        lines = [
            f"fork at event {self.at} of {total} (replaying {self.kept} of {draws} recorded draws), "
            f"{runs} branches from new seeds"
        ]
        if self.signature is not None:
            lines.append(
                f"the recorded failure happens in {self.same_failure} of {runs} branches "
                f"({self.same_failure / runs:.0%}): {self.signature}"
            )
        else:
            lines.append("the recorded run passed")
        lines.append(f"{self.failures} of {runs} branches failed in {len(self.sweep.groups)} group(s)")
        for group in self.sweep.groups:
            shown = ", ".join(map(str, group.seeds[:10])) + (", ..." if group.count > 10 else "")
            lines.append(f"  {group.count} x {group.signature}  (branches {shown})")
        if self.prefix_diverged:
            lines.append(
                f"warning: {self.prefix_diverged} branches did not repeat the first {self.at} events "
                "(user code that is not deterministic?)"
            )
        return "\n".join(lines)


def fork(
    trace: Trace | str | Path,
    *,
    at: int,
    seeds: int = 100,
    main: Callable[[], Any] | None = None,
    options: Mapping[str, Any] | None = None,
    root: Path | None = None,
) -> ForkResult:
    """Replay `trace` up to event `at`, then draw fresh decisions from `seeds` new seeds.

    `main` is the coroutine function the trace ran (by default the test the
    trace names is loaded, from `root`). Raises ValueError when `at` is not
    an event index of the trace (0 to its length) or the trace cannot be
    replayed.
    """
    original = trace if isinstance(trace, Trace) else Trace.load(trace)
    if isinstance(at, bool) or not isinstance(at, int) or not 0 <= at <= len(original):
        raise ValueError(f"--at {at!r}: the trace has {len(original)} events; give 0 to {len(original)}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive int, got {seeds!r}")
    main, run_options, draws = recorded_run(original.header, main, options, root)
    counting = _CountingRandom(draws)
    simulation = Simulation.from_trace(original, **run_options, rng=counting)
    # The trace itself, read while the run appends to it: the one place that
    # knows how many events there are at each draw.
    counting.events = simulation.trace
    first = run_seed(main, simulation=simulation)
    kept = bisect.bisect_left(counting.at_event, at)
    prefix = [float(d) for d in simulation.decisions.record[:kept]]
    # Events as the digest sees them: what they carried as fingerprints (live values
    # and a loaded file's summaries compare equal when the values were the same).
    recorded = original._digest_forms(at)
    start = time.perf_counter()
    records, traces, diverged = [], {}, 0
    for branch in range(seeds):
        rng = _BranchRandom(prefix, f"dispatch-sim:fork:{original.digest()}:{at}:{branch}")
        run = run_seed(main, simulation=Simulation.from_trace(original, **run_options, rng=rng))
        diverged += run.simulation.trace._digest_forms(at) != recorded
        error = run.error
        records.append(
            SeedRecord(
                seed=branch,
                ok=error is None,
                digest=run.digest,
                seconds=0.0,
                signature=run.signature,
                error="" if error is None else f"{type(error).__qualname__}: {error}".splitlines()[0][:500],
                traceback="" if error is None else "".join(traceback.format_exception(error))[-8000:],
                faults=tuple(run.simulation.trace.fault_counts().items()),
            )
        )
        if run.signature is not None and run.signature not in traces:
            traces[run.signature] = run.simulation.trace
    target = str(original.header.get("test_id") or "?")
    result = SweepResult(target, str(original.header.get("faults")), tuple(records), time.perf_counter() - start)
    return ForkResult(original, at, kept, first.signature, result, diverged, traces)
