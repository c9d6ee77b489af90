"""A workflow with nested gathers, a race and sets of strings, run once; prints what it did.

Used by tests/test_determinism.py in subprocesses with different PYTHONHASHSEED:
``python determinism_workflow.py SEED PROFILE`` prints the trace digest, the
order in which function bodies ran, and the result.
"""

from __future__ import annotations

import random
import sys

import registry
import sim

reg = registry.Registry("determinism-workflow")
executions: list[str] = []


@reg.function
def leaf(name: str, tags: set[str]) -> list[str]:
    executions.append(name)
    return sorted(tags) + [name]


@reg.function
def jittery(name: str) -> str:
    executions.append(name)
    return f"{name}:{random.randint(0, 10**6)}"


async def branch(prefix: str, width: int) -> list[list[str]]:
    tags = {f"{prefix}-{i}" for i in range(width)}
    return await registry.gather(*(leaf(f"{prefix}{i}", tags) for i in range(width)))


@reg.function
async def workflow(width: int) -> object:
    nested = await registry.gather(*(branch(p, width) for p in "abc"))
    first = await registry.race(jittery("r1"), jittery("r2"), leaf("r3", {"x", "y"}))
    await registry.sleep(1.5)
    more = await registry.gather(branch("d", 2), registry.any(jittery("y1"), jittery("y2")))
    return [nested, first, more]


async def main() -> object:
    return await workflow(3)


def run(seed: int, faults: str) -> tuple[str, list[str], object]:
    executions.clear()
    simulation = sim.Simulation(seed=seed, faults=faults)
    result = simulation.run(main())
    return simulation.trace.digest(), list(executions), result


if __name__ == "__main__":
    digest, order, result = run(int(sys.argv[1]), sys.argv[2])
    print(digest)
    print(",".join(order))
    print(repr(result))
