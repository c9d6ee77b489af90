"""The HTML report in a real browser: headless Chromium opens it from file://.

The page's own script writes what it drew (lanes, fault markers, errors caught
by window.onerror and console.error, its render time) into a hidden
``#selftest`` element; Chromium's ``--dump-dom`` prints the page after load,
and ``--screenshot`` keeps a picture, saved as a test artifact (its path is
printed). No driver library is needed. Without Chromium the test skips,
except under CI, where a missing browser is a failure.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import registry
import sim
from sim import Simulation, Trace
from sim._report import write_report

HOSTILE = "</script><script>window.__errors.push('injected')</script>"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but Chromium is missing: .ci/run installs it with apt-get")
        pytest.skip("Chromium is not installed (apt-get install chromium); under CI this test runs")
    return found


def open_page(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1400,800",
    ]
    return subprocess.run(
        [chromium(), *flags, *extra, page.resolve().as_uri()], capture_output=True, text=True, timeout=120
    )


def selftest(page: Path, profile: Path) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    done = open_page(page, profile, "--dump-dom")
    wall = time.perf_counter() - started
    found = re.search(r'<pre id="selftest">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the page wrote no self-test (its script failed?): {done.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1))), wall


def run_checkout(reg: registry.Registry, workers: int, debits: int, faults: str, seed: int) -> Trace:
    @reg.function
    def debit(account: str, cents: int) -> int:
        sim.note(HOSTILE, cents=cents)  # notes are trace text too: shown, never run
        return cents

    async def work(account: str) -> int:
        return sum(await registry.gather(*(debit(account, 1) for _ in range(debits))))

    work.__qualname__ = HOSTILE  # functions are named by their qualname: a name no page may run
    worker = reg.function(work)

    @reg.function
    async def checkout(account: str) -> int:
        await registry.sleep(0.5)
        return sum(await registry.gather(*(worker(account) for _ in range(workers))))

    simulation = Simulation(seed=seed, faults=faults, max_events=10_000_000)
    async def main() -> int:
        sim.note("the test starts", account=HOSTILE)
        return await checkout("alice")

    simulation.run(main())
    return simulation.trace


def test_the_report_of_a_heavy_fault_run_in_chromium(reg: registry.Registry, tmp_path: Path) -> None:
    chromium()
    trace = run_checkout(reg, workers=3, debits=4, faults="heavy", seed=2)
    faults = len(trace.faults())
    assert faults
    page = write_report(trace, tmp_path / "run.html", outcome="failed: AssertionError: a test failed")
    result, _ = selftest(page, tmp_path / "profile-1")
    calls = sum(1 for e in trace if e.kind == "dispatch")
    assert result["errors"] == []  # nothing thrown, nothing logged, and the hostile name injected nothing
    assert result["calls"] == calls and result["lanes"] == calls and result["lanesDrawn"] == calls
    assert result["markers"] == faults and result["markersDrawn"] == faults
    assert result["legendKinds"] == len({f.detail for f in trace.faults()})
    assert result["testLane"] and result["testMarked"]  # the test lane, on the failing path
    assert result["blame"] is not None  # no call failed: the header says the test itself did
    notes = sum(1 for e in trace if e.kind == "note")
    assert notes > 1 and result["notes"] == notes and result["notesDrawn"] == notes
    shot = tmp_path / "report.png"
    open_page(page, tmp_path / "profile-2", f"--screenshot={shot}")
    assert shot.stat().st_size > 10_000
    print(f"report screenshot: {shot}")


def test_a_report_of_10000_calls_opens_in_under_two_seconds(reg: registry.Registry, tmp_path: Path) -> None:
    chromium()
    trace = run_checkout(reg, workers=100, debits=100, faults="light", seed=0)
    calls = sum(1 for e in trace if e.kind == "dispatch")
    assert calls > 10_000
    page = write_report(trace, tmp_path / "big.html")
    result, wall = selftest(page, tmp_path / "profile")
    assert result["errors"] == []
    assert result["lanes"] == calls and result["lanesDrawn"] < 100  # only the rows in view are drawn
    assert result["sinceNavigationMs"] < 2000, result
    print(f"{calls} calls, {page.stat().st_size // 1024} KiB: page ready {result['sinceNavigationMs']} ms "
          f"after navigation (script {result['renderMs']} ms); Chromium start to exit {wall:.2f} s")
