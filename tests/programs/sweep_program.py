"""Simulation tests for tests/test_sweep.py to sweep in subprocesses and Dask workers.

- `test_seed_dependent`: fails for seeds 3, 10, 17, ... with an AssertionError
  that names the seed (so the numbers are masked in its signature), and for
  seeds 5, 16, 27, ... with a KeyError: two failure groups.
- `test_kills_its_worker`: seed 13 ends its process at once (as a segfault
  or the OOM killer would); every other seed passes.
- `test_slow`: every seed takes 50 ms of wall time, for the Ctrl-C test.
- `TestMethods.test_with_setup`: a method whose setup_method the sweep must run.
- `test_draws_from_the_world`: calls a function with values drawn from the
  `random` module, `uuid` and the clock, so its digest covers what it drew.
"""

from __future__ import annotations

import os
import random
import time
import uuid

import registry
import registry.test
import sim

reg = registry.Registry("tests-programs-sweep")


@reg.function
def double(x: int) -> int:
    return 2 * x


@registry.test.function(faults="light")
async def test_seed_dependent() -> None:
    seed = sim.current().seed
    assert await double(seed) == 2 * seed
    if seed % 11 == 5:
        raise KeyError(f"account-{seed}")
    assert seed % 7 != 3, f"seed {seed} lost an update"


@registry.test.function(faults="none")
async def test_kills_its_worker() -> None:
    if sim.current().seed == 13:
        os._exit(70)
    await double(1)


@registry.test.function(faults="none")
async def test_slow() -> None:
    time.sleep(0.05)
    await double(1)


class TestMethods:
    def setup_method(self, method: object) -> None:
        self.factor = 2

    @registry.test.method(faults="light")
    async def test_with_setup(self) -> None:
        assert await double(3) == 3 * self.factor


@registry.test.function(faults="light")
async def test_draws_from_the_world() -> None:
    await double(random.randrange(10**9))
    await double(uuid.uuid4().int % 10**9)
    await double(int(time.time() * 1000))
