"""Shrinking a sweep's failures: each group's smallest seed, down to the faults it needs.

After a sweep, `shrink_groups` runs the smallest seed of each failure group
again in this process (runs are deterministic) and shrinks its trace with
`sim.shrink`, most frequent group first, until a time limit shared by all
groups runs out. Groups that cannot be run here are skipped: a seed that
killed its worker would kill this process too, and a non-deterministic one
has no failure to keep.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from ._faults import FaultProfile
from ._runner import LoadedTest, run_seed
from ._shrink import ShrinkResult, shrink

__all__ = ["shrink_groups"]


def shrink_groups(
    groups: Iterable[Any],
    skip: str,
    loaded: LoadedTest,
    faults: str | FaultProfile,
    options: Mapping[str, Any],
    seconds: float,
) -> dict[str, ShrinkResult]:
    """The `ShrinkResult` of each group's smallest seed, by signature, within `seconds` in all.

    `groups` are a sweep's `FailureGroup`s (in the order to try them); a group
    whose signature is `skip` (a dead worker's) is not run here.
    """
    deadline = time.monotonic() + seconds  # a budget on the search only; never seen by a run
    run_options = {**loaded.test.options, **options}
    shrunk: dict[str, ShrinkResult] = {}
    for group in groups:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if group.signature == skip or group.signature.startswith("non-deterministic"):
            continue
        main = loaded.make_main()
        run = run_seed(main, seed=group.smallest_seed, faults=faults, test_id=loaded.test_id, options=run_options)
        if run.signature != group.signature:
            continue
        shrunk[group.signature] = shrink(run.simulation.trace, main, time_limit=left, options=run_options)
    return shrunk
