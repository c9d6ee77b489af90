"""Planted bugs as simulation tests that sweeps, exploration and benchmarks/exploration.py load by id.

Each test passes with faults off (its decorator says ``faults="none"``;
strategies replace the profile) and fails only under the right faults:

- `test_double_debit`: a lost response of any of ten debits (no idempotency key).
- `test_check_then_act`: latency lets a second payment read the balance between
  the first one's check and act.
- `test_race_favours_first`: reordering lets the fallback win a race.
- `test_wall_clock_branch`: a crash replays a branch taken on the wall clock.
- `test_receipt_window`: one specific rebuild of the coroutine (a crash before
  its 13th resume, or the lost response of the attempt just before) sends a
  receipt twice: the "sent" mark is written one step too late.
- `test_invoice_among_many`: of 60 gathered calls, only a lost response of
  the 38th (``record(37)``) double-sends an invoice.
- `test_stale_replica`: a `sim.buggify` site that makes a stock read stale
  lets a second reservation oversell.
- `test_correct_transfer`: no bug at all, for exploration to report nothing.
"""

from __future__ import annotations

import time

import trio

import registry
import registry.test
import sim

reg = registry.Registry("tests-programs-planted")

# -- a lost response re-runs a non-idempotent debit ----------------------------------------

balance: dict[str, int] = {}


@reg.function
def debit(account: str, cents: int) -> None:
    balance[account] -= cents  # no idempotency key: a retry debits again


@reg.function
async def checkout(account: str) -> None:
    for _ in range(10):
        await debit(account, 100)


@registry.test.function(faults="none")
async def test_double_debit() -> None:
    balance["alice"] = 10_000
    await checkout("alice")
    sim.always(balance["alice"] == 9_000, "each debit is charged once", {"balance": balance["alice"]})


# -- latency interleaves a check and an act --------------------------------------------------

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


@registry.test.function(faults="none")
async def test_check_then_act() -> None:
    account["balance"] = 100
    first = pay.dispatch(100)
    await trio.sleep(0.05)
    second = pay.dispatch(100)
    await reg.client.wait(first)
    await reg.client.wait(second)
    assert account["balance"] >= 0, f"overdrawn: {account['balance']}"


# -- reordering lets the second racer win --------------------------------------------------------


@reg.function
def primary() -> str:
    return "primary"


@reg.function
def fallback() -> str:
    return "fallback"


@reg.function
async def fetch() -> str:
    return await registry.race(primary(), fallback())


@registry.test.function(faults="none")
async def test_race_favours_first() -> None:
    assert await fetch() == "primary"


# -- a crash replays a branch taken on the wall clock --------------------------------------------


@reg.function
def step(n: int) -> int:
    return n


@reg.function
async def wall_clock_workflow() -> int:
    total = 0
    for n in range(5):
        total += await step(n)
        if time.monotonic_ns() // 1000 % 2:  # the bug: a branch on the wall clock
            total += await step(100)
    return total


@registry.test.function(faults="none")
async def test_wall_clock_branch() -> None:
    await wall_clock_workflow()


# -- one specific rebuild sends a receipt twice ---------------------------------------------------

sent: list[str] = []
marked = {"sent": False}


@reg.function
async def pipeline(steps: int) -> None:
    for i in range(steps):
        await step(i)
        if i == 11 and not marked["sent"]:
            sent.append("receipt")  # a side effect in the coroutine's body, not a durable step
        if i == 12:
            marked["sent"] = True  # the bug: the mark is written one step after the side effect


@registry.test.function(faults="none")
async def test_receipt_window() -> None:
    sent.clear()
    marked["sent"] = False
    await pipeline(25)
    sim.always(sent == ["receipt"], "the receipt is sent once", {"sent": len(sent)})


# -- one lost response among many calls --------------------------------------------------------------

recorded: set[int] = set()
invoices: list[int] = []


@reg.function
def record(i: int) -> None:
    recorded.add(i)  # idempotent ...
    if i == 37:
        invoices.append(i)  # ... except the item that closes the batch sends an invoice


@reg.function
async def ingest(n: int) -> None:
    await registry.gather(*(record(i) for i in range(n)))


@registry.test.function(faults="none")
async def test_invoice_among_many() -> None:
    recorded.clear()
    invoices.clear()
    await ingest(60)
    assert len(recorded) == 60
    sim.always(invoices == [37], "one invoice", {"invoices": len(invoices)})


# -- a buggify point makes a read stale ------------------------------------------------------------

stock: dict[str, int] = {}
taken: set[str] = set()


@reg.function
def read_stock(item: str) -> int:
    if sim.buggify(0.5):
        return stock[item] + 1  # a lagging replica answers with the count before the last take
    return stock[item]


@reg.function
def take(item: str, reservation: str) -> None:
    if reservation not in taken:  # idempotent: a retried take is harmless
        taken.add(reservation)
        stock[item] -= 1


@reg.function
async def reserve(item: str, reservation: str) -> bool:
    if await read_stock(item) > 0:
        await take(item, reservation)
        return True
    return False


@registry.test.function(faults="none")
async def test_stale_replica() -> None:
    stock["widget"] = 1
    taken.clear()
    for n in range(3):
        await reserve("widget", f"r{n}")
    sim.always(stock["widget"] >= 0, "never oversold", {"stock": stock["widget"]})


# -- no bug ---------------------------------------------------------------------------------------------

credited: set[tuple[str, str]] = set()
accounts: dict[str, int] = {}


@reg.function
def safe_debit(transfer: str, cents: int) -> None:
    if ("debit", transfer) not in credited:
        credited.add(("debit", transfer))
        accounts["alice"] -= cents


@reg.function
def safe_credit(transfer: str, cents: int) -> None:
    if ("credit", transfer) not in credited:
        credited.add(("credit", transfer))
        accounts["bob"] += cents


@reg.function
async def safe_transfer(transfer: str, cents: int) -> None:
    await safe_debit(transfer, cents)
    await safe_credit(transfer, cents)


@registry.test.function(faults="none")
async def test_correct_transfer() -> None:
    accounts.update({"alice": 300, "bob": 0})
    credited.clear()
    for n in range(3):
        await safe_transfer(f"t{n}", 100)
    sim.sometimes(accounts["bob"] == 300, "every transfer arrived")
    sim.reachable("the transfers ended")
    assert accounts == {"alice": 0, "bob": 300}, accounts
