"""Messages that stay true under odd input: an exception whose __str__ raises keeps its class,
an error mapped to Status.OK is an error for the caller and the trace alike, no memory
address in the duplicate-endpoint message, and LivelockError names the busiest by counts."""

from __future__ import annotations

import re
from typing import Any

import pytest

import registry
import sim
from registry import Status
from registry._status import _error_types
from sim import LivelockError, Simulation
from sim._codec import dumps, loads


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def test_an_exception_whose_str_raises_keeps_its_class_through_the_codec() -> None:
    back = loads(dumps(Unprintable("a", 1)))
    assert type(back) is Unprintable and back.args == ("a", 1)
    error = sim.Error.from_exception(Unprintable("a"))
    assert error.type == "Unprintable" and "unprintable" in (error.message or "")


def test_an_exception_whose_str_raises_keeps_its_class_through_a_call(reg: registry.Registry) -> None:
    @reg.function
    async def fails() -> None:
        raise Unprintable("x")

    async def main() -> type:
        try:
            await fails()
        except Exception as exc:
            return type(exc)
        raise AssertionError("no error")

    simulation = Simulation(faults="none")
    assert simulation.run(main) is Unprintable
    attempt = [e for e in simulation.trace if e.kind == "attempt"][0]
    assert attempt.detail == "Unprintable"


class Fine(Exception):
    """Mapped to Status.OK below."""


def test_an_error_mapped_to_ok_is_an_error_for_the_caller_and_the_trace(reg: registry.Registry) -> None:
    registry.register_error_type(Fine, Status.OK)
    try:

        @reg.function
        async def odd() -> None:
            raise Fine("mapped to OK")

        async def main() -> str:
            try:
                await odd()
            except Fine:
                return "raised"
            return "returned"

        simulation = Simulation(faults="none")
        assert simulation.run(main) == "raised"
        outcome = [e for e in simulation.trace if e.kind == "outcome"][0]
        attempt = [e for e in simulation.trace if e.kind == "attempt"][0]
        assert outcome.status == attempt.status == "PERMANENT_ERROR"  # not an OK the caller never saw
        assert "outcomes: PERMANENT_ERROR=1" in simulation.trace.summary()
    finally:
        _error_types.pop(Fine, None)


def test_a_duplicate_endpoint_message_shows_no_memory_address() -> None:
    first = registry.Registry("test-messages-dup", endpoint="sim://test-messages-dup")
    try:
        with pytest.raises(ValueError) as caught:
            registry.Registry("test-messages-dup-2", endpoint="sim://test-messages-dup")
        message = str(caught.value)
        assert "sim://test-messages-dup" in message and "already served" in message
        assert not re.search(r"0x[0-9a-fA-F]+", message), message
    finally:
        first.close()


def test_livelock_lists_the_busiest_functions_and_calls_by_their_counts(reg: registry.Registry) -> None:
    @reg.function
    async def flaky() -> None:
        raise registry.error.TemporaryError("again")

    @reg.function
    async def leaf() -> int:
        return 1

    async def main() -> None:
        for _ in range(3):
            await leaf()
        await flaky()

    simulation = Simulation(faults="none", max_events=40, retry=sim.RetryPolicy(max_attempts=1000))
    with pytest.raises(LivelockError) as caught:
        simulation.run(main)
    message = str(caught.value)
    found = re.search(r"busiest functions: (.*); busiest calls: (.*)$", message)
    assert found, message
    functions, calls = found.groups()
    assert re.match(r"\S*leaf \(3 calls, 0 unfinished, 3 attempts\), \S*flaky \(1 calls, 1 unfinished, \d+ attempts\)",
                    functions), functions
    assert re.match(r"d4 \S*flaky \(\d+ attempts\)", calls), calls


class _Careless:
    """An endpoint (written against sim only) whose functions return plain values."""

    def run(self, function: str, input: sim.Input) -> Any:
        if function == "later":

            async def later() -> int:
                return 2

            return later()
        return 1

    def forget(self, dispatch_id: str) -> None:
        pass


def test_an_endpoint_that_returns_no_output_says_so() -> None:
    sim.register_endpoint("sim://test-messages-careless", _Careless())
    try:

        async def main() -> list[str | None]:
            simulation = sim.current()
            results = [
                await simulation.call_result(sim.Call(f, None, "sim://test-messages-careless"))
                for f in ("now", "later")
            ]
            return [r.error.message if r.error else None for r in results]

        messages = Simulation(faults="none").run(main)
        assert messages == ["endpoint sim://test-messages-careless returned int, not an Output"] * 2
    finally:
        sim.unregister_endpoint("sim://test-messages-careless")
