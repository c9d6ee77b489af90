"""The pytest plugin's --sim-shrink and --sim-schedule options, end to end in a subprocess.

With --sim-shrink a failing simulation test's first failure is shrunk, and
the dispatch-sim failure section lists the faults the failure needs and the
minimal trace; --sim-schedule/--sim-depth/--sim-pct-steps run every
simulation test under that schedule, and the printed replay command says so.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from sim import Trace

SAMPLE = textwrap.dedent(
    '''
    import trio

    import registry
    import registry.test

    reg = registry.Registry("test-pytest-shrink-sample")
    balance = {"cents": 0}


    @reg.function
    def debit(cents: int) -> None:
        balance["cents"] -= cents  # no idempotency key: a lost response debits twice


    @reg.function
    async def checkout() -> None:
        for _ in range(10):
            await debit(1)


    @registry.test.function(seeds=range(10), faults="heavy")
    async def test_checkout():
        balance["cents"] = 100
        await checkout()
        assert balance["cents"] == 90, f"balance is {balance['cents']}"


    @registry.test.function(seeds=range(50), faults="none")
    async def test_order():
        order = []

        async def task(name):
            for _ in range(4):
                await trio.sleep(0)
                order.append(name)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(task, "a")
            nursery.start_soon(task, "b")
        assert order != ["b", "a"] * 4, "b first in every step"
    '''
)


def run_pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("DISPATCH_SIM_FAULTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )


def test_the_failure_section_shows_the_shrunk_faults(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    done = run_pytest(tmp_path, "test_sample.py::test_checkout", "--sim-shrink=30",
                      f"--sim-trace-dir={tmp_path / 'traces'}")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    shrunk = re.search(r"^shrunk: (\d+) faults? -> 1: response_lost on d\d+ \S*debit attempt 1$", out, re.M)
    assert shrunk, out
    assert "minimal faults:\n  response_lost on d" in out
    minimal = re.search(r"^minimal trace: (.+\.min\.cbor)$", out, re.M)
    assert minimal, out
    trace = Trace.load(minimal.group(1))
    assert [f.detail for f in trace.faults()] == ["response_lost"]
    assert "dispatch-sim: shrunk: " in out  # the error's note says it too
    # Without the option nothing is shrunk.
    plain = run_pytest(tmp_path, "test_sample.py::test_checkout", f"--sim-trace-dir={tmp_path / 'traces'}")
    assert plain.returncode == 1 and "shrunk:" not in plain.stdout


def test_sim_schedule_runs_every_test_under_pct(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    uniform = run_pytest(tmp_path, "test_sample.py::test_order")
    pct = run_pytest(tmp_path, "test_sample.py::test_order", "--sim-schedule=pct", "--sim-depth=1",
                     "--sim-pct-steps=30")
    # b first in each of 4 batches: 1 in 16 under uniform order, 1 in 2 under PCT.
    rate = re.compile(r"dispatch-sim: (\d+) of 50 seeds failed")
    uniform_match, pct_match = rate.search(uniform.stdout), rate.search(pct.stdout)
    assert pct_match, pct.stdout
    assert int(pct_match.group(1)) >= 15
    assert uniform_match is None or int(uniform_match.group(1)) < 10
    assert "--sim-schedule=pct --sim-depth=1 --sim-pct-steps=30" in pct.stdout
    bad = run_pytest(tmp_path, "test_sample.py::test_order", "--sim-depth=0")
    assert bad.returncode != 0 and "--sim-depth must be positive, got 0" in bad.stderr
