"""A call created inside a function and never awaited is reported, not silently dropped."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import registry
import sim
from sim import FaultProfile

HERE = str(Path(__file__).resolve())


def _unawaited(s: sim.Simulation) -> list[sim.Event]:
    return [e for e in s.trace if e.kind == "unawaited"]


def test_forgotten_await_warns_with_function_and_place(reg: registry.Registry) -> None:
    @reg.function
    def leaf(x: int) -> int:
        return x

    @reg.function
    async def forgetful() -> int:
        leaf(1)  # MARK-FORGOTTEN
        return 5

    line = next(
        i + 1 for i, text in enumerate(Path(HERE).read_text().splitlines()) if text.endswith("# MARK" + "-FORGOTTEN")
    )
    s = sim.Simulation(seed=0, faults="none")
    with pytest.warns(RuntimeWarning) as caught:
        assert s.run(forgetful()) == 5
    [warning] = [w for w in caught if "never awaited" in str(w.message)]
    message = str(warning.message)
    assert f"a call of {leaf.name} made in {forgetful.name}" in message
    assert f"{HERE}:{line}" in message
    assert "await leaf(...)" in message
    assert warning.filename == HERE and warning.lineno == line
    [event] = _unawaited(s)
    assert (event.function, event.detail) == (forgetful.name, leaf.name)
    # The call never ran.
    assert not [e for e in s.trace if e.kind == "dispatch" and e.function == leaf.name]


def test_unawaited_event_holds_no_path(reg: registry.Registry) -> None:
    @reg.function
    def leaf() -> None:
        pass

    @reg.function
    async def forgetful() -> None:
        leaf()

    s = sim.Simulation(seed=0, faults="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        s.run(forgetful())
    [event] = _unawaited(s)
    assert HERE not in str(event) and ".py" not in str(event.detail)


def test_awaited_and_gathered_calls_do_not_warn(reg: registry.Registry) -> None:
    @reg.function
    def leaf(x: int) -> int:
        return x

    @reg.function
    async def careful() -> list[int]:
        later = leaf(0)
        first = await leaf(1)
        rest = await registry.gather(leaf(2), leaf(3))
        return [await later, first, *rest]

    s = sim.Simulation(seed=0, faults="none")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert s.run(careful()) == [0, 1, 2, 3]
    assert _unawaited(s) == []


def test_a_crash_that_drops_a_pending_call_does_not_warn(reg: registry.Registry) -> None:
    @reg.function
    def leaf(x: int) -> int:
        return x

    @reg.function
    async def holds() -> int:
        later = leaf(7)  # held across a durable step: a crash closes the frame meanwhile
        await registry.sleep(1)
        return await later

    s = sim.Simulation(seed=0, faults=FaultProfile(crash=1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert s.run(holds()) == 7
    assert _unawaited(s) == []
    assert any(e.kind == "fault" and e.detail == "crash" for e in s.trace)


def test_unawaited_events_are_deterministic(reg: registry.Registry) -> None:
    @reg.function
    def leaf(x: int) -> int:
        return x

    @reg.function
    async def sometimes(n: int) -> int:
        for i in range(n):
            if i % 2:
                leaf(i)
            else:
                await leaf(i)
        return n

    digests = []
    for _ in range(2):
        s = sim.Simulation(seed=5, faults="heavy")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                s.run(sometimes(6))
            except Exception:
                pass
        digests.append((s.trace.digest(), len(_unawaited(s))))
    assert digests[0] == digests[1]
    assert digests[0][1] >= 3
