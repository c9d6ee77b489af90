"""Shrinking a failing run: delta debugging over the decisions its trace recorded.

A trace records every draw its run took (``header["decisions"]``). `shrink`
replays the run with some decisions set to their benign value (no fault, no
delay), keeps a change when the replay still fails with the same signature
(`failure_signature`), and ends with a run whose every remaining fault is
needed: making any one of them benign makes the failure go away (or change).

Draws are not independent positions: an endpoint fault takes a second draw
(which status), a fault that no longer happens skips its retry and the
retry's draws, so replaying a changed list of draws by position hands later
draws to the wrong decisions (a removed fault would create others further
on). The shrinker therefore replays by identity instead: `_NotingDecisions`
notes which call and attempt each decision was for (its *key*: the decision,
the dispatch id, the attempt, and how many such decisions came before), and
`_PlannedDecisions` gives each decision of a candidate run the draws recorded
for its key, or the benign 0.0 for a key made benign or never seen. The
trace kept is a candidate's own record of draws, which replays by position
exactly, like any other trace.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import attrs

from ._decisions import Decisions
from ._faults import FaultProfile
from ._records import _Record  # the service's call record: a decision's call is one
from ._runner import SeedRun, TestMain, recorded_run, run_seed
from ._simulation import Simulation
from ._status import Status
from ._trace import Event, Trace

__all__ = ["ShrinkResult", "attach_shrunk", "describe_fault", "shrink", "shrunk_of"]

_SHRUNK = "__dispatch_sim_shrunk__"
"""The attribute of a failing run's exception that holds its `ShrinkResult`, once shrunk."""

# The kinds of decision a shrinker tries to make benign: the faults first, then timing.
_FAULT, _TIMING = "fault", "timing"

Key = tuple[Any, ...]
"""A decision's identity: (decision, dispatch id, attempt, how many such before it)."""


def _deciding_for() -> _Record | None:
    # The decision methods are not told which call they decide for (the service's
    # hot path passes nothing, and only the shrinker needs it), so look for the
    # service frame that holds the call's record: the caller of the decision, or
    # its caller (jitter is drawn inside RetryPolicy.retry_delay, a reordering
    # inside Service._prepare_resume). A frame walk is slow, which only a shrink pays.
    frame: FrameType | None = sys._getframe(3)
    for _ in range(4):
        if frame is None:
            return None
        found = frame.f_locals.get("rec")
        if isinstance(found, _Record):
            return found
        frame = frame.f_back
    return None


class _NotingDecisions(Decisions):
    """Decisions that also note each decision's key, draws and benignity.

    Only the shrinker and fork use it: the hot path keeps the plain `Decisions`.
    """

    def __init__(self, profile: FaultProfile, rng: random.Random | str) -> None:
        # (key, first draw, number of draws, fault or timing, benign?), in draw order.
        self.spans: list[tuple[Key, int, int, str, bool]] = []
        self._seen: dict[Key, int] = {}
        super().__init__(profile, rng)
        self.swarm_draws = len(self.record)

    def _begin(self, decision: str, args: tuple[Any, ...] = ()) -> Key:
        # A source that is handed the call's record (as targeted ones are) says
        # which call it decides for; otherwise the service's frame does.
        rec = next((a for a in args if isinstance(a, _Record)), None) or _deciding_for()
        base = (decision, rec.id, rec.attempt) if rec is not None else (decision, None, None)
        n = self._seen.get(base, 0)
        self._seen[base] = n + 1
        return (*base, n)

    def _note(self, key: Key, start: int, kind: str, benign: bool) -> None:
        taken = len(self.record) - start
        if taken:
            self.spans.append((key, start, taken, kind, benign))

    def endpoint_fault(self, *args: Any) -> Status | None:
        key, start = self._begin("endpoint_fault", args), len(self.record)
        fault = super().endpoint_fault(*args)
        self._note(key, start, _FAULT, fault is None)
        return fault

    def response_lost(self, *args: Any) -> bool:
        key, start = self._begin("response_lost", args), len(self.record)
        lost = super().response_lost(*args)
        self._note(key, start, _FAULT, not lost)
        return lost

    def crash(self, *args: Any) -> bool:
        key, start = self._begin("crash", args), len(self.record)
        crashed = super().crash(*args)
        self._note(key, start, _FAULT, not crashed)
        return crashed

    def reorder(self, ready: int, *args: Any) -> tuple[int, int] | None:
        key, start = self._begin("reorder", args), len(self.record)
        shuffle = super().reorder(ready, *args)
        self._note(key, start, _FAULT, shuffle is None)
        return shuffle

    def latency(self, *args: Any) -> float:
        key, start = self._begin("latency", args), len(self.record)
        delay = super().latency(*args)
        self._note(key, start, _TIMING, delay == 0.0)
        return delay

    def jitter(self, *args: Any) -> float:
        key, start = self._begin("jitter", args), len(self.record)
        fraction = super().jitter(*args)
        self._note(key, start, _TIMING, fraction == 0.0)
        return fraction


class _Plan(random.Random):
    """What a planned run draws: the swarm prefix, then per key the draws to give."""

    def __init__(self, swarm: list[float], draws: dict[Key, list[float]]) -> None:
        super().__init__(0)
        self.swarm, self.draws = swarm, draws


class _PlannedDecisions(_NotingDecisions):
    """Decisions that take, for each key, the draws a `_Plan` holds for it (0.0, the
    benign draw, past them or for a key it does not hold)."""

    def __init__(self, profile: FaultProfile, rng: random.Random | str) -> None:
        self._pending: list[float] = []
        self._plan = rng if isinstance(rng, _Plan) else _Plan([], {})
        self._pending = list(reversed(self._plan.swarm))
        super().__init__(profile, rng)

    def _draw(self) -> float:
        pending = self._pending
        u = pending.pop() if pending else 0.0
        self.record.append(u)
        return u

    def _begin(self, decision: str, args: tuple[Any, ...] = ()) -> Key:
        key = super()._begin(decision, args)
        self._pending = list(reversed(self._plan.draws.get(key, ())))
        return key


class _NotingSimulation(Simulation):
    _decisions_type = _NotingDecisions


class _PlannedSimulation(Simulation):
    _decisions_type = _PlannedDecisions


def describe_fault(event: Event) -> str:
    """``response_lost on d2 debit attempt 1``: one injected fault, short."""
    status = f" ({event.status})" if event.status and event.detail == "endpoint_error" else ""
    return f"{event.detail} on {event.dispatch_id} {event.function} attempt {event.attempt}{status}"


@attrs.frozen
class ShrinkResult:
    """What `shrink` found: the original and the minimal failing trace.

    `trace` fails with `signature` and replays exactly (its header records
    the draws its run took); `runs` counts the replays made, `complete` is
    False when a limit stopped the search before every remaining fault was
    tried alone.
    """

    original: Trace
    trace: Trace
    signature: str
    runs: int
    seconds: float
    complete: bool
    _decisions: Any = attrs.field(default=None, repr=False, eq=False)  # the minimal run's
    _first: Any = attrs.field(default=None, repr=False, eq=False)  # the original replay's

    @property
    def faults_before(self) -> int:
        """Faults the original run injected (reorderings of poll results included)."""
        return len(self.original.faults()) + len(_reorders(self._first))

    @property
    def faults_after(self) -> int:
        """Faults the minimal run injects (reorderings of poll results included)."""
        return len(self.trace.faults()) + len(_reorders(self._decisions))

    def fault_lines(self) -> list[str]:
        """The minimal run's faults, one short line each: the trace's fault events, then
        the reorderings (which the trace shows only as the order results arrived in)."""
        functions = {e.dispatch_id: e.function for e in self.trace if e.kind == "dispatch"}
        lines = [describe_fault(e) for e in self.trace.faults()]
        for _, call, attempt, _ in _reorders(self._decisions):
            lines.append(f"reorder on {call} {functions.get(call, '?')} results for attempt {attempt}")
        return lines

    def faults_line(self) -> str:
        """``11 faults -> 1: response_lost on d2 debit attempt 1``."""
        after = self.fault_lines()
        shown = "; ".join(after[:5]) + ("; ..." if len(after) > 5 else "")
        head = f"{_plural(self.faults_before, 'fault')} -> {len(after)}"
        return f"{head}: {shown}" if after else f"{head} (the failure needs no fault)"

    def summary(self) -> str:
        """The faults line, then what else the run still needs and how the search went."""
        stop = "" if self.complete else " (stopped by its limit: not every fault was tried alone)"
        timing = len(_targets_of(self._decisions, _TIMING))
        return (
            f"{self.faults_line()}\n"
            f"it also keeps {_plural(timing, 'non-zero latency or jitter draw')}\n"
            f"shrunk in {self.runs} replays, {self.seconds:.1f} s{stop}; failure: {self.signature}"
        )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class _Search:
    """The replays of one shrink: the best failing run so far and the limits."""

    def __init__(
        self,
        main: TestMain,
        header: Mapping[str, Any],
        options: Mapping[str, Any],
        max_runs: int,
        time_limit: float | None,
    ) -> None:
        self.main, self.header, self.options = main, dict(header), dict(options)
        self.max_runs, self.time_limit = max_runs, time_limit
        self.runs = 0
        self.start = time.monotonic()  # a budget on the search only; never seen by a run
        self.stopped = False

    def out_of_budget(self) -> bool:
        if self.runs >= self.max_runs or (
            self.time_limit is not None and time.monotonic() - self.start >= self.time_limit
        ):
            self.stopped = True
        return self.stopped

    def replay(self, draws: list[float]) -> SeedRun:
        """Replay `draws` by position, noting each decision's key."""
        self.runs += 1
        recorded = Trace({**self.header, "decisions": draws})
        return run_seed(self.main, simulation=_NotingSimulation.from_trace(recorded, **self.options))

    def planned(self, best: SeedRun, chunk: list[Key], renumber: bool) -> SeedRun:
        """Replay `best` by decision key, with the decisions of `chunk` made benign.

        With `renumber`, a failed attempt made benign takes its retry away, so
        the later attempts of that call move one attempt earlier and keep their
        decisions (a lost response at attempt 2, after an endpoint error at
        attempt 1, becomes a lost response at attempt 1).
        """
        self.runs += 1
        decisions = best.simulation.decisions
        assert isinstance(decisions, _NotingDecisions)
        record = decisions.record
        benign = set(chunk)
        removed: dict[Any, list[int]] = {}
        if renumber:
            for decision, call, attempt, _ in chunk:
                if decision in _RETRIED and call is not None:
                    removed.setdefault(call, []).append(attempt)
        draws: dict[Key, list[float]] = {}
        for key, start, n, _, _ in decisions.spans:
            decision, call, attempt, nth = key
            if key in benign:
                draws.setdefault(key, [0.0])
                continue
            gone = removed.get(call)
            if gone:
                if attempt in gone:
                    continue  # the rest of an attempt that no longer fails (its retry's jitter)
                attempt -= sum(1 for a in gone if a < attempt)
            draws.setdefault((decision, call, attempt, nth), record[start : start + n])
        plan = _Plan(record[: decisions.swarm_draws], draws)
        recorded = Trace({**self.header, "decisions": []})
        simulation = _PlannedSimulation.from_trace(recorded, **self.options, rng=plan)
        return run_seed(self.main, simulation=simulation)


# Faults after which the call's attempt is retried: making one benign removes an attempt.
_RETRIED = frozenset({"endpoint_fault", "response_lost"})


def _targets(run: SeedRun, kind: str) -> list[Key]:
    return _targets_of(run.simulation.decisions, kind)


def _reorders(decisions: Any) -> list[Key]:
    return [key for key in _targets_of(decisions, _FAULT) if key[0] == "reorder"]


def _targets_of(decisions: Any, kind: str) -> list[Key]:
    if not isinstance(decisions, _NotingDecisions):
        return []
    return [key for key, _, _, k, benign in decisions.spans if k == kind and not benign]


def _cost(run: SeedRun) -> tuple[int, int, int]:
    # Fewer faults first, then fewer non-zero timing draws, then fewer draws.
    return (len(_targets(run, _FAULT)), len(_targets(run, _TIMING)), len(run.simulation.decisions.record))


def _ddmin(search: _Search, best: SeedRun, signature: str, kind: str) -> tuple[SeedRun, bool]:
    """Benign chunks of the `kind` decisions of `best`, halving the chunks down to single
    decisions; returns the smallest failing run found and whether the search finished."""
    chunks = 1
    while True:
        targets = _targets(best, kind)
        if not targets:
            return best, True
        chunks = min(max(chunks, 1), len(targets))
        size = -(-len(targets) // chunks)  # ceiling division
        improved = False
        for first in range(0, len(targets), size):
            if search.out_of_budget():
                return best, False
            chunk = targets[first : first + size]
            # A chunk with a retried fault is tried with the later attempts renumbered
            # first (usually what keeps the failure), then as it is.
            variants = (True, False) if any(k[0] in _RETRIED for k in chunk) else (False,)
            for renumber in variants:
                if search.out_of_budget():
                    return best, False
                candidate = search.planned(best, chunk, renumber)
                if candidate.signature == signature and _cost(candidate) < _cost(best):
                    best, improved = candidate, True
                    break
            if improved:
                break
        if improved:
            chunks = max(chunks - 1, 1)
        elif chunks >= len(targets):
            return best, True
        else:
            chunks = min(2 * chunks, len(targets))


def shrink(
    trace: Trace | str | Path,
    main: Callable[[], Any] | None = None,
    *,
    max_runs: int = 500,
    time_limit: float | None = 60.0,
    timing: bool = True,
    options: Mapping[str, Any] | None = None,
    root: Path | None = None,
) -> ShrinkResult:
    """Shrink a failing run to the faults its failure needs.

    `trace` is a failing run's trace (or the path of its file). `main` is the
    coroutine function it ran; by default the test the trace names is loaded
    (as ``python -m sim replay`` does, from `root`, the current directory by
    default). Decisions are made benign in chunks, then one at a time (delta
    debugging); a replay that still fails with the same signature is kept.
    With `timing`, latencies and retry jitter are then zeroed the same way,
    where the failure allows. At most `max_runs` replays (the first, which checks that the trace
    fails, included) and `time_limit`
    seconds of wall time (None: no limit) are spent; the best run found by
    then is returned.

    Raises ValueError when the trace cannot be replayed or its replay passes.
    """
    original = trace if isinstance(trace, Trace) else Trace.load(trace)
    if not (isinstance(max_runs, int) and max_runs >= 1):
        raise ValueError(f"max_runs must be a positive int, got {max_runs!r}")
    main, run_options, draws = recorded_run(original.header, main, options, root)
    search = _Search(main, original.header, run_options, max_runs, time_limit)
    first = search.replay(list(draws))
    if first.signature is None:
        raise ValueError("the trace's run passes when replayed: there is no failure to shrink")
    signature = first.signature
    best, complete = _ddmin(search, first, signature, _FAULT)
    if timing and complete:
        best, complete = _ddmin(search, best, signature, _TIMING)
    minimal = best.simulation.trace
    minimal.header["shrunk_from"] = original.digest()
    seconds = time.monotonic() - search.start
    return ShrinkResult(
        original, minimal, signature, search.runs, seconds, complete, best.simulation.decisions,
        first.simulation.decisions,
    )


def attach_shrunk(exc: BaseException, result: ShrinkResult) -> None:
    """Record on a failure's exception what shrinking it found (a note says it too)."""
    setattr(exc, _SHRUNK, result)
    exc.add_note(f"dispatch-sim: shrunk: {result.faults_line()}")


def shrunk_of(exc: BaseException) -> ShrinkResult | None:
    """The `ShrinkResult` attached to a failure's exception, if it was shrunk."""
    found = getattr(exc, _SHRUNK, None)
    return found if isinstance(found, ShrinkResult) else None
