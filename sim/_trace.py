"""The trace: every step of a simulation, in order, as small events.

Events are kept as plain tuples while the simulation runs and become `Event`
objects only when read (`_events` holds their schema and names). The digest
is the SHA-256 of the canonical CBOR encoding of the events, each with what
it carried replaced by its fingerprint (`_carried`), so two runs with the
same digest took the same steps at the same virtual times, and their calls
carried the same arguments, results and errors.

File format 2 added the events' data; a file of format 1 is refused with a
message saying to record it again.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections import Counter
from collections.abc import Iterator
from itertools import chain, compress, islice
from operator import itemgetter
from pathlib import Path
from typing import Any

import cbor2

from . import _codec, _events
from ._carried import Carried, fingerprint, stored_problem
from ._events import ATTEMPT, DISPATCH, FAULT, OUTCOME, Event
from ._trace_store import EventStore

_KIND, _DETAIL = itemgetter(0), itemgetter(6)  # an event row's kind and detail

__all__ = ["Event", "Trace"]

FILE_MAGIC = "dispatch-sim trace"
FILE_VERSION = 2
_EVENT_TYPES: tuple[Any, ...] = (
    str, (int, float), str, str, int, (str, type(None)), (str, type(None)), (dict, type(None)),
)  # fmt: skip


def _digest_form(event: tuple[Any, ...]) -> tuple[Any, ...]:
    # The event with its data replaced by the data's fingerprint (7-tuples, built
    # by hand in tests, count as carrying nothing). Most events carry nothing and
    # are their own digest form: no new tuple for them.
    if len(event) == 8:
        data = event[7]
        if data is None:
            return event
        return (*event[:7], fingerprint(event[0], data))
    data = event[7] if len(event) > 7 else None
    return (*event[:7], None if data is None else fingerprint(event[0], data))


_EIGHT = frozenset({8})


def _digest_of(forms: list[tuple[Any, ...]]) -> str:
    return hashlib.sha256(cbor2.dumps(forms, canonical=True)).hexdigest()


def _stored_form(event: tuple[Any, ...], summaries: dict[bytes, str]) -> tuple[Any, ...]:
    # The event as a file holds it: its data as fingerprint and summaries
    # (`summaries` shares the work between events that carried equal values).
    data = event[7] if len(event) > 7 else None
    return (*event[:7], None if data is None else Carried(event[0], data).stored(summaries))


def _canonical_key(key: str) -> tuple[int, bytes]:
    # The order canonical CBOR writes a map's keys in: shorter encodings first, then bytewise.
    encoded = cbor2.dumps(key)
    return len(encoded), encoded


_DOCUMENT_KEYS = sorted(("magic", "version", "header", "events", "digest", "checksum"), key=_canonical_key)


_SLICE = 1024  # events moved to the store at a time
_NO_STORE = EventStore()  # every trace's store until it moves events: never written to


class Trace:
    """The ordered events of one simulation run. Iterable and sized."""

    __slots__ = ("header", "_events", "_store", "_compacting", "_digest")

    def __init__(self, header: dict[str, Any] | None = None) -> None:
        self.header: dict[str, Any] = dict(header or {})
        # Events appended since the last `_compact` (the service appends tuples
        # here directly: one list append per event on the hot path), after the
        # ones in the compact store.
        self._events: list[tuple[Any, ...]] = []
        # Shared and empty until `_compact` first moves events (a short run never
        # does): making a store is a tenth of an empty seed's `Simulation()`.
        self._store = _NO_STORE
        self._compacting = True  # until an event the store cannot keep exactly arrives
        # (number of events, digest) when last computed: a trace only grows.
        self._digest: tuple[int, str] | None = None

    def _compact(self) -> None:
        """Move the buffered events into the compact store (the service calls this now and then).

        Whole slices of `_SLICE` events only: a short run (one seed of a sweep)
        keeps its few tuples, which cost less than storing them would, and a
        long one at most a slice of them.
        """
        events = self._events
        if len(events) < _SLICE or not self._compacting:
            return
        # In slices, so that the columns being built stay small next to the trace.
        if self._store is _NO_STORE:
            self._store = EventStore()
        moved = 0
        while moved + _SLICE <= len(events):
            if not self._store.take(events[moved : moved + _SLICE]):
                self._compacting = False  # odd events (built by hand) stay tuples, in order
                break
            moved += _SLICE
        del events[:moved]  # the same list: the service holds its append method

    def _rows(self) -> Iterator[tuple[Any, ...]]:
        # Every event as a tuple, in order: the store's, then the buffer's.
        if not self._store:  # a short run's: all still tuples
            return iter(self._events)
        return chain(self._store.rows(), self._events)

    def __len__(self) -> int:
        return len(self._store) + len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return _events.read(self._rows())

    def __getitem__(self, index: int) -> Event:
        if not isinstance(index, int):
            raise TypeError(f"trace indices must be integers, not {type(index).__qualname__}")
        stored = len(self._store)
        if index < 0:
            index += stored + len(self._events)
        if 0 <= index < stored:
            return _events.event(self._store.row(index))
        if index < 0:
            raise IndexError("trace index out of range")
        return _events.event(self._events[index - stored])

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical CBOR encoding of the events (their data as fingerprints)."""
        count = len(self)
        cached = self._digest
        if cached is None or cached[0] != count:
            cached = self._digest = (count, _digest_of(self._digest_forms()))
        return cached[1]

    def _digest_forms(self, stop: int | None = None) -> list[tuple[Any, ...]]:
        """The events (the first `stop` of them) as the digest encodes them."""
        store = self._store
        stored = len(store)
        if stop is None:
            stop = stored + len(self._events)
        if not stored:
            events = self._events[:stop]
            if set(map(len, events)) <= _EIGHT:
                # The service's 8-tuples, inline (no call per event): most carry
                # nothing and are their own digest form.
                return [e if e[7] is None else (*e[:7], fingerprint(e[0], e[7])) for e in events]
            return list(map(_digest_form, events))
        head = min(stop, stored)
        data = store.data()[:head]
        kinds = store.kinds()
        # Fingerprints only for the events that carried something (a few in four).
        prints = [None if d is None else fingerprint(k, d) for k, d in zip(kinds, data)]
        forms = list(islice(store.rows(prints), head))
        forms.extend(map(_digest_form, self._events[: max(0, stop - stored)]))
        return forms

    def summary(self) -> str:
        """A few lines: calls, attempts, outcomes by status, virtual duration."""
        calls = attempts = 0
        outcomes: dict[str, int] = {}
        faults: dict[str, int] = {}
        end = 0.0
        for event in self._rows():
            kind, time, status, detail = event[0], event[1], event[5], event[6]
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
            f"calls: {calls}, attempts: {attempts}, events: {len(self)}",
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
        return list(_events.read(e for e in self._rows() if e[0] == FAULT))

    def fault_counts(self) -> dict[str, int]:
        """How many faults of each kind were injected, by kind name (sorted)."""
        # Filtered and counted in C (a sweep asks this of every seed's trace).
        rows = list(self._rows())
        faults = compress(rows, map(FAULT.__eq__, map(_KIND, rows)))
        return dict(sorted(Counter(map(str, map(_DETAIL, faults))).items()))

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
        """Write the trace (header and events) as canonical CBOR; returns the path.

        Raises SerializationError or ValueError, writing nothing, when the
        header holds what `load` would refuse (values other than plain CBOR
        data, or nested deeper than `load` reads).
        """
        target = Path(path)
        # The codec's encoder bounds nesting (cbor2's own would overflow the
        # C stack on a header thousands of levels deep); the strict decoder
        # then refuses tags, so a saved file always loads.
        _codec.dumps(self.header, where="trace header")
        header = cbor2.dumps(self.header, canonical=True)
        try:
            _codec.loads_untrusted(header)
        except ValueError as exc:
            raise ValueError(f"cannot save a trace whose header would not load: {exc}") from None
        summaries: dict[bytes, str] = {}
        stored = [_stored_form(e, summaries) for e in self._rows()]
        count = len(stored)
        if self._digest is None or self._digest[0] != count:
            # The stored forms hold the fingerprints: no value is encoded twice.
            forms = [(*e[:7], None if e[7] is None else e[7]["hash"]) for e in stored]
            self._digest = (count, _digest_of(forms))
        # Each part encoded once, and the document put together from the parts
        # in canonical key order: the bytes `cbor2.dumps(document, canonical=True)`
        # writes, and the checksum `load` computes from them.
        events = cbor2.dumps(stored, canonical=True)
        parts = {
            "magic": cbor2.dumps(FILE_MAGIC),
            "version": cbor2.dumps(FILE_VERSION),
            "header": header,
            "events": events,
            "digest": cbor2.dumps(self._digest[1]),
            "checksum": cbor2.dumps(hashlib.sha256(b"\x82" + header + events).hexdigest()),
        }
        document = b"".join(chain((b"\xa6",), *((cbor2.dumps(k), parts[k]) for k in _DOCUMENT_KEYS)))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(document)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, max_size: int = _codec.UNTRUSTED_MAX_SIZE) -> Trace:
        """Read a trace written by `save`. Never executes code.

        The file is untrusted input: whatever it holds (missing, not a
        regular file, larger than *max_size* bytes, truncated, corrupt,
        crafted, of another format or version, events that do not match its
        digest) ends in a ValueError with a one-line reason, quickly and in
        bounded memory. FIFOs and devices are refused before they are
        opened; the document is decoded with no CBOR tags at all (the format
        writes none), bounded nesting and trailing bytes refused.
        """
        name = str(path)
        data = _read_regular_file(path, max_size)
        where = f"{name!r} is not a dispatch-sim trace"
        try:
            parsed = _codec.decode_untrusted(data, max_size=max_size)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        document = parsed.value
        if not isinstance(document, dict) or document.get("magic") != FILE_MAGIC:
            raise ValueError(f"{where}: no dispatch-sim header")
        version = document.get("version")
        if type(version) is int and 1 <= version < FILE_VERSION:
            raise ValueError(
                f"{name!r} was written by an older version of dispatch-sim (format {version}); "
                "re-run the test to record it again"
            )
        if type(version) is not int or version != FILE_VERSION:
            raise ValueError(
                f"{where} of version {FILE_VERSION}: it has version {_shown(document.get('version'))}"
            )
        header, events = document.get("header"), document.get("events")
        if not isinstance(header, dict) or not isinstance(events, list):
            raise ValueError(f"{where}: header or events missing")
        problem = _header_problem(header)
        if problem is not None:
            raise ValueError(f"{where}: its header is malformed: {problem}")
        trace = cls(header)
        for i, event in enumerate(events):
            if not (isinstance(event, list) and len(event) == len(_EVENT_TYPES)) or not all(
                isinstance(v, t) and not isinstance(v, bool) for v, t in zip(event, _EVENT_TYPES, strict=True)
            ):
                raise ValueError(f"{where}: event {i} is malformed: {_shown(event)}")
            if event[7] is not None:
                problem = stored_problem(event[7])
                if problem is not None:
                    raise ValueError(f"{where}: event {i} is malformed: {problem}")
            trace._events.append(tuple(event))
        trace._compact()
        if document.get("digest") != trace.digest():
            raise ValueError(f"{where}: its events do not match its digest (the file is corrupt)")
        # From the bytes as they are in the file (the canonical encodings
        # save() wrote), not by encoding the decoded values again.
        spans = dict(zip(document, parsed.parts[1::2]))
        checksum = hashlib.sha256(
            b"\x82" + data[slice(*spans["header"])] + data[slice(*spans["events"])]
        ).hexdigest()
        if document.get("checksum") != checksum:
            raise ValueError(f"{where}: its header does not match its checksum (the file is corrupt)")
        return trace


# The types of the header's keys that readers of a trace (show, replay)
# take as they are; other keys may hold any plain data. Whether the header
# describes a run (an int seed, decisions in [0, 1), a valid profile) is
# Simulation.from_trace's to check, with its own message.
_HEADER_TYPES: dict[str, tuple[type, ...]] = {
    "faults": (str, type(None)),
    "profile": (dict, type(None)),
    "test_id": (str, type(None)),
    "decisions": (list, type(None)),
    "versions": (dict, type(None)),
    "pytest_nodeid": (str, type(None)),
    "outcome": (str, type(None)),  # how the test ended, when the writer knew (pytest, sweeps)
}


def _header_problem(header: dict[Any, Any]) -> str | None:
    for key, value in header.items():
        if not isinstance(key, str):
            return f"key {_shown(key)} is not a str"
        types = _HEADER_TYPES.get(key)
        if types is not None and (not isinstance(value, types) or isinstance(value, bool)):
            return f"{key} is a {type(value).__name__}, not {' or '.join(t.__name__ for t in types)}"
    return None


def _shown(value: object, limit: int = 80) -> str:
    # repr of decoded data (no tags: plain containers and scalars), cut short.
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_regular_file(path: str | os.PathLike[str], max_size: int) -> bytes:
    """The bytes of the file at *path*, refusing anything but a regular file of at most *max_size* bytes."""
    name = str(path)

    def refuse(reason: str) -> ValueError:
        return ValueError(f"cannot read trace file {name!r}: {reason}")

    try:
        info = os.stat(path)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise refuse(getattr(exc, "strerror", None) or str(exc)) from None
    if not stat.S_ISREG(info.st_mode):
        raise refuse(f"not a regular file ({_file_kind(info.st_mode)})")
    if info.st_size > max_size:
        raise refuse(_too_large(info.st_size, max_size))
    # O_NONBLOCK: should the path be swapped for a FIFO after the check,
    # opening and reading it still cannot block.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise refuse("not a regular file")
        chunks = []
        left = max_size + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_size:
        raise refuse(_too_large(len(data), max_size))
    return data


def _too_large(size: int, max_size: int) -> str:
    return f"{size} bytes, more than the limit of {max_size} (Trace.load(path, max_size=...) reads larger files)"


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a file"
