"""The Dispatch SDK's scheduler cases, end to end: polls, gather/any/race, helpers.

Every test runs durable functions in a fresh simulation and checks both the
values and, where it says something, the trace (how many calls a poll
carried, when the caller was resumed).
"""

from __future__ import annotations

import itertools
import time

import pytest
import trio

import registry
import registry.test
import sim
from registry import AnyException

_names = itertools.count()




def run(main, faults="none", seed=0):
    """Run `main` (a no-argument async callable) and return (value, simulation)."""
    simulation = sim.Simulation(seed=seed, faults=faults)
    value = simulation.run(main)
    return value, simulation


def events(simulation, dispatch_id=None, kind=None):
    return [
        e
        for e in simulation.trace
        if (dispatch_id is None or e.dispatch_id == dispatch_id) and (kind is None or e.kind == kind)
    ]


def parent_attempts(simulation, function_name):
    """The attempt events of the (single) call of `function_name`."""
    return [e for e in simulation.trace if e.kind == "attempt" and e.function == function_name]


def children_dispatched_before_first_resume(simulation, parent_id):
    count = 0
    seen_first_attempt = False
    for e in simulation.trace:
        if e.dispatch_id == parent_id and e.kind == "attempt":
            if seen_first_attempt:
                break
            seen_first_attempt = True
        elif e.kind == "dispatch" and e.detail == parent_id:
            count += 1
    return count


@pytest.fixture
def basics(reg):
    """A few building blocks: a sync double, and async sleepers that finish at chosen times."""

    @reg.function
    def double(x):
        return 2 * x

    @reg.function
    async def after(seconds, value):
        await registry.sleep(seconds)
        return value

    @reg.function
    async def fail_after(seconds, message):
        await registry.sleep(seconds)
        raise ValueError(message)

    @reg.function
    def fail_now(message):
        raise ValueError(message)

    return double, after, fail_after, fail_now


# -- 1. concurrent calls in one poll ------------------------------------------------


def test_gather_of_n_calls_is_one_poll_with_n_calls(reg, basics):
    double, *_ = basics

    @reg.function
    async def fan_out(n):
        return await registry.gather(*(double(i) for i in range(n)))

    value, s = run(lambda: fan_out(7))
    assert value == [0, 2, 4, 6, 8, 10, 12]
    attempts = parent_attempts(s, fan_out.name)
    assert attempts[0].status == "POLL"
    assert attempts[0].detail == "7 calls"
    parent_id = attempts[0].dispatch_id
    assert children_dispatched_before_first_resume(s, parent_id) == 7


def test_gather_results_all_delivered_in_one_resume(reg, basics):
    double, *_ = basics

    @reg.function
    async def fan_out(n):
        return await registry.gather(*(double(i) for i in range(n)))

    value, s = run(lambda: fan_out(5))
    assert value == [0, 2, 4, 6, 8]
    # first attempt polls, the one resume gets all five results and returns
    assert [(e.status, e.detail) for e in parent_attempts(s, fan_out.name)] == [
        ("POLL", "5 calls"),
        ("OK", None),
    ]


def test_gather_of_more_than_ten_calls_arrives_in_several_resumes(reg, basics):
    double, *_ = basics

    @reg.function
    async def fan_out(n):
        return await registry.gather(*(double(i) for i in range(n)))

    value, s = run(lambda: fan_out(25))
    assert value == [2 * i for i in range(25)]
    attempts = parent_attempts(s, fan_out.name)
    assert attempts[0].detail == "25 calls"
    # max_results is clamped to 10: at least three resumes deliver 25 results
    assert len(attempts) >= 1 + 3
    assert [e.status for e in attempts[1:-1]] == ["POLL"] * (len(attempts) - 2)
    assert all(e.detail == "0 calls" for e in attempts[1:-1])
    assert attempts[-1].status == "OK"


def test_indirect_calls_through_helper_coroutines_share_one_poll(reg, basics):
    double, *_ = basics

    async def plus_one(x):
        return await double(x) + 1

    async def twice(x):
        return await plus_one(x) * 10

    @reg.function
    async def indirect():
        return await registry.gather(plus_one(1), twice(2), double(3))

    value, s = run(indirect)
    assert value == [3, 50, 6]
    attempts = parent_attempts(s, indirect.name)
    assert attempts[0].detail == "3 calls"
    assert children_dispatched_before_first_resume(s, attempts[0].dispatch_id) == 3


def test_nested_gathers_of_helpers(reg, basics):
    double, *_ = basics

    async def helper(x):
        a = await double(x)
        b = await double(a)
        return a + b  # 6x

    async def pair(x, y):
        return await registry.gather(helper(x), helper(y))

    @reg.function
    async def nested():
        return await registry.gather(
            pair(1, 2),
            registry.gather(pair(3, 4), helper(5), double(6)),
            registry.gather(),
        )

    value, s = run(nested)
    assert value == [[6, 12], [[18, 24], 30, 12], []]
    attempts = parent_attempts(s, nested.name)
    # first poll: every helper's first step plus the direct call: 2 + 2 + 1 + 1
    assert attempts[0].detail == "6 calls"
    # second poll: every helper's second step, all at once
    assert attempts[1].detail == "5 calls"
    assert attempts[-1].status == "OK"


def test_gather_results_in_argument_order_when_later_ones_finish_first(reg, basics):
    _, after, *_ = basics

    @reg.function
    async def ordered():
        return await registry.gather(after(3, "a"), after(1, "b"), after(2, "c"))

    value, s = run(ordered)
    assert value == ["a", "b", "c"]
    assert s.now() == pytest.approx(3.0)


def test_results_delivered_one_at_a_time_as_they_finish(reg, basics):
    _, after, *_ = basics

    @reg.function
    async def staggered():
        return await registry.gather(after(3, 3), after(1, 1), after(2, 2))

    value, s = run(staggered)
    assert value == [3, 1, 2]
    attempts = parent_attempts(s, staggered.name)
    assert [(e.time, e.status, e.detail) for e in attempts] == [
        (0.0, "POLL", "3 calls"),
        (1.0, "POLL", "0 calls"),
        (2.0, "POLL", "0 calls"),
        (3.0, "OK", None),
    ]


# -- 2. any / race / gather errors ------------------------------------------------------


def test_any_first_value_wins(reg, basics):
    _, after, *_ = basics

    @reg.function
    async def first():
        return await registry.any(after(3, "slow"), after(1, "fast"), after(2, "middle"))

    value, s = run(first)
    assert value == "fast"


def test_any_skips_errors_and_returns_the_first_value(reg, basics):
    _, after, fail_after, fail_now = basics

    @reg.function
    async def first_success():
        return await registry.any(fail_now("x"), fail_after(1, "y"), after(2, "ok"), after(3, "late"))

    value, _ = run(first_success)
    assert value == "ok"


def test_race_first_value_wins(reg, basics):
    _, after, fail_after, _ = basics

    @reg.function
    async def first():
        return await registry.race(fail_after(2, "late error"), after(1, "value"))

    value, _ = run(first)
    assert value == "value"


def test_race_first_error_wins(reg, basics):
    _, after, fail_after, _ = basics

    @reg.function
    async def first():
        try:
            await registry.race(after(2, "late value"), fail_after(1, "early error"))
        except ValueError as exc:
            return ("error", str(exc), sim.now())
        return "no error"

    value, _ = run(first)
    assert value == ("error", "early error", 1.0)


@pytest.mark.parametrize("faults", ["none", sim.FaultProfile(crash=1.0), "heavy"], ids=["none", "crash", "heavy"])
def test_any_all_errors_raises_any_exception_in_argument_order(reg, basics, faults):
    _, _, fail_after, fail_now = basics

    @reg.function
    async def all_fail():
        try:
            await registry.any(fail_after(3, "a"), fail_after(1, "b"), fail_now("c"))
        except AnyException as exc:
            return [(type(e).__name__, str(e)) for e in exc.exceptions]
        return "no error"

    value, _ = run(all_fail, faults=faults, seed=1)
    assert value == [("ValueError", "a"), ("ValueError", "b"), ("ValueError", "c")]


def test_any_exception_crosses_the_call_boundary(reg, basics):
    _, _, fail_after, fail_now = basics

    @reg.function
    async def all_fail():
        await registry.any(fail_after(2, "a"), fail_now("b"))

    async def main():
        with pytest.raises(AnyException) as info:
            await all_fail()
        return [(type(e), str(e)) for e in info.value.exceptions]

    value, _ = run(main)
    assert value == [(ValueError, "a"), (ValueError, "b")]


def test_any_of_one_failing_awaitable_raises_that_exception_itself(reg, basics):
    *_, fail_now = basics

    @reg.function
    async def single():
        try:
            await registry.any(fail_now("only"))
        except AnyException:
            return "AnyException"
        except ValueError as exc:
            return ("ValueError", str(exc))
        return "no error"

    value, _ = run(single)
    assert value == ("ValueError", "only")


def test_gather_raises_first_error_while_siblings_still_run(reg, basics):
    _, after, fail_after, _ = basics

    @reg.function
    async def fails_fast():
        await registry.gather(after(10, "a"), fail_after(1, "first"), fail_after(5, "second"), after(20, "b"))

    async def main():
        with pytest.raises(ValueError, match="^first$"):
            await fails_fast()
        return sim.now()

    failed_at, s = run(main)
    assert failed_at < 5.0  # the caller did not wait for the siblings
    # after draining, the siblings all ran to their own end, and every call has an outcome
    dispatched = {e.dispatch_id for e in events(s, kind="dispatch")}
    finished = {e.dispatch_id: e.status for e in events(s, kind="outcome")}
    assert dispatched == set(finished)
    by_function = {}
    for e in events(s, kind="outcome"):
        by_function.setdefault(e.function, []).append(e.status)
    assert sorted(by_function[after.name]) == ["OK", "OK"]
    assert sorted(by_function[fail_after.name]) == ["INVALID_ARGUMENT", "INVALID_ARGUMENT"]
    assert by_function[fails_fast.name] == ["INVALID_ARGUMENT"]


def test_gather_raises_the_error_that_arrives_first_not_the_first_argument(reg, basics):
    _, after, fail_after, _ = basics

    @reg.function
    async def fails():
        try:
            await registry.gather(fail_after(3, "later in time"), after(1, "ok"), fail_after(2, "earlier in time"))
        except ValueError as exc:
            return str(exc), sim.now()
        return "no error"

    value, _ = run(fails)
    assert value == ("earlier in time", 2.0)


# -- 3. a DAG of sequential and concurrent steps ------------------------------------------


def test_mixed_dag_of_sequential_and_concurrent_steps(reg, basics):
    double, after, *_ = basics

    @reg.function
    def add(a, b):
        return a + b

    @reg.function
    def square(x):
        return x * x

    async def branch(x):
        d = await double(x)  # 2x
        s, t = await registry.gather(square(d), after(x, d))  # 4x^2, 2x
        return await add(s, t)  # 4x^2 + 2x

    @reg.function
    async def dag(n):
        first = await double(n)  # 2n
        parts = await registry.gather(*(branch(first + i) for i in range(3)))
        total = await add(parts[0], await add(parts[1], parts[2]))
        return await square(total)

    def expected(n):
        first = 2 * n
        parts = [4 * x * x + 2 * x for x in (first + i for i in range(3))]
        return sum(parts) ** 2

    value, _ = run(lambda: dag(2))
    assert value == expected(2)
    value_heavy, _ = run(lambda: dag(3), faults="heavy", seed=5)
    assert value_heavy == expected(3)


# -- 6. empty combinators ------------------------------------------------------------------


def test_empty_combinators_return_at_once(reg):
    @reg.function
    async def empties():
        return [await registry.gather(), await registry.all(), await registry.any(), await registry.race()]

    value, s = run(empties)
    assert value == [[], [], None, None]
    assert s.now() == 0.0
    # nothing to wait for: the first attempt returns, no poll
    assert [e.status for e in parent_attempts(s, empties.name)] == ["OK"]


def test_empty_combinators_nested_in_combinators(reg, basics):
    double, *_ = basics

    @reg.function
    async def nested_empties():
        return (
            await registry.gather(registry.gather(), registry.any(), registry.race()),
            await registry.any(registry.gather(), double(1)),
            await registry.gather(registry.gather(), double(2)),
        )

    value, s = run(nested_empties)
    assert value == ([[], None, None], [], [[], 4])


# -- 10. late siblings after a gather failed fast --------------------------------------------


def test_late_sibling_results_are_dropped_when_the_caller_continues(reg, basics):
    double, after, fail_after, fail_now = basics

    async def two_steps(x):
        a = await after(2, x)
        return await double(a)

    @reg.function
    async def carries_on():
        try:
            await registry.gather(two_steps(1), fail_now("boom"), after(1, "late"))
        except ValueError as exc:
            caught = str(exc)
        # keep going while the siblings' results come in and are dropped
        later = await after(5, "later")
        return caught, later, sim.now()

    value, s = run(carries_on)
    assert value[:2] == ("boom", "later")
    outcomes = {e.dispatch_id: e.status for e in events(s, kind="outcome")}
    dispatched = [e.dispatch_id for e in events(s, kind="dispatch")]
    assert set(dispatched) == set(outcomes)
    assert outcomes[parent_attempts(s, carries_on.name)[0].dispatch_id] == "OK"


def test_late_sibling_failures_after_gather_failed_do_not_crash(reg, basics):
    _, after, fail_after, fail_now = basics

    @reg.function
    async def many_errors():
        try:
            await registry.gather(fail_now("first"), fail_after(1, "second"), fail_after(2, "third"))
        except ValueError as exc:
            first = str(exc)
        await after(3, None)
        return first

    value, s = run(many_errors)
    assert value == "first"
    assert s.now() == pytest.approx(3.0)


# -- 11. awaiting something that is not ours -------------------------------------------------


def test_trio_sleep_inside_a_function_advances_virtual_time(reg):
    @reg.function
    async def naps():
        before = sim.now()
        await trio.sleep(1)
        return sim.now() - before

    start = time.perf_counter()
    value, s = run(naps)
    wall = time.perf_counter() - start
    assert value == pytest.approx(1.0)
    assert s.now() == pytest.approx(1.0)
    assert wall < 0.5


def test_trio_sleep_between_durable_steps(reg, basics):
    double, *_ = basics

    @reg.function
    async def mixed():
        a = await double(1)
        await trio.sleep(2)
        b = await double(a)
        await trio.sleep(3)
        return b, sim.now()

    value, s = run(mixed)
    assert value == (4, pytest.approx(5.0))


def test_trio_sleeps_in_gathered_helpers_overlap(reg):
    async def nap(seconds):
        await trio.sleep(seconds)
        return seconds

    @reg.function
    async def naps():
        before = sim.now()
        values = await registry.gather(nap(1), nap(1), nap(1))
        return values, sim.now() - before

    value, _ = run(naps)
    assert value == ([1, 1, 1], pytest.approx(1.0))


def test_trio_sleeps_in_concurrent_calls_overlap(reg):
    @reg.function
    async def napper(seconds):
        await trio.sleep(seconds)
        return seconds

    @reg.function
    async def nappers():
        return await registry.gather(napper(1), napper(1), napper(2))

    value, s = run(nappers)
    assert value == [1, 1, 2]
    assert s.now() == pytest.approx(2.0)


# -- more gather/any/race shapes -------------------------------------------------------------


def test_helpers_that_never_await_a_call_need_no_poll(reg, basics):
    _, after, *_ = basics

    async def const(v):
        return v

    @reg.function
    async def local():
        a = await registry.gather(const(1), const(2))
        b = await registry.any(const(3), after(5, "slow"))
        c = await registry.race(after(5, "slow"), const(4))
        return a, b, c

    value, s = run(local)
    assert value == ([1, 2], 3, 4)
    attempts = parent_attempts(s, local.name)
    # everything resolved locally: the first attempt returns, and the calls that lost
    # the any/race were never dispatched
    assert [e.status for e in attempts] == ["OK"]
    assert [e.function for e in events(s, kind="dispatch")] == [local.name]


def test_nested_gather_failure_fails_the_outer_gather_at_once(reg, basics):
    _, after, fail_after, _ = basics

    @reg.function
    async def nested():
        try:
            await registry.gather(after(10, "a"), registry.gather(after(10, "b"), fail_after(1, "inner")))
        except ValueError as exc:
            return str(exc), sim.now()
        return "no error"

    value, _ = run(nested)
    assert value == ("inner", 1.0)


def test_race_and_any_nested_in_gather(reg, basics):
    _, after, fail_after, fail_now = basics

    @reg.function
    async def combo():
        return await registry.gather(
            registry.race(after(2, "r-slow"), after(1, "r-fast")),
            registry.any(fail_now("x"), after(3, "a-ok")),
            after(0, "plain"),
        )

    value, s = run(combo)
    assert value == ["r-fast", "a-ok", "plain"]
    assert s.now() == pytest.approx(3.0)


@pytest.mark.parametrize("seed", range(4))
def test_gather_order_holds_under_reordered_delivery_and_faults(reg, basics, seed):
    double, after, *_ = basics

    async def helper(i):
        return await after(i % 3, i) + await double(i)

    @reg.function
    async def ordered(n):
        return await registry.gather(*(helper(i) for i in range(n)))

    value, _ = run(lambda: ordered(15), faults="heavy", seed=seed)
    assert value == [3 * i for i in range(15)]
    value, _ = run(lambda: ordered(15), faults=sim.FaultProfile(reorder=1.0), seed=seed)
    assert value == [3 * i for i in range(15)]


@pytest.mark.parametrize("faults", ["heavy", sim.FaultProfile(crash=1.0)], ids=["heavy", "crash"])
def test_late_siblings_dropped_under_faults(reg, basics, faults):
    double, after, fail_after, fail_now = basics

    async def two_steps(x):
        a = await after(2, x)
        return await double(a)

    @reg.function
    async def carries_on():
        try:
            await registry.gather(two_steps(1), fail_after(1, "boom"), after(3, "late"), two_steps(5))
        except ValueError as exc:
            caught = str(exc)
        return caught, await after(5, "later"), await double(21)

    for seed in range(3):
        value, s = run(carries_on, faults=faults, seed=seed)
        assert value == ("boom", "later", 42)
        outcomes = {e.dispatch_id for e in events(s, kind="outcome")}
        assert {e.dispatch_id for e in events(s, kind="dispatch")} == outcomes


# -- the registry.test entry points ------------------------------------------------------------


def test_registry_test_run_returns_the_workflow_value(reg, basics):
    double, after, *_ = basics

    async def helper(x):
        return await after(x, await double(x))

    @reg.function
    async def workflow(n):
        return await registry.gather(*(helper(i) for i in range(n)))

    assert registry.test.run(workflow(4), faults="none", seed=0) == [0, 2, 4, 6]
    assert registry.test.run(workflow(4), seed=3) == [0, 2, 4, 6]  # default faults: light


@registry.test.function(seeds=range(3), faults="heavy")
async def test_registry_test_function_runs_every_seed():
    reg = registry.Registry(f"compat-scheduler-decorated-{next(_names)}")
    try:

        @reg.function
        def double(x):
            return 2 * x

        @reg.function
        async def fan_out(n):
            return await registry.gather(*(double(i) for i in range(n)))

        assert await fan_out(12) == [2 * i for i in range(12)]
    finally:
        reg.close()


def test_durable_call_is_dispatched_while_a_sibling_awaits_trio(reg, basics):
    _, after, *_ = basics

    async def nap(seconds):
        await trio.sleep(seconds)
        return seconds

    @reg.function
    async def overlap():
        values = await registry.gather(after(5, "durable"), nap(5))
        return values, sim.now()

    value, s = run(overlap)
    assert value == (["durable", 5], pytest.approx(5.0))
    [dispatch] = [e for e in events(s, kind="dispatch") if e.function == after.name]
    assert dispatch.time == 0.0


def test_finished_calls_leave_no_cyclic_garbage(reg):
    # Frames, strands and contexts are freed as soon as a call ends (by
    # reference counting), not left for the cycle collector: memory per
    # finished call stays small and the collector stays cheap.
    import gc

    @reg.function
    def leaf(x):
        return x

    @reg.function
    async def sort(items):
        if len(items) <= 1:
            return items
        middle = len(items) // 2
        left, right = await registry.gather(sort(items[:middle]), sort(items[middle:]))
        return sorted(left + right)

    @reg.function
    async def fan_out(n):
        return sum(await registry.gather(*[leaf(i) for i in range(n)]))

    async def main():
        await fan_out(3)  # warm up: first-use caches are not garbage
        gc.collect()
        gc.disable()
        try:
            for i in range(20):
                assert await leaf(i) == i
            assert await fan_out(30) == sum(range(30))
            assert await sort([5, 3, 9, 1, 7, 2]) == [1, 2, 3, 5, 7, 9]
            return gc.collect()
        finally:
            gc.enable()

    garbage, _ = run(main)
    assert garbage == 0
