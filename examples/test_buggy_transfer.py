"""The README's first command: a sweep finds the planted bug of examples/buggy_transfer.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sim

ROOT = Path(__file__).resolve().parent.parent
TARGET = "examples/buggy_transfer.py::test_transfer"


def test_a_sweep_finds_the_lost_money(monkeypatch: object) -> None:
    import os

    os.chdir(ROOT)
    result = sim.sweep(TARGET, range(500))
    assert result.failures > 0
    [group] = result.groups
    assert group.signature == "AssertionError: money was lost: alice N + bob N = N at buggy_transfer.py:test_transfer"


def test_faults_off_it_passes() -> None:
    import os

    os.chdir(ROOT)
    assert sim.sweep(TARGET, range(50), faults="none").ok


def test_the_readme_command_prints_the_group_and_its_replay_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sim", "sweep", TARGET, "--seeds", "500", "--jobs", "2"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert "money was lost" in done.stdout
    assert f"replay: pytest {TARGET} --sim-seed=" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("sweep: 500 seeds, ")
