"""What a function's code can see of the world around it.

Each call is its own function invocation, as on a real Dispatch endpoint: it
must not see, nor change, the context of the test that called it or of
another call, and trio constructs it uses must not leak into the tasks that
happen to drive the simulation.
"""

from __future__ import annotations

import contextvars
import itertools

import pytest
import trio

import registry
import sim

_names = itertools.count()

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("compat_isolation_var", default="unset")




def run(main, faults="none", seed=0):
    simulation = sim.Simulation(seed=seed, faults=faults)
    return simulation.run(main), simulation


@pytest.fixture
def after(reg):
    @reg.function
    async def after(seconds, value):
        await registry.sleep(seconds)
        return value

    return after


def test_context_variable_set_by_a_function_does_not_leak_into_the_caller(reg):
    @reg.function
    def sync_setter():
        VAR.set("set by sync function")

    @reg.function
    async def async_setter():
        VAR.set("set by async function")

    async def main():
        seen = []
        await sync_setter()
        seen.append(VAR.get())
        await async_setter()
        seen.append(VAR.get())
        return seen

    value, _ = run(main)
    assert value == ["unset", "unset"]


def test_context_variable_of_one_call_is_not_seen_by_another(reg, after):
    @reg.function
    async def keeper(tag):
        VAR.set(tag)
        await after(1, None)
        first = VAR.get()
        await after(1, None)
        return first, VAR.get()

    async def main():
        results = {}

        async def one(tag, delay):
            await trio.sleep(delay)
            results[tag] = await keeper(tag)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(one, "A", 0)
            nursery.start_soon(one, "B", 0.5)
        return results

    value, _ = run(main)
    # whether a value survives a durable step is up to the implementation; seeing the
    # other call's value is not
    for tag, seen in value.items():
        for v in seen:
            assert v in (tag, "unset"), (tag, seen)


def test_trio_timeout_around_a_durable_step_does_not_corrupt_the_run(reg, after):
    @reg.function
    async def timed():
        with trio.move_on_after(1):
            return await after(5, "in time")
        return "timed out"

    async def main():
        try:
            outcome = await timed()
        except Exception as exc:  # a clear error for this call is acceptable
            outcome = ("error", type(exc).__name__)
        # the simulation itself is intact: other calls keep working
        return outcome, await after(1, "still fine")

    value, _ = run(main)
    assert value == (("error", "RuntimeError"), "still fine")


def test_trio_timeout_around_a_trio_sleep_in_a_function(reg):
    @reg.function
    async def timed():
        with trio.move_on_after(1) as scope:
            await trio.sleep(5)
        return scope.cancelled_caught, sim.now()

    value, _ = run(timed)
    assert value == (True, 1.0)
