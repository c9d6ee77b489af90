"""`sim.note`: a line user code adds to the trace, at the call whose code runs it.

The simulator does not know which function's code is running (an endpoint
steps it); endpoints say so through a call locator (`register_call_locator`,
in `sim.lowlevel`): `registry` registers one that reads its own context. A
note made where no locator names a call (the test's own code) belongs to the
test: its dispatch id and function are "".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _codec
from ._events import NOTE
from ._protocol import DispatchID
from ._simulation import _current

__all__ = ["note", "register_call_locator"]

_locators: list[Callable[[], DispatchID | None]] = []


def register_call_locator(locator: Callable[[], DispatchID | None]) -> None:
    """Tell `note` how to find the call whose code is running: `locator()` returns
    its DispatchID, or None when none of this endpoint's calls is running here.

    Locators are asked in the order they were registered (registering one
    again does nothing); the first id that belongs to the running
    simulation wins.
    """
    if not callable(locator):
        raise TypeError(f"a call locator must be callable, not {type(locator).__qualname__}")
    if locator not in _locators:
        _locators.append(locator)


def note(message: str, **data: Any) -> None:
    """Add a line to the trace of the running simulation, at the current call.

    `message` is a str; each value of `data` goes through the canonical
    encoding, as call arguments do (a value that cannot be encoded raises
    SerializationError naming its key). Every view of the trace shows the
    note: ``show``, the HTML report (details and a marker on the lane) and
    the Perfetto export (an instant). Outside a simulation it does nothing.
    """
    simulation = _current.get()
    if simulation is None:
        return
    if not isinstance(message, str):
        raise TypeError(f"sim.note() takes a str message, not {type(message).__qualname__}")
    frozen = tuple((key, _codec.freeze(value, where=f"note value {key!r}")) for key, value in data.items())
    service = simulation._service  # the package's own: a note is an event like the service's
    rec = None
    for locate in _locators:
        found = locate()
        rec = service.records.get(found) if isinstance(found, str) else None
        if rec is not None:
            break
    if rec is None:
        event = (NOTE, service.now, "", "", 0, None, None, (message, frozen))
    else:
        event = (NOTE, service.now, rec.id, rec.function, rec.attempt, None, None, (message, frozen))
    service.trace._events.append(event)
