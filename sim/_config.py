"""Run-wide overrides set by a test runner (the pytest plugin), read by test entry points."""

from __future__ import annotations

from pathlib import Path

import attrs

__all__ = ["RunOverrides", "overrides"]


@attrs.define
class RunOverrides:
    """Options that win over what a test's decorator says.

    `seed` runs every simulation test with that one seed; `seeds` runs each
    with those seeds (a range); `faults` replaces the fault profile;
    `trace_dir` is where trace files of failing runs are kept;
    `max_failures` stops a test's seeds after that many failures (None: run
    them all); `require_sometimes` fails a test whose sometimes/reachable
    properties no seed satisfied.
    """

    seed: int | None = None
    seeds: range | None = None
    faults: str | None = None
    trace_dir: Path | None = None
    max_failures: int | None = None
    require_sometimes: bool = False

    def reset(self) -> None:
        """Back to no overrides."""
        self.seed = self.seeds = self.faults = self.trace_dir = self.max_failures = None
        self.require_sometimes = False


overrides = RunOverrides()
"""The overrides in force for this process."""
