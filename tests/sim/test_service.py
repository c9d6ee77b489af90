"""Unit tests of sim._service.Service on its own: no trio, a tiny fake endpoint, driven
by Service.step() (attempts, retries, polls, tail calls, crash rebuilds, the state machine)."""

from __future__ import annotations

import ast
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import sim
from sim import Call, Error, FaultProfile, Input, LivelockError, Output, RetryPolicy, Status, Trace
from sim._decisions import Decisions
from sim._endpoints import register_endpoint, unregister_endpoint
from sim._events import FAULT_DETAILS
from sim._faults import FAULT_KINDS
from sim._records import DONE, POLLING, RETRYING, SCHEDULED, _Record
from sim._service import Service

URL = "sim://test-service"

Handler = Callable[[Input], Output]


class FakeEndpoint:
    """Answers each attempt with the handler registered for the function; records what it saw."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.inputs: list[Input] = []
        self.forgotten: list[str] = []

    def run(self, function: str, input: Input) -> Output:
        self.inputs.append(input)
        return self.handlers[function](input)

    def forget(self, dispatch_id: str) -> None:
        self.forgotten.append(dispatch_id)


@pytest.fixture
def endpoint() -> Iterator[FakeEndpoint]:
    fake = FakeEndpoint()
    register_endpoint(URL, fake)
    yield fake
    unregister_endpoint(URL)


def make_service(
    faults: str | FaultProfile = "none", retry: RetryPolicy | None = None, seed: int = 0, **caps: Any
) -> Service:
    decisions = Decisions(FaultProfile.coerce(faults), random.Random(seed))
    return Service(decisions, retry or RetryPolicy(), Trace(), **caps)


def run_all(service: Service) -> None:
    while service.heap:
        assert service.step() is None, "a fake endpoint never awaits"


def events(service: Service) -> list[tuple[Any, ...]]:
    return [(e.kind, e.dispatch_id, e.function, e.attempt, e.status, e.detail) for e in service.trace]


def value_of(rec: _Record) -> Any:
    from sim._journal import decode_outcome

    assert rec.outcome is not None
    result = decode_outcome(rec.correlation_id, rec.id, rec.outcome)
    if result.error is not None:
        raise result.error.to_exception()
    return result.output


def test_a_call_runs_once_and_ends_with_its_value(endpoint: FakeEndpoint) -> None:
    endpoint.handlers["double"] = lambda inp: Output.value(inp.input * 2)
    service = make_service()
    rec = service.dispatch_one(Call("double", 21, endpoint=URL))
    assert rec.state is SCHEDULED and service.pending == 1
    run_all(service)
    assert rec.state is DONE and service.pending == 0
    assert value_of(rec) == 42
    assert [i.attempt for i in endpoint.inputs] == [1]
    assert events(service) == [
        ("dispatch", "d1", "double", 0, None, None),
        ("start", "d1", "double", 1, None, None),
        ("attempt", "d1", "double", 1, "OK", None),
        ("outcome", "d1", "double", 1, "OK", None),
    ]


def test_a_temporary_error_is_retried_with_backoff_until_it_succeeds(endpoint: FakeEndpoint) -> None:
    def flaky(inp: Input) -> Output:
        if inp.attempt < 3:
            return Output.error(Error(Status.THROTTLED, "Busy", "try later"))
        return Output.value("ok")

    endpoint.handlers["flaky"] = flaky
    retry = RetryPolicy(initial_backoff=1.0, multiplier=2.0, jitter=0.0)
    service = make_service(retry=retry)
    rec = service.dispatch_one(Call("flaky", None, endpoint=URL))
    assert service.step() is None  # attempt 1 fails
    assert rec.state is RETRYING and rec.failures == 1
    run_all(service)
    assert value_of(rec) == "ok"
    assert [(e.kind, e.time) for e in service.trace if e.kind in ("attempt", "retry")] == [
        ("attempt", 0.0),
        ("retry", 0.0),
        ("attempt", 1.0),
        ("retry", 1.0),
        ("attempt", 3.0),
    ]


def test_a_permanent_error_is_not_retried(endpoint: FakeEndpoint) -> None:
    endpoint.handlers["bad"] = lambda inp: Output.error(Error(Status.PERMANENT_ERROR, "Bad", "no"))
    service = make_service()
    rec = service.dispatch_one(Call("bad", None, endpoint=URL))
    run_all(service)
    assert len(endpoint.inputs) == 1
    assert rec.outcome is not None
    assert events(service)[-1] == ("outcome", "d1", "bad", 1, "PERMANENT_ERROR", None)


def test_retries_stop_at_max_attempts_with_the_last_error(endpoint: FakeEndpoint) -> None:
    endpoint.handlers["down"] = lambda inp: Output.error(Error(Status.TIMEOUT, "Down", f"#{inp.attempt}"))
    service = make_service(retry=RetryPolicy(max_attempts=4, jitter=0.0))
    rec = service.dispatch_one(Call("down", None, endpoint=URL))
    run_all(service)
    assert len(endpoint.inputs) == 4
    with pytest.raises(RuntimeError, match="#4"):
        value_of(rec)


def test_a_call_to_no_endpoint_fails_with_not_found() -> None:
    service = make_service()
    rec = service.dispatch_one(Call("f", None, endpoint="sim://nobody-serves-this"))
    run_all(service)
    assert events(service)[1:] == [
        ("start", "d1", "f", 1, None, None),
        ("attempt", "d1", "f", 1, "NOT_FOUND", None),
        ("outcome", "d1", "f", 1, "NOT_FOUND", None),
    ]
    assert rec.state is DONE


def test_a_poll_dispatches_children_and_resumes_with_their_results(endpoint: FakeEndpoint) -> None:
    def parent(inp: Input) -> Output:
        if inp.is_first_call:
            calls = [Call("child", n, endpoint=URL, correlation_id=n) for n in range(3)]
            return Output.poll(b"state-1", calls, min_results=3)
        assert inp.coroutine_state == b"state-1"
        return Output.value(sorted(r.output for r in inp.call_results))

    endpoint.handlers["parent"] = parent
    endpoint.handlers["child"] = lambda inp: Output.value(inp.input * 10)
    service = make_service()
    rec = service.dispatch_one(Call("parent", None, endpoint=URL))
    service.step()
    assert rec.state is POLLING
    assert rec.suspension is not None and len(rec.suspension.outstanding) == 3
    run_all(service)
    assert value_of(rec) == [0, 10, 20]
    resume = endpoint.inputs[-1]
    assert resume.function == "parent" and resume.is_resume
    assert {r.correlation_id for r in resume.call_results} == {0, 1, 2}
    assert len(resume.journal) == 1 and resume.journal.steps[0].results is not None
    assert rec.suspension is None  # dropped at the end
    assert "d1" in endpoint.forgotten


def test_a_poll_with_a_timeout_resumes_with_nothing(endpoint: FakeEndpoint) -> None:
    def waits(inp: Input) -> Output:
        if inp.is_first_call:
            return Output.poll(None, [Call("<sleep>", 100.0, correlation_id=1)], max_wait_seconds=5.0)
        return Output.value(len(inp.call_results))

    endpoint.handlers["waits"] = waits
    service = make_service()
    rec = service.dispatch_one(Call("waits", None, endpoint=URL))
    while rec.outcome is None:
        service.step()
    assert value_of(rec) == 0
    assert service.now == 5.0


def test_a_poll_timeout_applies_to_its_own_poll_only(endpoint: FakeEndpoint) -> None:
    # The first poll's timeout (t=5) is still on the timeline when the second
    # poll (no timeout, waiting for a sleep until t=3+100) is made: it must not resume it.
    def waits(inp: Input) -> Output:
        if inp.is_first_call:
            return Output.poll(b"1", [Call("<sleep>", 3.0, correlation_id=1)], max_wait_seconds=5.0)
        if inp.coroutine_state == b"1":
            return Output.poll(b"2", [Call("<sleep>", 100.0, correlation_id=2)])
        return Output.value(service.now)

    endpoint.handlers["waits"] = waits
    service = make_service()
    rec = service.dispatch_one(Call("waits", None, endpoint=URL))
    while rec.outcome is None:
        service.step()
    assert value_of(rec) == 103.0


def test_a_bad_poll_resumes_with_its_error_and_journals_the_calls(endpoint: FakeEndpoint) -> None:
    def twice(inp: Input) -> Output:
        if inp.is_first_call:
            calls = [Call("child", 1, endpoint=URL, correlation_id=7), Call("child", 2, endpoint=URL, correlation_id=7)]
            return Output.poll(None, calls)
        assert inp.poll_error is not None
        return Output.value(inp.poll_error.message)

    endpoint.handlers["twice"] = twice
    service = make_service()
    rec = service.dispatch_one(Call("twice", None, endpoint=URL))
    run_all(service)
    assert "reuses correlation_id 7" in value_of(rec)
    assert len(service.records) == 1  # no child was admitted
    assert len(endpoint.inputs[-1].journal.steps[0].calls) == 2


def test_a_tail_call_continues_the_same_call_as_another_function(endpoint: FakeEndpoint) -> None:
    endpoint.handlers["first"] = lambda inp: Output.tail_call(Call("second", inp.input + 1))
    endpoint.handlers["second"] = lambda inp: Output.value(inp.input * 3)
    service = make_service()
    rec = service.dispatch_one(Call("first", 1, endpoint=URL))
    run_all(service)
    assert value_of(rec) == 6
    assert rec.function == "second" and rec.id == "d1"
    assert [i.function for i in endpoint.inputs] == ["first", "second"]
    assert "d1" in endpoint.forgotten  # the first function's state is dropped
    assert ("attempt", "d1", "first", 1, "TAIL_CALL", "second") in events(service)


def test_a_crash_before_a_resume_asks_the_endpoint_to_rebuild(endpoint: FakeEndpoint) -> None:
    def parent(inp: Input) -> Output:
        if inp.is_first_call:
            return Output.poll(None, [Call("child", 1, endpoint=URL, correlation_id=1)])
        return Output.value([r.output for r in inp.call_results])

    endpoint.handlers["parent"] = parent
    endpoint.handlers["child"] = lambda inp: Output.value("c")
    service = make_service(FaultProfile(crash=1.0))
    rec = service.dispatch_one(Call("parent", None, endpoint=URL))
    run_all(service)
    assert value_of(rec) == ["c"]
    crashes = [e for e in service.trace if e.kind == "fault" and e.detail == "crash"]
    assert [(c.dispatch_id, c.function) for c in crashes] == [("d1", "parent")]
    assert endpoint.forgotten.count("d1") >= 1  # forgotten at the crash, before the resume ran
    resume = endpoint.inputs[-1]
    assert resume.journal.input is None and len(resume.journal) == 1


def test_lose_state_forgets_and_records_a_crash(endpoint: FakeEndpoint) -> None:
    endpoint.handlers["f"] = lambda inp: Output.value(None)
    service = make_service()
    rec = service.dispatch_one(Call("f", None, endpoint=URL))
    service.lose_state(rec)
    assert endpoint.forgotten == ["d1"]
    assert events(service)[-1] == ("fault", "d1", "f", 0, None, "crash")


def test_waiters_are_handed_to_the_wake_hook(endpoint: FakeEndpoint) -> None:
    endpoint.handlers["f"] = lambda inp: Output.value(1)
    service = make_service()
    woken: list[str] = []
    service.wake = lambda rec: woken.append(rec.id)
    rec = service.dispatch_one(Call("f", None, endpoint=URL))
    rec.waiters.append("a waiting task")
    run_all(service)
    assert woken == ["d1"]


def test_on_push_is_called_for_every_scheduled_action(endpoint: FakeEndpoint) -> None:
    endpoint.handlers["f"] = lambda inp: Output.value(1)
    service = make_service()
    pushes: list[int] = []
    service.on_push = lambda: pushes.append(len(service.heap))
    service.dispatch([Call("f", None, endpoint=URL), Call("f", None, endpoint=URL)])
    assert pushes == [1, 2]


def test_step_refuses_past_its_caps(endpoint: FakeEndpoint) -> None:
    endpoint.handlers["loop"] = lambda inp: Output.tail_call(Call("loop", None))
    service = make_service(max_events=10)
    service.dispatch_one(Call("loop", None, endpoint=URL))
    with pytest.raises(LivelockError, match="max_events=10"):
        run_all(service)
    assert service.steps == 11

    timed = make_service(max_virtual_time=1.0)
    timed.dispatch_one(Call("<sleep>", 2.0))
    with pytest.raises(LivelockError, match="max_virtual_time=1.0s"):
        run_all(timed)


def test_abandon_ends_every_call_in_flight(endpoint: FakeEndpoint) -> None:
    service = make_service()
    rec = service.dispatch_one(Call("<sleep>", 10.0))
    service.abandon()
    assert rec.state is DONE and service.pending == 0
    assert events(service)[-1] == ("outcome", "d1", "<sleep>", 0, None, "abandoned")


def test_an_illegal_state_move_is_refused() -> None:
    service = make_service()
    rec = service.dispatch_one(Call("<sleep>", 1.0))
    run_all(service)
    assert rec.state is DONE
    with pytest.raises(AssertionError, match="cannot go from done to running"):
        rec.move(rec.state.RUNNING)


def _imports(module: str) -> set[str]:
    # A module of sim, or every file of a package of sim (its own imports are not followed).
    base = Path(sim.__file__).parent / module.removeprefix("sim.")
    files = [base.with_suffix(".py")] if base.with_suffix(".py").exists() else sorted(base.rglob("*.py"))
    assert files, f"no source for {module}"
    found: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                top_level = node.level == 1 and path.parent == base.parent
                found.add(f"sim.{node.module}" if top_level else node.module if not node.level else "")
    return found


def test_the_service_and_everything_it_imports_never_import_trio() -> None:
    seen: set[str] = set()
    todo = ["sim._service"]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        imported = _imports(module)
        assert not any(m == "trio" or m.startswith("trio.") for m in imported), module
        todo.extend(m for m in imported if m.startswith("sim._"))
    assert {"sim._service", "sim._records", "sim._journal"} <= seen


# -- every fault kind, alone, is injected ---------------------------------------


def _first_resume_order(endpoint: FakeEndpoint) -> list[Any]:
    resumes = [i for i in endpoint.inputs if i.function == "parent" and i.is_resume]
    return [r.correlation_id for r in resumes[0].call_results] if resumes else []


# How each kind shows in a run of the workload below. A kind added to
# FaultProfile without an entry here fails the test that reads this.
_EVIDENCE: dict[str, Callable[[Service, FakeEndpoint], bool]] = {
    "endpoint_error": lambda s, e: any(ev.detail == "endpoint_error" for ev in s.trace),
    "response_lost": lambda s, e: any(ev.detail == "response_lost" for ev in s.trace),
    "crash": lambda s, e: any(ev.detail == "crash" for ev in s.trace),
    "max_latency": lambda s, e: any(ev.time > 0 for ev in s.trace),
    "reorder": lambda s, e: _first_resume_order(e) != list(range(10)),
}


def _fault_workload(endpoint: FakeEndpoint, profile: FaultProfile, seed: int) -> Service:
    def parent(inp: Input) -> Output:
        if inp.is_first_call:
            calls = [Call("child", n, endpoint=URL, correlation_id=n) for n in range(10)]
            return Output.poll(None, calls, min_results=10, max_results=10)
        return Output.value(None)

    endpoint.handlers["parent"] = parent
    endpoint.handlers["child"] = lambda inp: Output.value(inp.input)
    service = make_service(profile, retry=RetryPolicy(max_attempts=3), seed=seed)
    service.dispatch_one(Call("parent", None, endpoint=URL))
    run_all(service)
    return service


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_profile_with_only_one_fault_kind_injects_it(endpoint: FakeEndpoint, kind: str) -> None:
    assert kind in _EVIDENCE, f"FaultProfile.{kind} is new: say in _EVIDENCE how it shows in a run"
    profile = FaultProfile(**{kind: 1.0})  # type: ignore[arg-type]
    assert not profile.is_none, f"FaultProfile.is_none ignores {kind}"
    for seed in range(5):
        endpoint.inputs.clear()
        service = _fault_workload(endpoint, profile, seed)
        if _EVIDENCE[kind](service, endpoint):
            return
    pytest.fail(f"a profile with only {kind}=1.0 injected nothing in 5 seeds")


def test_every_fault_kind_is_a_profile_field() -> None:
    assert set(FAULT_KINDS) == {f.name for f in attrs.fields(FaultProfile)} - {"name", "swarm", "functions", "script"}
    assert set(FAULT_DETAILS) <= set(FAULT_KINDS)  # a fault event's detail names its kind
