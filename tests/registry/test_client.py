"""Batch and Client end to end: dispatching calls, ids, waiting, errors."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import trio

import registry
import registry.test
import sim
from registry.error import NotFoundError

_ids = itertools.count()


def unique(prefix: str = "client") -> str:
    return f"test-client-{prefix}-{next(_ids)}"




@pytest.fixture
def fns(reg: registry.Registry) -> Any:
    """A few functions of `reg`, and a log of their executions."""

    class Fns:
        log: list[Any] = []

        @staticmethod
        @reg.function
        def double(x: int) -> int:
            Fns.log.append(("double", x))
            return 2 * x

        @staticmethod
        @reg.function
        def concat(a: str, b: str = "!") -> str:
            Fns.log.append(("concat", a, b))
            return a + b

        @staticmethod
        @reg.function
        async def negate(x: int) -> int:
            Fns.log.append(("negate", x))
            return -x

        @staticmethod
        @reg.function
        def fail(message: str) -> None:
            Fns.log.append(("fail", message))
            raise KeyError(message)

    return Fns


def run(coro: Any, **options: Any) -> Any:
    options.setdefault("faults", "none")
    return registry.test.run(coro, **options)


# -- Batch ---------------------------------------------------------------------------------


def test_add_and_add_call_chain_and_return_the_batch(reg: registry.Registry, fns: Any) -> None:
    batch = reg.batch()
    assert isinstance(batch, registry.Batch)
    same = batch.add(fns.double, 1).add_call(fns.concat.build_call("a", b="b")).add(fns.negate, 3)
    assert same is batch
    assert [c.function for c in batch.calls] == [fns.double.name, fns.concat.name, fns.negate.name]
    assert batch.calls[1].input == registry.Arguments(("a",), {"b": "b"})


def test_batch_dispatch_returns_ids_in_insertion_order(reg: registry.Registry, fns: Any) -> None:
    async def main() -> list[Any]:
        batch = reg.batch()
        batch.add(fns.double, 5).add(fns.concat, "x").add(fns.negate, 7).add(fns.double, 1)
        ids = batch.dispatch()
        assert len(ids) == 4
        assert len(set(ids)) == 4
        assert all(isinstance(i, str) for i in ids)
        # The service saw the calls in the same order as the ids.
        dispatched = [(e.dispatch_id, e.function) for e in sim.current().trace if e.kind == "dispatch"]
        assert dispatched == list(zip(ids, [fns.double.name, fns.concat.name, fns.negate.name, fns.double.name]))
        return [await reg.client.wait(i) for i in ids]

    assert run(main()) == [10, "x!", -7, 2]


def test_batch_is_cleared_after_dispatch(reg: registry.Registry, fns: Any) -> None:
    async def main() -> None:
        batch = reg.batch().add(fns.double, 1).add(fns.double, 2)
        first = batch.dispatch()
        assert batch.calls == []
        assert batch.dispatch() == []  # nothing left to send
        second = batch.add(fns.double, 3).dispatch()
        assert len(second) == 1
        assert set(first).isdisjoint(second)
        assert [await reg.client.wait(i) for i in first + second] == [2, 4, 6]

    run(main())
    assert fns.log == [("double", 1), ("double", 2), ("double", 3)]


def test_empty_batch_dispatches_to_empty_list(reg: registry.Registry) -> None:
    assert reg.batch().dispatch() == []  # even outside a simulation

    async def main() -> list[str]:
        return reg.batch().dispatch()

    assert run(main()) == []


def test_failed_batch_dispatch_keeps_the_calls_and_dispatches_nothing(
    reg: registry.Registry, fns: Any
) -> None:
    async def main() -> None:
        batch = reg.batch().add(fns.double, 1).add_call(registry.Call(""))
        with pytest.raises(ValueError):
            batch.dispatch()
        assert len(batch.calls) == 2  # cleared only on success
        assert [e for e in sim.current().trace if e.kind == "dispatch"] == []
        batch.clear()
        assert batch.calls == []
        (dispatch_id,) = batch.add(fns.double, 4).dispatch()
        assert await reg.client.wait(dispatch_id) == 8

    run(main())
    assert fns.log == [("double", 4)]


def test_batch_add_rejects_unregistered_callables(reg: registry.Registry) -> None:
    batch = reg.batch()
    with pytest.raises(TypeError):
        batch.add(lambda x: x, 1)
    with pytest.raises(TypeError):
        batch.add_call("not a call")  # type: ignore[arg-type]
    assert batch.calls == []


def test_batch_add_keyword_argument_named_func(reg: registry.Registry) -> None:
    @reg.function
    def apply(func: str, value: int) -> str:
        return f"{func}({value})"

    async def main() -> list[Any]:
        ids = reg.batch().add(apply, func="abs", value=-1).dispatch()
        return [await reg.client.wait(i) for i in ids]

    assert run(main()) == ["abs(-1)"]


def test_batch_mixes_registries(reg: registry.Registry, fns: Any) -> None:
    other = registry.Registry(unique("other"))
    try:

        @other.function
        def triple(x: int) -> int:
            return 3 * x

        async def main() -> list[Any]:
            ids = reg.batch().add(fns.double, 2).add(triple, 2).dispatch()
            return [await reg.client.wait(i) for i in ids]

        assert run(main()) == [4, 6]
    finally:
        other.close()


def test_batch_call_errors_are_per_call(reg: registry.Registry, fns: Any) -> None:
    closed = registry.Registry(unique("closed"))

    @closed.function
    def gone() -> None:
        pass

    closed.close()

    async def main() -> None:
        ids = reg.batch().add(fns.double, 1).add(fns.fail, "oops").add(gone).add(fns.double, 2).dispatch()
        assert await reg.client.wait(ids[0]) == 2
        with pytest.raises(KeyError, match="oops"):
            await reg.client.wait(ids[1])
        with pytest.raises(NotFoundError):
            await reg.client.wait(ids[2])
        assert await reg.client.wait(ids[3]) == 4

    run(main())


def test_module_batch_uses_the_default_registry_client() -> None:
    batch = registry.batch()
    assert isinstance(batch, registry.Batch)
    assert batch.client is registry.default_registry().client
    assert batch.calls == []


def test_standalone_batch_dispatches(reg: registry.Registry, fns: Any) -> None:
    async def main() -> list[Any]:
        ids = registry.Batch().add(fns.double, 21).dispatch()
        return [await reg.client.wait(i) for i in ids]

    assert run(main()) == [42]


def test_batch_dispatch_from_a_sync_function(reg: registry.Registry, fns: Any) -> None:
    @reg.function
    def fan_out(n: int) -> int:
        return len(reg.batch().add(fns.double, n).add(fns.double, n + 1).dispatch())

    assert run(fan_out(1)) == 2
    assert sorted(fns.log) == [("double", 1), ("double", 2)]


# -- Client ----------------------------------------------------------------------------------


def test_client_dispatch_and_wait(reg: registry.Registry, fns: Any) -> None:
    client = registry.Client()

    async def main() -> list[Any]:
        ids = client.dispatch([fns.double.build_call(3), fns.concat.build_call("hi", b="?")])
        return [await client.wait(i) for i in ids]

    assert run(main()) == [6, "hi?"]


def test_client_accepts_sdk_arguments() -> None:
    client = registry.Client(api_key="key", api_url="https://api.example.com")
    assert (client.api_key, client.api_url) == ("key", "https://api.example.com")


def test_client_dispatch_of_nothing_returns_empty_list() -> None:
    async def main() -> list[str]:
        return registry.Client().dispatch([])

    assert run(main()) == []


def test_client_dispatch_rejects_a_single_call(reg: registry.Registry, fns: Any) -> None:
    async def main() -> None:
        with pytest.raises(TypeError):
            registry.Client().dispatch(fns.double.build_call(1))  # type: ignore[arg-type]

    run(main())
    assert fns.log == []


def test_client_dispatch_validates_every_call_first(reg: registry.Registry, fns: Any) -> None:
    async def main() -> None:
        with pytest.raises(TypeError):
            registry.Client().dispatch([fns.double.build_call(1), "not a call"])  # type: ignore[list-item]
        assert [e for e in sim.current().trace if e.kind == "dispatch"] == []

    run(main())
    assert fns.log == []


def test_client_wait_raises_the_call_error(reg: registry.Registry, fns: Any) -> None:
    async def main() -> None:
        (dispatch_id,) = reg.client.dispatch([fns.fail.build_call("bad")])
        with pytest.raises(KeyError) as info:
            await reg.client.wait(dispatch_id)
        assert info.value.args == ("bad",)

    run(main())


def test_client_wait_twice_gives_equal_independent_values(reg: registry.Registry) -> None:
    @reg.function
    def make() -> dict[str, list[int]]:
        return {"xs": [1, 2]}

    async def main() -> None:
        dispatch_id = make.dispatch()
        first = await reg.client.wait(dispatch_id)
        first["xs"].append(3)
        second = await reg.client.wait(dispatch_id)
        assert second == {"xs": [1, 2]}
        assert second is not first

    run(main())


def test_client_wait_on_unknown_id_fails(reg: registry.Registry) -> None:
    async def main() -> None:
        with pytest.raises(ValueError):
            await reg.client.wait("no-such-id")

    run(main())


def test_client_dispatch_outside_a_simulation_is_a_clear_error(reg: registry.Registry, fns: Any) -> None:
    with pytest.raises(RuntimeError, match="simulation"):
        registry.Client().dispatch([fns.double.build_call(1)])


def test_client_wait_outside_a_simulation_is_a_clear_error() -> None:
    async def main() -> None:
        await registry.Client().wait("d1")

    with pytest.raises(RuntimeError, match="simulation"):
        trio.run(main)


def test_dispatch_ids_are_distinct_opaque_strings(reg: registry.Registry, fns: Any) -> None:
    async def main() -> list[str]:
        ids = [fns.double.dispatch(i) for i in range(5)]
        ids += reg.batch().add(fns.negate, 1).add(fns.negate, 2).dispatch()
        ids += reg.client.dispatch([fns.concat.build_call("z")])
        for i in ids:
            await reg.client.wait(i)
        return ids

    ids = run(main())
    assert len(ids) == 8
    assert all(type(i) is str and i for i in ids)
    assert len(set(ids)) == len(ids)


def test_dispatched_calls_run_concurrently_with_the_test(reg: registry.Registry) -> None:
    @reg.function
    async def sleepy(seconds: float) -> float:
        await registry.sleep(seconds)
        return sim.now()

    async def main() -> list[Any]:
        ids = reg.batch().add(sleepy, 5.0).add(sleepy, 3.0).dispatch()
        values = [await reg.client.wait(i) for i in ids]
        return [values, sim.now()]

    values, end = run(main())
    assert values == [5.0, 3.0]  # both timers started at 0
    assert end == 5.0


def test_same_seed_same_trace(reg: registry.Registry, fns: Any) -> None:
    @reg.function
    async def work(n: int) -> int:
        total = 0
        for i in range(n):
            total += await fns.double(i)
        return total

    async def main() -> list[Any]:
        ids = reg.batch().add(work, 5).add(fns.concat, "a").dispatch()
        return [await reg.client.wait(i) for i in ids]

    digests = []
    for _ in range(2):
        simulation = sim.Simulation(seed=11, faults="heavy")
        assert simulation.run(main()) == [20, "a!"]
        digests.append(simulation.trace.digest())
    assert digests[0] == digests[1]
