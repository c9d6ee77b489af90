"""The trace: every step of a simulation, in order, as small events.

Events are kept as plain tuples while the simulation runs and become `Event`
objects only when read. The digest is the SHA-256 of the canonical CBOR
encoding of the events, so two runs with the same digest took the same steps
at the same virtual times.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import attrs
import cbor2

__all__ = ["Event", "Trace"]


@attrs.frozen
class Event:
    """One step of a simulation.

    `kind` is one of: ``dispatch``, ``attempt``, ``fault``, ``poll``,
    ``resume``, ``retry``, ``tail_call``, ``crash``, ``outcome``. `status` is
    the status name for steps that have one, `detail` a short free text.
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


class Trace:
    """The ordered events of one simulation run. Iterable and sized."""

    __slots__ = ("header", "_events")

    def __init__(self, header: dict[str, Any] | None = None) -> None:
        self.header: dict[str, Any] = dict(header or {})
        self._events: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return (Event(*e) for e in self._events)

    def __getitem__(self, index: int) -> Event:
        return Event(*self._events[index])

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical CBOR encoding of the events."""
        return hashlib.sha256(cbor2.dumps(self._events, canonical=True)).hexdigest()

    def summary(self) -> str:
        """A few lines: calls, attempts, outcomes by status, virtual duration."""
        calls = attempts = 0
        outcomes: dict[str, int] = {}
        faults: dict[str, int] = {}
        end = 0.0
        for kind, time, _, _, _, status, detail in self._events:
            end = time
            if kind == "dispatch":
                calls += 1
            elif kind == "attempt":
                attempts += 1
            elif kind == "outcome":
                outcomes[status] = outcomes.get(status, 0) + 1
            elif kind == "fault":
                faults[detail] = faults.get(detail, 0) + 1
        by_status = ", ".join(f"{k}={v}" for k, v in sorted(outcomes.items())) or "none"
        lines = [
            f"calls: {calls}, attempts: {attempts}, events: {len(self._events)}",
            f"outcomes: {by_status}",
            f"virtual time: {end:.6f}s, digest: {self.digest()[:16]}",
        ]
        if faults:
            lines.append("faults: " + ", ".join(f"{k}={v}" for k, v in sorted(faults.items())))
        return "\n".join(lines)

    def format(self) -> str:
        """The whole timeline, one event a line."""
        return "\n".join(str(e) for e in self)
