"""Hypothesis strategies: let Hypothesis choose, and shrink, a simulation's faults.

``simulations(faults="heavy")`` draws `Simulation` objects whose every
decision (fault or not, latency, order of results) comes from Hypothesis. A
failing test shrinks toward the fewest faults, because each decision's
smallest draw is the benign one. The falsifying example prints the faults its
simulation injected and the trace file written for it::

    from hypothesis import given
    from sim.hypothesis import simulations

    @given(s=simulations())
    def test_transfer(s):
        s.run(transfer(100))
"""

from __future__ import annotations

import os
import random
import stat
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, note, settings, strategies as st
from hypothesis.control import current_build_context
from hypothesis.errors import InvalidArgument

from ._config import overrides
from ._faults import FaultProfile
from ._simulation import Simulation
from ._trace import Trace

__all__ = ["fast_settings", "simulation_settings", "simulations"]

TRACE_DIR_ENV = "DISPATCH_SIM_TRACE_DIR"


class _DrawnOrder(random.Random):
    """trio's random source under `simulations()`: Hypothesis draws each batch's task order.

    A drawn permutation shrinks toward the identity, so a failing example
    shrinks toward trio's plain spawn order as its faults shrink toward none.
    """

    def __init__(self, source: random.Random) -> None:
        super().__init__(0)
        self._source = source
        self.failure: BaseException | None = None

    def shuffle(self, x: list[Any]) -> None:  # type: ignore[override]
        if len(x) > 1 and self.failure is None:  # a batch of one has one order: no draw
            try:
                self._source.shuffle(x)
            except BaseException as exc:
                # Raised inside trio's scheduler, Hypothesis's own signals (the
                # example ran out of data) would become a TrioInternalError: keep
                # the order as it is and raise it once the run is over.
                self.failure = exc


class _DrawnSimulation(Simulation):
    """A Simulation drawn by Hypothesis; a failing final example reports its faults and trace."""

    async def main(self, main: Any) -> Any:
        # Also when the run itself passes: the test may fail on what follows,
        # and Hypothesis shows notes only for a failing final example.
        try:
            return await super().main(main)
        finally:
            self._report()
            order = self._task_order
            if isinstance(order, _DrawnOrder) and order.failure is not None:
                raise order.failure

    def _report(self) -> None:
        try:
            final = current_build_context().is_final
        except InvalidArgument:  # not inside a Hypothesis test
            return
        if not final:
            return
        nodeid = _current_pytest_test()
        if nodeid is not None:
            self.trace.header["pytest_nodeid"] = nodeid
            self.trace.header["test_id"] = nodeid
        self.trace.header["hypothesis"] = True
        path = save_private(self.trace, f"hypothesis-{self.trace.digest()[:16]}")
        note(f"dispatch-sim faults injected:\n{self.trace.describe_faults()}")
        note(f"dispatch-sim trace: {path}\n  replay: python -m sim replay {path}"
             f"\n  see it with: python -m sim show {path}")

    def __repr__(self) -> str:
        return f"simulations(faults={self.faults.name!r})"


def _current_pytest_test() -> str | None:
    # pytest names the running test in this variable ("path::test (call)"), for plugins.
    running = os.environ.get("PYTEST_CURRENT_TEST")
    return running.rsplit(" ", 1)[0] if running else None


def trace_directory() -> Path:
    """Where the trace of a falsifying example goes: ``--sim-trace-dir`` (or
    ``$DISPATCH_SIM_TRACE_DIR/dispatch-sim-traces``) when given, else a private directory of this user
    in the temporary folder (made 0700 by us, never through a symlink; if what is
    there is not ours and private, a fresh one from `tempfile.mkdtemp`)."""
    from_env = os.environ.get(TRACE_DIR_ENV)
    chosen = overrides.trace_dir or (Path(from_env) / "dispatch-sim-traces" if from_env else None)
    if chosen is not None:
        chosen.mkdir(parents=True, exist_ok=True)
        return chosen
    global _private
    if _private is None:
        _private = _private_directory(Path(tempfile.gettempdir()) / f"dispatch-sim-traces-{os.getuid()}")
    return _private


_private: Path | None = None


def _private_directory(path: Path) -> Path:
    try:
        os.mkdir(path, 0o700)
        return path
    except FileExistsError:
        pass
    info = os.lstat(path)  # lstat: a planted symlink is seen as one, not followed
    if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077:
        return path
    return Path(tempfile.mkdtemp(prefix="dispatch-sim-traces-"))


def save_private(trace: Trace, stem: str) -> Path:
    """Save `trace` as a new file ``stem[-N].cbor`` in `trace_directory()`: created with
    O_EXCL and O_NOFOLLOW (mode 0600), so nothing planted there is followed or overwritten."""
    directory = trace_directory()
    for n in range(1000):
        path = directory / (f"{stem}.cbor" if n == 0 else f"{stem}-{n}.cbor")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        os.close(fd)
        return trace.save(path)
    raise FileExistsError(f"no free trace file name for {stem!r} in {str(directory)!r}")


def fast_settings(parent: settings | None = None) -> settings:
    """The settings a simulation test needs to fail fast, over `parent` (the current default).

    - ``deadline=None``: a run's wall time says nothing (its clock is virtual), and on a
      loaded machine a deadline turns one failure into a flaky second one, with more
      runs to tell them apart;
    - no ``explain`` phase: it re-runs the failing example many times to say which
      draws matter, which for a simulation's hundreds of decisions costs more than
      the search and the shrink together;
    - the ``too_slow`` health check off: a simulation draws a decision per step.

    Everything else (``max_examples``, the database, shrinking toward the fewest
    faults) is the parent's.
    """
    base = parent if parent is not None else settings()
    return settings(
        base,
        deadline=None,
        phases=[phase for phase in base.phases if phase != Phase.explain],
        suppress_health_check=[*base.suppress_health_check, HealthCheck.too_slow],
    )


simulation_settings = fast_settings()
"""`fast_settings` over the default profile, as a decorator: ``@simulation_settings``
above ``@given``. The pytest plugin applies the same to every test that draws
`simulations()` and sets no settings of its own."""


def uses_simulations(test: Any) -> bool:
    """Whether `test` is a Hypothesis ``@given`` test drawing one of our strategies."""
    handle = getattr(test, "hypothesis", None)
    # Hypothesis keeps @given's strategies on the handle it attaches to the test.
    given = getattr(handle, "_given_kwargs", None)
    return isinstance(given, dict) and any(getattr(v, _MARK, False) for v in given.values())


_MARK = "_dispatch_sim_simulations"


def simulations(
    faults: str | FaultProfile = "heavy", **options: Any
) -> st.SearchStrategy[Simulation]:
    """Simulations whose decisions Hypothesis makes (and shrinks).

    `faults` and `options` are passed to `Simulation`; the seed only seeds
    the `random` module, the rest comes from Hypothesis: the faults, and
    trio's task order (each batch of runnable tasks is a drawn permutation),
    so both shrink.
    """
    profile = FaultProfile.coerce(faults)

    @st.composite
    def draw_simulation(draw: st.DrawFn) -> Simulation:
        simulation = _DrawnSimulation(faults=profile, rng=draw(st.randoms(use_true_random=False)), **options)
        # `_task_order` is the Simulation's hook for trio's order (this package's own);
        # under PCT it is already set, and its priorities order the tasks.
        if simulation._task_order is None:
            simulation._task_order = _DrawnOrder(draw(st.randoms(use_true_random=False)))
        return simulation

    strategy = draw_simulation()
    setattr(strategy, _MARK, True)  # how the pytest plugin recognises tests that draw simulations
    return strategy
