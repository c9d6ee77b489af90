"""The trace's compact store: events as columns, repeated fields interned, rows rebuilt on demand.

A running simulation appends each event as a plain tuple (`_events` gives the
fields) to its trace's buffer, which costs the hot path one list append. From
time to time (each window of the service's cap checks, and when the run ends)
the trace moves the buffered tuples here, where an event costs about 20 bytes
instead of the ~115 of a tuple and its list slot:

- the fields many events share (kind, function, attempt, status, detail) as
  one 4-byte code into a table of the distinct combinations seen;
- the time as runs: each value is kept once per stretch of consecutive events
  holding that very object (the service reuses one float until time moves);
- the dispatch id and `data` as one reference per event, to the objects the
  service already held;
- the caller's id a DISPATCH event carries as its detail apart, once per such
  event (where it is not None), so that a run makes no new combination per
  caller: the combination holds a placeholder for it instead.

Rows come back as the same 8-tuples, with the very objects that went in, so no
digest and no reader can tell. The moving is done by C-implemented builtins
(`zip`, `map`, `itertools`), not a Python loop per event. Only events whose
fields have the types the service writes (8 fields: str kinds, str or None
names, an int attempt) can be stored exactly this way; `take` refuses a
batch holding anything else and the trace keeps such events as tuples.
"""

from __future__ import annotations

import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from itertools import chain, compress, repeat
from operator import and_, getitem, is_, is_not, sub
from typing import Any

from ._events import DISPATCH as _DISPATCH  # the one kind whose detail (a caller's id) is kept apart

__all__ = ["EventStore"]

_CODE = "I" if array.array("I").itemsize >= 4 else "L"  # at least 32 bits for codes and indices
_NAME_TYPES = frozenset({str, type(None)})
_FIRST = object()  # what no event holds: the first event always starts a run


class _Caller:
    """The type of `_CALLER`: one repr in every process (a store's combinations print alike)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<the event's caller>"


_CALLER = _Caller()  # a combination's detail where its events' details are kept apart (callers' ids)


class _Inexact(Exception):
    """A shape with a field of another type than the service writes: the batch is refused."""


class _Runs:
    """One field of every event as runs of the same object: values and where each run starts."""

    __slots__ = ("values", "starts")

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.starts = array.array(_CODE)

    def extend(self, start: int, column: tuple[Any, ...]) -> None:
        values = self.values
        last = values[-1] if values else _FIRST
        # Where a value is not the very object before it (identity, not
        # equality: 0.0 and -0.0 or 1 and 1.0 must come back as they went in).
        changes = list(map(is_not, column, chain((last,), column)))
        self.starts.extend(compress(range(start, start + len(column)), changes))
        values.extend(compress(column, changes))

    def at(self, index: int) -> Any:
        return self.values[bisect_right(self.starts, index) - 1]

    def expand(self, count: int) -> Iterator[Any]:
        """The field of the first `count` events (as many as the store held when asked)."""
        starts = self.starts
        runs = bisect_right(starts, count - 1) if count else 0
        ends = chain(starts[1:runs], (count,))
        return chain.from_iterable(map(repeat, self.values[:runs], map(sub, ends, starts[:runs])))


class _Shapes(dict[tuple[Any, ...], int]):
    """The distinct (kind, function, attempt, status, detail) combinations, numbered as first seen.

    A detail of `_CALLER` stands for the event's own, kept in the store's `_callers`.
    """

    __slots__ = ("rows", "_fields")

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[Any, ...]] = []
        self._fields: tuple[tuple[Any, ...], ...] = ((), (), (), (), ())

    def __missing__(self, shape: tuple[Any, ...]) -> int:
        # Only for a combination not seen before (the lookups of the others stay
        # in C): a run has a few dozen of them.
        kind, function, _, status, detail = shape
        if type(kind) is not str or not {type(function), type(status)} <= _NAME_TYPES:
            raise _Inexact
        if detail is not _CALLER and type(detail) not in _NAME_TYPES:
            raise _Inexact
        code = self[shape] = len(self.rows)
        self.rows.append(shape)
        return code

    def fields(self) -> tuple[tuple[Any, ...], ...]:
        """Each field of every combination, by code: (kinds, functions, attempts, statuses, details)."""
        if len(self._fields[0]) != len(self.rows):
            self._fields = tuple(zip(*self.rows)) if self.rows else ((), (), (), (), ())
        return self._fields


class EventStore:
    """Events in compact columns; `take` moves tuples in, `rows` and `row` rebuild them."""

    __slots__ = ("_codes", "_shapes", "_times", "_ids", "_data", "_callers")

    def __init__(self) -> None:
        self._codes = array.array(_CODE)
        self._shapes = _Shapes()
        self._times = _Runs()
        # One reference per event: runs of ids (a call's few events) save less than they cost.
        self._ids: list[Any] = []
        self._data: list[Any] = []
        # The callers' ids of DISPATCH events, as runs each such event starts
        # (the first, of None, covers the events before any): expanded, the
        # column holds every event's caller where its combination says _CALLER.
        self._callers = _Runs()
        self._callers.values.append(None)
        self._callers.starts.append(0)

    def __len__(self) -> int:
        return len(self._codes)

    def take(self, events: list[tuple[Any, ...]]) -> bool:
        """Append `events` (8-tuples); False, storing none of them, unless all can be kept exactly."""
        if not events:
            return True
        try:
            # strict: events of unequal lengths raise rather than lose their last fields.
            columns = tuple(zip(*events, strict=True))
        except (TypeError, ValueError):  # not sequences, or not all of one length (built by hand)
            return False
        if len(columns) != 8:
            return False
        kinds, times, ids, functions, attempts, statuses, details, data = columns
        # An attempt of True or 1.0 would find the shape of attempt 1 (they are
        # equal) and come back as 1: only exact ints are stored. The other
        # fields of a shape are checked once, when the shape is first seen.
        if set(map(type, attempts)) != {int}:
            return False
        # A DISPATCH event with a caller keeps its caller's id apart (see `_callers`):
        # the detail of its combination is _CALLER, picked by the flag (False, True)
        # as an index into (detail, _CALLER), all in C.
        apart = list(map(and_, map(is_, kinds, repeat(_DISPATCH)), map(is_not, details, repeat(None))))
        callers = list(compress(details, apart))
        if callers and set(map(type, callers)) != {str}:
            return False
        codes = self._codes
        start = len(codes)
        keyed = map(getitem, zip(details, repeat(_CALLER)), apart)
        try:
            codes.extend(map(self._shapes.__getitem__, zip(kinds, functions, attempts, statuses, keyed)))
        except _Inexact:
            del codes[start:]
            return False
        if callers:
            self._callers.starts.extend(compress(range(start, start + len(apart)), apart))
            self._callers.values.extend(callers)
        self._times.extend(start, times)
        self._ids.extend(ids)
        self._data.extend(data)
        return True

    def rows(self, data: Iterable[Any] | None = None) -> Iterator[tuple[Any, ...]]:
        """The stored events as 8-tuples, in order (with `data`, those values in the last field instead)."""
        count = len(self._codes)
        codes = self._codes[:count]
        kind, function, attempt, status, detail = self._shapes.fields()
        details: Iterator[Any] = map(detail.__getitem__, codes)
        if len(self._callers.values) > 1:
            # Where the combination says _CALLER, the event's own from `_callers`.
            flags = tuple(map(is_, detail, repeat(_CALLER)))
            details = map(getitem, zip(details, self._callers.expand(count)), map(flags.__getitem__, codes))
        return zip(
            map(kind.__getitem__, codes),
            self._times.expand(count),
            self._ids[:count],
            map(function.__getitem__, codes),
            map(attempt.__getitem__, codes),
            map(status.__getitem__, codes),
            details,
            self._data[:count] if data is None else data,
        )

    def row(self, index: int) -> tuple[Any, ...]:
        """The event at `index` (0 <= index < len) as an 8-tuple."""
        code = self._codes[index]
        kind, function, attempt, status, detail = self._shapes.fields()
        own = detail[code]
        if own is _CALLER:
            own = self._callers.at(index)
        return (
            kind[code], self._times.at(index), self._ids[index], function[code],
            attempt[code], status[code], own, self._data[index],
        )  # fmt: skip

    def kinds(self) -> Iterator[str]:
        """The kind of each stored event, in order."""
        return map(self._shapes.fields()[0].__getitem__, self._codes[: len(self._codes)])

    def data(self) -> list[Any]:
        """What each stored event carried (None for most), in order: the list itself, not a copy."""
        return self._data
