"""registry.test decorators on tests that take parameters: fixtures and Hypothesis."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import registry
import registry.test

reg = registry.Registry("test-decorators-with-parameters")
seen: list[int] = []


@reg.function
def double(n: int) -> int:
    return 2 * n


@registry.test.function(faults="none")
async def test_a_fixture_reaches_the_coroutine(tmp_path: Path) -> None:
    assert tmp_path.is_dir()
    assert await double(21) == 42


@settings(max_examples=10, database=None, derandomize=True, deadline=None)
@given(n=st.integers(-1000, 1000))
@registry.test.function(faults="light")
async def test_hypothesis_values_reach_the_coroutine(n: int) -> None:
    seen.append(n)
    assert await double(n) == 2 * n


def test_the_hypothesis_test_ran_with_drawn_values() -> None:
    seen.clear()
    test_hypothesis_values_reach_the_coroutine()
    assert len(seen) == 10


class TestMethods:
    @registry.test.method(faults="none")
    async def test_a_method_with_a_fixture(self, tmp_path: Path) -> None:
        assert tmp_path.is_dir()
        assert await double(2) == 4


def test_a_sweep_of_failing_seeds_keeps_only_the_first_failures_simulation() -> None:
    # A pytest-side sweep goes on past failures; it keeps the first failure whole (it is
    # raised and can be shrunk) and the others as (seed, signature), so its memory does
    # not grow with every failing seed's trace.
    import gc

    import pytest

    import sim

    @registry.test.function(faults="none", seeds=range(40))
    async def always_fails() -> None:
        assert await double(1) == 3, "planted"

    with pytest.raises(AssertionError) as raised:
        always_fails()
    gc.collect()
    alive = [o for o in gc.get_objects() if isinstance(o, sim.Simulation)]
    # the first failure, and the last seed run (a local of the frame the traceback holds)
    assert len(alive) <= 2
    assert "40 of 40 seeds failed (100%) in 1 group(s)" in "\n".join(raised.value.__notes__)
