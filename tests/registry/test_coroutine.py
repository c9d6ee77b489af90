"""A frame's first step, driven by hand: each thing it can do, and what it answers.

The first step of a new frame runs before the frame makes its queues, so each
way it can go (return, raise, one call, a gather, nothing ready, trio, asyncio)
is checked here on its own, and then the frame's next steps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import trio

import registry
from registry._coroutine import Frame
from registry._steps import CallStep
from sim import Call, CallResult, Error, Output, Status
from sim.lowlevel import PollRequest


class _Task:  # the cancel state advance compares with the attempt's (none here)
    _cancel_status = None


def _frame(coro: Coroutine[Any, Any, Any]) -> Frame:
    frame = Frame("d1", coro)
    frame.task, frame.scopes = _Task(), None  # type: ignore[assignment]
    return frame


def test_a_function_that_returns_in_its_first_step_answers_its_value() -> None:
    async def function() -> int:
        return 7

    frame = _frame(function())
    assert frame.advance() == (7,)
    assert frame.done


def test_a_function_that_raises_in_its_first_step_answers_its_error() -> None:
    async def function() -> int:
        raise ValueError("no")

    frame = _frame(function())
    out = frame.advance()
    assert isinstance(out, Output)
    assert out.status is Status.INVALID_ARGUMENT
    assert out.output_error.message == "no"
    assert frame.done


def test_one_call_in_the_first_step_is_the_first_poll_and_its_result_resumes() -> None:
    async def function() -> int:
        first = await CallStep(Call("a", 1))
        second = await CallStep(Call("b", 2))
        return first + second

    frame = _frame(function())
    poll = frame.advance()
    assert type(poll) is PollRequest
    assert [(c.function, c.correlation_id) for c in poll.calls] == [("a", "0")]
    assert (poll.min_results, poll.max_results) == (1, 1)
    assert poll.coroutine_state == b"1"
    frame.deliver((CallResult("0", 10),), None)
    poll = frame.advance()
    assert type(poll) is PollRequest
    assert [(c.function, c.correlation_id) for c in poll.calls] == [("b", "1")]
    assert poll.coroutine_state == b"2"
    frame.deliver((CallResult("1", 5),), None)
    assert frame.advance() == (15,)


def test_a_gather_in_the_first_step_polls_its_calls() -> None:
    async def function() -> list[int]:
        return await registry.gather(CallStep(Call("a", 1)), CallStep(Call("b", 2)))

    frame = _frame(function())
    poll = frame.advance()
    assert type(poll) is PollRequest
    assert [(c.function, c.correlation_id) for c in poll.calls] == [("a", "0.0"), ("b", "0.1")]
    assert (poll.min_results, poll.max_results) == (1, 2)
    frame.deliver((CallResult("0.1", 2), CallResult("0.0", 1)), None)
    assert frame.advance() == ([1, 2],)


def test_an_empty_gather_in_the_first_step_settles_at_once() -> None:
    async def function() -> object:
        empty = await registry.gather()
        return (empty, await CallStep(Call("a", 1)))

    frame = _frame(function())
    poll = frame.advance()
    assert type(poll) is PollRequest
    # The gather was step 0 of the root strand; the call is step 1.
    assert [c.correlation_id for c in poll.calls] == ["1"]
    frame.deliver((CallResult("1", "x"),), None)
    assert frame.advance() == (([], "x"),)


def test_a_call_awaited_twice_fails_at_its_second_await_in_the_first_step() -> None:
    async def function() -> str:
        step = CallStep(Call("a", 1))
        try:
            await registry.gather(step, step)
        except RuntimeError as exc:
            return str(exc)
        return "awaited"

    frame = _frame(function())
    end = frame.advance()
    assert type(end) is tuple
    assert "awaited twice" in str(end[0])


def test_a_gather_of_helpers_in_the_first_step_leaves_them_to_helper_tasks() -> None:
    async def helper() -> int:
        return 1

    async def function() -> list[int]:
        return await registry.gather(helper(), helper())

    frame = _frame(function())
    awaits = frame.advance()
    assert type(awaits).__name__ == "_AwaitsTrio"
    assert tuple(awaits) == (None, None)  # type: ignore[arg-type]
    frame.close()


def test_a_trio_await_in_the_first_step_is_passed_through() -> None:
    async def function() -> None:
        await trio.sleep(0)

    frame = _frame(function())
    awaits = frame.advance()
    assert type(awaits).__name__ == "_AwaitsTrio"
    assert awaits[0] is frame  # type: ignore[index]
    frame.close()


def test_an_asyncio_await_in_the_first_step_fails_the_function() -> None:
    async def function() -> None:
        await asyncio.sleep(0)  # a bare yield: asyncio's, not trio's

    frame = _frame(function())
    out = frame.advance()
    assert isinstance(out, Output)
    assert "asyncio" in str(out.output_error.message)


def test_functions_that_end_make_one_call_or_gather_in_their_first_step_run_in_a_simulation() -> None:
    reg = registry.Registry("test_coroutine_first_step")
    try:

        @reg.function
        def leaf(x: int) -> int:
            return x

        @reg.function
        async def ends(x: int) -> int:
            return x

        @reg.function
        async def fails(x: int) -> int:
            raise ValueError(x)

        @reg.function
        async def one_call(x: int) -> int:
            return await leaf(x) + 1

        @reg.function
        async def gathers(x: int) -> list[int]:
            return await registry.gather(leaf(x), ends(x), one_call(x))

        async def main() -> object:
            try:
                await fails(0)
            except ValueError as exc:
                failed = exc.args
            return await ends(1), await one_call(2), await gathers(3), failed

        from sim import Simulation

        assert Simulation(seed=1).run(main()) == (1, 3, [3, 3, 4], (0,))
    finally:
        reg.close()


def test_a_gather_settled_by_an_error_ignores_its_late_values_and_errors() -> None:
    async def function() -> object:
        calls = [CallStep(Call(name, 1)) for name in "abcd"]
        try:
            await registry.gather(*calls)
        except ValueError as exc:
            caught = str(exc)
        return caught, await CallStep(Call("e", 2))

    frame = _frame(function())
    poll = frame.advance()
    assert type(poll) is PollRequest
    failed = Error(Status.INVALID_ARGUMENT, "ValueError", "a failed")
    frame.deliver((CallResult("0.1", "b"), CallResult("0.0", error=failed)), None)
    poll = frame.advance()  # the gather failed: the function went on to its next call
    assert type(poll) is PollRequest
    assert [c.correlation_id for c in poll.calls] == ["1"]
    late = Error(Status.INVALID_ARGUMENT, "ValueError", "late")
    frame.deliver((CallResult("0.2", "c"), CallResult("0.3", error=late)), None)  # they settle nothing
    assert type(frame.advance()) is PollRequest
    frame.deliver((CallResult("1", "e"),), None)
    assert frame.advance() == (("ValueError: a failed", "e"),)


def test_late_results_of_a_failed_gather_settle_nothing_in_a_simulation() -> None:
    reg = registry.Registry("test_coroutine_late_results")
    try:

        @reg.function
        def fails() -> int:
            raise ValueError("first")

        @reg.function
        async def later(fail: bool) -> int:
            await registry.sleep(1)
            if fail:
                raise ValueError("late")
            return 1

        @reg.function
        async def gathers() -> object:
            try:
                await registry.gather(later(False), fails(), later(False), later(True))
            except ValueError as exc:
                caught = str(exc)
            await registry.sleep(5)  # the late results arrive meanwhile
            return caught, await later(False)

        from sim import Simulation

        assert Simulation(seed=3).run(gathers()) == ("first", 1)
    finally:
        reg.close()


def test_memory_lost_by_a_first_steps_own_code_ends_the_attempt_as_lost() -> None:
    # The frame is kept (and running) while its first step runs, so a
    # Simulation.lose_state from its own code loses it there: the attempt ends
    # as lost, and the retry runs the function again from its input.
    import sim
    from registry._context import current_dispatch_id

    reg = registry.Registry("test_coroutine_lost_in_first_step")
    try:
        runs: list[str] = []

        @reg.function
        def leaf(x: int) -> int:
            return x

        @reg.function
        async def loses(ends: bool) -> int:
            runs.append("run")
            if len(runs) % 2:  # every first run of a call loses its memory
                dispatch_id = current_dispatch_id()
                assert dispatch_id is not None
                sim.current().lose_state(dispatch_id)
            if ends:
                return 0
            return await leaf(1)  # type: ignore[no-any-return]

        async def main() -> object:
            return await loses(True), await loses(False)

        simulation = sim.Simulation(seed=1)
        assert simulation.run(main()) == (0, 1)
        assert runs == ["run"] * 4  # each call ran twice: lost, then retried
        lost = [e for e in simulation.trace if "LostState" in str(e)]
        assert len(lost) == 2
    finally:
        reg.close()
