"""What a sweep gives back: one small record per seed, the failures grouped, the totals.

`SeedRecord` is plain data that crosses processes (a worker sends a list of
them per batch); `SweepResult` holds a sweep's records and derives from them
the failure groups (`FailureGroup`, by signature), the rate and the faults
injected by kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["FailureGroup", "SeedRecord", "SweepResult"]


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
    """Failing seeds that share a signature: the same bug, most likely."""

    signature: str
    seeds: tuple[int, ...]
    error: str
    traceback: str

    @property
    def count(self) -> int:
        """How many seeds failed this way."""
        return len(self.seeds)

    @property
    def smallest_seed(self) -> int:
        """The seed to replay first."""
        return min(self.seeds)


@attrs.frozen
class SweepResult:
    """The outcome of a sweep: every seed's record, the failures grouped, the rate."""

    target: str
    faults: str
    records: tuple[SeedRecord, ...]
    seconds: float
    interrupted: bool = False
    stopped_early: str | None = None
    shrunk: Mapping[str, Any] = attrs.field(factory=dict)
    """Per failure signature, the `ShrinkResult` of its smallest seed (when the sweep shrank)."""
    options: Mapping[str, Any] = attrs.field(factory=dict)
    """The `Simulation` options the sweep gave over the test's own (its schedule)."""

    @property
    def runs(self) -> int:
        """Seeds run."""
        return len(self.records)

    @property
    def failures(self) -> int:
        """Seeds that failed."""
        return sum(1 for r in self.records if not r.ok)

    @property
    def groups(self) -> list[FailureGroup]:
        """Failures grouped by signature, the most frequent first (then by smallest seed)."""
        found: dict[str, list[SeedRecord]] = {}
        for record in self.records:
            if not record.ok:
                found.setdefault(record.signature or "?", []).append(record)
        groups = [
            FailureGroup(
                signature,
                tuple(sorted(r.seed for r in records)),
                min(records, key=lambda r: r.seed).error,
                # Workers format one traceback per signature and batch (see _run_one).
                next((r.traceback for r in sorted(records, key=lambda r: r.seed) if r.traceback), ""),
            )
            for signature, records in found.items()
        ]
        return sorted(groups, key=lambda g: (-g.count, g.smallest_seed))

    @property
    def seeds_per_second(self) -> float:
        """Throughput over the whole sweep."""
        return self.runs / self.seconds if self.seconds > 0 else 0.0

    @property
    def faults_by_kind(self) -> dict[str, int]:
        """Faults injected over all seeds, by kind."""
        total: dict[str, int] = {}
        for record in self.records:
            for kind, count in record.faults:
                total[kind] = total.get(kind, 0) + count
        return dict(sorted(total.items()))

    @property
    def ok(self) -> bool:
        """Whether every seed passed (and the sweep was not interrupted)."""
        return self.failures == 0

    def summary_line(self) -> str:
        """``sweep: N seeds, F failed in G groups, S seeds/s``."""
        return (
            f"sweep: {self.runs} seeds, {self.failures} failed in {len(self.groups)} groups, "
            f"{self.seeds_per_second:,.0f} seeds/s"
        )
