"""Awaiting one call from the test, as the programming model does it: no CallResult on the way.

`Simulation.call_result` builds a public `CallResult` that a client reads two
fields of and drops. `call_outcome` hands back the outcome as ``(True,
value)`` or ``(False, Error)`` instead, the value thawed afresh as always.
"""

from __future__ import annotations

from typing import Any

from ._codec import _frozen
from ._codec import thaw as _thaw
from ._errors import SimulationError
from ._journal import ABANDONED, decode_error
from ._protocol import Call
from ._simulation import current

__all__ = ["call_outcome"]

_KEPT = _frozen._ATOMS  # the values freeze keeps, and thaw hands back, as they are


async def call_outcome(call: Call) -> tuple[bool, Any]:
    """Dispatch `call` in the running simulation (no caller) and wait for its outcome.

    Returns ``(True, value)`` or ``(False, Error)``; raises SimulationError
    if the call was abandoned, as ``Simulation.call_result`` does.
    """
    simulation = current()
    # The simulation's own parts, as its call_result uses them (this module is
    # that method without the CallResult): the service, and the bound wait.
    rec = simulation._service.dispatch_one(call)
    if rec.outcome is None:
        await simulation._wait_until(rec)
    outcome = rec.outcome
    assert outcome is not None
    kind, payload = outcome
    if kind == "value":
        # Atoms are their own copy: thaw would hand them back as they are.
        return True, payload if type(payload) in _KEPT else _thaw(payload)
    if outcome is ABANDONED:
        raise SimulationError(f"call {rec.id} ({rec.function}) was abandoned")
    return False, decode_error(payload)
