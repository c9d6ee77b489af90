"""Trace digests of a fixed set of runs, to check that a refactor changes no run.

    python benchmarks/digests.py > before.txt      # on the old tree
    python benchmarks/digests.py --check before.txt # on the new one

Runs the four shared benchmark workloads plus gather 1k and merge sort 500,
the README's checkout workflow and the orders example, under every fault
profile and several seeds, and prints one `name profile seed digest` line per
run (about a hundred). With --check it compares against a saved listing and
exits 1 naming each run whose digest changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "examples"))

import workloads as wl  # noqa: E402

import registry  # noqa: E402
import sim  # noqa: E402

_checkout = registry.Registry("digests-checkout")
_balance = {"alice": 1000}


@_checkout.function
def debit(account: str, cents: int) -> None:
    _balance[account] -= cents


@_checkout.function
async def checkout(account: str) -> None:
    for _ in range(10):
        await debit(account, 10)


async def _checkout_scenario() -> None:
    _balance["alice"] = 1000
    await checkout("alice")


def _runs() -> list[tuple[str, object]]:
    import orders

    runs: list[tuple[str, object]] = [
        (name, wl.WORKLOADS[name][0])
        for name in (*wl.SHARED, "gather 1k", "merge sort 500")
    ]
    runs.append(("checkout", _checkout_scenario))
    runs.append(("orders", orders.scenario))
    return runs


def listing() -> list[str]:
    lines = []
    for name, factory in _runs():
        for profile in ("none", "light", "heavy", "swarm"):
            for seed in (0, 1, 7):
                simulation = sim.Simulation(seed=seed, faults=profile)
                try:
                    simulation.run(factory())  # type: ignore[operator]
                    status = "ok"
                except Exception as exc:  # a failing run has a digest too
                    status = type(exc).__name__
                digest = simulation.trace.digest()
                lines.append(f"{name.replace(' ', '_')} {profile} {seed} {status} {digest}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", type=Path, help="a listing saved earlier to compare with")
    args = parser.parse_args()
    lines = listing()
    if args.check is None:
        print("\n".join(lines))
        return 0
    before = args.check.read_text().split("\n")
    before = [line for line in before if line.strip()]
    changed = [f"was: {a}\n now: {b}" for a, b in zip(before, lines) if a != b]
    if len(before) != len(lines):
        changed.append(f"{len(before)} runs before, {len(lines)} now")
    for line in changed:
        print(line)
    print(f"{len(lines)} digests compared, {len(changed)} changed")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
