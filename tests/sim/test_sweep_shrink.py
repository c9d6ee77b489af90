"""Sweeps that shrink their failures and sweeps under the PCT schedule (API and CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import sim
from sim import Trace

ROOT = Path(__file__).resolve().parents[2]
DEBIT = "tests/programs/planted_shrink.py::test_double_debit"
CACHE = "tests/programs/planted_shrink.py::test_stale_cache"


def test_a_sweep_shrinks_each_group_s_smallest_seed() -> None:
    result = sim.sweep(DEBIT, range(20), root=ROOT, shrink=60.0)
    (group,) = result.groups
    shrunk = result.shrunk[group.signature]
    assert shrunk.signature == group.signature
    assert shrunk.faults_after == 1 and shrunk.faults_before >= 1
    assert shrunk.original.header["seed"] == group.smallest_seed
    assert sim.sweep(DEBIT, range(20), root=ROOT).shrunk == {}  # off unless asked


def test_a_sweep_runs_under_the_schedule_it_is_given() -> None:
    pct = sim.sweep(CACHE, range(50), root=ROOT)  # the test's own: PCT, depth 2
    uniform = sim.sweep(CACHE, range(50), root=ROOT, schedule="uniform")
    assert pct.failures >= 3 > uniform.failures
    assert uniform.options == {"schedule": "uniform"}
    with pytest.raises(ValueError, match="depth must be an int >= 1"):
        sim.sweep(CACHE, range(2), root=ROOT, depth=0)


def sweep_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", "sweep", *args], capture_output=True, text=True,
        cwd=ROOT, env=dict(os.environ, COLUMNS="200"), timeout=300,
    )


def test_the_sweep_cli_shrinks_by_default_and_keeps_the_minimal_trace(tmp_path: Path) -> None:
    done = sweep_cli(DEBIT, "--seeds", "20", "--out", str(tmp_path))
    assert done.returncode == 1, done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    shrunk = next(line for line in lines if line.startswith("shrunk: "))
    assert " -> 1: response_lost on d" in shrunk and "debit attempt 1" in shrunk
    minimal = next(line for line in lines if line.startswith("minimal trace: ")).split(": ", 1)[1]
    assert Path(minimal).parent == tmp_path / "minimal"  # DIR/*.cbor stays one trace per group
    assert [f.detail for f in Trace.load(minimal).faults()] == ["response_lost"]
    quiet = sweep_cli(DEBIT, "--seeds", "20", "--no-shrink")
    assert quiet.returncode == 1 and "shrunk:" not in quiet.stdout


def test_the_sweep_cli_takes_a_pct_schedule() -> None:
    done = sweep_cli(CACHE, "--seeds", "50", "--schedule", "pct", "--depth", "2", "--pct-steps", "36",
                     "--no-shrink")
    assert done.returncode == 1, done.stderr
    flat = " ".join(done.stdout.split())  # rich folds long lines
    assert "--sim-faults=none --sim-schedule=pct --sim-depth=2 --sim-pct-steps=36" in flat
    bad = sweep_cli(CACHE, "--seeds", "5", "--depth", "0")
    assert bad.returncode == 2 and bad.stderr == "error: --depth must be positive, got 0\n"
