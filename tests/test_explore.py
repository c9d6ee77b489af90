"""Systematic exploration (API and command line), and sweeps reporting properties."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import registry.test
import sim

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = "tests/programs/planted_bugs.py"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_depth_1_finds_a_single_lost_response_among_60_calls_exhaustively() -> None:
    result = sim.explore(f"{PROGRAM}::test_invoice_among_many", root=ROOT)
    assert result.baseline.ok and result.complete
    assert len(result.runs) == len(result.points) == 140  # one run per fault point
    assert result.points_by_kind() == {"crash": 6, "endpoint_error": 67, "response_lost": 67}
    [group] = result.groups
    assert group.scripts == ("response_lost record#38 attempt 1",)  # exactly the one point, nothing else
    assert group.signature.startswith("PropertyFailed: always('one invoice') was false")
    assert result.summary_line() == "explore: 140 fault points, 141 runs, 1 failed in 1 groups"


def test_depth_1_finds_the_one_crash_point_and_the_buggify_point() -> None:
    crash = sim.explore(f"{PROGRAM}::test_receipt_window", root=ROOT)
    assert [g.scripts for g in crash.groups] == [
        ("response_lost pipeline attempt 13", "crash pipeline before resume 13")
    ]
    stale = sim.explore(f"{PROGRAM}::test_stale_replica", root=ROOT)
    assert [g.scripts for g in stale.groups] == [
        ("buggify planted_bugs.py:195#2", "buggify planted_bugs.py:195#3")
    ]


def test_a_correct_workflow_has_no_failing_schedule_at_depth_2() -> None:
    result = sim.explore(f"{PROGRAM}::test_correct_transfer", depth=2, root=ROOT)
    assert result.ok and result.complete and result.groups == []
    assert len(result.runs) == len(result.points) + result.pairs
    assert result.pairs > len(result.points)  # pairs include the points a first fault created
    assert any(r.script.count(";") == 1 for r in result.runs)


def test_the_budget_caps_the_runs() -> None:
    result = sim.explore(f"{PROGRAM}::test_double_debit", depth=2, budget=30, root=ROOT)
    assert len(result.runs) == 30 and not result.complete
    assert "(budget of 30 runs reached)" in result.summary_line()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="depth must be 1 or 2, got 3"):
        sim.explore(f"{PROGRAM}::test_double_debit", depth=3, root=ROOT)
    with pytest.raises(ValueError, match="budget must be a positive number of runs, got 0"):
        sim.explore(f"{PROGRAM}::test_double_debit", budget=0, root=ROOT)


def test_cli_reports_the_failing_schedules_and_exits_1(tmp_path: Path) -> None:
    done = cli("explore", f"{PROGRAM}::test_double_debit", "--out", str(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "fault points in the run without faults: 52 (crash=10, endpoint_error=21, response_lost=21)" in out
    assert "runs: 1 without faults, 52 with one fault" in out
    assert "group 1: 10 schedule(s): PropertyFailed: always('each debit is charged once')" in out
    replay = next(line.split("replay: ", 1)[1] for line in out.splitlines() if "replay: pytest" in line)
    assert replay.endswith("--sim-faults='response_lost debit attempt 1'")
    assert out.rstrip().endswith("explore: 52 fault points, 53 runs, 10 failed in 1 groups")
    trace = tmp_path / "group1.cbor"
    assert f"python -m sim replay {trace}" in out
    replayed = cli("replay", str(trace))
    # The recorded failure reproduces: replay says so and exits 1 (issue 15's replay exit status).
    assert replayed.returncode == 1 and "same digest" in replayed.stdout, replayed.stdout + replayed.stderr
    assert "failure reproduced: PropertyFailed" in replayed.stdout
    rerun = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                            f"--sim-trace-dir={tmp_path / 'traces'}", *shlex.split(replay)[1:]],
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert rerun.returncode == 1 and "each debit is charged once" in rerun.stdout, rerun.stdout


def test_cli_exits_0_when_no_schedule_fails_and_2_on_bad_input() -> None:
    done = cli("explore", f"{PROGRAM}::test_correct_transfer")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failed in 0 groups" in done.stdout
    for args, message in (
        (["--depth", "3"], "error: --depth must be 1 or 2, got 3"),
        (["--budget", "none"], "error: --budget 'none' is not a whole number"),
    ):
        bad = cli("explore", f"{PROGRAM}::test_correct_transfer", *args)
        assert bad.returncode == 2 and bad.stderr.strip() == message, bad.stderr
    missing = cli("explore", f"{PROGRAM}::test_nothing")
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and len(missing.stderr.splitlines()) == 1


def test_a_sweep_reports_properties_and_a_sometimes_never_reached() -> None:
    result = sim.sweep(f"{PROGRAM}::test_correct_transfer", seeds=range(8), faults="light", root=ROOT)
    assert result.ok
    reports = {(p.kind, p.message): p for p in result.properties}
    arrived = reports[("sometimes", "every transfer arrived")]
    assert (arrived.evaluated, arrived.held, arrived.failed, arrived.never_reached) == (8, 8, 0, False)
    debit = sim.sweep(f"{PROGRAM}::test_double_debit", seeds=range(8), faults="heavy", root=ROOT)
    always = {p.message: p for p in debit.properties}["each debit is charged once"]
    assert always.evaluated == 8 and always.held + always.failed == 8 and always.failed == debit.failures > 0


def test_the_sweep_cli_lists_a_sometimes_never_reached_and_can_require_it(tmp_path: Path) -> None:
    program = tmp_path / "test_never.py"
    program.write_text(
        "import registry, registry.test, sim\n"
        "reg = registry.Registry('test-never-program')\n\n"
        "@reg.function\ndef pay(n: int) -> int:\n    return n\n\n"
        "@registry.test.function(seeds=range(5), faults='light')\n"
        "async def test_pay():\n"
        "    n = await pay(1)\n"
        "    sim.sometimes(n > 1, 'a big payment')\n"
        "    if n < 0:\n"
        "        sim.reachable('a refund')\n"
    )
    run = lambda *extra: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "sim", "sweep", "test_never.py::test_pay", "--seeds", "6", *extra],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    done = run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sometimes 'a big payment': never reached in 6 seeds (evaluated in 6)" in done.stdout
    assert "reachable 'a refund': never reached in 6 seeds (evaluated in 0)" in done.stdout
    required = run("--require-sometimes")
    assert required.returncode == 1, required.stdout
    assert "(required: the sweep fails)" in required.stdout
    pytest_run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "test_never.py", "--sim-require-sometimes"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert pytest_run.returncode == 1, pytest_run.stdout
    assert "sometimes 'a big payment': never reached in 5 seeds" in pytest_run.stdout
    plain = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                            "test_never.py"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert plain.returncode == 0, plain.stdout
    assert "NeverReached: dispatch-sim: never reached:" in plain.stdout  # in the warnings summary


def test_sweep_and_the_decorator_take_a_fault_script(tmp_path: Path) -> None:
    script = sim.FaultScript.parse("response_lost debit#3 attempt 1")
    result = sim.sweep(f"{PROGRAM}::test_double_debit", seeds=range(3), faults=script, root=ROOT)
    assert result.failures == 3 and result.faults == str(script)

    @registry.test.function(seeds=range(2), faults=script)
    async def test_scripted() -> None:
        assert sim.current().faults.script == script.faults

    test_scripted()


def test_exploration_is_the_same_across_hash_seeds() -> None:
    outputs = set()
    for hash_seed in ("0", "7"):
        done = subprocess.run(
            [sys.executable, "-m", "sim", "explore", f"{PROGRAM}::test_stale_replica", "--depth", "2"],
            capture_output=True, text=True, cwd=ROOT, timeout=300, env=dict(os.environ, PYTHONHASHSEED=hash_seed),
        )
        assert done.returncode == 1, done.stdout + done.stderr
        outputs.add(re.sub(r"time: [0-9.]+ s", "", done.stdout))
    assert len(outputs) == 1
