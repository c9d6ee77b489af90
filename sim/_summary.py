"""Bounded text summaries of canonically encoded values, read from the CBOR bytes.

A trace shows what calls carried (arguments, results, note data) as short
text. The text is written from the value's canonical encoding (`_codec`), by
walking the CBOR bytes directly: never from ``repr`` of a live object (which
can show memory addresses or a set's hash-seed order), and without decoding
the value (no exception classes looked up, no objects built). The walk stops
as soon as the text reaches its limit, so a summary costs time in proportion
to its length, not to the value's size.

The text reads like Python: ``('alice', 10)`` for the arguments of
``pay("alice", 10)``, ``{'a': [1, 2.5]}``, ``{1, 2}`` for a set (elements in
the encoding's sorted order), ``ValueError('no funds')`` for an exception.
"""

from __future__ import annotations

import struct
import uuid

from ._codec import (
    _TAG_ARGUMENTS,
    _TAG_BYTEARRAY,
    _TAG_DATETIME,
    _TAG_DECIMAL,
    _TAG_EXCEPTION,
    _TAG_FROZENSET,
    _TAG_SET,
    _TAG_SURROGATE_STR,
    _TAG_TIME,
    _TAG_TIMEDELTA,
    _TAG_TUPLE,
)

__all__ = ["SUMMARY_LIMIT", "bounded", "summarize"]

SUMMARY_LIMIT = 200
"""The longest summary, in characters (a longer one ends with an ellipsis)."""

_ELLIPSIS = "\u2026"


class _Full(Exception):
    """The summary reached its limit: the walk stops."""


class _Writer:
    __slots__ = ("parts", "size", "limit")

    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit

    def write(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)
        if self.size > self.limit:
            raise _Full


def bounded(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """`text` cut to at most `limit` characters (the last one an ellipsis when cut)."""
    return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS


def summarize(data: bytes, limit: int = SUMMARY_LIMIT) -> str:
    """A Python-like text of the value `data` encodes, at most `limit` characters.

    `data` is a canonical encoding (`_codec.dumps`); bytes that are not
    well-formed CBOR give a placeholder rather than an error.
    """
    if not data:
        return "<not serializable>"
    out = _Writer(limit)
    try:
        end = _item(data, 0, out, 0)
        if end != len(data):
            return "<malformed value>"
    except _Full:
        pass
    except (IndexError, ValueError, struct.error, UnicodeDecodeError, RecursionError):
        return "<malformed value>"
    return bounded("".join(out.parts), limit)


def _head(data: bytes, pos: int) -> tuple[int, int, int]:
    """(major type, argument, position after the head)."""
    first = data[pos]
    major, info = first >> 5, first & 31
    pos += 1
    if info < 24:
        return major, info, pos
    if info == 24:
        return major, data[pos], pos + 1
    if info == 25:
        return major, int.from_bytes(data[pos : pos + 2], "big"), pos + 2
    if info == 26:
        return major, int.from_bytes(data[pos : pos + 4], "big"), pos + 4
    if info == 27:
        return major, int.from_bytes(data[pos : pos + 8], "big"), pos + 8
    raise ValueError("indefinite or reserved length")


_MAX_LEVEL = 40  # deeper than this is shown as "..." (the text has no room for it anyway)


def _item(data: bytes, pos: int, out: _Writer, level: int) -> int:
    first = data[pos]
    major = first >> 5
    if major == 7:
        return _simple(data, pos, out)
    major, arg, pos = _head(data, pos)
    if major == 0:
        out.write(str(arg))
        return pos
    if major == 1:
        out.write(str(-1 - arg))
        return pos
    if major == 2:
        out.write(repr(bytes(data[pos : pos + min(arg, out.limit)])))
        return pos + arg
    if major == 3:
        # Only what can show: a long text is cut (at a character boundary) before it is decoded.
        shown = min(arg, 4 * out.limit + 4)
        text = data[pos : pos + shown].decode("utf-8", errors="ignore" if shown < arg else "strict")
        out.write(repr(text) if shown == arg else repr(text)[:-1])
        return pos + arg
    if level > _MAX_LEVEL:
        out.write("...")
        return _skip_rest(data, pos, major, arg)
    if major == 4:
        return _sequence(data, pos, arg, out, level, "[", "]")
    if major == 5:
        out.write("{")
        for i in range(arg):
            if i:
                out.write(", ")
            pos = _item(data, pos, out, level + 1)
            out.write(": ")
            pos = _item(data, pos, out, level + 1)
        out.write("}")
        return pos
    return _tag(data, pos, arg, out, level)


def _simple(data: bytes, pos: int, out: _Writer) -> int:
    info = data[pos] & 31
    if info == 20:
        out.write("False")
    elif info == 21:
        out.write("True")
    elif info == 22:
        out.write("None")
    elif info == 25:
        out.write(repr(struct.unpack(">e", data[pos + 1 : pos + 3])[0]))
        return pos + 3
    elif info == 26:
        out.write(repr(struct.unpack(">f", data[pos + 1 : pos + 5])[0]))
        return pos + 5
    elif info == 27:
        out.write(repr(struct.unpack(">d", data[pos + 1 : pos + 9])[0]))
        return pos + 9
    else:
        raise ValueError("unexpected simple value")
    return pos + 1


def _sequence(data: bytes, pos: int, count: int, out: _Writer, level: int, left: str, right: str) -> int:
    out.write(left)
    for i in range(count):
        if i:
            out.write(", ")
        pos = _item(data, pos, out, level + 1)
    if left == "(" and count == 1:
        out.write(",")
    out.write(right)
    return pos


def _array_head(data: bytes, pos: int) -> tuple[int, int]:
    major, count, pos = _head(data, pos)
    if major != 4:
        raise ValueError("expected an array")
    return count, pos


def _tag(data: bytes, pos: int, tag: int, out: _Writer, level: int) -> int:
    if tag == _TAG_TUPLE:
        count, pos = _array_head(data, pos)
        return _sequence(data, pos, count, out, level, "(", ")")
    if tag == _TAG_SET or tag == _TAG_FROZENSET:
        count, pos = _array_head(data, pos)
        if count == 0:
            out.write("set()" if tag == _TAG_SET else "frozenset()")
            return pos
        if tag == _TAG_FROZENSET:
            out.write("frozenset(")
        pos = _sequence(data, pos, count, out, level, "{", "}")
        if tag == _TAG_FROZENSET:
            out.write(")")
        return pos
    if tag == _TAG_ARGUMENTS:
        return _arguments(data, pos, out, level)
    if tag == _TAG_EXCEPTION:
        return _exception(data, pos, out, level)
    if tag == _TAG_BYTEARRAY:
        out.write("bytearray(")
        pos = _item(data, pos, out, level + 1)
        out.write(")")
        return pos
    names = {
        _TAG_DATETIME: "datetime",
        _TAG_TIME: "time",
        _TAG_TIMEDELTA: "timedelta",
        _TAG_DECIMAL: "Decimal",
        _TAG_SURROGATE_STR: "str",
    }
    if tag == 37:  # a UUID: 16 bytes
        major, size, start = _head(data, pos)
        if major != 2 or size != 16:
            raise ValueError("a UUID holds 16 bytes")
        out.write(f"UUID('{uuid.UUID(bytes=bytes(data[start : start + 16]))}')")
        return start + 16
    if tag in (2, 3):  # bignums
        major, size, start = _head(data, pos)
        if major != 2:
            raise ValueError("a bignum holds a byte string")
        value = int.from_bytes(data[start : start + size], "big")
        out.write(str(value if tag == 2 else -1 - value))
        return start + size
    out.write(f"{names.get(tag, f'tag{tag}')}(")
    pos = _item(data, pos, out, level + 1)
    out.write(")")
    return pos


def _arguments(data: bytes, pos: int, out: _Writer, level: int) -> int:
    # [args, kwargs]: shown as a call's argument list, ('alice', 10, to='bob').
    count, pos = _array_head(data, pos)
    if count != 2:
        raise ValueError("Arguments holds [args, kwargs]")
    n_args, pos = _array_head(data, pos)
    out.write("(")
    for i in range(n_args):
        if i:
            out.write(", ")
        pos = _item(data, pos, out, level + 1)
    major, n_kwargs, pos = _head(data, pos)
    if major != 5:
        raise ValueError("Arguments' kwargs is a map")
    for i in range(n_kwargs):
        if i or n_args:
            out.write(", ")
        key_major, size, start = _head(data, pos)
        if key_major == 3:
            out.write(data[start : start + size].decode("utf-8") + "=")
            pos = start + size
        else:
            pos = _item(data, pos, out, level + 1)
            out.write("=")
        pos = _item(data, pos, out, level + 1)
    out.write(")")
    return pos


def _exception(data: bytes, pos: int, out: _Writer, level: int) -> int:
    # [module, qualname, args, attributes, message, slots...]: shown as QualName(args...).
    count, pos = _array_head(data, pos)
    if count < 3:
        raise ValueError("an exception payload has at least 3 items")
    _skip = _Writer(1 << 30)
    pos = _item(data, pos, _skip, level + 1)  # the module: not shown
    major, size, start = _head(data, pos)
    if major != 3:
        raise ValueError("an exception's qualname is a str")
    out.write(data[start : start + size].decode("utf-8"))
    pos = start + size
    n_args, pos = _array_head(data, pos)
    pos = _sequence(data, pos, n_args, out, level, "(", ")") if n_args != 1 else _one_arg(data, pos, out, level)
    for _ in range(count - 3):
        pos = _skip_item(data, pos)
    return pos


def _one_arg(data: bytes, pos: int, out: _Writer, level: int) -> int:
    out.write("(")
    pos = _item(data, pos, out, level + 1)
    out.write(")")
    return pos


def _skip_item(data: bytes, pos: int) -> int:
    """The position after the item at `pos`, without rendering it."""
    todo = 1
    while todo:
        todo -= 1
        first = data[pos]
        if first >> 5 == 7:
            info = first & 31
            pos += {24: 2, 25: 3, 26: 5, 27: 9}.get(info, 1)
            continue
        major, arg, pos = _head(data, pos)
        if major in (2, 3):
            pos += arg
        elif major == 4:
            todo += arg
        elif major == 5:
            todo += 2 * arg
        elif major == 6:
            todo += 1
    return pos


def _skip_rest(data: bytes, pos: int, major: int, arg: int) -> int:
    todo = {4: arg, 5: 2 * arg}.get(major, 1)
    for _ in range(todo):
        pos = _skip_item(data, pos)
    return pos
