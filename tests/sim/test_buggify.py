"""sim.buggify: sites activated once per run from the decision source, firings in the trace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import sim

PROGRAM = Path(__file__).resolve().parent.parent / "programs" / "planted_bugs.py"


async def _many_sites() -> list[bool]:
    fired = []
    for _ in range(20):
        fired.append(sim.buggify(0.5))
        fired.append(sim.buggify(1.0))
    return fired


def test_never_outside_a_simulation_or_without_faults() -> None:
    assert sim.buggify(1.0) is False
    simulation = sim.Simulation(seed=0, faults="none")
    assert not any(simulation.run(_many_sites()))
    assert simulation.decisions.record == []  # nothing was even drawn
    with pytest.raises(ValueError, match=r"within \[0, 1\], got 2"):
        sim.buggify(2)


def test_sites_are_activated_about_a_quarter_of_the_time_and_fire_at_their_rate() -> None:
    active = 0
    for seed in range(200):
        simulation = sim.Simulation(seed=seed, faults="light")
        fired = simulation.run(_many_sites())
        sites = simulation.buggify_sites
        assert len(sites) == 2 and all(key.startswith("test_buggify.py:") for key in sites)
        always_site = [f for f in fired[1::2]]
        site_always = next(k for k in sites if k.endswith(str(_line_of("fired.append(sim.buggify(1.0))"))))
        assert all(always_site) == sites[site_always] and any(always_site) == sites[site_always]
        active += sum(sites.values())
        firings = [e for e in simulation.trace if e.kind == "buggify"]
        assert len(firings) == sum(fired)
    assert 60 <= active <= 140  # 400 sites at 0.25: about 100


def _line_of(text: str) -> int:
    lines = Path(__file__).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_a_trace_replays_its_firings() -> None:
    for seed in range(20):
        simulation = sim.Simulation(seed=seed, faults="heavy")
        fired = simulation.run(_many_sites())
        if any(fired):
            break
    assert any(fired)
    again = sim.Simulation.from_trace(simulation.trace)
    assert again.run(_many_sites()) == fired
    assert again.trace.digest() == simulation.trace.digest()


def test_firings_are_the_same_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import planted_bugs as p, sim\n"
        "from sim.lowlevel import run_seed\n"
        "for seed in range(30):\n"
        "    run = run_seed(p.test_stale_replica.__dispatch_sim_test__.function, seed=seed, faults='swarm')\n"
        "    fired = [e.detail for e in run.simulation.trace if e.kind == 'buggify']\n"
        "    print(seed, run.digest[:16], run.ok, fired)\n"
    )
    outputs = []
    for hash_seed in ("0", "7"):
        done = subprocess.run(
            [sys.executable, "-c", code, str(PROGRAM.parent)],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env=dict(os.environ, PYTHONHASHSEED=hash_seed),
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert "planted_bugs.py:" in outputs[0]  # some seed fired, keyed by file name, not path
    assert str(PROGRAM.parent) not in outputs[0]
