"""The README's example workflow: correct under faults, and reproducible."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import sim

import orders  # noqa: E402  (examples/ is on sys.path through conftest)

EXAMPLE = Path(__file__).with_name("orders.py")


@pytest.mark.parametrize("faults", ["none", "light", "heavy", "swarm"])
def test_orders_never_charge_or_reserve_twice(faults: str) -> None:
    for seed in range(10):
        results = sim.Simulation(seed=seed, faults=faults).run(orders.scenario())
        assert [r["receipt"] for r in results] == ["receipt-o0", "receipt-o1", "receipt-o2"]
        assert orders.charges == {"o0": 500, "o1": 501, "o2": 502}
        assert orders.stock == {"apple": 4, "pear": 7}


def test_heavy_faults_are_injected_and_recovered() -> None:
    simulation = sim.Simulation(seed=0, faults="heavy")
    simulation.run(orders.scenario())
    kinds = {e.detail for e in simulation.trace if e.kind == "fault"}
    assert kinds, "the heavy profile injected nothing in this run"
    assert all(e.status == "OK" for e in simulation.trace if e.kind == "outcome")


def test_the_readme_command_prints_result_and_summary() -> None:
    out = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, check=True
    ).stdout
    assert "'receipt': 'receipt-o0'" in out
    assert "charges: {" in out
    assert "calls: 15," in out
    assert "digest: " in out
