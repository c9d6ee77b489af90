"""The packages ship py.typed, so their annotations must check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_sim_and_registry_type_check(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path), "sim", "registry"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_both_packages_are_marked_typed() -> None:
    assert (ROOT / "sim" / "py.typed").is_file()
    assert (ROOT / "registry" / "py.typed").is_file()
