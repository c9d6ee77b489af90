"""Cost of gathered helper coroutines: bytecodes per simulated call, and wall time.

    python benchmarks/trio_helpers.py

A fan-out of 100 helper coroutines, each awaiting two calls, under no
faults: the shape that runs its helpers in trio tasks of their own (issue
14), so the cost of those tasks shows here and not in hotpath.py's workloads.
"""

from __future__ import annotations

import sys
import time
from types import FrameType
from typing import Any

import registry
import sim

_reg = registry.Registry("bench-trio-helpers")
CALLS = 201  # the fan-out and its 200 leaf calls


@_reg.function
def double(x: int) -> int:
    return 2 * x


async def _helper(i: int) -> int:
    return await double(i) + await double(i + 1)


@_reg.function
async def fan(n: int) -> int:
    return sum(await registry.gather(*(_helper(i) for i in range(n))))


def _bytecodes() -> int:
    count = [0]

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True

        def opcode(frame: FrameType, event: str, arg: Any) -> Any:
            if event == "opcode":
                count[0] += 1
            return opcode

        return opcode

    async def measured() -> None:
        await fan(100)  # warm up
        sys.settrace(trace)
        try:
            await fan(100)
        finally:
            sys.settrace(None)

    sim.Simulation(seed=1, faults="none").run(measured())
    return count[0]


def main() -> int:
    print(f"{_bytecodes() / CALLS:.0f} bytecode instructions per simulated call")
    best = float("inf")
    for _ in range(5):
        s = sim.Simulation(seed=0, faults="none")
        start = time.perf_counter()
        s.run(fan(100))
        best = min(best, time.perf_counter() - start)
    print(f"{best * 1e6 / CALLS:.1f} us per call (min of 5 runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
