"""Tail calls: ``raise Reset(fn, *args)`` continues the same DispatchID as fn(*args)."""

from __future__ import annotations

import itertools

import pytest

import registry
import sim
from registry import Reset

_names = itertools.count()




def run(main, faults="none", seed=0):
    simulation = sim.Simulation(seed=seed, faults=faults)
    return simulation.run(main), simulation


async def dispatch_and_wait(fn, *args):
    dispatch_id = fn.dispatch(*args)
    value = await fn.registry.client.wait(dispatch_id)
    return dispatch_id, value


def trace_of(s, dispatch_id):
    return [e for e in s.trace if e.dispatch_id == dispatch_id]


@pytest.fixture
def target(reg):
    @reg.function
    def target(x):
        return ("target", x)

    return target


def test_reset_from_async_function_continues_same_dispatch_id(reg, target):
    @reg.function
    async def start(x):
        raise Reset(target, x + 1)

    (dispatch_id, value), s = run(lambda: dispatch_and_wait(start, 1))
    assert value == ("target", 2)
    mine = trace_of(s, dispatch_id)
    tail = [e for e in mine if e.status == "TAIL_CALL"]
    assert [(e.function, e.detail) for e in tail] == [(start.name, target.name)]
    [outcome] = [e for e in mine if e.kind == "outcome"]
    assert (outcome.function, outcome.status) == (target.name, "OK")
    # no other call was dispatched for the tail call
    assert [e.dispatch_id for e in s.trace if e.kind == "dispatch"] == [dispatch_id]


def test_reset_from_sync_function_continues_same_dispatch_id(reg, target):
    @reg.function
    def start(x):
        raise Reset(target, x * 3)

    (dispatch_id, value), s = run(lambda: dispatch_and_wait(start, 5))
    assert value == ("target", 15)
    tail = [e for e in trace_of(s, dispatch_id) if e.status == "TAIL_CALL"]
    assert [(e.function, e.detail) for e in tail] == [(start.name, target.name)]
    assert [e.dispatch_id for e in s.trace if e.kind == "dispatch"] == [dispatch_id]


def test_reset_after_durable_steps(reg, target):
    @reg.function
    def double(x):
        return 2 * x

    @reg.function
    async def start(x):
        y = await double(x)
        z = await double(y)
        raise Reset(target, z)

    (dispatch_id, value), _ = run(lambda: dispatch_and_wait(start, 1))
    assert value == ("target", 4)


def test_reset_with_keyword_arguments(reg):
    @reg.function
    def target(a, b=0, *, c=0):
        return [a, b, c]

    @reg.function
    async def start():
        raise Reset(target, 1, c=3, b=2)

    (_, value), _ = run(lambda: dispatch_and_wait(start))
    assert value == [1, 2, 3]


def test_chain_of_three_resets(reg):
    @reg.function
    def last(x):
        return ["last", x]

    @reg.function
    async def third(x):
        raise Reset(last, x + 100)

    @reg.function
    def second(x):
        raise Reset(third, x + 10)

    @reg.function
    async def first(x):
        raise Reset(second, x + 1)

    (dispatch_id, value), s = run(lambda: dispatch_and_wait(first, 0))
    assert value == ["last", 111]
    mine = trace_of(s, dispatch_id)
    assert [(e.function, e.detail) for e in mine if e.status == "TAIL_CALL"] == [
        (first.name, second.name),
        (second.name, third.name),
        (third.name, last.name),
    ]
    assert [e.dispatch_id for e in s.trace if e.kind == "dispatch"] == [dispatch_id]


def test_reset_from_sync_function_awaited_by_async_function(reg, target):
    @reg.function
    def hop(x):
        raise Reset(target, x)

    @reg.function
    async def caller(x):
        a = await hop(x)
        b = await registry.gather(hop(x + 1), hop(x + 2))
        return a, b

    (_, value), s = run(lambda: dispatch_and_wait(caller, 1))
    assert value == (("target", 1), [("target", 2), ("target", 3)])
    # three tail calls, each continuing the child call it was raised in
    tails = [e for e in s.trace if e.status == "TAIL_CALL"]
    assert len(tails) == 3
    for e in tails:
        [outcome] = [o for o in trace_of(s, e.dispatch_id) if o.kind == "outcome"]
        assert outcome.function == target.name


def test_reset_from_async_function_awaited_by_async_function(reg, target):
    @reg.function
    async def hop(x):
        await registry.sleep(1)
        raise Reset(target, x)

    @reg.function
    async def caller(x):
        return await hop(x)

    (_, value), _ = run(lambda: dispatch_and_wait(caller, 9))
    assert value == ("target", 9)


def test_reset_under_heavy_faults(reg, target):
    @reg.function
    def hop(x):
        raise Reset(target, x)

    @reg.function
    async def caller(n):
        return await registry.gather(*(hop(i) for i in range(n)))

    for seed in range(3):
        (_, value), _ = run(lambda: dispatch_and_wait(caller, 6), faults="heavy", seed=seed)
        assert value == [("target", i) for i in range(6)]


def test_reset_to_a_function_of_another_registry(reg):
    other = registry.Registry(f"compat-tail-call-other-{next(_names)}")
    try:

        @other.function
        async def far(x):
            await registry.sleep(1)
            return ("far", x)

        @reg.function
        async def near(x):
            await registry.sleep(1)
            raise Reset(far, x)

        @reg.function
        async def caller():
            return await registry.gather(near(1), far(2))

        for faults in ("none", sim.FaultProfile(crash=1.0)):
            (_, value), _ = run(lambda: dispatch_and_wait(caller), faults=faults)
            assert value == [("far", 1), ("far", 2)]
    finally:
        other.close()
