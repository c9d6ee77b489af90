"""An order workflow run in a simulation: reserve stock, charge, ship.

Every step with a side effect is idempotent by order id, so retries and lost
responses (at-least-once execution) never reserve or charge twice. Run it:

    python examples/orders.py [seed] [faults]

It prints the result of the workflow, the charges made, and a summary of the
trace: how many calls, attempts and injected faults it took.
"""

from __future__ import annotations

import sys

import registry
import registry.test
import sim

orders = registry.Registry("orders-example")

# The outside world the functions talk to. A simulation runs in one process,
# so plain dictionaries stand in for the payment provider and the warehouse.
charges: dict[str, int] = {}
stock: dict[str, int] = {}
reservations: set[tuple[str, str]] = set()


@orders.function
def reserve(order_id: str, sku: str, quantity: int) -> int:
    """Take `quantity` of `sku` out of stock, once per order; returns what is left."""
    if (order_id, sku) not in reservations:
        if stock.get(sku, 0) < quantity:
            raise ValueError(f"out of stock: {sku}")
        stock[sku] -= quantity
        reservations.add((order_id, sku))
    return stock[sku]


@orders.function
def charge(order_id: str, cents: int) -> str:
    """Charge the customer once per order id, however often it is called."""
    charges.setdefault(order_id, cents)
    return f"receipt-{order_id}"


@orders.function
def ship(order_id: str, items: list[str]) -> str:
    """Hand the parcel to the carrier."""
    return f"parcel-{order_id}-{len(items)}"


@orders.function
async def place_order(order_id: str, items: dict[str, int], cents: int) -> dict[str, object]:
    """The durable workflow: reservations in parallel, then payment, then shipping."""
    await registry.gather(*(reserve(order_id, sku, n) for sku, n in sorted(items.items())))
    receipt = await charge(order_id, cents)
    parcel = await ship(order_id, sorted(items))
    return {"order": order_id, "receipt": receipt, "parcel": parcel}


async def scenario() -> list[dict[str, object]]:
    """Place three orders concurrently and check that nobody was charged twice."""
    stock.clear()
    stock.update({"apple": 10, "pear": 10})
    charges.clear()
    reservations.clear()
    ids = [
        place_order.dispatch(f"o{i}", {"apple": 2, "pear": 1}, 500 + i) for i in range(3)
    ]
    client = orders.client
    return [await client.wait(i) for i in ids]


def main(argv: list[str]) -> int:
    seed = int(argv[1]) if len(argv) > 1 else 0
    faults = argv[2] if len(argv) > 2 else "heavy"
    simulation = sim.Simulation(seed=seed, faults=faults)
    results = simulation.run(scenario())
    for result in results:
        print(result)
    print(f"charges: {charges}")
    print(f"stock left: {stock}")
    print(f"seed {seed}, faults {faults}")
    print(simulation.trace.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
