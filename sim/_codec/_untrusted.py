"""A strict decoder for CBOR documents from outside (trace files): bounded, no surprises.

`decode_untrusted` first walks the bytes without building anything (no
recursion, so no stack to overflow) and refuses, with a one-line ValueError
naming what is wrong and where:

- a document larger than ``max_size`` bytes (default `UNTRUSTED_MAX_SIZE`,
  32 MiB) or with more than ``max_items`` data items (default
  `UNTRUSTED_MAX_ITEMS`, 4,000,000: decoded, an item costs up to about
  60 bytes of memory, so the worst document stays within a few hundred MB);
- nesting deeper than ``max_depth`` (default `UNTRUSTED_MAX_DEPTH`, 100
  levels; containers and tags each count);
- any tag not in ``tags`` (by default none), value-sharing (28, 29) and
  string-reference (25, 256) tags always, since they expand on decode;
- indefinite lengths, reserved or unassigned simple values, ``undefined``;
- a length or item count larger than the bytes left (truncated or lying
  headers, which would otherwise ask for memory up front);
- bytes after the end of the document.

Only then does cbor2 decode it (duplicate map keys and invalid UTF-8 are
refused there). The walk is plain Python: about a second for a 10 MB trace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import cbor2

__all__ = [
    "UNTRUSTED_MAX_DEPTH",
    "UNTRUSTED_MAX_ITEMS",
    "UNTRUSTED_MAX_SIZE",
    "UntrustedDocument",
    "decode_untrusted",
    "loads_untrusted",
]

UNTRUSTED_MAX_SIZE = 32 * 1024 * 1024
"""Default largest document `loads_untrusted` reads, in bytes (32 MiB)."""

UNTRUSTED_MAX_ITEMS = 4_000_000
"""Default largest number of data items (values, keys, tags) in one document."""

UNTRUSTED_MAX_DEPTH = 100
"""Default deepest nesting (containers and tags) in one document."""

# Tags that refer to other parts of the document: decoding them makes one
# small item stand for a large structure (a 10 KB "billion laughs").
_EXPANDING_TAGS = {25: "string reference", 256: "string reference namespace",
                   28: "shareable value", 29: "shared reference"}

_FALSE, _TRUE, _NULL = 20, 21, 22
_ARGUMENT_SIZES = {24: 1, 25: 2, 26: 4, 27: 8}
_MAJOR_NAMES = ("unsigned integer", "negative integer", "byte string", "text string",
                "array", "map", "tag", "simple value or float")


@attrs.frozen
class UntrustedDocument:
    """A decoded document and where the items of its root container lie in the bytes.

    `parts` holds one ``(start, end)`` byte range per item of the root
    array, or per key and per value of the root map (key, value, key, ...);
    it is empty when the root is not a container.
    """

    value: Any
    parts: tuple[tuple[int, int], ...]


def _article(major: int) -> str:
    name = _MAJOR_NAMES[major]
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _refuse(what: str, pos: int) -> ValueError:
    return ValueError(f"{what} (at byte {pos})")


def _walk(data: bytes, max_depth: int, max_items: int, tags: Mapping[int, Any]) -> tuple[tuple[int, int], ...]:
    """Check the structure of *data*; return the byte ranges of the root container's items."""
    size = len(data)
    pos = 0
    items = 0
    enclosing: list[int] = []  # items still to read in each open container or tag
    remaining = 1  # items still to read at the current level (the root: one)
    starts: list[int] = []
    root_container = False  # whether the root is an array or a map (then starts are its items')
    while True:
        while remaining == 0:
            if not enclosing:
                if pos != size:
                    raise _refuse(f"{size - pos} bytes after the end of the document", pos)
                if starts:
                    starts.append(pos)
                return tuple(zip(starts, starts[1:]))
            remaining = enclosing.pop()
        if pos >= size:
            raise _refuse("the document ends early (truncated)", pos)
        if len(enclosing) == 1 and root_container:
            starts.append(pos)
        start = pos
        initial = data[pos]
        major, info = initial >> 5, initial & 31
        pos += 1
        items += 1
        if items > max_items:
            raise _refuse(f"more than {max_items} items in the document", start)
        remaining -= 1
        if info < 24:
            argument = info
        elif info < 28:
            width = _ARGUMENT_SIZES[info]
            if pos + width > size:
                raise _refuse("the document ends early (truncated)", size)
            argument = int.from_bytes(data[pos : pos + width], "big")
            pos += width
        elif info == 31 and major in (2, 3, 4, 5):
            raise _refuse(f"indefinite-length {_MAJOR_NAMES[major]} (not written by this format)", start)
        else:
            raise _refuse(f"malformed item head 0x{initial:02x}", start)
        if major <= 1:
            continue
        if major <= 3:
            if argument > size - pos:
                raise _refuse(f"{_article(major)} of {argument} bytes, more than the bytes left", start)
            pos += argument
            continue
        if major == 7:
            if info < 24 and argument in (_FALSE, _TRUE, _NULL):
                continue
            if info >= 25:  # half, single or double precision float
                continue
            raise _refuse(f"simple value {argument} (only false, true and null are data here)", start)
        if major == 6:
            if argument in _EXPANDING_TAGS and argument not in tags:
                raise _refuse(f"CBOR tag {argument} ({_EXPANDING_TAGS[argument]}) is not allowed", start)
            if argument not in tags:
                raise _refuse(f"CBOR tag {argument} is not allowed", start)
            count = 1
        else:
            count = argument if major == 4 else 2 * argument
            # Every item takes at least one byte: a larger count is a lie
            # that would make a decoder reserve memory for it.
            if count > size - pos:
                raise _refuse(
                    f"{_article(major)} of {argument} items, more than the bytes left", start
                )
            if count == 0:
                continue
        if not enclosing:
            root_container = major in (4, 5)
        enclosing.append(remaining)
        if len(enclosing) > max_depth:
            raise _refuse(f"nested more than {max_depth} levels deep", start)
        remaining = count


def decode_untrusted(
    data: bytes,
    *,
    max_size: int = UNTRUSTED_MAX_SIZE,
    max_items: int = UNTRUSTED_MAX_ITEMS,
    max_depth: int = UNTRUSTED_MAX_DEPTH,
    tags: Mapping[int, Callable[[Any, bool], Any]] | None = None,
) -> UntrustedDocument:
    """Decode one CBOR document from outside, within the limits; see the module docstring.

    *tags* maps each tag the format uses to its decoder (cbor2's semantic
    decoder signature); every other tag is refused. Raises ValueError with a
    one-line reason for anything else.
    """
    allowed = dict(tags or {})
    if len(data) > max_size:
        raise ValueError(f"the document is {len(data)} bytes, more than the limit of {max_size}")
    parts = _walk(bytes(data), max_depth, max_items, allowed)
    try:
        value = cbor2.loads(
            data,
            semantic_decoders=allowed,
            max_depth=max_depth + 2,
            allow_indefinite=False,
            allow_duplicate_keys=False,
        )
    except Exception as exc:  # cbor2 and the tag decoders raise several types
        detail = " ".join(str(exc).split())
        raise ValueError(f"invalid CBOR: {type(exc).__name__}: {detail}") from None
    return UntrustedDocument(value, parts)


def loads_untrusted(
    data: bytes,
    *,
    max_size: int = UNTRUSTED_MAX_SIZE,
    max_items: int = UNTRUSTED_MAX_ITEMS,
    max_depth: int = UNTRUSTED_MAX_DEPTH,
    tags: Mapping[int, Callable[[Any, bool], Any]] | None = None,
) -> Any:
    """The value of one CBOR document from outside; see `decode_untrusted`."""
    return decode_untrusted(
        data, max_size=max_size, max_items=max_items, max_depth=max_depth, tags=tags
    ).value
