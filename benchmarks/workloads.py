"""The benchmark workloads, written once against the Dispatch programming model.

The functions live at module level because the Dispatch SDK pickles its
coroutines. With ``DISPATCH_BENCH_FRAMEWORK=dispatch`` in the environment
they register with the SDK (``dispatch``), otherwise with ``registry``.
"""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Callable, Coroutine
from typing import Any

if os.environ.get("DISPATCH_BENCH_FRAMEWORK") == "dispatch":
    import dispatch

    function: Any = dispatch.function
    gather: Any = dispatch.gather
else:
    import registry

    function = registry.Registry("benchmarks").function
    gather = registry.gather

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


@function
def bench_noop(x: int) -> int:
    return x


@function
async def bench_fan_out(n: int) -> int:
    results = await gather(*[bench_noop(i) for i in range(n)])
    return len(results)


@function
async def bench_sort(items: list[int]) -> list[int]:
    if len(items) <= 1:
        return items
    middle = len(items) // 2
    left, right = await gather(bench_sort(items[:middle]), bench_sort(items[middle:]))
    return merge(left, right)


async def sequential(n: int) -> None:
    for i in range(n):
        await bench_noop(i)


async def fan_out(n: int) -> None:
    assert await bench_fan_out(n) == n


async def sort(data: list[int]) -> None:
    assert await bench_sort(data) == sorted(data)


def _sort(n: int) -> Workload:
    data = random.Random(n).sample(range(10 * n), n)
    return functools.partial(sort, data)


WORKLOADS: dict[str, tuple[Workload, int]] = {
    "sequential 200": (functools.partial(sequential, 200), 200),
    "merge sort 64": (_sort(64), 127),
    "merge sort 256": (_sort(256), 511),
    "gather 100": (functools.partial(fan_out, 100), 101),
    "sequential 1k": (functools.partial(sequential, 1_000), 1_000),
    "gather 1k": (functools.partial(fan_out, 1_000), 1_001),
    "merge sort 500": (_sort(500), 999),
    "sequential 10k": (functools.partial(sequential, 10_000), 10_000),
    "gather 10k": (functools.partial(fan_out, 10_000), 10_001),
    "merge sort 5k": (_sort(5_000), 9_999),
    "sequential 100k": (functools.partial(sequential, 100_000), 100_000),
    "gather 100k": (functools.partial(fan_out, 100_000), 100_001),
    "merge sort 50k": (_sort(50_000), 99_999),
}
"""Workload name -> (coroutine factory, number of calls it makes)."""

SHARED = ("sequential 200", "merge sort 64", "merge sort 256", "gather 100")
"""The workloads that also run on the Dispatch SDK's test server."""

CURVE: dict[str, tuple[str, str, str]] = {
    "sequential": ("sequential 1k", "sequential 10k", "sequential 100k"),
    "gather": ("gather 1k", "gather 10k", "gather 100k"),
    "merge sort": ("merge sort 500", "merge sort 5k", "merge sort 50k"),
}
"""Shape -> its workloads of about 1k, 10k and 100k calls, for the cost curve."""
