"""The determinism check of a sweep: a seed run twice must give the same trace.

``sweep(..., check_determinism=True)`` runs the two passes and compares
their digests (`sim._sweep_digests`: `DigestCheck`, `hash_seeds_for_check`);
`first_difference` runs a seed twice more, in fresh processes with the two
passes' hash seeds, to say at which event the runs part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from ._events import Event
from ._faults import FaultProfile
from ._runner import load_test, run_seed
from ._sweep import _load, _new_pool, _worker_hash_seed
from ._sweep_digests import hash_seeds_for_check

__all__ = ["first_difference", "hash_seeds_for_check", "trace_events"]  # the hash seeds: for the CLI

# The private helpers imported above are the sweep's own worker side (test cache, pool,
# hash seed of spawned workers): this module is its other half, split off for size.


def trace_events(test_id: str, root: str, seed: int, faults: str | FaultProfile) -> list[tuple[Any, ...]]:
    """Run one seed in this process and return its trace's events (for `first_difference`)."""
    loaded = _load(test_id, root)
    run = run_seed(loaded.make_main(), seed=seed, faults=faults, test_id=loaded.test_id,
                   options=loaded.test.options)
    return [attrs.astuple(event) for event in run.simulation.trace]


def _events_in_a_fresh_process(
    test_id: str, root: str, seed: int, faults: str | FaultProfile, hash_seed: int
) -> list[tuple[Any, ...]]:
    with _worker_hash_seed(hash_seed):
        pool = _new_pool(1)
        try:
            return pool.submit(trace_events, test_id, root, seed, faults).result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def first_difference(
    target: str,
    seed: int,
    faults: str | FaultProfile,
    root: str | None = None,
    hash_seeds: tuple[int, int] | None = None,
) -> str:
    """Run `seed` twice and describe the first event where the runs differ.

    With `hash_seeds`, each run is in a fresh worker process started with that
    ``PYTHONHASHSEED`` (as the two passes of a determinism check ran); without,
    both run in this process.
    """
    base = str(Path(root or Path.cwd()).resolve())
    loaded = load_test(target, root=Path(base))
    if hash_seeds is None:
        a, b = (trace_events(loaded.test_id, base, seed, faults) for _ in range(2))
        where = "in this process"
    else:
        a, b = (_events_in_a_fresh_process(loaded.test_id, base, seed, faults, h) for h in hash_seeds)
        where = f"in processes with PYTHONHASHSEED={hash_seeds[0]} and {hash_seeds[1]}"
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"first difference at event {index} ({where}):\n  first:  {_event(x)}\n  second: {_event(y)}"
    if len(a) != len(b):
        shorter = min(len(a), len(b))
        longer = a if len(a) > len(b) else b
        return (f"the runs differ in length ({len(a)} and {len(b)} events {where}):\n"
                f"  first extra event {shorter}: {_event(longer[shorter])}")
    return (
        f"two runs {where} agree; the difference comes from elsewhere "
        "(hash() or set order of strings, id(), or state left by other seeds)"
    )


def _event(values: tuple[Any, ...]) -> str:
    return str(Event(*values)).strip()
