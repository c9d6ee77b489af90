"""Durability: crashes rebuild a coroutine by replaying its journal.

Under ``FaultProfile(crash=1.0)`` the service drops the in-memory coroutine
before every resume, so every step after the first is reached by re-running
the function and replaying what was delivered so far.
"""

from __future__ import annotations

import itertools
import time

import pytest
import trio

import registry
import sim
from registry import Call
from registry.error import NonDeterminismError

_names = itertools.count()

CRASH = sim.FaultProfile(crash=1.0)




def run(main, faults="none", seed=0, **options):
    simulation = sim.Simulation(seed=seed, faults=faults, **options)
    return simulation.run(main), simulation


def crashes(s):
    return [e for e in s.trace if e.kind == "fault" and e.detail == "crash"]


# -- 7. durable sleep ---------------------------------------------------------------


def test_durable_sleep_advances_virtual_time_not_wall_time(reg):
    @reg.function
    async def nap():
        before = sim.now()
        await registry.sleep(5)
        return sim.now() - before

    start = time.perf_counter()
    value, s = run(nap)
    assert time.perf_counter() - start < 1.0
    assert value == 5.0
    assert s.now() == 5.0


def test_long_durable_sleep_costs_no_wall_time(reg):
    @reg.function
    async def nap():
        await registry.sleep(7 * 86400)
        return sim.now()

    start = time.perf_counter()
    value, _ = run(nap)
    assert time.perf_counter() - start < 1.0
    assert value == 7 * 86400.0


def test_durable_sleep_is_not_slept_again_after_a_crash(reg):
    @reg.function
    async def naps():
        await registry.sleep(5)
        await registry.sleep(5)
        return "rested"

    value, s = run(naps, faults=CRASH)
    assert value == "rested"
    assert s.now() == pytest.approx(10.0)  # not 15 or 20: replay does not sleep
    assert len(crashes(s)) == 2


def test_durable_sleep_once_under_crash_takes_five_seconds(reg):
    @reg.function
    async def nap():
        await registry.sleep(5)
        return sim.now()

    value, s = run(nap, faults=CRASH)
    assert s.now() == pytest.approx(5.0)
    assert len(crashes(s)) == 1


def test_negative_durable_sleep_is_an_error(reg):
    @reg.function
    async def nap():
        try:
            await registry.sleep(-1)
        except ValueError as exc:
            return str(exc)
        return "slept"

    value, _ = run(nap)
    assert "seconds" in value


# -- 9. durable workflows --------------------------------------------------------------


def make_workflow(reg, log):
    @reg.function
    def side_effect(i):
        log.append(i)
        return i * i

    @reg.function
    async def workflow(n):
        total = 0
        for i in range(n):
            total += await side_effect(i)
        return total

    return side_effect, workflow


def test_twenty_step_workflow_survives_crash_before_every_resume(reg):
    log = []
    _, workflow = make_workflow(reg, log)

    expected, _ = run(lambda: workflow(20))
    assert expected == sum(i * i for i in range(20))
    assert log == list(range(20))

    log.clear()
    value, s = run(lambda: workflow(20), faults=CRASH)
    assert value == expected
    assert log == list(range(20))  # each side effect exactly once, in order
    assert len(crashes(s)) == 20  # one before each of the 20 resumes


def test_crash_replay_with_gathers_and_helpers(reg):
    log = []

    @reg.function
    def effect(tag):
        log.append(tag)
        return tag

    async def pair(a, b):
        x = await effect(a)
        y = await effect(b)
        return x + y

    @reg.function
    async def workflow():
        first = await registry.gather(pair("a", "b"), pair("c", "d"), effect("e"))
        second = await registry.any(effect("f"), pair("g", "h"))
        return first, second, await effect("i")

    expected, _ = run(workflow)
    expected_log = sorted(log)
    log.clear()
    value, s = run(workflow, faults=CRASH)
    assert value == expected == (["ab", "cd", "e"], "f", "i")
    assert sorted(log) == expected_log
    assert len(log) == len(set(log))  # every effect ran once
    assert crashes(s)


def test_lose_state_once_rebuilds_from_the_journal(reg):
    log = []
    side_effect, _ = make_workflow(reg, log)
    runs = []

    @reg.function
    async def workflow():
        runs.append(sim.now())
        a = await side_effect(1)
        await registry.sleep(1)
        b = await side_effect(2)
        return a + b

    async def main():
        dispatch_id = workflow.dispatch()
        await trio.sleep(0.5)  # the workflow is suspended in its durable sleep
        sim.current().lose_state(dispatch_id)
        return await reg.client.wait(dispatch_id)

    value, s = run(main)
    assert value == 5
    assert log == [1, 2]  # the replay did not run side_effect(1) again
    assert runs == [0.0, 1.0]  # the body ran twice: first call, and the rebuild at 1s
    assert len(crashes(s)) == 1


def test_lose_state_while_the_attempt_awaits_trio(reg):
    log = []
    side_effect, _ = make_workflow(reg, log)

    @reg.function
    async def workflow():
        a = await side_effect(1)
        await trio.sleep(2)  # the attempt is running here when its state is lost
        b = await side_effect(2)
        return a + b

    async def main():
        dispatch_id = workflow.dispatch()
        await trio.sleep(1)
        sim.current().lose_state(dispatch_id)
        return await reg.client.wait(dispatch_id)

    value, _ = run(main)
    assert value == 5
    assert log == [1, 2]


def test_lose_state_of_the_running_call_from_inside_it(reg):
    log = []
    side_effect, _ = make_workflow(reg, log)
    lost = []

    @reg.function
    async def workflow():
        a = await side_effect(1)
        if not lost:
            lost.append(True)
            sim.current().lose_state(registry._function.current_dispatch_id())
        b = await side_effect(2)
        return a + b

    value, _ = run(workflow)
    assert value == 5
    assert log == [1, 2]


def test_workflow_survives_crashes_and_lost_responses(reg):
    log = []
    _, workflow = make_workflow(reg, log)
    faults = sim.FaultProfile(crash=0.5, response_lost=0.5)
    for seed in range(5):
        log.clear()
        value, _ = run(lambda: workflow(8), faults=faults, seed=seed)
        assert value == sum(i * i for i in range(8))
        assert sorted(set(log)) == list(range(8))  # at least once each


def test_resume_response_lost_twice_does_not_reuse_a_rebuilt_frame(reg):
    """A rebuilt coroutine that ran ahead of what the service saw must not take the retried resume."""
    log = []
    _, workflow = make_workflow(reg, log)
    faults = sim.FaultProfile(response_lost=0.6)
    for seed in range(20):
        log.clear()
        value, s = run(lambda: workflow(4), faults=faults, seed=seed, max_events=20_000)
        assert value == 0 + 1 + 4 + 9


def test_branching_on_the_wall_clock_is_detected_on_replay(reg, monkeypatch):
    @reg.function
    def step(i):
        return i

    @reg.function
    def take_left(i):
        return ("left", i)

    @reg.function
    def take_right(i):
        return ("right", i)

    @reg.function
    async def fickle():
        await step(0)
        # reads the clock: differs between the first run and the replay
        branch = take_left if time.monotonic_ns() % 2 else take_right
        chosen = await branch(1)
        await step(2)
        return chosen

    ticks = itertools.count(1)
    monkeypatch.setattr(time, "monotonic_ns", lambda: next(ticks))

    async def main():
        with pytest.raises(NonDeterminismError) as info:
            await fickle()
        return str(info.value)

    message, s = run(main, faults=CRASH)
    assert take_left.name in message
    assert take_right.name in message
    assert "step 1" in message


def test_replay_that_returns_early_is_detected(reg):
    runs = itertools.count()

    @reg.function
    def step(i):
        return i

    @reg.function
    def take_left(i):
        return ("left", i)

    @reg.function
    async def fickle():
        await step(0)
        if next(runs) % 2 == 0:  # the first run of this line takes the call...
            return await take_left(1)
        return "returned early"  # ...the replay after the next crash returns at once

    async def main():
        with pytest.raises(NonDeterminismError) as info:
            await fickle()
        return str(info.value)

    message, _ = run(main, faults=CRASH)
    assert take_left.name in message


def test_replay_that_raises_early_is_detected(reg):
    runs = itertools.count()

    @reg.function
    def step(i):
        return i

    @reg.function
    async def fickle():
        await step(0)
        if next(runs) % 2 == 0:
            return await step(1)
        raise KeyError("took another path")

    async def main():
        with pytest.raises(NonDeterminismError):
            await fickle()

    run(main, faults=CRASH)


def test_same_clock_branch_without_crash_is_fine(reg, monkeypatch):
    @reg.function
    def take_left(i):
        return ("left", i)

    @reg.function
    def take_right(i):
        return ("right", i)

    @reg.function
    async def fickle():
        branch = take_left if time.monotonic_ns() % 2 else take_right
        return await branch(1)

    monkeypatch.setattr(time, "monotonic_ns", lambda: 1)
    value, _ = run(fickle)
    assert value == ("left", 1)


def test_replay_with_different_argument_is_detected(reg):
    calls = itertools.count()

    @reg.function
    def step(i):
        return i

    @reg.function
    async def drifting():
        await step(next(calls))  # the argument changes on every run of the body
        await step(100)
        return "done"

    async def main():
        with pytest.raises(NonDeterminismError, match="step 0"):
            await drifting()

    run(main, faults=CRASH)


def test_replay_with_a_missing_step_is_detected(reg):
    runs = itertools.count()

    @reg.function
    def step(i):
        return i

    @reg.function
    async def shrinking():
        first_run = next(runs) == 0
        if first_run:
            await registry.gather(step(1), step(2))
        else:
            await registry.gather(step(1))
        await step(3)
        return "done"

    async def main():
        with pytest.raises(NonDeterminismError):
            await shrinking()

    run(main, faults=CRASH)


# -- poll errors and crashes ------------------------------------------------------------


def test_poll_error_is_replayed_after_a_crash(reg):
    @reg.function
    async def bad():
        try:
            await registry.call(Call(""))
        except ValueError as exc:
            return ("caught", str(exc))
        return "no error"

    expected, _ = run(bad)
    assert expected[0] == "caught"
    value, _ = run(bad, faults=CRASH)
    assert value == expected


def test_poll_error_then_more_steps_survive_a_lost_state(reg):
    @reg.function
    def double(x):
        return 2 * x

    @reg.function
    async def recovers():
        try:
            await registry.call(Call(""))
        except ValueError:
            pass
        a = await double(1)
        b = await double(a)
        return a + b

    value, _ = run(recovers, faults=CRASH)
    assert value == 6
