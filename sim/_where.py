"""Where user code is running: the call whose code runs now, for notes, properties and buggify.

The simulator does not know which registered function's body is running (an
endpoint steps its coroutines itself), so endpoints tell it through a call
locator (`register_call_locator`, in `sim.lowlevel`): `registry` registers one
that reads its own context. Code where no locator names a call (the test's
own) belongs to the test: its dispatch id and function are "".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._simulation import Simulation

__all__ = ["here", "register_call_locator"]

_locators: list[Callable[[], str | None]] = []


def register_call_locator(locator: Callable[[], str | None]) -> None:
    """Tell the simulator how to find the call whose code is running: `locator()`
    returns its DispatchID, or None when none of this endpoint's calls is running here.

    Locators are asked in the order they were registered (registering one
    again does nothing); the first id that belongs to the running
    simulation wins.
    """
    if not callable(locator):
        raise TypeError(f"a call locator must be callable, not {type(locator).__qualname__}")
    if locator not in _locators:
        _locators.append(locator)


def here(simulation: Simulation) -> tuple[str, str, int]:
    """(dispatch id, function, attempt) of the call running now; ("", "", 0) in the test's code."""
    records = simulation._service.records  # the façade's own service
    for locate in _locators:
        found = locate()
        rec: Any = records.get(found) if isinstance(found, str) else None
        if rec is not None:
            return rec.id, rec.function, rec.attempt
    return "", "", 0
