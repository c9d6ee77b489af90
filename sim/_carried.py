"""What an event carried: the values of a call, kept cheaply, shown as bounded text.

While a simulation runs, the 8th field of an event tuple (`data`, see
`_events`) holds a reference to what the service already had in hand, never
a copy or a text:

- ``dispatch``: the call's frozen input (`_codec.freeze`; ``b""`` when it
  could not be encoded);
- ``attempt``: ``("error", (status, type, message, None, traceback))`` for a failed
  attempt (the error's parts: an Error would keep its exception and that
  exception's frames alive), ``("args", frozen input)`` for a tail call
  (the arguments the call goes on with), None otherwise;
- ``outcome``: the call's raw outcome (`_journal`: ``("value", frozen)`` or
  ``("error", (status, type, message, exception bytes, traceback bytes))``);
- ``note``: ``(message, ((key, frozen value), ...))``.

Frozen values are immutable, so holding them costs nothing. Only a reader
pays: `Carried` renders the bounded summaries (`_summary`) when asked, and
its `fingerprint` hashes the canonical encoding: what the trace digest
covers, so that a run whose calls carried other values has another digest.
A saved trace file holds the stored form (`stored`): the fingerprint and
the summaries, never the values themselves.

The fingerprint of an error covers its status, type and message, not a
traceback (whose file paths depend on the checkout).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import cbor2

from . import _codec
from ._codec import _frozen
from ._protocol import Arguments, Error
from ._summary import SUMMARY_LIMIT, bounded
from ._summary import summarize as _summarize

__all__ = ["FINGERPRINT_SIZE", "NOTE_KEYS_SHOWN", "STORED_KEYS", "Carried", "fingerprint", "stored_problem"]

FINGERPRINT_SIZE = 16
"""Bytes of the SHA-256 of the canonical encoding kept per event (the digest covers them)."""

NOTE_KEYS_SHOWN = 32
"""At most this many of a note's data keys are summarized (all are fingerprinted)."""

STORED_KEYS = ("args", "result", "error", "traceback", "message", "data")
"""The summary keys a stored `data` map may hold besides ``hash``."""

# A loaded file's text may be longer than ours (a later version); still bounded.
_STORED_TEXT_MAX = 4 * SUMMARY_LIMIT


def _error_bytes(status: Any, type_name: Any, message: Any) -> bytes:
    status = int(status)
    if type(type_name) in _TEXT and type(message) in _TEXT:
        try:
            return _cbor_dumps([status, type_name, message])  # what the codec writes for these types
        except UnicodeEncodeError:
            pass  # a lone surrogate: the codec's own way
    return _codec.dumps([status, type_name, message], where="error")


# The fast path of `_encoded`: for these types the codec writes what plain cbor2
# does (its table maps them to cbor2's own encoders), so cbor2 is called once,
# without the codec's Python-level hooks. tests/sim/test_carried.py checks the
# bytes against `_codec.frozen_bytes`.
_cbor_dumps = cbor2.dumps
_TEXT = frozenset({str, type(None)})
_PLAIN = frozenset({type(None), bool, int, str, float})
# Deliberate reach into the codec's private record of flat Arguments: the
# commonest data of all (every call's input), encoded here without thawing it.
_FrozenArguments = _frozen._FrozenArguments
_ARGUMENTS_HEAD = _codec.dumps(Arguments((), {}))[:-2]  # the tag and the 2-array head before args, kwargs


def _encoded(frozen: object) -> bytes:
    """The canonical encoding of a frozen value: `_codec.frozen_bytes`, faster for the common ones."""
    kind = type(frozen)
    try:
        if kind is _FrozenArguments:
            if frozen.flat:  # type: ignore[attr-defined]
                # Atoms and floats only; NaN and the infinities as cbor2 writes them, as the codec does.
                args, kwargs = frozen.args, frozen.kwargs  # type: ignore[attr-defined]
                return _ARGUMENTS_HEAD + _cbor_dumps(args) + _cbor_dumps(dict(kwargs))
        elif kind in _PLAIN:
            return _cbor_dumps(frozen)
    except UnicodeEncodeError:
        pass  # a lone surrogate: the codec's own way
    return _codec.frozen_bytes(frozen)


_TRACEBACK_LIMIT = 4 * SUMMARY_LIMIT


def _traceback_text(traceback: Any) -> str:
    # Its end says most (the frame that raised, the error): a long one keeps its last lines.
    text = traceback.decode("utf-8", "replace") if isinstance(traceback, bytes) else str(traceback)
    text = text.rstrip("\n")
    if len(text) <= _TRACEBACK_LIMIT:
        return text
    return "\u2026" + text[len(text) - _TRACEBACK_LIMIT + 1 :]


def _error_text(type_name: Any, message: Any) -> str:
    if type_name and message:
        return bounded(f"{type_name}: {message}")
    return bounded(str(type_name or message or ""))


_NOTHING: dict[str, Any] = {}


def _memo(summaries: dict[bytes, str]) -> Callable[[bytes], str]:
    def summarize(encoded: bytes) -> str:
        text = summaries.get(encoded)
        if text is None:
            text = summaries[encoded] = _summarize(encoded)
        return text

    return summarize


def _parts(
    kind: str, raw: Any, render: bool = True, summaries: dict[bytes, str] | None = None
) -> tuple[bytes, dict[str, Any]]:
    """(canonical bytes, summaries) of a live event's data; no summaries unless `render`.

    `summaries` (encoding -> summary) shares summaries between events that
    carried equal values (a trace file being written holds many).
    """
    summarize = _summarize if summaries is None else _memo(summaries)
    if kind == "outcome" or kind == "attempt":
        what, payload = raw
        if what == "error":
            status, type_name, message = payload[:3]
            shown: dict[str, Any] = {"error": _error_text(type_name, message)}
            traceback = payload[4] if len(payload) > 4 else None
            if render and traceback:
                shown["traceback"] = _traceback_text(traceback)
            return _error_bytes(status, type_name, message), shown
        data = _encoded(payload)
        key = "result" if what == "value" else "args"
        return data, {key: summarize(data)} if render else _NOTHING
    if isinstance(raw, Error):  # an Error built by hand (not what the service records)
        return _error_bytes(raw.status, raw.type, raw.message), {"error": _error_text(raw.type, raw.message)}
    if kind == "note":
        message, items = raw
        chunks = [_codec.dumps(message)]
        values: dict[str, str] = {}
        for key, value in items:
            encoded = _encoded(value)
            chunks.append(_codec.dumps(key))
            chunks.append(encoded)
            if render and len(values) < NOTE_KEYS_SHOWN:
                values[bounded(key, 40)] = summarize(encoded)
        summary: dict[str, Any] = {"message": bounded(message)}
        if values:
            summary["data"] = values
        return b"".join(chunks), summary
    data = _encoded(raw)
    return data, {"args": summarize(data)} if render else _NOTHING


def fingerprint(kind: str, raw: Any) -> bytes:
    """The fingerprint of an event's data, live or stored (what the digest covers)."""
    if type(raw) is dict:
        return raw["hash"]
    return hashlib.sha256(_parts(kind, raw, render=False)[0]).digest()[:FINGERPRINT_SIZE]


class Carried(Mapping[str, Any]):
    """What one event carried, as summaries by key (``args``, ``result``, ``error``,
    ``traceback``, ``message``, ``data``): bounded text, rendered on first use.

    Two are equal when they carried the same values: their `fingerprint`s
    (a hash of the canonical encoding) are equal.
    """

    __slots__ = ("_kind", "_raw", "_fingerprint", "_summary")

    def __init__(self, kind: str, raw: Any) -> None:
        self._kind = kind
        self._raw = raw
        self._fingerprint: bytes | None = None
        self._summary: dict[str, Any] | None = None
        if type(raw) is dict:  # the stored form, from a file
            self._fingerprint = raw["hash"]
            self._summary = {k: v for k, v in raw.items() if k != "hash"}

    def _render(self, summaries: dict[bytes, str] | None = None) -> dict[str, Any]:
        if self._summary is None:
            encoded, self._summary = _parts(self._kind, self._raw, summaries=summaries)
            self._fingerprint = hashlib.sha256(encoded).digest()[:FINGERPRINT_SIZE]
        return self._summary

    @property
    def fingerprint(self) -> bytes:
        """The first bytes of the SHA-256 of the canonical encoding of what was carried."""
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self._kind, self._raw)
        return self._fingerprint

    def stored(self, summaries: dict[bytes, str] | None = None) -> dict[str, Any]:
        """The form a trace file holds: ``{"hash": fingerprint, key: summary, ...}``.

        `summaries` (encoding -> summary text), shared by the events of one
        file, renders each distinct value once.
        """
        summary = self._render(summaries)
        return {"hash": self.fingerprint, **summary}

    def text(self) -> str:
        """The summaries on one line, as ``show`` prints them."""
        parts: list[str] = []
        for key, value in self._render().items():
            if key == "message":
                parts.insert(0, str(value))
            elif key == "data":
                parts.append(" ".join(f"{k}={v}" for k, v in value.items()))
            elif key != "traceback":
                parts.append(f"{key}={value}")
        return " ".join(parts)

    def __getitem__(self, key: str) -> Any:
        return self._render()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._render())

    def __len__(self) -> int:
        return len(self._render())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Carried):
            return NotImplemented
        return self.fingerprint == other.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return f"Carried({self._render()!r})"


def stored_problem(value: Any) -> str | None:
    """Why `value` is not a stored `data` map (None when it is one), for `Trace.load`."""
    if not isinstance(value, dict):
        return f"data is a {type(value).__name__}, not a map or null"
    digest = value.get("hash")
    if not isinstance(digest, bytes) or len(digest) != FINGERPRINT_SIZE:
        return f"data has no {FINGERPRINT_SIZE}-byte hash"
    for key, item in value.items():
        if key == "hash":
            continue
        if key not in STORED_KEYS:
            return f"data has an unknown key {str(key)[:40]!r}"
        if key == "data":
            if not isinstance(item, dict) or len(item) > NOTE_KEYS_SHOWN:
                return "data's note values are not a map of at most 32 texts"
            if not all(
                isinstance(k, str) and len(k) <= 40 and isinstance(v, str) and len(v) <= _STORED_TEXT_MAX
                for k, v in item.items()
            ):
                return "data's note values are not all texts"
        elif not isinstance(item, str) or len(item) > _STORED_TEXT_MAX:
            return f"data's {key} is not a text of at most {_STORED_TEXT_MAX} characters"
    return None
