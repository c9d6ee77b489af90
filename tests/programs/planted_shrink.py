"""Planted bugs as simulation tests that the CLI can load: shrink, fork and PCT find them.

Each is the shape of one in tests/test_planted_bugs.py, written as a
``registry.test`` function so that ``python -m sim shrink|fork|sweep`` can
load it by id. The file is not named test_*.py: pytest does not collect these
failing tests; tests/sim/test_shrink.py, test_fork.py and test_pct.py run them.

- `test_double_debit`: a non-idempotent debit; one lost debit response is
  enough (heavy faults inject many more).
- `test_check_then_act`: two payments check a balance, then withdraw in
  another call; latency alone interleaves them (no fault needed).
- `test_race_first_argument`: a race assumed to favour its first argument;
  a reordering, or latency, lets the second win.
- `test_stale_cache`: a depth-2 ordering bug between two trio tasks (see
  its docstring), for PCT.
"""

from __future__ import annotations

import trio

import registry
import registry.test

reg = registry.Registry("tests-programs-planted-shrink")

balance = {"alice": 0}


@reg.function
def debit(account: str, cents: int) -> None:
    balance[account] -= cents  # no idempotency key: a retry debits again


@reg.function
async def checkout(account: str) -> None:
    for _ in range(10):
        await debit(account, 100)


@registry.test.function(faults="heavy")
async def test_double_debit() -> None:
    balance["alice"] = 10_000
    await checkout("alice")
    assert balance["alice"] == 9_000, f"balance is {balance['alice']}"


account = {"balance": 0}


@reg.function
def read_balance() -> int:
    return account["balance"]


@reg.function
def withdraw(cents: int) -> None:
    account["balance"] -= cents


@reg.function
async def pay(cents: int) -> bool:
    if await read_balance() >= cents:  # check ...
        await withdraw(cents)  # ... then act, in another call
        return True
    return False


@registry.test.function(faults="heavy")
async def test_check_then_act() -> None:
    account["balance"] = 100
    first = pay.dispatch(100)
    await trio.sleep(0.05)  # the second payment starts a little later
    second = pay.dispatch(100)
    await reg.client.wait(first)
    await reg.client.wait(second)
    assert account["balance"] >= 0, f"overdrawn: {account['balance']}"


@reg.function
def primary() -> str:
    return "primary"


@reg.function
def fallback() -> str:
    return "fallback"


@reg.function
async def fetch() -> str:
    return await registry.race(primary(), fallback())


@registry.test.function(faults="swarm")
async def test_race_first_argument() -> None:
    assert await fetch() == "primary"


SHARDS = 6
STALE_CACHE_STEPS = 36
"""About the steps `test_stale_cache` takes: PCT's k for it (`pct_steps`)."""


@registry.test.function(faults="none", schedule="pct", depth=2, pct_steps=STALE_CACHE_STEPS)
async def test_stale_cache() -> None:
    """A cache left stale for good: an ordering bug of depth 2 between two tasks.

    The writer updates the shards of a record one step at a time, waits as
    many steps, then invalidates the cache; the reader reads the shards one
    step at a time, waits as many steps, then fills the cache with what it
    read. The cache ends stale when the reader reads every shard before the
    writer writes it and then fills the cache after the writer invalidated
    it. trio runs both tasks once per scheduling batch, in an order drawn
    afresh for each batch under the uniform schedule: the reader first in the
    6 batches of the read phase, then the writer first in the batch where
    both act, has probability 2**-7. Under PCT it takes the reader's
    priority above the writer's (one chance in two) and the change point on
    one of the reader's 7 steps between its last read and its fill (7 of k).
    """
    db = [1] * SHARDS
    cache: dict[str, list[int]] = {}

    async def writer() -> None:
        for i in range(SHARDS):
            await trio.sleep(0)
            db[i] = 2
        for _ in range(SHARDS):
            await trio.sleep(0)
        await trio.sleep(0)
        cache.pop("record", None)  # invalidate

    async def reader() -> None:
        seen = []
        for i in range(SHARDS):
            await trio.sleep(0)
            seen.append(db[i])
        for _ in range(SHARDS):
            await trio.sleep(0)
        await trio.sleep(0)
        cache["record"] = seen  # fill

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        nursery.start_soon(reader)
    stale = cache.get("record") == [1] * SHARDS
    assert not stale, "the cache holds the old record after the write finished"
