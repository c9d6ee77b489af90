"""Run-wide overrides set by a test runner (the pytest plugin), read by test entry points."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

__all__ = ["RunOverrides", "overrides"]


@attrs.define
class RunOverrides:
    """Options that win over what a test's decorator says.

    `seed` runs every simulation test with that one seed; `seeds` runs each
    with those seeds (a range); `faults` replaces the fault profile;
    `trace_dir` is where trace files of failing runs are kept;
    `max_failures` stops a test's seeds after that many failures (None: run
    them all); `schedule`, `depth` and `pct_steps` replace the tests'
    scheduling options (see `Simulation`); `shrink` (seconds) shrinks a
    failing test's first failure to the faults it needs; `seed_offset` shifts each test's own seeds by that much (a
    random base); `on_seed` is called after every seed a test runs with the
    run, how many of the test's seeds have run, and how many it has (live
    progress, traces of passing runs).
    """

    seed: int | None = None
    seeds: range | None = None
    faults: str | None = None
    trace_dir: Path | None = None
    max_failures: int | None = None
    schedule: str | None = None
    depth: int | None = None
    pct_steps: int | None = None
    shrink: float | None = None
    seed_offset: int | None = None
    on_seed: Callable[[Any, int, int], None] | None = None

    def reset(self) -> None:
        """Back to no overrides."""
        self.seed = self.seeds = self.faults = self.trace_dir = self.max_failures = None
        self.schedule = self.depth = self.pct_steps = self.shrink = None
        self.seed_offset = None
        self.on_seed = None

    def schedule_options(self) -> dict[str, object]:
        """The scheduling options to give every simulation (only those set)."""
        given = {"schedule": self.schedule, "depth": self.depth, "pct_steps": self.pct_steps}
        return {k: v for k, v in given.items() if v is not None}


overrides = RunOverrides()
"""The overrides in force for this process."""
