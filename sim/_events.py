"""The trace's event schema: the `Event` record and every name an event uses, said once.

While a simulation runs, an event is a plain 7-tuple in the field order of
`Event` (kind, time, dispatch id, function, attempt, status, detail): the
service appends tuples, which is what the digest encodes, and readers get
`Event` records. The names below are plain `str` constants rather than enum
members on purpose: the encoded trace must stay byte-identical, and a module
constant costs the hot path no more than a literal does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final

import attrs

__all__ = [
    "ABANDONED",
    "ABORTED",
    "ATTEMPT",
    "CRASH",
    "DISPATCH",
    "ENDPOINT_ERROR",
    "FAULT",
    "FAULT_DETAILS",
    "KINDS",
    "OUTCOME",
    "POLL",
    "REPLAY_BUDGET",
    "RESPONSE_LOST",
    "RETRY",
    "TAIL_CALL",
    "UNAWAITED",
    "Event",
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

REPLAY_BUDGET: Final = "replay_budget"
"""A crash, or the loss of a resume's response, was drawn for a call but not injected:
rebuilding the call would pass its replay budget (see `sim._faults.REPLAY_FREE_STEPS`).
detail: CRASH or RESPONSE_LOST."""

KINDS: Final = (DISPATCH, ATTEMPT, FAULT, RETRY, OUTCOME, UNAWAITED, REPLAY_BUDGET)

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
    unfinished). `status` is a status name or None, `detail` a short text.
    """

    kind: str
    time: float
    dispatch_id: str
    function: str
    attempt: int
    status: str | None = None
    detail: str | None = None

    def __str__(self) -> str:
        parts = [f"{self.time:12.6f}", f"{self.dispatch_id:>6}", f"{self.kind:<9}", self.function]
        if self.attempt:
            parts.append(f"#{self.attempt}")
        if self.status:
            parts.append(self.status)
        if self.detail:
            parts.append(f"({self.detail})")
        return " ".join(parts)


def read(raw: Iterable[tuple[Any, ...]]) -> Iterator[Event]:
    """`Event` records from stored event tuples, in order (what exporters read)."""
    return (Event(*e) for e in raw)
