"""Misuses of durable steps get clear errors at the await, not a broken run."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import trio

import registry
import registry.error
import registry.test
import sim




def test_the_same_call_gathered_twice_raises_at_the_gather(reg: registry.Registry) -> None:
    @reg.function
    def double(x: int) -> int:
        return 2 * x

    @reg.function
    async def twice() -> object:
        c = double(3)
        try:
            return await registry.gather(c, c)
        except RuntimeError as exc:
            return str(exc)

    message = registry.test.run(twice, faults="none")
    assert "awaited twice" in message and "double" in message


def test_the_same_call_twice_in_a_wide_gather_raises_at_the_gather(reg: registry.Registry) -> None:
    # The repeated call comes after several others (each started on the way):
    # it is still refused at the gather.
    @reg.function
    def double(x: int) -> int:
        return 2 * x

    @reg.function
    async def wide() -> object:
        c = double(3)
        others = [double(i) for i in range(4)]
        try:
            return await registry.gather(*others, c, c)
        except RuntimeError as exc:
            return str(exc)

    message = registry.test.run(wide, faults="none")
    assert "awaited twice" in message and "double" in message


def test_awaiting_a_call_twice_raises_at_the_second_await(reg: registry.Registry) -> None:
    @reg.function
    def double(x: int) -> int:
        return 2 * x

    @reg.function
    async def again() -> object:
        c = double(3)
        first = await c
        with pytest.raises(RuntimeError, match="awaited twice"):
            await c
        return first

    assert registry.test.run(again, faults="none") == 6


def test_registry_test_is_available_after_import_registry() -> None:
    import importlib

    module = importlib.import_module("registry")
    assert module.test.function is registry.test.function


# -- misuse that ported code runs into: each error names the function and what to do instead --


def _run_group_member(main: Any) -> BaseException:
    """The one error the run raised, taken out of trio's exception group if it is in one."""
    with pytest.raises(BaseException) as info:
        sim.Simulation(seed=0, faults="none", max_virtual_time=100).run(main)
    exc = info.value
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def test_durable_call_awaited_in_a_nursery_task_says_use_gather(reg: registry.Registry) -> None:
    @reg.function
    def leaf(x: int) -> int:
        return x

    async def helper() -> None:
        await leaf(1)

    @reg.function
    async def spawns() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(helper)

    exc = _run_group_member(spawns())
    assert isinstance(exc, RuntimeError)
    assert f"a trio task that {spawns.name} started" in str(exc)
    assert "use registry.gather(...)" in str(exc)


def test_durable_call_inside_a_nursery_block_says_use_gather(reg: registry.Registry) -> None:
    @reg.function
    def leaf(x: int) -> int:
        return x

    @reg.function
    async def wraps() -> None:
        async with trio.open_nursery():
            await leaf(1)

    exc = _run_group_member(wraps())
    assert isinstance(exc, RuntimeError)
    assert f"open across a durable step in {wraps.name}" in str(exc)
    assert "registry.gather(...)" in str(exc)


@pytest.mark.parametrize(
    "use",
    ["asyncio.sleep(1)", "asyncio.sleep(0)", "asyncio.Event().wait()", "asyncio.Queue().get()"],
)
def test_asyncio_inside_a_simulation_says_it_runs_on_trio(reg: registry.Registry, use: str) -> None:
    awaitable = eval("lambda: " + use, {"asyncio": asyncio})  # noqa: S307 - fixed strings above

    @reg.function
    async def ported() -> None:
        await awaitable()

    exc = _run_group_member(ported())
    assert isinstance(exc, RuntimeError), exc
    message = str(exc)
    assert message.startswith(f"{ported.name} awaited an asyncio primitive")
    assert "run on trio" in message and "registry.sleep(seconds)" in message and "trio.sleep" in message


def test_a_typeerror_of_the_function_itself_is_untouched(reg: registry.Registry) -> None:
    @reg.function
    def leaf(x: int) -> int:
        raise TypeError("leaf wants an int")

    @reg.function
    async def caller() -> str:
        try:
            await leaf(1)
        except TypeError as exc:
            return str(exc)
        return "no error"

    assert sim.Simulation(seed=0, faults="none").run(caller()) == "leaf wants an int"


def test_registered_function_given_to_start_soon_says_use_gather(reg: registry.Registry) -> None:
    @reg.function
    def leaf(x: int) -> int:
        return x

    @reg.function
    async def starts() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(leaf, 1)

    exc = _run_group_member(starts())
    assert isinstance(exc, RuntimeError)
    assert str(exc).startswith(f"{starts.name} started a registered function in a trio nursery")
    assert "registry.gather(...)" in str(exc)
    # trio's own error stays in the chain, in the function's traceback.
    with pytest.raises(BaseExceptionGroup) as info:
        sim.Simulation(seed=0, faults="none").run(starts())
    cause = info.value.__cause__
    assert isinstance(cause, registry.error.FunctionTraceback)
    assert "appears to be synchronous" in cause.text


def test_a_plain_sync_function_given_to_start_soon_keeps_trios_error(reg: registry.Registry) -> None:
    def plain() -> None:
        pass

    @reg.function
    async def starts() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(plain)  # type: ignore[arg-type]

    exc = _run_group_member(starts())
    assert isinstance(exc, TypeError) and "appears to be synchronous" in str(exc)
