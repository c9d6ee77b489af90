"""The trace's event schema: the `Event` record and every name an event uses, said once.

While a simulation runs, an event is a plain 8-tuple in the field order of
`Event` (kind, time, dispatch id, function, attempt, status, detail, data):
the service appends tuples and readers get `Event` records.

`data` is what the event carried (None for most events): a reference to a
value the service already holds (a frozen input, a raw outcome, an Error,
a note's frozen values; `_carried` lists them), never copied or rendered on
the hot path. Readers see it as a `Carried` mapping of bounded text
summaries (``args``, ``result``, ``error``, ``message``, ``data``) rendered
on first use; a trace file stores ``{"hash": 16 bytes, key: text, ...}``:
the first bytes of the SHA-256 of the canonical encoding, and the
summaries. The digest encodes each event with its data replaced by that
hash, so it covers arguments, results, errors and notes (never tracebacks,
which name paths of the checkout). Trace files of format 2 hold 8-field
events; format 1 (7 fields, no data) is refused with a message saying to
record the run again.

The names below are plain `str` constants rather than enum members on
purpose: a module constant costs the hot path no more than a literal does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final

import attrs

from ._carried import Carried

__all__ = [
    "ABANDONED",
    "ABORTED",
    "ATTEMPT",
    "ATTEMPT_START",
    "BUGGIFY",
    "CRASH",
    "DISPATCH",
    "ENDPOINT_ERROR",
    "FAULT",
    "FAULT_DETAILS",
    "KINDS",
    "NOTE",
    "OUTCOME",
    "POLL",
    "PROPERTY",
    "REPLAY_BUDGET",
    "RESPONSE_LOST",
    "RETRY",
    "TAIL_CALL",
    "Carried",
    "UNAWAITED",
    "Event",
    "event",
    "read",
]

# -- kinds ---------------------------------------------------------------------

DISPATCH: Final = "dispatch"
"""A call was accepted. detail: the caller's dispatch id (None for a top-level call)."""
ATTEMPT: Final = "attempt"
"""An attempt ended. status: OK, an error status, POLL or TAIL_CALL; detail: more about it."""
FAULT: Final = "fault"
"""A fault was injected. detail: which kind (one of FAULT_DETAILS)."""
RETRY: Final = "retry"
"""A failed attempt will be retried. status: why it failed."""
OUTCOME: Final = "outcome"
"""The call ended. status: its final status; detail ABANDONED for a call the run left unfinished."""

UNAWAITED: Final = "unawaited"
"""A call a function created was dropped without being awaited, so it never ran.
dispatch id, function, attempt: the function that created it; detail: the call's function.
(Where in the source it was created goes to the RuntimeWarning, not the trace.)"""

ATTEMPT_START: Final = "start"
"""An attempt began: the service sent the request (first attempt, retry or resume).
Its `attempt` event (or a fault that ends it) follows, so attempts are spans."""
NOTE: Final = "note"
"""User code called `sim.note`. dispatch id and function: the call whose code ran it
("" for the test itself); data: the message and the values."""

PROPERTY: Final = "property"
"""A property (`sim.always`, `sometimes`, `reachable`, `unreachable`) was evaluated.
status: HELD, FAILED, UNMET (a sometimes whose condition was false) or REACHED;
detail: which property, its message and its details (canonically encoded)."""
BUGGIFY: Final = "buggify"
"""A `sim.buggify` call site fired. detail: the site (``file.py:LINE``)."""

REPLAY_BUDGET: Final = "replay_budget"
"""A crash, or the loss of a resume's response, was drawn for a call but not injected:
rebuilding the call would pass its replay budget (see `sim._faults.REPLAY_FREE_STEPS`).
detail: CRASH or RESPONSE_LOST."""

KINDS: Final = (
    DISPATCH, ATTEMPT, FAULT, RETRY, OUTCOME, UNAWAITED, ATTEMPT_START, NOTE, PROPERTY, BUGGIFY, REPLAY_BUDGET
)

# -- statuses an attempt event carries besides the Status names ----------------

POLL: Final = "POLL"
"""The attempt suspended on a poll. detail: how many calls it made."""
TAIL_CALL: Final = "TAIL_CALL"
"""The attempt handed the call over to another function. detail: that function."""

# -- details -------------------------------------------------------------------

# The fault details are the names of the FaultProfile fields that inject them.
ENDPOINT_ERROR: Final = "endpoint_error"
RESPONSE_LOST: Final = "response_lost"
CRASH: Final = "crash"
FAULT_DETAILS: Final = (ENDPOINT_ERROR, RESPONSE_LOST, CRASH)

ABANDONED: Final = "abandoned"
"""The detail of the outcome of a call still in flight when the run ended."""

ABORTED: Final = "aborted"
"""The outcome detail, as ``aborted: <exception type>``, of a call still in flight when the
run ended abnormally (a cap, an exception that stopped the run); the trace header's
``aborted`` entry says why in full."""


@attrs.frozen
class Event:
    """One step of a simulation.

    `kind` is one of: ``dispatch`` (detail: the caller's id), ``attempt``
    (status: OK, an error status, POLL or TAIL_CALL), ``fault`` (detail:
    endpoint_error, response_lost or crash), ``retry`` and ``outcome``
    (status: the final status; detail ``abandoned`` for a call the run left
    unfinished), ``start`` (an attempt began) and ``note``. `status` is a status name
    or None, `detail` a short text, `data` what the event carried (a
    `Carried` mapping of summaries) or None.
    """

    kind: str
    time: float
    dispatch_id: str
    function: str
    attempt: int
    status: str | None = None
    detail: str | None = None
    data: Carried | None = None

    def __str__(self) -> str:
        parts = [f"{self.time:12.6f}", f"{self.dispatch_id:>6}", f"{self.kind:<9}", self.function]
        if self.attempt:
            parts.append(f"#{self.attempt}")
        if self.status:
            parts.append(self.status)
        if self.detail:
            parts.append(f"({self.detail})")
        if self.data:
            parts.append(self.data.text())
        return " ".join(parts)


def event(raw: tuple[Any, ...]) -> Event:
    """The `Event` record of one stored event tuple."""
    # Tuples of 7 (no data) are read too: tests and older code build them by hand.
    data = raw[7] if len(raw) > 7 else None
    kind, time, dispatch_id, function, attempt, status, detail = raw[:7]
    return Event(kind, time, dispatch_id, function, attempt, status, detail, None if data is None else Carried(kind, data))


def read(raw: Iterable[tuple[Any, ...]]) -> Iterator[Event]:
    """`Event` records from stored event tuples, in order (what exporters read)."""
    return (event(e) for e in raw)
