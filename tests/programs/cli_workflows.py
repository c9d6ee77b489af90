"""Simulation tests for tests/test_cli.py to record traces from and to replay.

tests/test_cli.py imports this file, runs the tests below (they fail), saves
the trace attached to the failure, and replays it with ``python -m sim
replay``, which imports this file again in a new process.

- `test_double_debit`: ten non-idempotent debits under heavy faults; fails
  for the seeds where a debit's response is lost. Deterministic.
- `TestMethods.test_double_debit`: the same, as a `registry.test.method`.
- `test_counter_branch`: not deterministic on purpose: it reads and bumps a
  counter file (``$CLI_WORKFLOWS_COUNTER``) and makes one call on even runs,
  three on odd ones. It always fails, so its trace is attached.
"""

from __future__ import annotations

import os
from pathlib import Path

import registry
import registry.test

reg = registry.Registry("tests-programs-cli-workflows")
executions: list[int] = []

COUNTER_ENV = "CLI_WORKFLOWS_COUNTER"


@reg.function
def debit(cents: int) -> None:
    executions.append(cents)  # no idempotency key: a lost response runs it again


@reg.function
def echo(i: int) -> int:
    return i


@reg.function
async def checkout() -> None:
    for _ in range(10):
        await debit(1)


@registry.test.function(seeds=range(30), faults="heavy")
async def test_double_debit() -> None:
    executions.clear()
    await checkout()
    assert len(executions) == 10, f"{len(executions)} debits"


class TestMethods:
    @registry.test.method(seeds=range(30), faults="heavy")
    async def test_double_debit(self) -> None:
        executions.clear()
        await checkout()
        assert len(executions) == 10, f"{len(executions)} debits"


def _bump_counter() -> int:
    path = Path(os.environ[COUNTER_ENV])
    n = int(path.read_text()) if path.exists() else 0
    path.write_text(str(n + 1))
    return n


@registry.test.function(seed=3, faults="heavy")
async def test_counter_branch() -> None:
    n = _bump_counter()
    calls = 1 if n % 2 == 0 else 3
    results = [await echo(i) for i in range(calls)]
    raise AssertionError(f"run {n} made {len(results)} calls")  # on purpose: attaches the trace


@registry.test.function(seed=3, faults="heavy")
async def test_counter_amount() -> None:
    n = _bump_counter()
    await echo(100 if n % 2 == 0 else 10000)  # the same calls each run, with another value
    raise AssertionError(f"run {n}")  # on purpose: attaches the trace
