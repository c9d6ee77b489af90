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
- ``--sim-random-seeds``: start every test's seeds at a random base (printed
  at the start of the session); each failure's replay command names its seed.
- ``--sim-keep-traces``: keep the trace of every run, passing ones too.

A test whose seeds take more than a few seconds shows live progress: a
status line redrawn on a terminal, a plain line every few seconds otherwise.

A failing simulation test reports its seed, fault profile, trace digest, the
faults injected, the trace file, its HTML report, and the command that replays it.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import time
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

_PROGRESS = pytest.StashKey["_Progress"]()
_RANDOM_BASES = 2**31
_LISTED_FAULTS = 40
_QUIET = 3.0  # seconds a test's seeds run before progress shows
_REDRAW = 0.5
_PLAIN = 5.0


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
    group.addoption("--sim-random-seeds", action="store_true", default=False,
                    help="start every simulation test's seeds at a random base (printed)")
    group.addoption("--sim-keep-traces", action="store_true", default=False,
                    help="keep the trace file of every simulation run, passing ones too")


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
    base = None
    if config.getoption("--sim-random-seeds"):
        if seed is not None:
            raise pytest.UsageError("--sim-random-seeds and --sim-seed exclude each other")
        if seeds is not None and seeds.start != 0:
            raise pytest.UsageError("--sim-random-seeds picks where seeds start: give --sim-seeds=K, not A:B")
        # The operating system's randomness, not the random module: choosing seeds is
        # the user's run, not a decision inside a simulation.
        base = _random_base()
        if seeds is not None:
            seeds = range(base, base + len(seeds))
        else:
            overrides.seed_offset = base
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
    progress = _Progress(config, base, keep_traces=bool(config.getoption("--sim-keep-traces")))
    overrides.on_seed = progress.on_seed
    config.stash[_PROGRESS] = progress


def _random_base() -> int:
    return secrets.randbelow(_RANDOM_BASES)


def pytest_sessionstart(session: pytest.Session) -> None:
    progress = session.config.stash.get(_PROGRESS, None)
    if progress is not None and progress.base is not None:
        progress.line(f"dispatch-sim: random seeds start at {progress.base} (--sim-random-seeds)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[Any, Any, None]:
    progress = item.config.stash.get(_PROGRESS, None)
    if progress is None:
        yield
        return
    progress.begin(item)
    try:
        yield
    finally:
        progress.end()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Hypothesis tests drawing `simulations()` without settings of their own get
    `sim.hypothesis.fast_settings` (no deadline, no explain phase): a failure then
    reports in seconds, not a minute."""
    from .hypothesis import fast_settings, uses_simulations

    for item in items:
        test = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        if test is None or not uses_simulations(test):
            continue
        # Hypothesis marks a test given explicit @settings with this attribute, and reads
        # the test's settings from the other when it runs; no public way to do either.
        if getattr(test, "_hypothesis_internal_settings_applied", False):
            continue
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        test._hypothesis_internal_use_settings = fast_settings(current)


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


def trace_dir_of(config: pytest.Config) -> Path:
    """Where trace files go: ``--sim-trace-dir``, else pytest's cache folder."""
    if overrides.trace_dir is not None:
        return overrides.trace_dir
    cache = getattr(config, "cache", None)
    return Path(cache.mkdir("dispatch-sim-traces")) if cache else Path(".dispatch-sim-traces")


def _save(item: pytest.Item, simulation: Simulation) -> Path:
    trace = simulation.trace
    trace.header["pytest_nodeid"] = item.nodeid
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid).strip("_")[-120:]
    path = trace_dir_of(item.config) / f"{name}-seed{simulation.seed}-{trace.digest()[:12]}.cbor"
    return trace.save(path).resolve()


def _failure_text(item: pytest.Item, simulation: Simulation, error: BaseException) -> str:
    trace = simulation.trace
    path = _save(item, simulation)
    outcome = f"failed: {type(error).__name__}: {error}".splitlines()[0]
    report = write_report(trace, path.with_suffix(".html"), trace_path=path, outcome=outcome)
    command = f"pytest '{item.nodeid}' --sim-seed={simulation.seed}"
    if overrides.faults is not None:
        command += f" --sim-faults={overrides.faults}"
    for key, value in overrides.schedule_options().items():
        command += f" --sim-{key.replace('_', '-')}={value}"
    lines = [
        f"seed: {simulation.seed}",
        f"fault profile: {simulation.faults.name}",
        f"trace digest: {trace.digest()}",
    ]
    base = getattr(item.config.stash.get(_PROGRESS, None), "base", None)
    if base is not None:
        lines.append(f"random seeds started at: {base}")
    # The faults once: each of them when they fit a screen, else only by kind (the
    # error's note above has the counts; `show --faults` lists them all).
    count = len(trace.faults())
    if count <= _LISTED_FAULTS:
        lines.append("faults injected:")
        lines.extend(f"  {line}" for line in trace.describe_faults(limit=_LISTED_FAULTS).splitlines())
    else:
        kinds = ", ".join(f"{k}={v}" for k, v in trace.fault_counts().items())
        lines.append(f"faults injected: {count} ({kinds}); list them: python -m sim show {path} --faults")
    lines += [
        f"trace file: {path}",
        f"report: {report}",
        f"replay: {command}",
        f"   or: python -m sim replay {path}",
        *_shrunk_lines(error, path),
    ]
    return "\n".join(lines)


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


class _Progress:
    """Live progress of the seeds of the running test, and traces of passing runs.

    Nothing shows for a test whose seeds end within `_QUIET` seconds. After that,
    on a terminal a status line is redrawn at most every `_REDRAW` seconds (and
    erased when the test ends); elsewhere a plain line every `_PLAIN` seconds.
    """

    def __init__(self, config: pytest.Config, base: int | None, *, keep_traces: bool) -> None:
        self.config = config
        self.base = base
        self.keep_traces = keep_traces
        self.item: pytest.Item | None = None
        self.start = self.last = 0.0
        self.failures = 0
        self.drawn = False

    def begin(self, item: pytest.Item) -> None:
        self.item = item
        self.start = self.last = time.monotonic()
        self.failures = 0
        self.drawn = False

    def end(self) -> None:
        self._emit(None)
        self.item = None

    def on_seed(self, run: Any, done: int, total: int) -> None:
        item = self.item
        if item is None:
            return  # a simulation test called outside a pytest test (e.g. at import)
        self.failures += not run.ok
        if self.keep_traces:  # the first failure is saved again, with its report, by makereport
            _save(item, run.simulation)
        now = time.monotonic()
        if now - self.start < _QUIET or done == total:
            return
        reporter = self._reporter()
        tty = reporter is not None and reporter.isatty()
        if now - self.last < (_REDRAW if tty else _PLAIN) and self.last != self.start:
            return
        self.last = now
        rate = done / (now - self.start)
        left = (total - done) / rate if rate > 0 else 0.0
        text = (f"dispatch-sim: {item.nodeid}: {done}/{total} seeds, {self.failures} failed, "
                f"{rate:,.0f} seeds/s, about {left:,.0f} s left")
        if tty:
            self._emit(text, status=True)
        else:
            self.line(text)

    def _reporter(self) -> Any:
        return self.config.pluginmanager.get_plugin("terminalreporter")

    def line(self, text: str) -> None:
        """Write a line on pytest's terminal, around the output capture."""
        self._emit(text)

    def _emit(self, text: str | None, status: bool = False) -> None:
        # A status line is redrawn in place ("\r", erase to the end of the line) on a
        # line of its own; it is erased before anything else is written.
        reporter = self._reporter()
        if reporter is None or (text is None and not self.drawn):
            return
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            if self.drawn:
                reporter.write("\r\x1b[K")
                self.drawn = False
            if text is not None and status:
                reporter.ensure_newline()
                reporter.write(text)
                self.drawn = True
            elif text is not None:
                reporter.write_line(text)
            reporter.flush()
