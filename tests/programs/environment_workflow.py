"""A workflow whose shape depends on the wall clock and on entropy; prints its trace digest.

Used by tests/sim/test_environment.py in subprocesses with different
PYTHONHASHSEED: ``python environment_workflow.py SEED [off]`` prints the digest
of a run in which functions branch on `uuid.uuid4()`, `os.urandom`, `secrets`,
`time.time()`, `time.monotonic()` and `datetime.now()`; with ``off`` the run
opts out of the deterministic environment.
"""

from __future__ import annotations

import datetime
import os
import secrets
import sys
import time
import uuid

import registry
import sim

reg = registry.Registry("environment-workflow")


@reg.function
def leaf(n: int) -> int:
    return n


@reg.function
def width() -> int:
    # Read once per attempt (a coroutine's own body is replayed after a crash:
    # there, values from the environment must come from a call like this one).
    return uuid.uuid4().int % 5 + os.urandom(1)[0] % 3 + secrets.randbelow(3) + 1


@reg.function
def pause() -> float:
    return (time.time_ns() // 1000) % 7 + time.monotonic() % 3 + datetime.datetime.now().microsecond % 4


@reg.function
async def fan_out() -> int:
    # How many calls, and how long to sleep, come from the environment.
    n = await width()
    await registry.sleep(await pause())
    results = await registry.gather(*(leaf(i) for i in range(n)))
    return sum(results)


async def main() -> int:
    return await fan_out()


def run(seed: int, deterministic: bool = True) -> str:
    simulation = sim.Simulation(seed=seed, faults="light", deterministic_environment=deterministic)
    simulation.run(main)
    return simulation.trace.digest()


if __name__ == "__main__":
    print(run(int(sys.argv[1]), deterministic=sys.argv[2:] != ["off"]))
