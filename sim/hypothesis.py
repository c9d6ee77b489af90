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
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import note, strategies as st
from hypothesis.control import current_build_context
from hypothesis.errors import InvalidArgument

from ._faults import FaultProfile
from ._simulation import Simulation

__all__ = ["simulations"]

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
        directory = Path(os.environ.get(TRACE_DIR_ENV) or tempfile.gettempdir()) / "dispatch-sim-traces"
        path = self.trace.save(directory / f"hypothesis-{self.trace.digest()[:16]}.cbor")
        note(f"dispatch-sim faults injected:\n{self.trace.describe_faults()}")
        note(f"dispatch-sim trace: {path}\n  see it with: python -m sim show {path}")

    def __repr__(self) -> str:
        return f"simulations(faults={self.faults.name!r})"


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

    return draw_simulation()
