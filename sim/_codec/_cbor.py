"""CBOR for values crossing a call boundary: the tag table, the encoders and decoders, `loads`.

Each call gets its own copy of its arguments and result, with their exact
types, and equal values give equal bytes whatever ``PYTHONHASHSEED``.
Supported: None, bool, int, float, str, bytes, bytearray, list, tuple, dict,
set, frozenset, datetime, date, time, timedelta, Decimal, UUID and exception
instances, nested; anything else is refused (`_report` says where).

Determinism: dicts are written in insertion order (which never depends on
the hash seed) and come back in that order; sets and frozensets, whose
iteration order does depend on it, are written with their elements sorted by
their own encoded bytes; a float always gets the same form (float64, NaN
and infinities half-precision), not the shortest exact one.

Nesting is bounded: a value more than `MAX_DEPTH` (500) containers deep
(lists, tuples, dicts, sets, frozensets, Arguments, exceptions, subclasses
included) is refused while encoding, before cbor2's native recursion could
overflow the C stack, whatever the recursion limit; `loads` refuses
documents nested more than `MAX_DECODE_DEPTH` CBOR levels (tags count as a
level in CBOR: one container is at most three of them).

About 560 lines, on purpose: each tag's encoder and decoder sit in the one
table they are registered in, so that adding a type is one place to read.
"""

from __future__ import annotations

import array
import collections
import datetime
import decimal
import fractions
import ipaddress
import re
import threading
import types
import uuid as _uuid
import zoneinfo
from collections.abc import Callable
from typing import Any, NoReturn

import cbor2

from .._protocol import Arguments
from ._exceptions import ExceptionMemo, decode_exception, exception_payload

__all__ = ["MAX_DECODE_DEPTH", "MAX_DEPTH", "encode", "loads"]


# Custom CBOR tags. RFC 8949 leaves tags from 32768 up "first come first
# served"; only our own decoder ever reads these bytes, so a collision with a
# registration elsewhere could not confuse anyone, but the block still avoids
# the well-known 55799-55801 (self-described CBOR, RFC 8949 / RFC 9277). All
# stay below 65536 so that each costs three bytes on the wire: tuples are on
# the hot path (every argument list is one).
_TAG_TUPLE = 55810
_TAG_FROZENSET = 55811
_TAG_DATETIME = 55812
_TAG_TIME = 55813
_TAG_TIMEDELTA = 55814
_TAG_DECIMAL = 55815
_TAG_BYTEARRAY = 55816
_TAG_EXCEPTION = 55817
_TAG_ARGUMENTS = 55818  # sim.Arguments: the input of every registered function
_TAG_SURROGATE_STR = 55819  # a str that is not valid UTF-8, as "surrogatepass" bytes

_TAG_SET = 258  # the standard set tag (cbor2 decodes it as a set)
_MAJOR_ARRAY = 4

MAX_DEPTH = 500
"""The deepest nesting of containers `dumps` writes (a list in a list ... 500 levels).

Below the default recursion limit (1,000) with room for the caller's frames,
so that the bound, not the recursion limit, decides, and the error names
the path.
"""

# What dumps writes at MAX_DEPTH levels, in CBOR levels (an Arguments is a
# tag, an array and the args array), plus the root; deeper is not ours.
MAX_DECODE_DEPTH = 3 * MAX_DEPTH + 1
"""The deepest nesting, in CBOR levels (containers and tags), that `loads` decodes."""

_SUPPORTED = (
    "None, bool, int, float, str, bytes, bytearray, list, tuple, dict, set, "
    "frozenset, datetime, date, time, timedelta, Decimal, UUID, exceptions"
)

_MAJOR_TAG = 6

_cbor_dumps = cbor2.dumps
_cbor_loads = cbor2.loads
_Encoder = cbor2.CBOREncoder
_encode_length = _Encoder.encode_length
_encode_array = _Encoder.encode_array
_encode_map = _Encoder.encode_map
_encode_string = _Encoder.encode_string
_encode_semantic = _Encoder.encode_semantic
_encode_to_bytes = _Encoder.encode_to_bytes
_write = _Encoder.write
_ZoneInfo = zoneinfo.ZoneInfo

class _Unsupported(Exception):
    """Raised from inside the encoder to carry the offending object out."""

    def __init__(self, obj: object) -> None:
        super().__init__()
        self.obj = obj




class _TooDeep(Exception):
    """Raised from inside the encoder at the first container past MAX_DEPTH."""

    def __init__(self, obj: object) -> None:
        super().__init__()
        self.obj = obj


class _Depth(threading.local):
    # Containers being encoded on this thread, trial encodings of exception
    # payloads included (they are part of the same value).
    level = 0


_depth = _Depth()


def _nested(encode: Callable[[cbor2.CBOREncoder, Any], None]) -> Callable[[cbor2.CBOREncoder, Any], None]:
    """*encode*, counting one level of nesting around it."""

    def encode_nested(encoder: cbor2.CBOREncoder, value: Any) -> None:
        state = _depth
        level = state.level + 1
        if level > MAX_DEPTH:
            raise _TooDeep(value)
        state.level = level
        try:
            encode(encoder, value)
        finally:
            state.level = level - 1

    encode_nested.__name__ = encode_nested.__qualname__ = f"nested_{encode.__name__}"
    return encode_nested

# --- encoding ----------------------------------------------------------------


def _encode_arguments(encoder: cbor2.CBOREncoder, value: Arguments) -> None:
    # The tag, then a two-item array [args, kwargs], written piece by piece
    # rather than by building the list [list(args), dict(kwargs)] first.
    args = value.args
    if type(args) is not tuple:
        args = tuple(args)
    kwargs = value.kwargs
    if type(kwargs) is not dict:
        kwargs = dict(kwargs)
    _encode_length(encoder, _MAJOR_TAG, _TAG_ARGUMENTS)
    _encode_length(encoder, _MAJOR_ARRAY, 2)
    _encode_array(encoder, args)
    _encode_map(encoder, kwargs)


def _encode_tuple(encoder: cbor2.CBOREncoder, value: tuple[Any, ...]) -> None:
    # Writing the tag head and then the array avoids copying the tuple into a
    # list just to get it encoded as an array.
    _encode_length(encoder, _MAJOR_TAG, _TAG_TUPLE)
    _encode_array(encoder, value)


def _encode_elements(
    encoder: cbor2.CBOREncoder, tag: int, value: set[Any] | frozenset[Any]
) -> None:
    # Iteration order depends on the hash seed: each element is encoded on
    # its own, with this very encoder (same tables), and the encodings are
    # written sorted bytewise after the tag and the array head.
    if value:
        encode = encoder.encode_to_bytes
        items = [encode(item) for item in value]
        items.sort()
        _encode_length(encoder, _MAJOR_TAG, tag)
        _encode_length(encoder, _MAJOR_ARRAY, len(items))
        _write(encoder, b"".join(items))
    else:
        _encode_length(encoder, _MAJOR_TAG, tag)
        _encode_length(encoder, _MAJOR_ARRAY, 0)


def _encode_set(encoder: cbor2.CBOREncoder, value: set[Any]) -> None:
    _encode_elements(encoder, _TAG_SET, value)


def _encode_frozenset(encoder: cbor2.CBOREncoder, value: frozenset[Any]) -> None:
    # Our own tag directly around the array: with the set tag a frozenset
    # would decode as a set.
    _encode_elements(encoder, _TAG_FROZENSET, value)


def _encode_str_lenient(encoder: cbor2.CBOREncoder, value: str) -> None:
    # Only used by the second pass of dumps(), after the fast one failed on a
    # str that is not valid UTF-8 (lone surrogates): valid strings are still
    # written as CBOR text, exactly as the fast pass does.
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        _encode_semantic(
            encoder, _TAG_SURROGATE_STR, value.encode("utf-8", "surrogatepass")
        )
        return
    _encode_length(encoder, 3, len(data))
    _write(encoder, data)


def _zone_key(tzinfo: datetime.tzinfo | None) -> str | None:
    # Exact type: a subclass might not come back as itself from ZoneInfo(key).
    if type(tzinfo) is _ZoneInfo:
        return tzinfo.key  # None from from_file()
    return None


def _encode_wall_time(
    encoder: cbor2.CBOREncoder, tag: int, value: datetime.datetime | datetime.time
) -> None:
    # cbor2 refuses naive datetimes and cannot parse back UTC offsets with
    # seconds; isoformat() keeps both (and microseconds) exactly. A ZoneInfo
    # also writes its key, so that the value comes back in the same zone
    # (the offset alone would make arithmetic across a DST change wrong).
    text = value.isoformat()
    key = _zone_key(value.tzinfo)
    if key is not None:
        _encode_semantic(encoder, tag, [text, value.fold, key])
    else:
        _encode_semantic(encoder, tag, [text, 1] if value.fold else text)


def _encode_datetime(encoder: cbor2.CBOREncoder, value: datetime.datetime) -> None:
    _encode_wall_time(encoder, _TAG_DATETIME, value)


def _encode_time(encoder: cbor2.CBOREncoder, value: datetime.time) -> None:
    _encode_wall_time(encoder, _TAG_TIME, value)


def _encode_timedelta(encoder: cbor2.CBOREncoder, value: datetime.timedelta) -> None:
    _encode_semantic(
        encoder, _TAG_TIMEDELTA, [value.days, value.seconds, value.microseconds]
    )


def _encode_decimal(encoder: cbor2.CBOREncoder, value: decimal.Decimal) -> None:
    # The standard decimal-fraction tag turns NaN and Infinity into floats and
    # loses the sign of -0; the string form is exact for every Decimal.
    _encode_semantic(encoder, _TAG_DECIMAL, str(value))


def _encode_bytearray(encoder: cbor2.CBOREncoder, value: bytearray) -> None:
    _encode_semantic(encoder, _TAG_BYTEARRAY, bytes(value))


def _reject(encoder: cbor2.CBOREncoder, value: object) -> NoReturn:
    raise _Unsupported(value)



_exception_memo = ExceptionMemo()


def _encodable(value: object) -> bool:
    try:
        encode(value)
    except Exception:
        return False
    return True


def _encode_exception(encoder: cbor2.CBOREncoder, exc: BaseException) -> None:
    state = _exception_memo
    memo = state.memo
    owner = memo is None
    if memo is None:
        memo = state.memo = {}
    try:
        entry = memo.get(id(exc))
        if entry is None:
            memo[id(exc)] = (exc, None)
            payload = exception_payload(exc, _encodable)
            memo[id(exc)] = (exc, payload)
        else:
            cached = entry[1]
            if cached is None:
                # Reached again while computing its own payload: a cycle. The
                # trial encoding that got here fails and drops or reprs it.
                raise _Unsupported(exc)
            payload = cached
        _encode_semantic(encoder, _TAG_EXCEPTION, payload)
    finally:
        if owner:
            state.memo = None


def _default(encoder: cbor2.CBOREncoder, value: object) -> None:
    if isinstance(value, BaseException):
        _encode_exception(encoder, value)
    else:
        raise _Unsupported(value)


_encode_list = _nested(_Encoder.encode_array)
_encode_dict = _nested(_Encoder.encode_map)


class _EncoderTable(dict[type, Callable[[cbor2.CBOREncoder, Any], None]]):
    """Encoders by exact type; cbor2 looks every value's type up in it.

    A miss (KeyError) lets cbor2 dispatch on its own, by isinstance, so most
    subclasses are encoded as their base type (see the limitation in the
    docstring of dumps). Containers are the exception: set and frozenset
    subclasses get our sorting encoders (cbor2 would write their elements in
    iteration order, which depends on the hash seed), and list, tuple and
    dict subclasses the same encoders cbor2 would pick, counting their
    nesting (cbor2's own dispatch recurses natively, past any bound).
    """

    def __missing__(self, cls: type) -> Callable[[cbor2.CBOREncoder, Any], None]:
        # Not cached: that would keep dynamically created classes alive.
        if issubclass(cls, frozenset):
            return _ENCODE_FROZENSET
        if issubclass(cls, set):
            return _ENCODE_SET
        if issubclass(cls, (list, tuple)):
            return _encode_list
        if issubclass(cls, dict):
            return _encode_dict
        raise KeyError(cls)


def _encode_none(encoder: cbor2.CBOREncoder, value: None) -> None:
    encoder.encode_none()


_ENCODE_SET = _nested(_encode_set)
_ENCODE_FROZENSET = _nested(_encode_frozenset)

# Looked up by exact type before cbor2's own dispatch, so subclasses are not
# affected (see the limitation in the docstring of dumps).
_ENCODERS = _EncoderTable(
    {
        tuple: _nested(_encode_tuple),
        Arguments: _nested(_encode_arguments),
        frozenset: _ENCODE_FROZENSET,
        datetime.datetime: _encode_datetime,
        datetime.time: _encode_time,
        datetime.timedelta: _encode_timedelta,
        decimal.Decimal: _encode_decimal,
        bytearray: _encode_bytearray,
        set: _ENCODE_SET,
    }
)

# cbor2 would encode these, but they would come back as another type or value
# (range and memoryview as lists, OrderedDict as dict, a Pattern without its
# flags, ...) or as raw CBOR objects, or they are outside the documented set.
for _type in (
    range,
    memoryview,
    complex,
    fractions.Fraction,
    re.Pattern,
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
    array.array,
    collections.deque,
    collections.OrderedDict,
    collections.defaultdict,
    collections.Counter,
    collections.ChainMap,
    collections.UserDict,
    collections.UserList,
    collections.UserString,
    types.MappingProxyType,
    cbor2.CBORTag,
    cbor2.CBORSimpleValue,
    type(cbor2.undefined),
    getattr(cbor2, "frozendict", range),
):
    _ENCODERS[_type] = _reject
del _type

# Once a mapping is given, cbor2 looks every value's type up in it, and a
# miss is several times slower than a hit (more so through __missing__);
# mapping the common types to cbor2's own methods encodes the very same
# bytes, faster. Lists and dicts go through `_nested`, which bounds their
# depth: cbor2's recursive native dispatch would overflow the C stack
# (SIGSEGV at about 7,500 nested lists).
_ENCODERS.update(
    {
        int: _Encoder.encode_int,
        str: _Encoder.encode_string,
        float: _Encoder.encode_float,
        list: _encode_list,
        dict: _encode_dict,
        bool: _Encoder.encode_bool,
        bytes: _Encoder.encode_bytes,
        type(None): _encode_none,
        datetime.date: _Encoder.encode_date,
        _uuid.UUID: _Encoder.encode_uuid,
    }
)

# The second pass of dumps(): the same, but a str that is not valid UTF-8 is
# written under _TAG_SURROGATE_STR instead of failing.
_LENIENT_ENCODERS = _EncoderTable(_ENCODERS)
_LENIENT_ENCODERS[str] = _encode_str_lenient


def _is_unicode_error(exc: BaseException) -> bool:
    # cbor2 raises the UnicodeEncodeError itself, but may wrap what comes out
    # of a Python-level encoder; look down the chain a little way.
    for _ in range(4):
        if isinstance(exc, UnicodeEncodeError):
            return True
        cause = exc.__cause__ or exc.__context__
        if cause is None:
            return False
        exc = cause
    return False



def encode(value: object) -> bytes:
    """The CBOR encoding of *value*; raises what the encoder raised (see `_report.dumps`)."""
    try:
        return _cbor_dumps(value, default=_default, encoders=_ENCODERS)
    except Exception as exc:
        if not _is_unicode_error(exc):
            raise
    # Rare: some str is not valid UTF-8. Encode again with the slower table
    # (outside the except block, so that errors do not chain to the first).
    return _cbor_dumps(value, default=_default, encoders=_LENIENT_ENCODERS)


# --- decoding ----------------------------------------------------------------

class _UnknownTag(Exception):
    def __init__(self, tag: int) -> None:
        super().__init__(tag)
        self.tag = tag


def _decode_tuple(value: Any, immutable: bool) -> tuple[Any, ...]:
    return tuple(value)


def _decode_arguments(value: Any, immutable: bool) -> Arguments:
    args, kwargs = value
    return Arguments(tuple(args), kwargs if type(kwargs) is dict else dict(kwargs))


def _decode_frozenset(value: Any, immutable: bool) -> frozenset[Any]:
    return frozenset(value)


def _zone(key: Any) -> zoneinfo.ZoneInfo | None:
    # Reads time zone data (never runs code); ZoneInfo validates the key.
    # Without the data the value keeps its fixed UTC offset: the same instant.
    if not isinstance(key, str):
        raise TypeError(f"time zone key must be a str, not {type(key).__name__}")
    try:
        return _ZoneInfo(key)
    except zoneinfo.ZoneInfoNotFoundError:
        return None


def _decode_wall_time(cls: Any, value: Any) -> Any:
    if isinstance(value, str):
        return cls.fromisoformat(value)
    if len(value) == 2:
        return cls.fromisoformat(value[0]).replace(fold=value[1])
    text, fold, key = value
    decoded = cls.fromisoformat(text)
    zone = _zone(key)
    if zone is None:
        return decoded.replace(fold=fold)
    # Same wall time and fold in the same zone: the very same value.
    return decoded.replace(tzinfo=zone, fold=fold)


def _decode_datetime(value: Any, immutable: bool) -> datetime.datetime:
    return _decode_wall_time(datetime.datetime, value)


def _decode_time(value: Any, immutable: bool) -> datetime.time:
    return _decode_wall_time(datetime.time, value)


def _decode_surrogate_str(value: Any, immutable: bool) -> str:
    if not isinstance(value, bytes):
        raise TypeError(f"expected bytes, not {type(value).__name__}")
    return value.decode("utf-8", "surrogatepass")


def _decode_timedelta(value: Any, immutable: bool) -> datetime.timedelta:
    days, seconds, microseconds = value
    return datetime.timedelta(days=days, seconds=seconds, microseconds=microseconds)


def _decode_decimal(value: Any, immutable: bool) -> decimal.Decimal:
    return decimal.Decimal(value)


def _decode_bytearray(value: Any, immutable: bool) -> bytearray:
    return bytearray(value)


def _decode_exception(value: Any, immutable: bool) -> BaseException:
    return decode_exception(value)


def _unknown_tag(tag: cbor2.CBORTag, immutable: bool) -> NoReturn:
    raise _UnknownTag(tag.tag)


_SEMANTIC_DECODERS: dict[int, Callable[[Any, bool], Any]] = {
    _TAG_TUPLE: _decode_tuple,
    _TAG_FROZENSET: _decode_frozenset,
    _TAG_DATETIME: _decode_datetime,
    _TAG_TIME: _decode_time,
    _TAG_TIMEDELTA: _decode_timedelta,
    _TAG_DECIMAL: _decode_decimal,
    _TAG_BYTEARRAY: _decode_bytearray,
    _TAG_EXCEPTION: _decode_exception,
    _TAG_ARGUMENTS: _decode_arguments,
    _TAG_SURROGATE_STR: _decode_surrogate_str,
}


def loads(data: bytes) -> object:
    """Decode bytes produced by :func:`dumps`.

    Raises ``ValueError("invalid serialized value: ...")`` when *data* is not
    valid CBOR, uses a tag that :func:`dumps` never writes, or holds a
    malformed payload for one of its tags.
    """
    try:
        return _cbor_loads(
            data,
            semantic_decoders=_SEMANTIC_DECODERS,
            tag_hook=_unknown_tag,
            max_depth=MAX_DECODE_DEPTH,
        )
    except cbor2.CBORError as exc:
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, Exception):
            # cbor2 wraps whatever a decoder hook raised, KeyboardInterrupt
            # included; that one is not a property of the data.
            raise cause from None
        if isinstance(cause, _UnknownTag):
            detail = f"unknown CBOR tag {cause.tag}"
        elif cause is not None:
            detail = f"{exc}: {type(cause).__name__}: {cause}"
        else:
            detail = str(exc)
    raise ValueError(f"invalid serialized value: {detail}")

