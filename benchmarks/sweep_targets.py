"""Sweep targets for benchmarks/sweep.py: an empty test and the README's checkout workflow.

`test_empty` measures what a seed costs when the test does nothing (a fresh
simulation, trio's startup, the record sent back). `test_checkout` is the
README's checkout workflow ("Finding a bug with a seed sweep"): ten
non-idempotent debits, so under heavy faults a good share of seeds fail and
the failure path (signature, traceback, grouping) is measured too.
"""

from __future__ import annotations

import registry
import registry.test

shop = registry.Registry("benchmarks-sweep-checkout")
balance = {"alice": 1000}


@shop.function
def debit(account: str, cents: int) -> None:
    balance[account] -= cents  # a retried debit is charged twice


@shop.function
async def checkout(account: str) -> None:
    for _ in range(10):
        await debit(account, 10)


@registry.test.function(faults="heavy")
async def test_checkout() -> None:
    balance["alice"] = 1000
    await checkout("alice")
    assert balance["alice"] == 900


@registry.test.function(faults="none")
async def test_empty() -> None:
    pass
