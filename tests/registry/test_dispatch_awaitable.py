"""dispatch() as in the SDK (awaited) and as dispatch-sim always allowed (not awaited)."""

from __future__ import annotations

from typing import Any

import registry
import registry.test
import sim


def run(coro: Any) -> Any:
    return registry.test.run(coro, faults="none")


def _dispatched() -> list[tuple[str, str]]:
    return [(e.dispatch_id, e.function) for e in sim.current().trace if e.kind == "dispatch"]


def test_awaiting_fn_dispatch_gives_a_plain_dispatch_id(reg: registry.Registry) -> None:
    @reg.function
    def double(x: int) -> int:
        return 2 * x

    async def main() -> int:
        dispatch_id = await double.dispatch(4)
        assert type(dispatch_id) is str
        assert type(await reg.batch().dispatch()) is list
        assert _dispatched() == [(dispatch_id, double.name)]
        result: int = await reg.client.wait(dispatch_id)
        return result

    assert run(main()) == 8


def test_fn_dispatch_sends_at_once_without_await(reg: registry.Registry) -> None:
    @reg.function
    def double(x: int) -> int:
        return 2 * x

    async def main() -> None:
        pending = double.dispatch(5)
        # Sent when called, and a plain string: the service has it before anything is awaited.
        assert type(pending) is str
        assert _dispatched() == [(pending, double.name)]
        ids = reg.batch().add(double, 6).dispatch()
        assert type(ids) is list and type(ids[0]) is str
        assert type(reg.client.dispatch([double.build_call(7)])) is list
        assert [await reg.client.wait(i) for i in [pending, *ids]] == [10, 12]

    run(main())


def test_awaiting_sends_each_call_once(reg: registry.Registry) -> None:
    @reg.function
    def double(x: int) -> int:
        return 2 * x

    async def main() -> None:
        first = await double.dispatch(1)
        second = await reg.batch().add(double, 2).dispatch()
        third = await reg.client.dispatch([double.build_call(3)])
        assert [i for i, _ in _dispatched()] == [first, *second, *third]

    run(main())


def test_awaiting_batch_dispatch_gives_the_ids_in_order(reg: registry.Registry) -> None:
    @reg.function
    def echo(x: int) -> int:
        return x

    async def main() -> list[int]:
        batch = reg.batch().add(echo, 1).add(echo, 2).add(echo, 3)
        ids = await batch.dispatch()
        assert type(ids) is list and len(ids) == 3
        assert [i for i, _ in _dispatched()] == ids
        assert batch.calls == []
        assert await reg.batch().dispatch() == []
        return [await reg.client.wait(i) for i in ids]

    assert run(main()) == [1, 2, 3]


def test_awaiting_client_dispatch(reg: registry.Registry) -> None:
    @reg.function
    def echo(x: int) -> int:
        return x

    async def main() -> list[int]:
        ids = await reg.client.dispatch([echo.build_call(7), echo.build_call(8)])
        assert type(ids) is list
        return [await reg.client.wait(i) for i in ids]

    assert run(main()) == [7, 8]


def test_awaiting_dispatch_inside_an_async_function(reg: registry.Registry) -> None:
    @reg.function
    def work(x: int) -> int:
        return x * 3

    @reg.function
    async def starter() -> str:
        dispatch_id = await work.dispatch(2)
        (second,) = await reg.batch().add(work, 3).dispatch()
        assert dispatch_id != second
        return dispatch_id

    async def main() -> int:
        dispatch_id = await starter()
        result: int = await reg.client.wait(dispatch_id)
        return result

    assert run(main()) == 6


def test_a_primitive_function_dispatch_is_awaitable(reg: registry.Registry) -> None:
    @reg.primitive_function
    def answer(inp: registry.Input) -> registry.Output:
        return registry.Output.value(inp.input)

    async def main() -> Any:
        return await reg.client.wait(await answer.dispatch("hi"))

    assert run(main()) == "hi"


def test_a_dispatched_id_crosses_a_call_as_a_plain_string(reg: registry.Registry) -> None:
    @reg.function
    def kind(value: Any) -> str:
        return type(value).__name__

    @reg.function
    def noop() -> None:
        return None

    async def main() -> str:
        result: str = await kind(noop.dispatch())
        return result

    assert run(main()) == "str"


def test_a_plain_wrapper_returning_the_dispatch_can_be_awaited(reg: registry.Registry) -> None:
    @reg.function
    def double(x: int) -> int:
        return 2 * x

    def send(x: int) -> Any:
        return double.dispatch(x)  # ported code: a helper that returns the SDK's coroutine

    def send_batch(*xs: int) -> Any:
        batch = reg.batch()
        for x in xs:
            batch.add(double, x)
        return batch.dispatch()

    async def main() -> list[int]:
        awaited = await send(1)
        kept = send(2)  # not awaited: the plain id
        assert type(awaited) is str and type(kept) is str
        ids = await send_batch(3, 4)
        assert type(ids) is list
        return [await reg.client.wait(i) for i in [awaited, kept, *ids]]

    assert run(main()) == [2, 4, 6, 8]


def test_a_sync_function_returning_a_dispatch_returns_the_id(reg: registry.Registry) -> None:
    @reg.function
    def double(x: int) -> int:
        return 2 * x

    @reg.function
    def starter(x: int) -> Any:
        return double.dispatch(x)

    @reg.function
    async def astarter(x: int) -> Any:
        return double.dispatch(x)

    async def main() -> list[str]:
        return [type(await starter(1)).__name__, type(await astarter(2)).__name__]

    assert run(main()) == ["str", "str"]
