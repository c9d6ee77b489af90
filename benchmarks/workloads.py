"""The benchmark workloads, written once against the Dispatch programming model.

`build(module)` registers the functions with ``module.function`` and
``module.gather`` (``registry`` here, ``dispatch`` for the SDK baseline) and
returns coroutine factories keyed by workload name.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Coroutine
from typing import Any

Workload = Callable[[], Coroutine[Any, Any, Any]]


def merge(left: list[int], right: list[int]) -> list[int]:
    out: list[int] = []
    i = j = 0
    while i < len(left) and j < len(right):
        if left[i] <= right[j]:
            out.append(left[i])
            i += 1
        else:
            out.append(right[j])
            j += 1
    return out + left[i:] + right[j:]


def values(n: int) -> list[int]:
    return random.Random(n).sample(range(10 * n), n)


def build(module: Any) -> tuple[dict[str, tuple[Workload, int]], Callable[..., Any]]:
    """Workloads by name: (coroutine factory, number of calls it makes)."""

    @module.function
    def bench_noop(x: int) -> int:
        return x

    @module.function
    async def bench_fan_out(n: int) -> int:
        results = await module.gather(*[bench_noop(i) for i in range(n)])
        return len(results)

    @module.function
    async def bench_sort(items: list[int]) -> list[int]:
        if len(items) <= 1:
            return items
        middle = len(items) // 2
        left, right = await module.gather(bench_sort(items[:middle]), bench_sort(items[middle:]))
        return merge(left, right)

    def sequential(n: int) -> Workload:
        async def run() -> None:
            for i in range(n):
                await bench_noop(i)

        return run

    def fan_out(n: int) -> Workload:
        async def run() -> None:
            assert await bench_fan_out(n) == n

        return run

    def sort(n: int) -> Workload:
        data = values(n)

        async def run() -> None:
            assert await bench_sort(data) == sorted(data)

        return run

    workloads = {
        "sequential 200": (sequential(200), 200),
        "merge sort 64": (sort(64), 127),
        "merge sort 256": (sort(256), 511),
        "gather 100": (fan_out(100), 101),
        "sequential 10k": (sequential(10_000), 10_000),
        "gather 10k": (fan_out(10_000), 10_001),
        "merge sort 5k": (sort(5_000), 9_999),
        "sequential 100k": (sequential(100_000), 100_000),
        "gather 100k": (fan_out(100_000), 100_001),
        "merge sort 50k": (sort(50_000), 99_999),
    }
    return workloads, bench_noop


SHARED = ("sequential 200", "merge sort 64", "merge sort 256", "gather 100")
"""The workloads also run on the Dispatch SDK's test server."""
