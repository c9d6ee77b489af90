"""Where user code is running: the simulation and the call, for properties and buggify.

The simulator does not know which registered function's body is running
(the programming model steps coroutines itself), so the model installs a
locator with `set_call_locator` that names the current call's DispatchID.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._simulation import Simulation

__all__ = ["here", "set_call_locator"]

_locator: list[Callable[[], str | None]] = []


def set_call_locator(locator: Callable[[], str | None]) -> None:
    """Install the function that returns the DispatchID of the call running now (None: none)."""
    _locator[:] = [locator]


def here(simulation: Simulation) -> tuple[str, str, int]:
    """(dispatch id, function, attempt) of the call running now; ("", "", 0) in the test body."""
    did = _locator[0]() if _locator else None
    rec: Any = simulation._service.records.get(did) if did else None  # the façade's own service
    if rec is None:
        return "", "", 0
    return rec.id, rec.function, rec.attempt
