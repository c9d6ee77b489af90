"""An abnormal end keeps every outcome: each dispatched call gets an `aborted` outcome event,
and the exception that ended the run reaches the caller as itself (not in a group)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import trio

import registry
import sim
from sim import Call, Input, Output, Simulation


def outcomes(simulation: Simulation) -> Counter[str | None]:
    dispatched = [e.dispatch_id for e in simulation.trace if e.kind == "dispatch"]
    ended = Counter(e.dispatch_id for e in simulation.trace if e.kind == "outcome")
    assert dispatched and all(ended[d] == 1 for d in dispatched), "a call lost its outcome"
    return Counter(e.detail for e in simulation.trace if e.kind == "outcome")


@pytest.mark.parametrize("kind", [KeyboardInterrupt, SystemExit])
def test_a_base_exception_in_a_call_nobody_awaits_is_raised_as_itself(
    reg: registry.Registry, kind: type[BaseException]
) -> None:
    @reg.function
    async def boom() -> None:
        raise kind("stop")

    @reg.function
    async def slow() -> None:
        await registry.sleep(10)

    async def main() -> None:
        await slow.dispatch()
        await boom.dispatch()  # nobody awaits it: it runs in the background
        await trio.sleep(100)

    simulation = Simulation(faults="none")
    with pytest.raises(kind) as caught:
        simulation.run(main)
    assert type(caught.value) is kind and caught.value.args == ("stop",)
    assert outcomes(simulation) == {f"aborted: {kind.__qualname__}": 3}  # slow, its timer, boom
    assert simulation.trace.header["aborted"] == f"{kind.__qualname__}: stop"


def test_a_keyboard_interrupt_in_an_awaited_call_aborts_the_others(reg: registry.Registry) -> None:
    @reg.function
    async def boom() -> None:
        raise KeyboardInterrupt

    @reg.function
    async def slow() -> None:
        await registry.sleep(10)

    async def main() -> None:
        await slow.dispatch()
        await boom()

    simulation = Simulation(faults="none")
    with pytest.raises(KeyboardInterrupt):
        simulation.run(main)
    assert outcomes(simulation) == {"aborted: KeyboardInterrupt": 3}


class BrokenEndpoint:
    """An endpoint whose `forget` raises: an internal error in the middle of the service."""

    def run(self, function: str, input: Input) -> Output:
        return Output.tail_call(Call("g", None))  # the service forgets the call's state

    def forget(self, dispatch_id: str) -> None:
        raise RuntimeError("the endpoint broke while forgetting")


def test_an_internal_error_in_the_background_is_raised_as_itself() -> None:
    url = "sim://test-abort-broken"
    sim.register_endpoint(url, BrokenEndpoint())
    try:

        async def main() -> None:
            simulation = sim.current()
            simulation.dispatch([Call("<sleep>", 5.0)])
            simulation.dispatch([Call("f", None, url)])  # nobody awaits it
            await trio.sleep(1)

        simulation = Simulation(faults="none")
        with pytest.raises(RuntimeError, match="the endpoint broke while forgetting") as caught:
            simulation.run(main)
        assert not isinstance(caught.value, BaseExceptionGroup)
        assert outcomes(simulation) == {"aborted: RuntimeError": 2}
    finally:
        sim.unregister_endpoint(url)


def test_a_normal_end_still_abandons_rather_than_aborts(reg: registry.Registry) -> None:
    @reg.function
    async def slow() -> None:
        await registry.sleep(10)

    async def main() -> Any:
        return await slow.dispatch()

    simulation = Simulation(faults="none", drain=False)
    simulation.run(main)
    assert outcomes(simulation) == {"abandoned": 1}
    assert "aborted" not in simulation.trace.header


@pytest.mark.parametrize("faults", ["none", "light", "heavy"])
def test_a_run_ended_mid_fan_out_gives_every_call_one_outcome(reg: registry.Registry, faults: str) -> None:
    # Service.abandon skips its walk of the records when its count of calls
    # without an outcome is 0: that count must stay exact through polls,
    # timers, retries, crashes and tail calls, or calls would end with none.
    @reg.function
    def leaf(x: int) -> int:
        return x

    @reg.function
    async def napping(x: int) -> int:
        await registry.sleep(x % 3)
        return x

    @reg.function
    async def fan(n: int) -> list[int]:
        return list(await registry.gather(*(leaf(i) for i in range(n)), *(napping(i) for i in range(n))))

    async def main() -> Any:
        started = [fan.dispatch(i) for i in range(1, 5)]
        await sim.current().wait_result(started[0])
        await trio.sleep(1)  # virtual time: some calls ended, some sleep, some poll

    for seed in range(12):
        simulation = Simulation(seed=seed, faults=faults, drain=False)
        simulation.run(main)
        ended = outcomes(simulation)  # (each dispatched call has exactly one)
        assert ended["abandoned"] > 0, (seed, ended)
        assert simulation._service.pending == 0, seed  # (the count read where it lives)
