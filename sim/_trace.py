"""The trace: every step of a simulation, in order, as small events.

Events are kept as plain tuples while the simulation runs and become `Event`
objects only when read (`_events` holds their schema and names). The digest is the SHA-256 of the canonical CBOR
encoding of the events, so two runs with the same digest took the same steps
at the same virtual times.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2

from . import _events
from ._events import ATTEMPT, DISPATCH, FAULT, OUTCOME, Event

__all__ = ["Event", "Trace"]

FILE_MAGIC = "dispatch-sim trace"
FILE_VERSION = 1
_EVENT_TYPES: tuple[Any, ...] = (str, (int, float), str, str, int, (str, type(None)), (str, type(None)))


def _checksum(header: dict[str, Any], events: list[Any]) -> str:
    return hashlib.sha256(cbor2.dumps([header, events], canonical=True)).hexdigest()


class Trace:
    """The ordered events of one simulation run. Iterable and sized."""

    __slots__ = ("header", "_events")

    def __init__(self, header: dict[str, Any] | None = None) -> None:
        self.header: dict[str, Any] = dict(header or {})
        self._events: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return _events.read(self._events)

    def __getitem__(self, index: int) -> Event:
        if not isinstance(index, int):
            raise TypeError(f"trace indices must be integers, not {type(index).__qualname__}")
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
            if kind == DISPATCH:
                calls += 1
            elif kind == ATTEMPT:
                attempts += 1
            elif kind == OUTCOME:
                label = status or detail or "unknown"
                outcomes[label] = outcomes.get(label, 0) + 1
            elif kind == FAULT:
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

    def faults(self) -> list[Event]:
        """The injected faults, in order."""
        return list(_events.read(e for e in self._events if e[0] == FAULT))

    def describe_faults(self, limit: int = 8) -> str:
        """One line per injected fault (at most `limit`, then a count of the rest)."""
        faults = self.faults()
        if not faults:
            return "no faults injected"
        lines = [
            f"{f.detail} on {f.dispatch_id} {f.function} attempt {f.attempt}"
            + (f" ({f.status})" if f.status else "")
            + f" at t={f.time:.6f}"
            for f in faults[:limit]
        ]
        if len(faults) > limit:
            lines.append(f"... and {len(faults) - limit} more")
        return "\n".join(lines)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the trace (header and events) as canonical CBOR; returns the path."""
        target = Path(path)
        document = {
            "magic": FILE_MAGIC,
            "version": FILE_VERSION,
            "header": self.header,
            "events": self._events,
            "digest": self.digest(),
            "checksum": _checksum(self.header, self._events),
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(cbor2.dumps(document, canonical=True))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Trace:
        """Read a trace written by `save`. Never executes code.

        A file that is missing, truncated, corrupt, of another format or
        version, or whose events do not match its digest raises ValueError
        with a one-line reason.
        """
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read trace file {str(path)!r}: {exc.strerror or exc}") from None
        where = f"{str(path)!r} is not a dispatch-sim trace"
        try:
            document = cbor2.loads(data)
        except Exception as exc:  # cbor2 raises several types for bad input
            raise ValueError(f"{where}: {type(exc).__name__}: {exc}") from None
        if not isinstance(document, dict) or document.get("magic") != FILE_MAGIC:
            raise ValueError(f"{where}: no dispatch-sim header")
        version = document.get("version")
        if type(version) is not int or version != FILE_VERSION:
            raise ValueError(
                f"{where} of version {FILE_VERSION}: it has version {document.get('version')!r}"
            )
        header, events = document.get("header"), document.get("events")
        if not isinstance(header, dict) or not isinstance(events, list):
            raise ValueError(f"{where}: header or events missing")
        trace = cls(header)
        for i, event in enumerate(events):
            if not (isinstance(event, list) and len(event) == 7) or not all(
                isinstance(v, t) and not isinstance(v, bool) for v, t in zip(event, _EVENT_TYPES, strict=True)
            ):
                raise ValueError(f"{where}: event {i} is malformed: {event!r:.80}")
            trace._events.append(tuple(event))
        if document.get("digest") != trace.digest():
            raise ValueError(f"{where}: its events do not match its digest (the file is corrupt)")
        if document.get("checksum") != _checksum(header, events):
            raise ValueError(f"{where}: its header does not match its checksum (the file is corrupt)")
        return trace
