"""BUGGIFY, after FoundationDB: code paths that misbehave on purpose, now and then, in simulation.

`buggify()` at a call site is true only inside a simulation whose profile
injects faults: each site (its file name and line) is activated once per run
with probability 0.25, and an active site fires with the probability given.
Both choices come from the run's decision source, so a seed replays them, a
trace file records them and Hypothesis shrinks them; each firing is a
``buggify`` event. The site is keyed by the file's name, not its path, so a
trace does not depend on where the project is checked out.
"""

from __future__ import annotations

import os
import sys

from ._events import BUGGIFY
from ._simulation import _current
from ._where import here

__all__ = ["buggify"]


def buggify(probability: float = 0.25) -> bool:
    """Whether this call site should misbehave now (never outside a simulation or without faults)."""
    if not (isinstance(probability, int | float) and 0.0 <= probability <= 1.0) or isinstance(probability, bool):
        raise ValueError(f"buggify(probability) must be within [0, 1], got {probability!r}")
    simulation = _current.get()
    if simulation is None:
        return False
    decisions = simulation.decisions
    if decisions.profile.is_none:
        return False
    caller = sys._getframe(1)  # the call site is the key; a frame lookup is the cheap way to it
    site = f"{os.path.basename(caller.f_code.co_filename)}:{caller.f_lineno}"
    active = simulation.buggify_sites.get(site)
    if active is None:
        active = simulation.buggify_sites[site] = decisions.buggify_active(site)
    if not active or not decisions.buggify_fires(site, probability):
        return False
    did, function, attempt = here(simulation)
    service = simulation._service  # the façade's own service: its clock and event sink
    service._event((BUGGIFY, service.now, did, function, attempt, None, site, None))
    return True
