"""Sweep targets for the determinism check: one test whose run depends on str hashing.

`test_set_order` makes as many calls as the position, in sorted order, of the
first name a set of names yields: set order of str follows the process's hash
seed, so two processes with different ``PYTHONHASHSEED`` give two traces.
Each run appends ``seed pid`` to the file named by ``$SWEEP_PIDS`` (when set),
so a test can check which process ran each copy of a seed.
`test_steady` is the same without the set: deterministic.
"""

from __future__ import annotations

import os

import registry
import registry.test

reg = registry.Registry("tests-programs-sweep-nondeterministic")
NAMES = [f"name-{i:02d}" for i in range(24)]


@reg.function
def echo(name: str) -> str:
    return name


def _note_process() -> None:
    import sim

    path = os.environ.get("SWEEP_PIDS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{sim.current().seed} {os.getpid()}\n")


@registry.test.function(seeds=range(10), faults="none")
async def test_set_order() -> None:
    _note_process()
    first = next(iter(set(NAMES)))  # planted: depends on the hash seed
    for name in NAMES[: NAMES.index(first) + 1]:
        await echo(name)


@registry.test.function(seeds=range(10), faults="none")
async def test_steady() -> None:
    _note_process()
    for name in NAMES[:3]:
        await echo(name)
