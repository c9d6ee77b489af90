"""Resuming a polling call before its results are in, for endpoints.

An endpoint whose coroutine keeps working between attempts (a helper
awaiting trio) asks for the call's next attempt when that work has news:
new calls to make, or the function's end.
"""

from __future__ import annotations

from ._protocol import DispatchID
from ._simulation import _current

__all__ = ["resume_early"]


def resume_early(dispatch_id: DispatchID) -> None:
    """Resume the polling call `dispatch_id` now with whatever results are ready (maybe none).

    Like a poll's `max_wait_seconds` running out. Does nothing when the call
    is not polling (its next attempt is already on the way, or it ended, as
    every call has once its run is over) or when no simulation runs in this
    context.
    """
    simulation = _current.get()
    if simulation is not None:
        simulation._service.resume_early(dispatch_id)  # our own package's service
