"""Awaiting one call from the test, as the programming model does it: no CallResult on the way.

`Simulation.call_result` builds a public `CallResult` that a client reads two
fields of and drops. `call_value` returns the value instead (thawed afresh, as
always) or raises the exception its caller makes of the Error, so a client's
``await fn(x)`` is this one coroutine; `wait_value` does the same for a call
dispatched before, by its DispatchID, where `Simulation.wait_result` would
build the CallResult.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._codec import _frozen
from ._codec import thaw as _thaw
from ._errors import SimulationError
from ._journal import ABANDONED, decode_error
from ._protocol import Call, DispatchID, Error
from ._records import _Record
from ._simulation import current

__all__ = ["call_value", "wait_value"]

_KEPT = _frozen._ATOMS  # the values freeze keeps, and thaw hands back, as they are


async def call_value(call: Call, exception_for: Callable[[Error], BaseException]) -> Any:
    """Dispatch `call` in the running simulation (no caller) and wait for its outcome.

    Returns the value, or raises ``exception_for(error)``; raises
    SimulationError if the call was abandoned, as ``Simulation.call_result``
    does.
    """
    __tracebackhide__ = True  # pytest: a failure shows the test's and the function's frames
    # The simulation's own parts, as its call_result uses them (this module is
    # that method without the CallResult), and its caller's raise: one coroutine, where a client's
    # await of a call would otherwise be two.
    simulation = current()
    rec = simulation._service.dispatch_one(call)
    if rec.outcome is None:
        await simulation._wait_until(rec)
    return _value_of(rec, exception_for)


async def wait_value(dispatch_id: DispatchID, exception_for: Callable[[Error], BaseException]) -> Any:
    """Wait for the outcome of the call `dispatch_id` in the running simulation.

    Returns the value, or raises ``exception_for(error)``; raises ValueError
    for an id the simulation never gave, and SimulationError if the call was
    abandoned, as `Simulation.wait_result` does.
    """
    __tracebackhide__ = True  # pytest: a failure shows the test's and the function's frames
    simulation = current()
    rec = simulation._service.records.get(dispatch_id) if isinstance(dispatch_id, str) else None
    if rec is None:
        raise ValueError(f"unknown dispatch id {dispatch_id!r} in this simulation")
    if rec.outcome is None:
        await simulation._wait_until(rec)
    return _value_of(rec, exception_for)


def _value_of(rec: _Record, exception_for: Callable[[Error], BaseException]) -> Any:
    # The value of a call that has its outcome, or the exception for its error raised.
    __tracebackhide__ = True  # pytest: a failure shows the test's and the function's frames
    outcome = rec.outcome
    assert outcome is not None
    kind, payload = outcome
    if kind == "value":
        # Atoms are their own copy: thaw would hand them back as they are.
        return payload if type(payload) in _KEPT else _thaw(payload)
    if outcome is ABANDONED:
        raise SimulationError(f"call {rec.id} ({rec.function}) was abandoned")
    raise exception_for(decode_error(payload))
