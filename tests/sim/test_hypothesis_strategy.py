"""sim.hypothesis.simulations(): Hypothesis finds and shrinks fault schedules.

Ten non-idempotent debits under heavy faults: Hypothesis finds a schedule
where a debit's response is lost (the debit runs twice) and shrinks it to
exactly one lost response; the final failing example's notes list that fault
and the trace file written for it. The strategy also composes with ordinary
strategies.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import registry
from sim import Simulation, Trace
from sim.hypothesis import TRACE_DIR_ENV, simulations

_names = itertools.count()




@pytest.fixture(autouse=True)
def trace_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(TRACE_DIR_ENV, str(tmp_path))
    return tmp_path / "dispatch-sim-traces"


def debit_workflow(reg: registry.Registry) -> tuple[Any, Any, list[int]]:
    """(checkout, scenario, executions): scenario runs checkout and checks the debit count."""
    executions: list[int] = []

    @reg.function
    def debit(cents: int) -> None:
        executions.append(cents)  # not idempotent: a lost response runs it again

    @reg.function
    async def checkout() -> None:
        for _ in range(10):
            await debit(1)

    async def scenario() -> None:
        executions.clear()
        await checkout()
        assert len(executions) == 10, f"debited {len(executions)} times"

    return checkout, scenario, executions


def test_failure_shrinks_to_one_lost_response_and_notes_it(reg: registry.Registry, trace_dir: Path) -> None:
    _, scenario, executions = debit_workflow(reg)
    drawn: list[Simulation] = []

    @settings(max_examples=200, database=None, derandomize=True, deadline=None)
    @given(s=simulations(faults="heavy"))
    def test_debits(s: Simulation) -> None:
        drawn.append(s)
        s.run(scenario())

    with pytest.raises(AssertionError) as info:
        test_debits()

    # the final (shrunk) run debited once too many: exactly one duplicate execution
    assert len(executions) == 11
    assert "debited 11 times" in str(info.value)
    final = drawn[-1]
    assert repr(final) == "simulations(faults='heavy')"
    faults = final.trace.faults()
    assert [f.detail for f in faults] == ["response_lost"]
    assert faults[0].function.endswith("debit")

    notes = "\n".join(getattr(info.value, "__notes__", []))
    lost = [line for line in notes.splitlines() if "response_lost" in line]
    assert len(lost) == 1, notes
    assert re.match(r"response_lost on \S+ \S*debit attempt 1", lost[0]), lost[0]
    assert "dispatch-sim faults injected:" in notes
    match = re.search(r"dispatch-sim trace: (\S+)", notes)
    assert match, notes
    path = Path(match.group(1))
    assert path.parent == trace_dir
    assert path.is_file()
    trace = Trace.load(path)
    assert trace.digest() == final.trace.digest()
    assert [f.detail for f in trace.faults()] == ["response_lost"]
    assert f"python -m sim show {path}" in notes

    # the saved decisions replay the shrunk run exactly, without Hypothesis
    replay = Simulation.from_trace(trace)
    with pytest.raises(AssertionError, match="debited 11 times"):
        replay.run(scenario())
    assert replay.trace.digest() == trace.digest()


def test_notes_when_the_assertion_follows_the_run(reg: registry.Registry, trace_dir: Path) -> None:
    checkout, _, executions = debit_workflow(reg)

    async def no_check() -> None:
        executions.clear()
        await checkout()

    @settings(
        max_examples=200, database=None, derandomize=True, deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: keep it quick
    )
    @given(s=simulations(faults="heavy"))
    def test_debits(s: Simulation) -> None:
        s.run(no_check())
        assert len(executions) == 10, f"debited {len(executions)} times"

    with pytest.raises(AssertionError) as info:
        test_debits()
    assert len(executions) > 10
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "response_lost" in notes, notes
    assert "dispatch-sim trace: " in notes, notes


def test_passing_runs_write_no_trace_files(reg: registry.Registry, trace_dir: Path) -> None:
    _, scenario, executions = debit_workflow(reg)

    @settings(max_examples=20, database=None, derandomize=True, deadline=None)
    @given(s=simulations(faults="none"))
    def test_debits(s: Simulation) -> None:
        s.run(scenario())
        assert not s.trace.faults()

    test_debits()
    assert len(executions) == 10
    assert not trace_dir.exists()


def test_composes_with_other_strategies(reg: registry.Registry) -> None:
    @reg.function
    def merge(a: list[int], b: list[int]) -> list[int]:
        out: list[int] = []
        i = j = 0
        while i < len(a) and j < len(b):
            if a[i] <= b[j]:
                out.append(a[i])
                i += 1
            else:
                out.append(b[j])
                j += 1
        return out + a[i:] + b[j:]

    @reg.function
    async def sort(values: list[int]) -> list[int]:
        if len(values) <= 1:
            return values
        half = len(values) // 2
        left, right = await registry.gather(sort(values[:half]), sort(values[half:]))
        return await merge(left, right)

    runs: list[int] = []

    @settings(max_examples=30, database=None, derandomize=True, deadline=None)
    @given(values=st.lists(st.integers(), max_size=12), s=simulations(faults="none"))
    def test_sort(values: list[int], s: Simulation) -> None:
        async def main() -> None:
            assert await sort(values) == sorted(values)

        s.run(main())
        runs.append(len(values))
        assert s.faults.name == "none"
        assert not s.trace.faults()

    test_sort()
    assert len(runs) == 30
    assert max(runs) > 1  # some inputs were sorted through calls, not just returned


def test_strategy_rejects_an_unknown_profile() -> None:
    with pytest.raises(ValueError, match="unknown fault profile 'bogus'"):
        simulations(faults="bogus")
