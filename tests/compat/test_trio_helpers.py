"""Gathered helpers that await trio run concurrently, each in the task that stepped it into trio."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import trio

import registry
import sim
from sim import FaultProfile

ROOT = Path(__file__).resolve().parent.parent.parent


def run(main: Any, faults: Any = "none", seed: int = 0) -> tuple[Any, sim.Simulation]:
    s = sim.Simulation(seed=seed, faults=faults)
    return s.run(main), s


class Durable:
    """Durable functions the tests share, registered in the test's registry."""

    def __init__(self, reg: registry.Registry) -> None:
        @reg.function
        async def after(seconds: float, value: Any) -> Any:
            await registry.sleep(seconds)
            return value

        @reg.function
        def double(x: int) -> int:
            return 2 * x

        async def nap_then_call(seconds: float, x: int) -> int:
            await trio.sleep(seconds)
            return await double(x)

        self.after, self.double, self.nap_then_call = after, double, nap_then_call


@pytest.fixture
def durable(reg: registry.Registry) -> Durable:
    return Durable(reg)


def test_helpers_meet_through_a_trio_event(reg: registry.Registry) -> None:
    # Run one after the other, the waiter would block forever.
    async def waiter(event: trio.Event) -> str:
        await event.wait()
        return "woken"

    async def setter(event: trio.Event) -> str:
        await trio.sleep(2)
        event.set()
        return "set"

    @reg.function
    async def meet() -> Any:
        event = trio.Event()
        values = await registry.gather(waiter(event), setter(event))
        return values, sim.now()

    value, _ = run(meet)
    assert value == (["woken", "set"], pytest.approx(2.0))


def test_cancel_scopes_inside_concurrent_helpers(reg: registry.Registry) -> None:
    async def bounded(seconds: float) -> bool:
        with trio.move_on_after(1) as scope:
            await trio.sleep(seconds)
        return scope.cancelled_caught

    @reg.function
    async def bounds() -> Any:
        values = await registry.gather(bounded(5), bounded(0.5), bounded(3))
        return values, sim.now()

    value, _ = run(bounds)
    assert value == ([True, False, True], pytest.approx(1.0))


def test_trio_helpers_mixed_with_durable_steps(reg: registry.Registry, durable: Durable) -> None:
    double, nap_then_call = durable.double, durable.nap_then_call

    @reg.function
    async def mixed() -> Any:
        values = await registry.gather(nap_then_call(1, 1), nap_then_call(1, 2), double(3))
        return values, sim.now()

    value, _ = run(mixed)
    assert value[0] == [2, 4, 6]
    assert value[1] == pytest.approx(1.0, abs=0.5)


def test_trio_helpers_under_crashes_rebuild_and_finish(reg: registry.Registry, durable: Durable) -> None:
    double, nap_then_call = durable.double, durable.nap_then_call

    @reg.function
    async def mixed() -> list[int]:
        first = await registry.gather(nap_then_call(1, 1), nap_then_call(2, 2))
        second = await double(sum(first))
        return [*first, second]

    for seed in range(20):
        value, _ = run(mixed, faults=FaultProfile(crash=1.0), seed=seed)
        assert value == [2, 4, 12]


def test_an_error_in_one_trio_helper_fails_the_gather(reg: registry.Registry) -> None:
    async def fails_later() -> None:
        await trio.sleep(1)
        raise KeyError("late")

    async def naps() -> int:
        await trio.sleep(2)
        return 2

    @reg.function
    async def gathered() -> str:
        try:
            await registry.gather(naps(), fails_later())
        except KeyError as exc:
            return f"caught {exc}"
        return "no error"

    value, _ = run(gathered)
    assert value == "caught 'late'"


def _dispatch_times(s: sim.Simulation, function: str) -> list[float]:
    return [e.time for e in s.trace if e.kind == "dispatch" and e.function == function]


def test_a_call_made_after_a_trio_await_is_dispatched_when_the_await_ends(reg: registry.Registry, durable: Durable) -> None:
    # The frame polls at once with the slow sibling; the helper wakes at 1 s
    # between attempts, and its call goes out then, not when the sibling ends.
    after, double, nap_then_call = durable.after, durable.double, durable.nap_then_call

    @reg.function
    async def mixed() -> Any:
        values = await registry.gather(after(100, "slow"), nap_then_call(1, 21))
        return values, sim.now()

    value, s = run(mixed)
    assert value == (["slow", 42], pytest.approx(100.0))
    assert _dispatch_times(s, after.name) == [0.0]
    assert _dispatch_times(s, double.name) == [pytest.approx(1.0)]


def test_a_trio_helper_that_wins_an_any_ends_the_function_without_waiting(reg: registry.Registry, durable: Durable) -> None:
    after = durable.after

    async def nap(seconds: float) -> str:
        await trio.sleep(seconds)
        return "nap"

    @reg.function
    async def first() -> Any:
        value = await registry.any(after(100, "slow"), nap(1))
        return value, sim.now()

    value, s = run(first)
    assert value == ("nap", pytest.approx(1.0))
    assert _dispatch_times(s, after.name) == [0.0]  # dispatched while the helper slept


def test_a_helper_still_in_trio_is_cancelled_when_the_function_ends(reg: registry.Registry, durable: Durable) -> None:
    after = durable.after
    unwound: list[str] = []

    async def forever() -> None:
        try:
            await trio.sleep_forever()
        finally:
            unwound.append("forever")

    @reg.function
    async def first() -> Any:
        value = await registry.race(after(2, "durable"), forever())
        return value, sim.now()

    value, _ = run(first)
    assert value == ("durable", pytest.approx(2.0))
    assert unwound == ["forever"]  # its finally block ran, in its own task


def test_a_deadline_inside_a_helper_runs_while_the_frame_polls(reg: registry.Registry, durable: Durable) -> None:
    after = durable.after

    async def bounded(seconds: float) -> Any:
        with trio.move_on_after(1) as scope:
            await trio.sleep(seconds)
        return scope.cancelled_caught, sim.now()

    @reg.function
    async def bounds() -> Any:
        values = await registry.gather(after(3, "durable"), bounded(5), bounded(0.5))
        return values, sim.now()

    value, s = run(bounds)
    assert value == (["durable", (True, pytest.approx(1.0)), (False, pytest.approx(0.5))], pytest.approx(3.0))
    assert _dispatch_times(s, after.name) == [0.0]


def test_a_trio_helper_failing_between_attempts_fails_the_gather_then(reg: registry.Registry, durable: Durable) -> None:
    after = durable.after

    async def fails_later() -> None:
        await trio.sleep(1)
        raise KeyError("late")

    @reg.function
    async def gathered() -> Any:
        try:
            await registry.gather(after(10, "slow"), fails_later())
        except KeyError as exc:
            return f"caught {exc}", sim.now()
        return "no error"

    value, _ = run(gathered)
    assert value == ("caught 'late'", pytest.approx(1.0))


@pytest.mark.parametrize("faults", [FaultProfile(crash=1.0), "heavy"], ids=["crash", "heavy"])
def test_trio_helpers_beside_durable_siblings_survive_rebuilds(reg: registry.Registry, durable: Durable, faults: Any) -> None:
    # Rebuilt coroutines re-run their helpers' trio work (it is not durable)
    # and replay the durable steps, whichever attempt made them.
    after, double, nap_then_call = durable.after, durable.double, durable.nap_then_call

    @reg.function
    async def mixed() -> list[int]:
        first = await registry.gather(after(3, 1), nap_then_call(1, 2), nap_then_call(5, 3))
        second = await registry.gather(nap_then_call(1, sum(first)), after(1, 7))
        return [*first, *second]

    for seed in range(12):
        value, _ = run(mixed, faults=faults, seed=seed)
        assert value == [1, 4, 6, 22, 7]


_PROGRAM = textwrap.dedent(
    """
    import trio, registry, sim

    reg = registry.Registry("trio-helpers")

    @reg.function
    def double(x):
        return 2 * x

    async def helper(i):
        await trio.sleep(i % 3)
        return await double(i)

    @reg.function
    async def after(seconds, value):
        await registry.sleep(seconds)
        return value

    @reg.function
    async def fan():
        return await registry.gather(after(1.5, -1), *(helper(i) for i in range(8)))

    for seed in range(5):
        s = sim.Simulation(seed=seed, faults="heavy")
        try:
            s.run(fan())
        except Exception as exc:
            pass
        print(s.trace.digest())
    """
)


def test_trio_helpers_are_deterministic_across_processes(tmp_path: Path) -> None:
    (tmp_path / "prog.py").write_text(_PROGRAM)
    outputs = []
    for hashseed in ("0", "7"):
        done = subprocess.run(
            [sys.executable, "prog.py"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONHASHSEED=hashseed),
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert len(set(outputs[0].split())) > 1  # the seeds differ, as they should
