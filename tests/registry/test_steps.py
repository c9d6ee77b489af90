"""The combinator policies and the one place a return or raise becomes an Output."""

from __future__ import annotations

import pytest

import registry
from registry._outcome import output_for_exception, output_for_final_error, output_for_value
from registry._steps import ALL, ANY, GATHER, RACE, Combinator
from sim import Status


@pytest.mark.parametrize(
    ("combinator", "value_settles", "error_settles", "empty"),
    [(GATHER, False, True, []), (ALL, False, True, []), (ANY, True, False, None), (RACE, True, True, None)],
)
def test_each_combinator_says_what_settles_it(
    combinator: Combinator, value_settles: bool, error_settles: bool, empty: object
) -> None:
    assert combinator.first_value_settles is value_settles
    assert combinator.first_error_settles is error_settles
    assert combinator.empty() == empty


def test_empty_results_are_fresh_lists() -> None:
    first = GATHER.empty()
    first.append(1)
    assert GATHER.empty() == []


def test_combinators_are_frozen() -> None:
    with pytest.raises(AttributeError):
        GATHER.first_error_settles = False  # type: ignore[misc]


def test_all_failed_is_the_one_error_or_an_any_exception() -> None:
    one = ValueError("a")
    assert Combinator.all_failed([one]) is one
    both = Combinator.all_failed([one, KeyError("b")])
    assert isinstance(both, registry.AnyException)
    assert both.exceptions[0] is one


def test_a_value_becomes_an_ok_output() -> None:
    out = output_for_value(42, "f")
    assert out.status is Status.OK
    assert out.output_value == 42


def test_a_value_of_a_registered_output_type_takes_its_status(monkeypatch: pytest.MonkeyPatch) -> None:
    class Busy:
        pass

    from registry import _status

    monkeypatch.setitem(_status._output_types, Busy, Status.THROTTLED)
    out = output_for_value(Busy(), "fetch")
    assert out.status is Status.THROTTLED
    assert "fetch returned a value with status" in out.output_error.message


def test_an_exception_becomes_an_error_with_its_status() -> None:
    out = output_for_exception(ConnectionError("down"))
    assert out.status is Status.TCP_ERROR
    assert out.output_error.message == "down"


def test_a_reset_becomes_a_tail_call() -> None:
    reg = registry.Registry("test_steps_reset")
    try:

        @reg.function
        def target(x: int) -> int:
            return x

        out = output_for_exception(registry.Reset(target, 3))
        assert out.tail_call_request.function == target.name
    finally:
        reg.close()


def test_a_final_error_is_permanent_whatever_the_exception() -> None:
    assert output_for_final_error(TimeoutError("late")).status is Status.PERMANENT_ERROR


def test_any_exception_message_is_the_sdks() -> None:
    assert str(registry.AnyException([ValueError(), KeyError(), OSError()])) == (
        "3 coroutine(s) failed with an exception"
    )


def test_a_poll_failed_as_a_whole_fails_each_step_it_made() -> None:
    # The service rejects a frame's poll as a whole: its error reaches every
    # step of that poll, found by the keys of the calls the poll carried.
    from registry._coroutine import Frame
    from registry._steps import CallStep
    from sim import Call, Error
    from sim.lowlevel import PollRequest

    async def function() -> list[str]:
        seen = []
        for step in (registry.gather(CallStep(Call("a", 1)), CallStep(Call("b", 2))), CallStep(Call("c", 3))):
            try:
                await step
            except Exception as exc:
                seen.append(str(exc))
        return seen

    class _Task:  # the cancel state advance compares with the attempt's (none here)
        _cancel_status = None

    frame = Frame("d1", function())
    frame.task, frame.scopes = _Task(), None  # type: ignore[assignment]
    first = frame.advance()
    assert type(first) is PollRequest
    assert [c.function for c in first.calls] == ["a", "b"]
    frame.deliver((), Error(Status.INVALID_ARGUMENT, "ValueError", "first poll refused"))
    second = frame.advance()
    assert type(second) is PollRequest
    assert [c.function for c in second.calls] == ["c"]
    frame.deliver((), Error(Status.INVALID_ARGUMENT, "ValueError", "second poll refused"))
    end = frame.advance()  # the function's value, as (value,)
    assert type(end) is tuple
    first_error, second_error = end[0]  # type: ignore[misc]
    assert "first poll refused" in first_error and "second poll refused" in second_error
