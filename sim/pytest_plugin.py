"""The pytest plugin: seed, fault and trace options, and failure reports that replay.

Registered through the ``pytest11`` entry point, so installing dispatch-sim
is enough. Options:

- ``--sim-seed=N``: every simulation test runs with seed N only.
- ``--sim-seeds=K`` (or ``A:B``): every simulation test runs with seeds 0..K-1
  (A..B-1). A test with several seeds goes on past its first failure and
  reports the failure rate and the failures grouped by signature.
- ``--sim-max-failures=K``: stop a test's seeds after K failures.
- ``--sim-faults=PROFILE``: every simulation test uses this fault profile.
- ``--sim-trace-dir=DIR``: where the trace file of each failing run is kept
  (by default, pytest's cache folder).

A failing simulation test reports its seed, fault profile, trace digest, the
faults injected, the trace file, its HTML report, and the command that replays it.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from ._config import overrides
from ._faults import FaultProfile
from ._report import write_report
from ._sweep_cli import parse_seeds
from ._runner import failure_of
from ._shrink import shrunk_of
from ._simulation import Simulation

__all__: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dispatch-sim", "deterministic simulation (dispatch-sim)")
    group.addoption("--sim-seed", type=int, default=None, metavar="N",
                    help="run every simulation test with this seed only")
    group.addoption("--sim-seeds", default=None, metavar="K|A:B",
                    help="run every simulation test with seeds 0..K-1 (or A..B-1)")
    group.addoption("--sim-max-failures", type=int, default=None, metavar="K",
                    help="stop a test's seeds after K failures (default: run them all)")
    group.addoption("--sim-faults", default=None, metavar="PROFILE",
                    help="fault profile for every simulation test: none, light, heavy, swarm")
    group.addoption("--sim-trace-dir", default=None, metavar="DIR",
                    help="keep the trace file of every failing simulation run here")
    group.addoption("--sim-schedule", default=None, choices=["uniform", "pct"],
                    help="task and delivery order of every simulation test: uniform random or PCT")
    group.addoption("--sim-depth", type=int, default=None, metavar="D",
                    help="PCT bug depth: D-1 priority change points")
    group.addoption("--sim-pct-steps", type=int, default=None, metavar="K",
                    help="PCT's k: the steps its change points are drawn from")
    group.addoption("--sim-shrink", type=float, default=None, metavar="SECONDS",
                    help="shrink a failing simulation test to the faults it needs, within this time")


def pytest_configure(config: pytest.Config) -> None:
    seed = config.getoption("--sim-seed")
    seeds = config.getoption("--sim-seeds")
    faults = config.getoption("--sim-faults")
    trace_dir = config.getoption("--sim-trace-dir")
    if seed is not None and seeds is not None:
        raise pytest.UsageError("--sim-seed and --sim-seeds exclude each other")
    max_failures = config.getoption("--sim-max-failures")
    if seeds is not None:
        try:
            seeds = parse_seeds(seeds)
        except ValueError as exc:
            raise pytest.UsageError(f"--sim-seeds must be at least 1 seed: {exc}") from None
    if max_failures is not None and max_failures < 1:
        raise pytest.UsageError(f"--sim-max-failures must be at least 1, got {max_failures}")
    if faults is not None:
        try:
            FaultProfile.named(faults)
        except ValueError as exc:
            raise pytest.UsageError(f"--sim-faults: {exc}") from None
    overrides.seed = seed
    overrides.seeds = seeds
    overrides.faults = faults
    overrides.trace_dir = Path(trace_dir) if trace_dir else None
    overrides.max_failures = max_failures
    for name in ("depth", "pct_steps", "shrink"):
        value = config.getoption(f"--sim-{name.replace('_', '-')}")
        if value is not None and not value > 0:
            raise pytest.UsageError(f"--sim-{name.replace('_', '-')} must be positive, got {value}")
        setattr(overrides, name, value)
    overrides.schedule = config.getoption("--sim-schedule")


def pytest_unconfigure(config: pytest.Config) -> None:
    overrides.reset()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[Any, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or call.excinfo is None:
        return
    simulation = failure_of(call.excinfo.value)
    if simulation is None:
        return
    text = _failure_text(item, simulation, call.excinfo.value)
    longrepr = report.longrepr
    if hasattr(longrepr, "addsection"):
        longrepr.addsection("dispatch-sim", text)
    else:
        report.sections.append(("dispatch-sim", text))


def _failure_text(item: pytest.Item, simulation: Simulation, error: BaseException) -> str:
    trace = simulation.trace
    trace.header["pytest_nodeid"] = item.nodeid
    directory = overrides.trace_dir
    if directory is None:
        cache = getattr(item.config, "cache", None)
        directory = Path(cache.mkdir("dispatch-sim-traces")) if cache else Path(".dispatch-sim-traces")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid).strip("_")[-120:]
    path = trace.save(directory / f"{name}-seed{simulation.seed}-{trace.digest()[:12]}.cbor").resolve()
    outcome = f"failed: {type(error).__name__}: {error}".splitlines()[0]
    report = write_report(trace, path.with_suffix(".html"), trace_path=path, outcome=outcome)
    command = f"pytest '{item.nodeid}' --sim-seed={simulation.seed}"
    if overrides.faults is not None:
        command += f" --sim-faults={overrides.faults}"
    for key, value in overrides.schedule_options().items():
        command += f" --sim-{key.replace('_', '-')}={value}"
    # Every fault, once (the error's note only counts them by kind), up to a screenful.
    faults = "\n".join(f"  {line}" for line in trace.describe_faults(limit=40).splitlines())
    return "\n".join(
        [
            f"seed: {simulation.seed}",
            f"fault profile: {simulation.faults.name}",
            f"trace digest: {trace.digest()}",
            "faults injected:",
            faults,
            f"trace file: {path}",
            f"report: {report}",
            f"replay: {command}",
            f"   or: python -m sim replay {path}",
            *_shrunk_lines(error, path),
        ]
    )


def _shrunk_lines(error: BaseException, path: Path) -> list[str]:
    # When shrinking ran (--sim-shrink): the faults the failure needs, and its trace.
    shrunk = shrunk_of(error)
    if shrunk is None:
        return []
    minimal = shrunk.trace.save(path.with_suffix(".min.cbor"))
    lines = shrunk.summary().splitlines()
    return [
        f"shrunk: {lines[0]}",
        *(f"  {line}" for line in lines[1:]),
        "minimal faults:",
        *(f"  {line}" for line in shrunk.fault_lines()[:40]),
        f"minimal trace: {minimal}",
        f"   replay it: python -m sim replay {minimal}",
    ]
