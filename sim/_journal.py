"""The per-call journal: what the service sent to a suspended function, step by step.

A function that lost its in-memory state is rebuilt from its journal: re-run
from its input, with every journaled result replayed in the order it was
first delivered.

This module also owns the raw outcome of a call, the one form in which the
service keeps it: ``("value", frozen value)``, ``("error", (status, type,
message, exception bytes or None, traceback bytes or None))`` or
``ABANDONED``. The traceback holds file paths of the checkout: it is for
people reading a failure, never for digests or replay comparisons. Values stay
serialized, so that every reader gets its own copy. Only the functions below
build or take apart that tuple.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import attrs

from . import _codec
# The frozen form of the commonest input, read by same_input's fast path: the
# journal and the codec are one package's, and the public `same` would make a
# frozen copy of every input a rebuild compares.
from ._codec import _frozen
from ._protocol import Arguments, CallResult, Error
from ._status import Status

__all__ = ["Journal", "JournalCall", "JournalStep", "same_input"]

_thaw = _codec.thaw  # bound once: every delivered value is thawed
_freeze, _same = _codec.freeze, _codec.same  # bound once: a rebuild compares every journaled call
_FrozenArguments = _frozen._FrozenArguments

RawOutcome: TypeAlias = tuple[str, Any]
"""A call's outcome as the service keeps it (see the module docstring)."""

StoredResult: TypeAlias = tuple[Any, Any, RawOutcome]
"""A child's result waiting for (or handed to) a resume: (correlation id, dispatch id, outcome)."""

ABANDONED: RawOutcome = ("abandoned", None)
"""The outcome of a call the run left unfinished."""


def value_outcome(frozen: object) -> RawOutcome:
    """The outcome of a call that returned the (frozen) value."""
    return ("value", frozen)


def error_outcome(error: Error) -> RawOutcome:
    """The outcome of a call that failed with `error` (its exception kept if it serializes)."""
    value = None
    if error.value is not None:
        try:
            value = _codec.dumps(error.value, where="error")
        except _codec.SerializationError:
            value = None
    return ("error", (int(error.status), error.type, error.message, value, error.traceback))


@attrs.frozen
class JournalCall:
    """A call a poll dispatched: its correlation id, function and serialized input."""

    correlation_id: int | str | None
    function: str
    input: bytes


@attrs.frozen
class JournalStep:
    """One poll and the resume that answered it.

    `results` is None while the poll is still waiting for its resume.
    """

    calls: tuple[JournalCall, ...]
    results: tuple[CallResult, ...] | None
    poll_error: Error | None = None


@attrs.define(eq=False)
class _Entry:
    # Each call as (correlation id, function, frozen input): JournalCalls are
    # built only when the journal is read.
    calls: tuple[tuple[Any, str, object], ...]
    results: tuple[StoredResult, ...] | None = None
    poll_error: Error | None = None


class Journal:
    """Read-only view of a call's journal; values are decoded afresh on each read."""

    __slots__ = ("_input", "_entries")

    def __init__(self, input: object, entries: list[_Entry]) -> None:
        self._input = input
        self._entries = entries

    @property
    def input(self) -> Any:
        """The input of the call's current function."""
        return _codec.thaw(self._input)

    @property
    def steps(self) -> Sequence[JournalStep]:
        """Every poll of the current function, oldest first."""
        return [_decode_step(e) for e in self._entries]

    def __len__(self) -> int:
        return len(self._entries)


def replay_steps(
    journal: Journal,
) -> list[tuple[tuple[tuple[Any, str, object], ...], tuple[CallResult, ...] | None, Error | None]]:
    """The journal's steps as a scheduler replays them: each poll's calls as
    (correlation id, function, frozen input), with the results decoded afresh."""
    return [(entry.calls, _decode_results(entry), entry.poll_error) for entry in journal._entries]


def _decode_step(entry: _Entry) -> JournalStep:
    calls = tuple(JournalCall(c, f, _codec.frozen_bytes(i)) for c, f, i in entry.calls)
    return JournalStep(calls, _decode_results(entry), entry.poll_error)


def _decode_results(entry: _Entry) -> tuple[CallResult, ...] | None:
    if entry.results is None:
        return None
    return tuple(decode_outcome(*r) for r in entry.results)


def decode_outcome(correlation_id: Any, dispatch_id: Any, outcome: RawOutcome) -> CallResult:
    """A fresh CallResult from a call's outcome (never ABANDONED: that has no result)."""
    kind, payload = outcome
    if kind == "value":
        return CallResult(correlation_id, _thaw(payload), None, dispatch_id)
    return CallResult(correlation_id, None, decode_error(payload), dispatch_id)


def decode_error(payload: tuple[Any, ...]) -> Error:
    """An Error from its stored form (status, type, message, exception bytes, traceback)."""
    status, type_name, message, value = payload[:4]
    exc = _codec.loads(value) if value is not None else None
    traceback = payload[4] if len(payload) > 4 else None
    return Error(
        Status(status), type_name, message, exc if isinstance(exc, BaseException) else None, traceback
    )


def same_input(journaled: object, value: object) -> bool:
    """Whether a call's input `value` freezes to `journaled`, a journaled call's frozen input.

    What a rebuild asks of every call it re-makes: the answer of
    ``same(journaled, freeze(value))`` (a value that does not serialize
    counting as ``b""``, as the service journals it), for the commonest input
    (positional atoms) without making the frozen copy.
    """
    if type(journaled) is _FrozenArguments and type(value) is Arguments:
        args, kwargs = value.args, value.kwargs
        if journaled.flat and not journaled.kwargs and type(args) is tuple and type(kwargs) is dict and not kwargs:
            expected = journaled.args
            if args == expected:
                kinds = list(map(type, args))
                # Equal atoms of the same types encode alike, but for floats (-0.0).
                if kinds == list(map(type, expected)) and float not in kinds:
                    return True
    try:
        frozen = _freeze(value, where="argument")
    except _codec.SerializationError:
        frozen = b""  # as the service journals such an input (its poll failed)
    return _same(journaled, frozen)
