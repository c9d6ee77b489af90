"""What a sweep gives back: one small record per seed, the failures grouped, the totals.

`SeedRecord` is plain data that crosses processes (a worker sends a list of
them per batch). A sweep does not keep every record: `SweepTally` adds each
one up as it arrives (runs, failures, faults by kind, properties, and per
failure signature the count, the smallest seeds and the smallest seed's
message and traceback) and keeps the records of the `RECORDS_KEPT` smallest
seeds only, so the parent's memory stays flat however many seeds run. The
full per-seed list is the sweep's ``results.jsonl``. `SweepResult` is the
frozen outcome; `FailureGroup` one signature's aggregate.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ._tally import PropertyReport, property_reports

__all__ = ["RECORDS_KEPT", "SEEDS_KEPT", "FailureGroup", "SeedRecord", "SweepResult", "SweepTally", "SweepTotals"]

RECORDS_KEPT = 1_000
"""How many records a `SweepResult` keeps: those of its smallest seeds (results.jsonl has all)."""
SEEDS_KEPT = 100
"""How many seeds a `FailureGroup` lists: its smallest ones (its `count` covers all)."""


@attrs.frozen
class SeedRecord:
    """What one seed of a sweep did: small, plain data that crosses processes.

    `faults` counts the injected faults by kind; `error` is the failure's
    ``Type: message`` line and `traceback` its formatted traceback (both empty
    when the seed passed); `seconds` is wall time, for information only.
    """

    seed: int
    ok: bool
    digest: str
    seconds: float
    signature: str | None = None
    error: str = ""
    traceback: str = ""
    faults: tuple[tuple[str, int], ...] = ()
    properties: tuple[tuple[str, str, int, int], ...] = ()  # the run's PropertyTally rows

    def __reduce__(self) -> tuple[Any, ...]:
        # Workers send lists of records: rebuilding from a plain tuple of fields pickles in
        # about half the time of attrs' per-field state (and the same bytes, give or take).
        return (SeedRecord, (self.seed, self.ok, self.digest, self.seconds, self.signature, self.error,
                             self.traceback, self.faults, self.properties))

    def json_line(self) -> str:
        """`as_json` as its results.jsonl line (sorted keys, as ``json.dumps(..., sort_keys=True)``
        writes it), without json's per-call cost for the fields that need no escaping."""
        signature = "null" if self.signature is None else json.dumps(self.signature)
        ok = "true" if self.ok else "false"
        return (f'{{"digest": {json.dumps(self.digest)}, "ok": {ok}, "seconds": {round(self.seconds, 6)!r}, '
                f'"seed": {self.seed}, "signature": {signature}}}\n')

    def as_json(self) -> dict[str, Any]:
        """The line written to results.jsonl."""
        return {
            "seed": self.seed,
            "ok": self.ok,
            "digest": self.digest,
            "seconds": round(self.seconds, 6),
            "signature": self.signature,
        }


@attrs.frozen
class FailureGroup:
    """Failing seeds that share a signature: the same bug, most likely.

    `seeds` lists the group's smallest seeds, at most `SEEDS_KEPT` of them, in
    increasing order; `count` is how many seeds failed this way in all. `error`
    and `traceback` are those of the smallest seed (its traceback may be empty
    when a worker formatted it for another seed of its batch only).
    """

    signature: str
    seeds: tuple[int, ...]
    error: str
    traceback: str
    count: int = attrs.field(default=attrs.Factory(lambda self: len(self.seeds), takes_self=True))
    """How many seeds failed this way."""

    @property
    def smallest_seed(self) -> int:
        """The seed to replay first."""
        return self.seeds[0]


@attrs.frozen
class SweepTotals:
    """A sweep's records added up: what stays of them once they are counted."""

    runs: int = 0
    failures: int = 0
    faults_by_kind: Mapping[str, int] = attrs.field(factory=dict)
    """Faults injected over all seeds, by kind (sorted by kind)."""
    groups: tuple[FailureGroup, ...] = ()
    """The most frequent first, then by smallest seed."""
    properties: tuple[tuple[str, str, int, int, int], ...] = ()
    """Per property (kind, message): seeds where it was evaluated, held, failed."""


class _Group:
    """One signature's running aggregate (mutable, in the parent only)."""

    __slots__ = ("count", "error", "error_seed", "seeds", "traceback", "traceback_seed")

    def __init__(self) -> None:
        self.count = 0
        self.seeds: list[int] = []  # a max-heap (negated) of the smallest SEEDS_KEPT seeds
        self.error, self.error_seed = "", 0
        self.traceback, self.traceback_seed = "", 0

    def add(self, record: SeedRecord) -> None:
        self.count += 1
        seed = record.seed
        if len(self.seeds) < SEEDS_KEPT:
            heapq.heappush(self.seeds, -seed)
        elif seed < -self.seeds[0]:
            heapq.heapreplace(self.seeds, -seed)
        if self.count == 1 or seed < self.error_seed:
            self.error, self.error_seed = record.error, seed
        # Workers format one traceback per signature and batch (see _run_one): keep the
        # smallest seed's that was formatted.
        if record.traceback and (not self.traceback or seed < self.traceback_seed):
            self.traceback, self.traceback_seed = record.traceback, seed

    def frozen(self, signature: str) -> FailureGroup:
        return FailureGroup(signature, tuple(sorted(-s for s in self.seeds)), self.error, self.traceback, self.count)


class SweepTally:
    """Adds up a sweep's records one at a time, in constant memory per seed.

    Everything it keeps is bounded: the records of the `RECORDS_KEPT` smallest
    seeds, per failure signature its `SEEDS_KEPT` smallest seeds, per fault
    kind and per property a count. The result does not depend on the order the
    records come in.
    """

    def __init__(self) -> None:
        self.runs = 0
        self.failures = 0
        self._faults: dict[str, int] = {}
        self._groups: dict[str, _Group] = {}
        self._kept: list[tuple[int, int, SeedRecord]] = []  # max-heap by (seed, arrival), negated
        self._properties: dict[tuple[str, str], list[int]] = {}
        self._reports: dict[tuple[tuple[str, str, int, int], ...], list[tuple[str, str, int, int, int]]] = {}

    def add(self, record: SeedRecord) -> None:
        """Count one seed's record."""
        self.runs += 1
        entry = (-record.seed, -self.runs, record)
        if len(self._kept) < RECORDS_KEPT:
            heapq.heappush(self._kept, entry)
        elif entry > self._kept[0]:
            heapq.heapreplace(self._kept, entry)
        faults = self._faults
        for kind, count in record.faults:
            faults[kind] = faults.get(kind, 0) + count
        rows = record.properties
        if rows:
            # One seed's reports are 0/1 per property: adding them up over seeds is the
            # same as reporting over all seeds at once (property_reports' own rules).
            # Seeds often have the same rows: their reports are made once (a few kept).
            reports = self._reports.get(rows)
            if reports is None:
                reports = [(r.kind, r.message, r.evaluated, r.held, r.failed) for r in property_reports([rows])]
                if len(self._reports) < 256:
                    self._reports[rows] = reports
            counts = self._properties
            for kind, message, evaluated, held, failed in reports:
                c = counts.get((kind, message))
                if c is None:
                    c = counts[(kind, message)] = [0, 0, 0]
                c[0] += evaluated
                c[1] += held
                c[2] += failed
        if not record.ok:
            self.failures += 1
            signature = record.signature or "?"
            group = self._groups.get(signature)
            if group is None:
                group = self._groups[signature] = _Group()
            group.add(record)

    def records(self) -> tuple[SeedRecord, ...]:
        """The kept records (the smallest seeds'), by seed."""
        return tuple(r for _, _, r in sorted(self._kept, key=lambda e: (-e[0], -e[1])))

    def totals(self) -> SweepTotals:
        """What was counted so far."""
        groups = sorted((g.frozen(s) for s, g in self._groups.items()), key=lambda g: (-g.count, g.smallest_seed))
        return SweepTotals(
            self.runs, self.failures, dict(sorted(self._faults.items())), tuple(groups),
            tuple((k, m, *c) for (k, m), c in sorted(self._properties.items())),  # type: ignore[misc]
        )


def tally(records: Iterable[SeedRecord]) -> SweepTally:
    """A `SweepTally` of `records`."""
    counted = SweepTally()
    for record in records:
        counted.add(record)
    return counted


@attrs.frozen
class SweepResult:
    """The outcome of a sweep: the totals, the failures grouped, the rate.

    `records` holds the records of the smallest seeds only, at most
    `RECORDS_KEPT` of them (all of them when fewer seeds ran); every other
    figure (`runs`, `failures`, `groups`, `faults_by_kind`, `properties`)
    covers every seed, from `totals`. A sweep given a results file
    (``sweep(..., results=PATH)``, the command's ``--out``) wrote there one
    line per seed. Built by hand from records (``SweepResult(target, faults,
    records, seconds)``), the totals are counted from those records.
    """

    target: str
    faults: str
    records: tuple[SeedRecord, ...]
    seconds: float
    interrupted: bool = False
    stopped_early: str | None = None
    known_properties: tuple[tuple[str, str], ...] = ()  # written in the test function (see catalog)
    require_sometimes: bool = False
    shrunk: Mapping[str, Any] = attrs.field(factory=dict)
    """Per failure signature, the `ShrinkResult` of its smallest seed (when the sweep shrank)."""
    options: Mapping[str, Any] = attrs.field(factory=dict)
    """The `Simulation` options the sweep gave over the test's own (its schedule)."""
    totals: SweepTotals = attrs.field(default=None)
    """Every seed added up (counted from `records` when not given)."""

    def __attrs_post_init__(self) -> None:
        if self.totals is None:
            # Frozen: the one way to fill a derived field at construction.
            object.__setattr__(self, "totals", tally(self.records).totals())

    @property
    def runs(self) -> int:
        """Seeds run."""
        return self.totals.runs

    @property
    def failures(self) -> int:
        """Seeds that failed."""
        return self.totals.failures

    @property
    def groups(self) -> list[FailureGroup]:
        """Failures grouped by signature, the most frequent first (then by smallest seed)."""
        return list(self.totals.groups)

    @property
    def seeds_per_second(self) -> float:
        """Throughput over the whole sweep."""
        return self.runs / self.seconds if self.seconds > 0 else 0.0

    @property
    def faults_by_kind(self) -> dict[str, int]:
        """Faults injected over all seeds, by kind."""
        return dict(self.totals.faults_by_kind)

    @property
    def ok(self) -> bool:
        """Whether every seed passed (and, with `require_sometimes`, every sometimes/reachable
        was reached in some seed)."""
        return self.failures == 0 and not (self.require_sometimes and self.never_reached)

    @property
    def properties(self) -> list[PropertyReport]:
        """Each property over the seeds: where it was evaluated, held, failed."""
        counted = {(k, m): (e, h, f) for k, m, e, h, f in self.totals.properties}
        for key in self.known_properties:
            counted.setdefault(key, (0, 0, 0))
        return [PropertyReport(k, m, *c, self.runs) for (k, m), c in sorted(counted.items())]

    @property
    def never_reached(self) -> list[PropertyReport]:
        """The sometimes/reachable properties that no seed satisfied."""
        return [p for p in self.properties if p.never_reached]

    def summary_line(self) -> str:
        """``sweep: N seeds, F failed in G groups, S seeds/s``."""
        return (
            f"sweep: {self.runs} seeds, {self.failures} failed in {len(self.totals.groups)} groups, "
            f"{self.seeds_per_second:,.0f} seeds/s"
        )
