"""A money transfer with a planted bug that only faults reveal, for the README's first sweep.

`transfer` debits one account and credits another as two durable steps. The
credit is idempotent (keyed by transfer id), the debit is not: when the
response of a debit is lost, the service runs it again and the money leaves
the account twice. With faults off the test passes; sweep it to find the bug:

    python -m sim sweep examples/buggy_transfer.py::test_transfer --seeds 500 --jobs 2

The file is not named test_*.py on purpose: the project's own test run does
not collect this failing test (examples/test_buggy_transfer.py checks that the
sweep finds it).
"""

from __future__ import annotations

import registry
import registry.test

bank = registry.Registry("buggy-transfer-example")

balances: dict[str, int] = {}
credited: set[str] = set()


@bank.function
def debit(account: str, cents: int) -> None:
    """Take money out. The bug: no idempotency key, so a retried debit takes it twice."""
    balances[account] -= cents


@bank.function
def credit(transfer_id: str, account: str, cents: int) -> None:
    """Put money in, once per transfer id."""
    if transfer_id not in credited:
        credited.add(transfer_id)
        balances[account] += cents


@bank.function
async def transfer(transfer_id: str, source: str, target: str, cents: int) -> None:
    """The durable workflow: debit, then credit."""
    await debit(source, cents)
    await credit(transfer_id, target, cents)


@registry.test.function(seeds=range(20), faults="light")
async def test_transfer() -> None:
    balances.clear()
    balances.update({"alice": 1_000, "bob": 0})
    credited.clear()
    for i in range(5):
        await transfer(f"t{i}", "alice", "bob", 100)
    total = balances["alice"] + balances["bob"]
    assert total == 1_000, f"money was lost: alice {balances['alice']} + bob {balances['bob']} = {total}"
