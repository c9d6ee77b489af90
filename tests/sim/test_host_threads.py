"""Simulations in threads other than the main one.

Several threads running seeds at once get the digests of fresh runs
(simulations of a process take turns: `sim._runtime.RUN_LOCK`).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.sim.test_host import _fresh, _shared


@pytest.fixture
def switch_often() -> Iterator[None]:
    # Threads take turns every few bytecodes rather than every 5 ms, so that
    # runs in several threads interleave inside a seed, not only between seeds.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def test_several_threads_at_once_running_fresh_runs_get_their_digests(switch_often: None) -> None:
    seeds = range(8)
    fresh = [_fresh(seed, "light") for seed in seeds]
    started = threading.Barrier(3)

    def run(order: list[int]) -> dict[int, tuple[Any, str]]:
        started.wait()
        return {seed: _shared(seed, "light") for seed in order}  # a trio.run per seed off the main thread

    orders = [list(seeds), list(reversed(seeds)), [3, 1, 7, 5, 0, 2, 4, 6]]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(run, orders, timeout=300))
    for got in results:
        assert [got[seed] for seed in seeds] == fresh
