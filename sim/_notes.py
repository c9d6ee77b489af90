"""`sim.note`: a line user code adds to the trace, at the call whose code runs it.

The call is found through the call locators of `_where` (a note made in the
test's own code belongs to the test: its dispatch id and function are "").
"""

from __future__ import annotations

from typing import Any

from . import _codec
from ._events import NOTE
from ._simulation import _current
from ._where import here

__all__ = ["note"]


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
    did, function, attempt = here(simulation)
    service.trace._events.append((NOTE, service.now, did, function, attempt, None, None, (message, frozen)))
