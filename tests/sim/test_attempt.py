"""The fast endpoint path (sim._attempt, sim._direct): an endpoint with run_attempt gets an
Attempt and may answer (value,) or a PollRequest; one with only run() still gets the
Input it always did; the test-level call_value and wait_value. Driven by Service.step(), no trio,
except for call_value and wait_value, which need a running simulation."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import registry
import sim
from sim import Arguments, Call, Error, FaultProfile, Input, Output, RetryPolicy, Status, Trace
from sim._decisions import Decisions
from sim._endpoints import register_endpoint, unregister_endpoint
from sim._journal import decode_outcome
from sim._records import DONE, POLLING
from sim._service import Service
from sim.lowlevel import Answer, Attempt, PollRequest, call_value, decode_result, output_of, wait_value

URL = "sim://test-attempt"
PLAIN_URL = "sim://test-attempt-plain"


class FastEndpoint:
    """Answers each attempt with the handler for its function; keeps what it saw."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[Attempt], Answer]] = {}
        self.seen: list[tuple[Attempt, Input]] = []

    def run(self, function: str, input: Input) -> Output:
        raise AssertionError("the service must prefer run_attempt")

    def run_attempt(self, attempt: Attempt) -> Answer:
        self.seen.append((attempt, attempt.to_input()))
        return self.handlers[attempt.function](attempt)

    def forget(self, dispatch_id: str) -> None:
        pass


class PlainEndpoint:
    """An endpoint without run_attempt, answering whatever the handler returns."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[Input], Any]] = {}
        self.inputs: list[Any] = []

    def run(self, function: str, input: Input) -> Any:
        self.inputs.append(input)
        return self.handlers[function](input)

    def forget(self, dispatch_id: str) -> None:
        pass


@pytest.fixture
def fast() -> Iterator[FastEndpoint]:
    endpoint = FastEndpoint()
    register_endpoint(URL, endpoint)
    yield endpoint
    unregister_endpoint(URL)


@pytest.fixture
def plain() -> Iterator[PlainEndpoint]:
    endpoint = PlainEndpoint()
    register_endpoint(PLAIN_URL, endpoint)
    yield endpoint
    unregister_endpoint(PLAIN_URL)


def make_service() -> Service:
    return Service(Decisions(FaultProfile.coerce("none"), random.Random(0)), RetryPolicy(), Trace())


def run_all(service: Service) -> None:
    while service.heap:
        assert service.step() is None


def result_of(rec: Any) -> Any:
    result = decode_outcome(rec.correlation_id, rec.id, rec.outcome)
    return result.error if result.error is not None else result.output


def test_a_first_call_gets_an_attempt_whose_input_is_the_one_the_service_would_build(
    fast: FastEndpoint,
) -> None:
    fast.handlers["add"] = lambda a: (sum(a.input_arguments()[0]) + a.input_arguments()[1]["k"],)
    service = make_service()
    rec = service.dispatch_one(Call("add", Arguments((1, 2), {"k": 3}), endpoint=URL))
    run_all(service)
    assert rec.state is DONE and result_of(rec) == 6
    attempt, inp = fast.seen[0]
    assert (attempt.dispatch_id, attempt.function, attempt.attempt, attempt.is_first_call) == ("d1", "add", 1, True)
    assert attempt.input == Arguments((1, 2), {"k": 3})
    assert attempt.coroutine_state is None and attempt.results == () and attempt.poll_error is None
    assert len(attempt.journal) == 0
    assert type(inp) is Input and inp.is_first_call
    assert (inp.dispatch_id, inp.function, inp.attempt, inp.root_dispatch_id) == ("d1", "add", 1, "d1")
    assert inp.input_arguments() == attempt.input_arguments() == ((1, 2), {"k": 3})


def test_arguments_come_back_as_fresh_copies(fast: FastEndpoint) -> None:
    got: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def keep(a: Attempt) -> Answer:
        args, kwargs = a.input_arguments()
        got.append((args, kwargs))
        args[0].append("changed")  # a list argument: the caller's copy must not see it
        kwargs["extra"] = True
        return (None,)

    fast.handlers["keep"] = keep
    service = make_service()
    data = [1, 2]
    rec = service.dispatch_one(Call("keep", Arguments((data,), {}), endpoint=URL))
    run_all(service)
    assert rec.state is DONE
    assert data == [1, 2]
    assert fast.seen[0][0].input_arguments() == (([1, 2],), {})  # the frozen input is untouched


def test_a_resume_gets_raw_results_decoded_on_demand(fast: FastEndpoint) -> None:
    def parent(a: Attempt) -> Answer:
        if a.is_first_call:
            calls = [Call("child", n, endpoint=URL, correlation_id=n) for n in range(3)]
            return PollRequest(b"state-1", calls, 3, 10)
        assert a.coroutine_state == b"state-1"
        values = {cid: decode_result(outcome) for cid, _, outcome in a.results}
        oks = sorted(v for ok, v in values.values() if ok)
        return ((oks, sorted(type(v).__name__ for ok, v in values.values() if not ok)),)

    def child(a: Attempt) -> Answer:
        if a.input == 2:
            return Output.error(Error(Status.PERMANENT_ERROR, "ValueError", "two"))
        return (a.input * 10,)

    fast.handlers["parent"] = parent
    fast.handlers["child"] = child
    service = make_service()
    rec = service.dispatch_one(Call("parent", None, endpoint=URL))
    service.step()
    assert rec.state is POLLING
    run_all(service)
    assert result_of(rec) == ([0, 10], ["Error"])
    attempt, inp = fast.seen[-1]
    assert not attempt.is_first_call and attempt.function == "parent"
    assert {r.correlation_id for r in attempt.call_results} == {0, 1, 2}
    assert inp.is_resume and inp.coroutine_state == b"state-1"
    assert [(r.correlation_id, r.output, r.dispatch_id) for r in inp.call_results] == [
        (r.correlation_id, r.output, r.dispatch_id) for r in attempt.call_results
    ]
    assert len(inp.journal) == len(attempt.journal) == 1
    assert [e.kind for e in service.trace if e.dispatch_id == "d1"] == [
        "dispatch", "start", "attempt", "start", "attempt", "outcome",
    ]  # fmt: skip


def _fields(a: Attempt) -> tuple[Any, ...]:
    return (
        a.dispatch_id, a.function, a.attempt, a.is_first_call, a.coroutine_state, a.results,
        a.poll_error, a.input_arguments() if a.is_first_call else None, len(a.journal),
    )  # fmt: skip


def test_the_view_the_service_makes_is_the_one_attempts_init_makes(fast: FastEndpoint) -> None:
    # The service builds each Attempt without calling __init__ (Service._attempt):
    # a first call's and a resume's must read the same as Attempt(rec, suspension)'s.
    views: list[tuple[Attempt, Attempt]] = []

    def parent(a: Attempt) -> Answer:
        rec = a._rec
        views.append((a, Attempt(rec, rec.suspension)))
        if a.is_first_call:
            return PollRequest(b"s", [Call("child", 1, endpoint=URL, correlation_id=0)], 1, 10)
        return (None,)

    fast.handlers["parent"] = parent
    fast.handlers["child"] = lambda a: (a.input,)
    service = make_service()
    service.dispatch_one(Call("parent", Arguments((1, [2]), {}), endpoint=URL))
    run_all(service)
    assert [made.is_first_call for made, _ in views] == [True, False]
    for made, built in views:
        assert type(made) is Attempt and _fields(made) == _fields(built)


def test_a_poll_request_is_checked_like_any_poll(fast: FastEndpoint) -> None:
    fast.handlers["twice"] = lambda a: PollRequest(
        None, [Call("x", 1, endpoint=URL, correlation_id=7), Call("x", 2, endpoint=URL, correlation_id=7)], 1, 10
    )
    service = make_service()
    rec = service.dispatch_one(Call("twice", None, endpoint=URL))
    service.step()
    assert rec.suspension is not None and rec.suspension.error is not None
    assert "reuses correlation_id 7" in (rec.suspension.error.message or "")


def test_an_endpoint_without_run_attempt_gets_an_input_and_cannot_answer_a_tuple(plain: PlainEndpoint) -> None:
    plain.handlers["ok"] = lambda inp: Output.value(inp.input + 1)
    plain.handlers["tuple"] = lambda inp: (inp.input,)
    service = make_service()
    good = service.dispatch_one(Call("ok", 1, endpoint=PLAIN_URL))
    bad = service.dispatch_one(Call("tuple", 1, endpoint=PLAIN_URL))
    run_all(service)
    assert all(type(i) is Input for i in plain.inputs)
    assert result_of(good) == 2
    error = result_of(bad)
    assert isinstance(error, Error) and error.status is Status.INVALID_RESPONSE
    assert "returned tuple, not an Output" in (error.message or "")


def test_output_of_gives_the_public_output_of_each_answer() -> None:
    assert output_of((5,)) == Output.value(5)
    poll = output_of(PollRequest(b"s", [Call("f", 1, correlation_id=1)], 1, 3, 2.0))
    assert poll.is_poll
    assert poll.poll_request.calls == (Call("f", 1, correlation_id=1),)
    assert (poll.poll_request.max_results, poll.poll_request.max_wait_seconds) == (3, 2.0)
    error = Output.error(Error(Status.TIMEOUT, "T", "m"))
    assert output_of(error) is error


def test_call_value_outside_a_simulation_says_so() -> None:
    with pytest.raises(RuntimeError, match="no simulation is running"):
        call_value(Call("f"), Error.to_exception).send(None)
    with pytest.raises(RuntimeError, match="no simulation is running"):
        wait_value("d1", Error.to_exception).send(None)


def test_wait_value_gives_a_dispatched_calls_value_or_raises_what_its_caller_makes_of_the_error() -> None:
    reg = registry.Registry("test-attempt-wait-value")
    try:

        @reg.function
        def half(x: int) -> Any:
            if x < 0:
                raise ValueError("negative")
            return [x / 2]

        async def main() -> tuple[Any, Any, Any]:
            ok, failing = sim.current().dispatch([half.build_call(3), half.build_call(-1)])
            with pytest.raises(KeyError, match="negative") as raised:
                await wait_value(failing, lambda error: KeyError(error.message))
            with pytest.raises(ValueError, match="unknown dispatch id 'd9'"):
                await wait_value("d9", Error.to_exception)
            # Twice: a call that has its outcome already gives it again, afresh.
            first = await wait_value(ok, Error.to_exception)
            return first, await wait_value(ok, Error.to_exception), raised.value

        first, again, _ = sim.Simulation(seed=0, faults="light").run(main())
        assert first == again == [1.5] and first is not again
    finally:
        reg.close()


def test_call_value_gives_the_value_or_raises_what_its_caller_makes_of_the_error() -> None:
    reg = registry.Registry("test-attempt-value")
    try:

        @reg.function
        def half(x: int) -> Any:
            if x < 0:
                raise ValueError("negative")
            return {"half": x / 2}

        seen: list[Error] = []

        def exception_for(error: Error) -> BaseException:
            seen.append(error)
            return KeyError(error.message)

        async def main() -> tuple[Any, Any]:
            value = await call_value(half.build_call(3), exception_for)
            with pytest.raises(KeyError, match="negative") as raised:
                await call_value(half.build_call(-1), exception_for)
            return value, raised.value

        value, _ = sim.Simulation(seed=0).run(main())
        assert value == {"half": 1.5}
        [error] = seen
        assert (error.type, error.message, error.status) == ("ValueError", "negative", Status.INVALID_ARGUMENT)
    finally:
        reg.close()


@pytest.mark.parametrize(
    ("correlation_id", "function", "problem"),
    [
        (1.5, "x", "needs an int or str correlation_id"),
        (True, "x", "needs an int or str correlation_id"),
        (7, "", "has no function name"),
    ],
)
def test_a_poll_of_one_call_is_checked_like_any_poll(
    fast: FastEndpoint, correlation_id: Any, function: str, problem: str
) -> None:
    # A lone call is checked on a path of its own: the same problems are found.
    fast.handlers["once"] = lambda a: PollRequest(
        None, [Call(function, 1, endpoint=URL, correlation_id=correlation_id)], 1, 10
    )
    service = make_service()
    rec = service.dispatch_one(Call("once", None, endpoint=URL))
    service.step()
    assert rec.suspension is not None and rec.suspension.error is not None
    assert problem in (rec.suspension.error.message or "")
    assert len(service.records) == 1  # nothing was admitted
    assert len(rec.suspension.journal[0].calls) == 1  # but the call is journaled


def test_a_poll_of_one_call_reusing_an_outstanding_id_is_refused(fast: FastEndpoint) -> None:
    polls = iter([[Call("x", 1, endpoint=URL, correlation_id=7)], [Call("x", 2, endpoint=URL, correlation_id=7)]])
    fast.handlers["twice"] = lambda a: PollRequest(b"s", next(polls), 2, 10)  # waits for two results
    fast.handlers["x"] = lambda a: PollRequest(None, [], 1, 1)  # never ends: stays outstanding
    service = make_service()
    rec = service.dispatch_one(Call("twice", None, endpoint=URL))
    service.step()  # the first poll: child 7 is outstanding
    assert rec.suspension is not None and rec.suspension.error is None
    service.resume_early(rec.id)
    while service.heap and rec.suspension.generation < 2:
        service.step()
    assert rec.suspension.error is not None
    assert "reuses correlation_id 7" in (rec.suspension.error.message or "")


def test_a_list_result_is_frozen_as_freeze_would(fast: FastEndpoint) -> None:
    # The service freezes a fast endpoint's flat list result itself (Service._attempt):
    # the same frozen form as freeze's, a copy the endpoint's later changes do not reach.
    returned: dict[str, list[Any]] = {"flat": [1, "a", None, True], "float": [1, 2.5], "nested": [[1]]}
    fast.handlers["give"] = lambda a: (returned[a.input],)
    service = make_service()
    recs = {name: service.dispatch_one(Call("give", name, endpoint=URL)) for name in returned}
    run_all(service)
    for name, rec in recs.items():
        assert rec.outcome is not None
        kind, data = rec.outcome
        assert kind == "value" and type(data) is type(sim._codec.freeze(returned[name]))
        assert sim._codec.same(data, sim._codec.freeze(returned[name]))
        returned[name].append("later")
        assert result_of(rec) == returned[name][:-1]


@pytest.mark.parametrize("form", ["tuple", "output"])
def test_a_value_answer_ends_the_call_as_finish_does(fast: FastEndpoint, form: str) -> None:
    # _attempt writes _finish out for (value,): both answers must leave the same
    # trace, records and deliveries (a resumed parent, its forgotten state, its waiters).
    def answer(value: Any) -> Answer:
        return (value,) if form == "tuple" else Output.value(value)

    def parent(a: Attempt) -> Answer:
        if a.is_first_call:
            calls = [Call("child", n, endpoint=URL, correlation_id=n) for n in range(2)]
            return PollRequest(b"s", calls, 2, 10)
        return answer(sorted(v for _, v in map(decode_result, (o for _, _, o in a.results))))

    fast.handlers["parent"] = parent
    fast.handlers["child"] = lambda a: answer([a.input])
    service = make_service()
    woken: list[str] = []
    service.wake = lambda rec: woken.append(rec.id)
    rec = service.dispatch_one(Call("parent", None, endpoint=URL))
    rec.waiters.append("a test")
    run_all(service)
    assert rec.state is DONE and rec.suspension is None and result_of(rec) == [[0], [1]]
    assert woken == ["d1"] and service.pending == 0
    kinds = [(e.kind, e.dispatch_id, e.status) for e in service.trace]
    assert kinds == [
        ("dispatch", "d1", None), ("start", "d1", None), ("attempt", "d1", "POLL"),
        ("dispatch", "d2", None), ("dispatch", "d3", None),
        ("start", "d2", None), ("attempt", "d2", "OK"), ("outcome", "d2", "OK"),
        ("start", "d3", None), ("attempt", "d3", "OK"), ("outcome", "d3", "OK"),
        ("start", "d1", None), ("attempt", "d1", "OK"), ("outcome", "d1", "OK"),
    ]  # fmt: skip
