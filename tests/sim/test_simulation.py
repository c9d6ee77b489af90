"""The simulation runtime: virtual time, waiting, draining, deadlock and livelock guards."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trio
import trio.testing

import sim
from sim import Arguments, Call, Error, Input, Output, Simulation, Status

_names = itertools.count()


class FakeEndpoint:
    """An endpoint serving plain Python callables, written against the sim protocol only."""

    def __init__(self, handlers: dict[str, Callable[[Input], Any]]) -> None:
        self.handlers = handlers
        self.forgotten: list[str] = []
        self.runs: list[tuple[str, str, int]] = []

    def run(self, function: str, input: Input) -> Any:
        self.runs.append((input.dispatch_id, function, input.attempt))
        return self.handlers[function](input)

    def forget(self, dispatch_id: str) -> None:
        self.forgotten.append(dispatch_id)


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    urls: list[str] = []

    def serve(**handlers: Callable[[Input], Any]) -> str:
        url = f"sim://test-simulation-{next(_names)}"
        sim.register_endpoint(url, FakeEndpoint(handlers))
        urls.append(url)
        return url

    yield serve
    for url in urls:
        sim.unregister_endpoint(url)


def value_of(fn: Callable[..., Any]) -> Callable[[Input], Output]:
    def handler(inp: Input) -> Output:
        args, kwargs = inp.input_arguments()
        return Output.value(fn(*args, **kwargs))

    return handler


def test_call_returns_value_and_trace_has_outcome(serve: Callable[..., str]) -> None:
    url = serve(double=value_of(lambda x: 2 * x))
    simulation = Simulation(faults="none")

    async def main() -> Any:
        return await sim.current().call(Call("double", Arguments((21,)), url))

    assert simulation.run(main()) == 42
    kinds = [e.kind for e in simulation.trace]
    assert kinds == ["dispatch", "start", "attempt", "outcome"]
    assert simulation.trace[-1].status == "OK"


def test_call_result_returns_values_and_errors_without_raising(serve: Callable[..., str]) -> None:
    def fail(inp: Input) -> Output:
        return Output.error(Error.from_exception(ValueError("bad"), Status.INVALID_ARGUMENT))

    url = serve(double=value_of(lambda x: 2 * x), fail=fail)

    async def main() -> Any:
        simulation = sim.current()
        ok = await simulation.call_result(Call("double", Arguments((21,)), url))
        failed = await simulation.call_result(Call("fail", Arguments(), url))
        with pytest.raises(TypeError, match="calls\\[0\\] is a str, not a Call"):
            await simulation.call_result("double")  # type: ignore[arg-type]
        return ok, failed

    ok, failed = Simulation(faults="none").run(main())
    assert (ok.output, ok.error, ok.dispatch_id) == (42, None, "d1")
    assert failed.output is None and failed.dispatch_id == "d2"
    assert failed.error.status is Status.INVALID_ARGUMENT
    assert isinstance(failed.error.value, ValueError) and str(failed.error.value) == "bad"


def test_temporary_errors_retry_on_the_virtual_clock(serve: Callable[..., str]) -> None:
    attempts = []

    def flaky(inp: Input) -> Output:
        attempts.append(inp.attempt)
        if len(attempts) <= 5:
            return Output.error(Error(Status.TEMPORARY_ERROR, "E", "not yet"))
        return Output.value("ok")

    url = serve(flaky=flaky)
    simulation = Simulation(faults="none")

    async def main() -> Any:
        return await sim.current().call(Call("flaky", None, url)), sim.now()

    wall = time.perf_counter()
    value, virtual = simulation.run(main())
    assert value == "ok"
    assert attempts == [1, 2, 3, 4, 5, 6]
    # backoff of 0.1 s doubling, with up to 50% jitter: between 3.1 s and 4.65 s.
    assert 3.1 <= virtual <= 4.65
    assert time.perf_counter() - wall < 1.0


def test_permanent_error_runs_once(serve: Callable[..., str]) -> None:
    runs = []

    def broken(inp: Input) -> Output:
        runs.append(1)
        return Output.error(Error.from_exception(KeyError("k"), Status.PERMANENT_ERROR))

    url = serve(broken=broken)

    async def main() -> Any:
        return await sim.current().call(Call("broken", None, url))

    with pytest.raises(KeyError):
        Simulation(faults="none").run(main())
    assert runs == [1]


def test_retry_budget_ends_with_the_last_error(serve: Callable[..., str]) -> None:
    url = serve(always=lambda inp: Output.error(Error(Status.THROTTLED, "Throttle", "busy")))
    simulation = Simulation(faults="none", retry=sim.RetryPolicy(max_attempts=4))

    async def main() -> Any:
        return await sim.current().call(Call("always", None, url))

    with pytest.raises(RuntimeError, match="Throttle: busy"):
        simulation.run(main())
    attempts = [e for e in simulation.trace if e.kind == "attempt"]
    assert len(attempts) == 4
    assert simulation.trace[-1].kind == "outcome" and simulation.trace[-1].status == "THROTTLED"


def test_unknown_endpoint_is_not_found() -> None:
    async def main() -> Any:
        return await sim.current().call(Call("f", None, "sim://nobody-serves-this"))

    simulation = Simulation(faults="none")
    with pytest.raises(RuntimeError, match="no endpoint serves 'sim://nobody-serves-this'"):
        simulation.run(main())
    assert simulation.trace[-1].status == "NOT_FOUND"


def test_unserializable_input_fails_at_once(serve: Callable[..., str]) -> None:
    url = serve(f=value_of(lambda x: x))

    async def main() -> Any:
        return await sim.current().call(Call("f", Arguments((object(),)), url))

    simulation = Simulation(faults="none")
    with pytest.raises(sim.SerializationError, match="argument.*builtins.object"):
        simulation.run(main())
    assert [e.kind for e in simulation.trace] == ["dispatch", "outcome"]


def test_trio_sleep_is_virtual() -> None:
    async def main() -> float:
        await trio.sleep(3600)
        return sim.now()

    wall = time.perf_counter()
    assert Simulation(faults="none").run(main()) == 3600.0
    assert time.perf_counter() - wall < 1.0


def test_fire_and_forget_calls_are_drained(serve: Callable[..., str]) -> None:
    done = []
    url = serve(note=lambda inp: (done.append(inp.dispatch_id), Output.value(None))[1])

    async def main() -> None:
        sim.current().dispatch([Call("note", None, url), Call("note", None, url)])

    simulation = Simulation(faults="light", seed=1)
    simulation.run(main())
    assert sorted(done) == ["d1", "d2"]
    outcomes = [e.dispatch_id for e in simulation.trace if e.kind == "outcome"]
    assert sorted(outcomes) == ["d1", "d2"]


def test_without_drain_pending_calls_are_abandoned_in_the_trace(serve: Callable[..., str]) -> None:
    url = serve(slow=value_of(lambda: None))

    async def main() -> None:
        sim.current().dispatch([Call("slow", Arguments(), url)])

    simulation = Simulation(faults=sim.FaultProfile(max_latency=10.0), drain=False)
    simulation.run(main())
    last = simulation.trace[-1]
    assert (last.kind, last.dispatch_id, last.detail) == ("outcome", "d1", "abandoned")


def test_deadlock_of_the_test_itself_is_reported() -> None:
    async def main() -> None:
        await trio.Event().wait()

    with pytest.raises(sim.DeadlockError, match="the test itself awaits something that never happens"):
        Simulation(faults="none").run(main())


def test_deadlock_names_the_blocked_call(serve: Callable[..., str]) -> None:
    async def forever() -> Output:
        await trio.Event().wait()
        raise AssertionError("unreachable")

    url = serve(stuck=lambda inp: forever())

    async def main() -> Any:
        return await sim.current().call(Call("stuck", None, url))

    with pytest.raises(sim.DeadlockError, match=r"d1 stuck \(attempt 1\): blocked in an await outside"):
        Simulation(faults="none").run(main())


def test_livelock_cap_on_events_names_the_busiest_call(serve: Callable[..., str]) -> None:
    url = serve(spin=lambda inp: Output.poll(calls=[]))

    async def main() -> Any:
        return await sim.current().call(Call("spin", None, url))

    with pytest.raises(sim.LivelockError, match=r"max_events=1000.*busiest calls: d1 spin"):
        Simulation(faults="none", max_events=1000).run(main())


def test_livelock_cap_on_virtual_time() -> None:
    async def main() -> None:
        sim.current().dispatch([Call(sim.TIMER_FUNCTION, 10_000.0)])

    with pytest.raises(sim.LivelockError, match="max_virtual_time=100.0s"):
        Simulation(faults="none", max_virtual_time=100.0).run(main())


def test_durable_timer_call() -> None:
    async def main() -> float:
        await sim.current().call(Call(sim.TIMER_FUNCTION, 2.5))
        return sim.now()

    assert Simulation(faults="none").run(main()) == 2.5


def test_main_inside_a_foreign_trio_run_keeps_simulated_waits_virtual(
    serve: Callable[..., str],
) -> None:
    count = []

    def flaky(inp: Input) -> Output:
        count.append(1)
        if len(count) < 4:
            return Output.error(Error(Status.TCP_ERROR, "E", "down"))
        return Output.value(sim.now())

    url = serve(flaky=flaky)

    async def body() -> Any:
        return await sim.current().call(Call("flaky", None, url))

    async def host() -> tuple[Any, float]:
        start = trio.current_time()
        value = await Simulation(faults="none").main(body())
        return value, trio.current_time() - start

    value, real = trio.run(host)
    assert value > 0.6  # three backoffs of at least 0.1, 0.2, 0.4 s
    assert real < 0.5


def test_a_simulation_runs_once() -> None:
    simulation = Simulation(faults="none")

    async def main() -> int:
        return 1

    assert simulation.run(main()) == 1
    with pytest.raises(RuntimeError, match="runs once"):
        simulation.run(main())


def test_nested_simulations_are_refused() -> None:
    async def main() -> None:
        await Simulation(faults="none").main(trio.sleep(0))

    with pytest.raises(RuntimeError, match="already running"):
        Simulation(faults="none").run(main())


def test_outside_a_simulation_current_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="no simulation is running"):
        sim.now()


def test_unknown_dispatch_id() -> None:
    async def main() -> None:
        await sim.current().wait("d999")

    with pytest.raises(ValueError, match="unknown dispatch id 'd999'"):
        Simulation(faults="none").run(main())


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"seed": "1"}, TypeError, "seed must be an int"),
        ({"faults": "stormy"}, ValueError, "unknown fault profile 'stormy'"),
        ({"faults": 3}, TypeError, "faults must be a profile name or a FaultProfile"),
        ({"max_events": 0}, ValueError, "max_events must be a positive int"),
        ({"max_virtual_time": 0}, ValueError, "max_virtual_time must be > 0"),
    ],
)
def test_bad_options(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        Simulation(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"seed": True, "faults": "stormy", "max_events": 0}, TypeError, "seed must be an int"),
        ({"seed": 1.0, "faults": 3}, TypeError, "seed must be an int"),
        ({"seed": 1, "faults": "stormy", "max_events": 0}, ValueError, "unknown fault profile 'stormy'"),
        ({"faults": {"name": "none"}, "rng": 3}, TypeError, "faults must be a profile name"),
        ({"faults": "none", "max_events": 0, "drain": 1}, ValueError, "max_events must be a positive int"),
        # Equal to the default (True) but not a bool: given, so checked.
        ({"faults": "none", "drain": 1}, TypeError, "drain must be True or False"),
        ({"deterministic_environment": 1.0}, TypeError, "deterministic_environment must be True or False"),
    ],
)
def test_the_first_wrong_option_in_signature_order_is_the_one_reported(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Simulation(**kwargs)


def test_an_int_subclass_is_a_seed_and_a_profile_object_is_kept() -> None:
    import enum

    class Seeds(enum.IntEnum):
        FIRST = 3

    profile = sim.FaultProfile("mine", crash=0.5)
    simulation = Simulation(seed=Seeds.FIRST, faults=profile)
    assert simulation.seed == 3 and simulation.faults is profile
    assert Simulation(faults="heavy").faults is sim.PROFILES["heavy"]


def test_bad_dispatch_arguments() -> None:
    async def main() -> None:
        sim.current().dispatch(["not a call"])  # type: ignore[list-item]

    with pytest.raises(TypeError, match=r"calls\[0\] is a str, not a Call"):
        Simulation(faults="none").run(main())

    async def main2() -> None:
        sim.current().dispatch([Call("")])

    with pytest.raises(ValueError, match=r"calls\[0\] has no function name"):
        Simulation(faults="none").run(main2())


def test_random_module_is_seeded_and_restored() -> None:
    import random

    random.seed(12345)
    before = random.random()
    random.seed(12345)

    async def draw() -> float:
        return random.random()

    first = Simulation(seed=4, faults="none").run(draw())
    second = Simulation(seed=4, faults="none").run(draw())
    assert first == second
    assert random.random() == before


def test_concurrent_waiters_see_each_call_end_at_its_own_time() -> None:
    async def main() -> list[tuple[float, float]]:
        ended: list[tuple[float, float]] = []

        async def wait_for(seconds: float) -> None:
            await sim.current().call(Call(sim.TIMER_FUNCTION, seconds))
            ended.append((seconds, sim.now()))

        async with trio.open_nursery() as nursery:
            for seconds in (3.0, 1.0, 2.0):
                nursery.start_soon(wait_for, seconds)
        return ended

    assert Simulation(faults="none").run(main()) == [(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]


def test_a_cancelled_waiter_leaves_the_simulation_working() -> None:
    async def main() -> tuple[bool, float, float]:
        with trio.move_on_after(1) as scope:
            await sim.current().call(Call(sim.TIMER_FUNCTION, 5.0))
        at = sim.now()
        await sim.current().call(Call(sim.TIMER_FUNCTION, 0.5))
        return scope.cancelled_caught, at, sim.now()

    assert Simulation(faults="none").run(main()) == (True, 1.0, 1.5)


def test_a_test_waiting_for_all_tasks_blocked_is_not_a_deadlock() -> None:
    async def main() -> float:
        await trio.testing.wait_all_tasks_blocked()
        sim.current().dispatch([Call(sim.TIMER_FUNCTION, 2.0)])
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(3)
        return sim.now()

    simulation = Simulation(faults="none")
    assert simulation.run(main()) == 3.0
    assert [e.kind for e in simulation.trace] == ["dispatch", "outcome"]


def test_the_garbage_collector_threshold_is_restored() -> None:
    import gc

    before = gc.get_threshold()

    async def main() -> tuple[int, int, int]:
        return gc.get_threshold()

    during = Simulation(faults="none").run(main())
    assert during[0] >= 50_000
    assert gc.get_threshold() == before


@pytest.mark.parametrize(
    "name",
    ["seed", "max_events", "max_live_calls", "max_memory", "max_stalled_rounds", "max_virtual_time",
     "drain", "deterministic_environment", "test_id", "rng", "retry"],
)  # fmt: skip
def test_each_option_given_is_checked_under_its_own_name(name: str) -> None:
    # The constructor picks the given options out of its arguments by position: each
    # wrong value must still be reported as itself, and a wrong one before it first.
    with pytest.raises(TypeError, match=f"^{name} must be"):
        Simulation(**{name: object()})
    with pytest.raises(TypeError, match="^seed must be"):
        Simulation(**{"seed": "1", name: object()})


def test_each_trace_header_has_dicts_of_its_own() -> None:
    # The profile's fields and the package versions come from caches: a trace that
    # changes its header changes neither the caches nor another trace's header.
    first, second = Simulation(seed=1, faults="light"), Simulation(seed=2, faults="light")
    first.trace.header["profile"]["crash"] = 0.9
    first.trace.header["versions"]["python"] = "0.0"
    for other in (second, Simulation(seed=3, faults="light")):
        assert other.trace.header["profile"] == sim.PROFILES["light"].as_header()
        assert other.trace.header["versions"]["python"] != "0.0"
        assert other.trace.header["profile"] is not first.trace.header["profile"]
