"""sim.fork and ``python -m sim fork``: branch fresh runs off a recorded run at an event.

A heavy run of the planted double debit fails because one debit's response
was lost. Branching before that fault, the failure comes back in about half
of the branches (as often as a fresh heavy seed fails); branching after it,
in every branch: the branches share the recorded prefix exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import sim
from sim import Trace
from sim.lowlevel import load_test, run_seed

ROOT = Path(__file__).resolve().parents[2]
TARGET = "tests/programs/planted_shrink.py::test_double_debit"


def failing_trace() -> tuple[Trace, int]:
    loaded = load_test(TARGET, root=ROOT)
    for seed in range(20):
        run = run_seed(loaded.make_main(), seed=seed, faults="heavy", test_id=loaded.test_id)
        trace = run.simulation.trace
        lost = [i for i, e in enumerate(trace) if e.detail == "response_lost" and e.function == "debit"]
        if not run.ok and lost and lost[0] > 2:
            return trace, lost[0]
    pytest.fail("no heavy seed in 20 lost a debit response after event 2")


def test_branching_after_the_fault_always_fails_and_before_it_sometimes() -> None:
    trace, fault = failing_trace()
    after = sim.fork(trace, at=fault + 1, seeds=20, root=ROOT)
    assert after.same_failure == 20 and after.prefix_diverged == 0
    before = sim.fork(trace, at=fault, seeds=40, root=ROOT)
    assert 5 <= before.same_failure <= 35, before.report()
    assert before.kept < after.kept
    assert before.prefix_diverged == 0
    start = sim.fork(trace, at=0, seeds=20, root=ROOT)
    assert start.kept == 0
    report = before.report()
    assert report.startswith(f"fork at event {fault} of {len(trace)} (replaying {before.kept} of ")
    assert f"the recorded failure happens in {before.same_failure} of 40 branches" in report
    assert "x AssertionError: balance is N at planted_shrink.py:test_double_debit" in report
    assert list(before.traces) == [before.signature]  # the first failing branch's trace, kept


def test_forks_are_deterministic() -> None:
    trace, fault = failing_trace()
    one = sim.fork(trace, at=fault, seeds=10, root=ROOT)
    two = sim.fork(trace, at=fault, seeds=10, root=ROOT)
    assert [r.digest for r in one.sweep.records] == [r.digest for r in two.sweep.records]
    assert len({r.digest for r in one.sweep.records}) > 1  # the branches differ from each other


def test_bad_branch_points_are_refused() -> None:
    trace, _ = failing_trace()
    with pytest.raises(ValueError, match=f"the trace has {len(trace)} events; give 0 to {len(trace)}"):
        sim.fork(trace, at=len(trace) + 1, root=ROOT)
    with pytest.raises(ValueError, match="seeds must be a positive int"):
        sim.fork(trace, at=0, seeds=0, root=ROOT)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=ROOT,
        env=dict(os.environ), timeout=300,
    )


def test_cli_reports_like_a_sweep(tmp_path: Path) -> None:
    trace, fault = failing_trace()
    path = trace.save(tmp_path / "failing.cbor")
    result = cli("fork", str(path), "--at", str(fault + 1), "--seeds", "5")
    assert result.returncode == 1, result.stderr
    assert "the recorded failure happens in 5 of 5 branches (100%)" in result.stdout
    assert "5 of 5 branches failed in 1 group(s)" in result.stdout
    bad = cli("fork", str(path), "--at", "x")
    assert bad.returncode == 2 and bad.stderr == "error: --at 'x' is not an event index\n"
    far = cli("fork", str(path), "--at", "100000")
    assert far.returncode == 2 and far.stderr.startswith("error: --at 100000: the trace has")
