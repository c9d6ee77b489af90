"""Polls seen from the protocol side: primitive functions that poll by hand.

A primitive function receives every resume's `Input` as it is, so these tests
observe exactly how the service batches results (min_results/max_results),
and what a failed poll delivers.
"""

from __future__ import annotations

import itertools
import json

import pytest

import registry
import sim
from registry import Call, Input, Output

_names = itertools.count()




def run(main, faults="none", seed=0):
    simulation = sim.Simulation(seed=seed, faults=faults)
    return simulation.run(main), simulation


def make_collector(reg, child, delays, min_results, max_results):
    """A primitive function that polls `child(delay)` for each delay and records every resume.

    It returns the list of resumes, each as [virtual time, [correlation ids delivered]],
    and the outputs by correlation id.
    """

    def collector(input: Input) -> Output:
        if input.is_first_call:
            calls = []
            for i, delay in enumerate(delays):
                c = child.build_call(delay)
                c.correlation_id = i
                calls.append(c)
            state = {"resumes": [], "outputs": {}}
            return Output.poll(
                coroutine_state=json.dumps(state).encode(),
                calls=calls,
                min_results=min_results,
                max_results=max_results,
            )
        with pytest.raises(ValueError):
            input.input  # noqa: B018 - reading the input on a resume is an error
        assert input.poll_error is None
        state = json.loads(input.coroutine_state)
        state["resumes"].append([sim.now(), [r.correlation_id for r in input.call_results]])
        for r in input.call_results:
            assert r.error is None
            state["outputs"][str(r.correlation_id)] = r.output
        if len(state["outputs"]) == len(delays):
            return Output.value(state)
        return Output.poll(
            coroutine_state=json.dumps(state).encode(),
            min_results=min_results,
            max_results=max_results,
        )

    collector.__qualname__ = f"collector_{min_results}_{max_results}"
    return reg.primitive_function(collector)


@pytest.fixture
def sleeper(reg):
    @reg.function
    async def sleeper(seconds):
        await registry.sleep(seconds)
        return seconds * 10

    return sleeper


def test_primitive_poll_gets_all_results_at_once_with_min_results_n(reg, sleeper):
    collector = make_collector(reg, sleeper, [3, 1, 2], min_results=3, max_results=3)

    value, _ = run(lambda: _call(collector))
    assert value["outputs"] == {"0": 30, "1": 10, "2": 20}
    assert len(value["resumes"]) == 1
    time_, ids = value["resumes"][0]
    assert time_ == 3.0
    assert sorted(ids) == [0, 1, 2]


def test_primitive_poll_gets_results_one_at_a_time_with_max_results_1(reg, sleeper):
    collector = make_collector(reg, sleeper, [0, 0, 0, 0], min_results=1, max_results=1)

    value, _ = run(lambda: _call(collector))
    assert value["outputs"] == {"0": 0, "1": 0, "2": 0, "3": 0}
    # all four finish at once, but each resume carries at most one
    assert [len(ids) for _, ids in value["resumes"]] == [1, 1, 1, 1]
    assert sorted(i for _, ids in value["resumes"] for i in ids) == [0, 1, 2, 3]


def test_primitive_poll_resumes_as_results_arrive(reg, sleeper):
    collector = make_collector(reg, sleeper, [3, 1, 2], min_results=1, max_results=10)

    value, _ = run(lambda: _call(collector))
    assert value["resumes"] == [[1.0, [1]], [2.0, [2]], [3.0, [0]]]


def test_primitive_poll_max_wait_resumes_with_nothing(reg, sleeper):
    def waiter(input: Input) -> Output:
        if input.is_first_call:
            c = sleeper.build_call(5)
            c.correlation_id = "slow"
            return Output.poll(coroutine_state=b"0", calls=[c], max_wait_seconds=1.0)
        n = int(input.coroutine_state) + 1
        results = input.call_results
        if results:
            return Output.value([n, sim.now(), results[0].output])
        return Output.poll(coroutine_state=str(n).encode(), max_wait_seconds=1.0)

    prim = reg.primitive_function(waiter)
    value, _ = run(lambda: _call(prim))
    # woken with nothing at 1, 2, 3, 4; the result arrives at 5
    assert value[1] == 5.0
    assert value[2] == 50
    assert value[0] == 5


def test_poll_with_duplicate_correlation_id_is_a_poll_error(reg, sleeper):
    seen = []

    def dup(input: Input) -> Output:
        if input.is_first_call:
            a = sleeper.build_call(1)
            b = sleeper.build_call(2)
            a.correlation_id = b.correlation_id = 7
            return Output.poll(coroutine_state=b"state", calls=[a, b])
        seen.append(
            (
                input.coroutine_state,
                input.call_results,
                input.poll_error.status,
                input.poll_error.message,
            )
        )
        return Output.value("resumed")

    prim = reg.primitive_function(dup)
    value, s = run(lambda: _call(prim))
    assert value == "resumed"
    [(state, results, status, message)] = seen
    assert state == b"state"
    assert results == ()
    assert status == registry.Status.INVALID_ARGUMENT
    assert "correlation_id" in message and "7" in message
    # the rejected poll dispatched nothing
    assert [e.function for e in s.trace if e.kind == "dispatch"] == [prim.name]


def test_poll_error_reaches_only_the_calls_of_the_last_poll(reg, sleeper):
    """Poll 1 dispatches a good call; poll 2 is rejected; the good call still arrives."""
    seen = []

    def two_polls(input: Input) -> Output:
        if input.is_first_call:
            c = sleeper.build_call(5)
            c.correlation_id = 1
            # wait at most 1s, so that we get to poll again before the result arrives
            return Output.poll(coroutine_state=b"1", calls=[c], max_wait_seconds=1.0)
        step = input.coroutine_state
        seen.append((step, sim.now(), input.poll_error is not None, [r.correlation_id for r in input.call_results]))
        if step == b"1":
            bad = sleeper.build_call(1)
            bad.correlation_id = 1  # reuses the id of the outstanding call
            return Output.poll(coroutine_state=b"2", calls=[bad])
        if step == b"2":
            return Output.poll(coroutine_state=b"3")
        return Output.value([r.output for r in input.call_results])

    prim = reg.primitive_function(two_polls)
    value, _ = run(lambda: _call(prim))
    assert value == [50]
    assert seen == [
        (b"1", 1.0, False, []),
        (b"2", 1.0, True, []),
        (b"3", 5.0, False, [1]),
    ]


@pytest.mark.parametrize("faults", ["none", sim.FaultProfile(crash=1.0)], ids=["none", "crash"])
def test_poll_error_in_async_function_reaches_the_calls_of_its_last_yield(reg, sleeper, faults):
    @reg.function
    def double(x):
        return 2 * x

    async def guarded(aw):
        try:
            return ("ok", await aw)
        except ValueError as exc:
            return ("error", str(exc))

    async def later_bad_call():
        first = await double(1)
        # a Call with no function name: the service rejects the whole poll
        bad = await guarded(registry.call(Call("")))
        return first, bad

    @reg.function
    async def mixed():
        return await registry.gather(
            guarded(sleeper(3)),  # dispatched in the first poll: unaffected
            later_bad_call(),
        )

    value, s = run(mixed, faults=faults)
    assert value[0] == ("ok", 30)
    first, (kind, message) = value[1]
    assert first == 2
    assert kind == "error"
    assert "no function name" in message


def test_poll_error_fails_every_call_of_the_rejected_poll(reg, sleeper):
    async def guarded(aw):
        try:
            return ("ok", await aw)
        except ValueError:
            return "error"

    @reg.function
    async def same_yield():
        return await registry.gather(guarded(sleeper(1)), guarded(registry.call(Call(""))))

    value, s = run(same_yield)
    assert value == ["error", "error"]
    # the good call of the rejected poll was never dispatched
    assert sleeper.name not in [e.function for e in s.trace if e.kind == "dispatch"]


async def _call(fn):
    """Call a primitive function from the test and wait for its result."""
    dispatch_id = fn.dispatch()
    return await fn.registry.client.wait(dispatch_id)


def test_min_results_above_the_outstanding_calls_is_clamped(reg, sleeper):
    collector = make_collector(reg, sleeper, [1, 2], min_results=5, max_results=10)

    value, _ = run(lambda: _call(collector))
    # no hang: with two calls, "at least 5" means both
    assert value["outputs"] == {"0": 10, "1": 20}
    assert value["resumes"] == [[2.0, [0, 1]]]


def test_min_results_zero_resumes_at_once(reg, sleeper):
    seen = []

    def eager(input: Input) -> Output:
        if input.is_first_call:
            c = sleeper.build_call(3)
            c.correlation_id = "x"
            return Output.poll(coroutine_state=b"", calls=[c], min_results=0)
        seen.append((sim.now(), len(input.call_results)))
        if input.call_results:
            return Output.value(seen)
        return Output.poll(coroutine_state=b"", min_results=1)

    prim = reg.primitive_function(eager)
    value, _ = run(lambda: _call(prim))
    assert value == [(0.0, 0), (3.0, 1)]


@pytest.mark.parametrize("seed", range(4))
def test_reordered_delivery_delivers_every_result_exactly_once(reg, sleeper, seed):
    collector = make_collector(reg, sleeper, [0] * 8, min_results=1, max_results=10)

    value, s = run(lambda: _call(collector), faults=sim.FaultProfile(reorder=1.0), seed=seed)
    delivered = [i for _, ids in value["resumes"] for i in ids]
    assert sorted(delivered) == list(range(8))
    assert value["outputs"] == {str(i): 0 for i in range(8)}
