"""Serialize values crossing a call boundary, as deterministic CBOR.

Each call gets its own copy of its arguments and result, with their exact
types, and equal values give equal bytes whatever ``PYTHONHASHSEED``.
Supported: None, bool, int, float, str, bytes, bytearray, list, tuple, dict,
set, frozenset, datetime, date, time, timedelta, Decimal, UUID and exception
instances, nested; anything else raises :class:`SerializationError`.

Determinism: dicts are written in insertion order (which never depends on
the hash seed) and come back in that order; sets and frozensets, whose
iteration order does depend on it, are written with their elements sorted by
their own encoded bytes; a float always gets the same form (float64, NaN
and infinities half-precision), not the shortest exact one. So two equal
dicts built in different insertion orders give different bytes, which is
intended: they are different values to anyone who iterates over them, the
journal compares bytes, and a deterministic program builds its dicts in the
same order every time.

A str holding lone surrogates (not valid UTF-8) is written under a tag of its
own and comes back unchanged; a datetime or time whose tzinfo is a
``zoneinfo.ZoneInfo`` comes back with ``ZoneInfo(key)``, the same zone.

Exceptions keep their class, ``args`` (an argument that cannot be encoded
becomes its repr), the encodable part of ``__dict__`` and ``str(exc)``, but
not their traceback, cause or context. Decoding finds the class among the
modules already imported, never importing one, and does not call its
``__init__``; when the class cannot be found (module not loaded, name
missing, not an exception class) it decodes to
``RuntimeError(f"{module}.{qualname}: {message}")``. That message is
``str(exc)`` as it is: when it shows a set (``ValueError({"a", "b"})``),
its bytes follow the hash seed.
"""

from __future__ import annotations

import array
import collections
import datetime
import decimal
import fractions
import ipaddress
import re
import sys
import threading
import types
import uuid as _uuid
import zoneinfo
from collections.abc import Callable, Mapping, Sequence, Set
from typing import Any, NoReturn

import cbor2

from ._protocol import Arguments

__all__ = ["SerializationError", "dumps", "freeze", "frozen_bytes", "loads", "same", "thaw"]


class SerializationError(TypeError):
    """A value cannot cross a call boundary."""


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

# cbor2's default of 400 would reject values that dumps() accepted (it
# allows about as many levels as the recursion limit); its decoder was
# checked not to overflow the C stack at twice this depth.
_MAX_DEPTH = 100_000

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


# Attributes that C-level exception types keep outside ``__dict__`` and that
# ``args`` does not fully determine (OSError drops ``filename`` from args).
_SLOT_ATTRIBUTES: tuple[tuple[type[BaseException], tuple[str, ...]], ...] = (
    (OSError, ("errno", "strerror", "filename", "filename2", "characters_written")),
    (ImportError, ("name", "path")),
    (AttributeError, ("name",)),
    (NameError, ("name",)),
)


class _ExceptionState(threading.local):
    # Payloads of the exceptions being encoded by the outermost exception
    # hook on this thread, keyed by id (membership only, never ordering); the
    # entry keeps the exception alive so that its id cannot be reused. None
    # as payload marks "in progress", i.e. an exception that contains itself.
    memo: dict[int, tuple[BaseException, list[Any] | None]] | None = None


_exception_state = _ExceptionState()


def _encodable(value: object) -> bool:
    try:
        _encode(value)
    except Exception:
        return False
    return True


def _safe_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception:
        return f"<unrepresentable {_type_name(type(value))} object>"
    # Memory addresses differ from run to run; the simulation must not.
    return _ADDRESS.sub("", text)


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {_type_name(type(exc))} object>"


def _exception_payload(exc: BaseException) -> list[Any]:
    cls = type(exc)
    args = exc.args
    if _encodable(args):
        encoded_args = list(args)
    else:
        encoded_args = [a if _encodable(a) else _safe_repr(a) for a in args]
    attributes: dict[str, Any] = {}
    for name, attr in getattr(exc, "__dict__", {}).items():
        if isinstance(name, str) and _encodable(attr):
            attributes[name] = attr
    slots: dict[str, Any] = {}
    for base, names in _SLOT_ATTRIBUTES:
        if isinstance(exc, base):
            for name in names:
                try:
                    attr = getattr(exc, name)
                except Exception:
                    continue
                # None is the unset default; setting it explicitly would
                # change str() (OSError shows a filename2 that is not NULL).
                if attr is not None and _encodable(attr):
                    slots[name] = attr
    return [
        cls.__module__,
        cls.__qualname__,
        encoded_args,
        attributes,
        _safe_str(exc),
        slots,
    ]


def _encode_exception(encoder: cbor2.CBOREncoder, exc: BaseException) -> None:
    state = _exception_state
    memo = state.memo
    owner = memo is None
    if memo is None:
        memo = state.memo = {}
    try:
        entry = memo.get(id(exc))
        if entry is None:
            memo[id(exc)] = (exc, None)
            payload = _exception_payload(exc)
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


class _EncoderTable(dict[type, Callable[[cbor2.CBOREncoder, Any], None]]):
    """Encoders by exact type; cbor2 looks every value's type up in it.

    A miss (KeyError) lets cbor2 dispatch on its own, by isinstance, so most
    subclasses are encoded as their base type (see the limitation in the
    docstring of dumps). Set and frozenset subclasses are the exception:
    cbor2 would write their elements in iteration order, which depends on the
    hash seed, so they get our sorting encoders.
    """

    def __missing__(self, cls: type) -> Callable[[cbor2.CBOREncoder, Any], None]:
        # Not cached: that would keep dynamically created classes alive.
        if issubclass(cls, frozenset):
            return _encode_frozenset
        if issubclass(cls, set):
            return _encode_set
        raise KeyError(cls)


def _encode_none(encoder: cbor2.CBOREncoder, value: None) -> None:
    encoder.encode_none()


# Looked up by exact type before cbor2's own dispatch, so subclasses are not
# affected (see the limitation in the docstring of dumps).
_ENCODERS = _EncoderTable(
    {
        tuple: _encode_tuple,
        Arguments: _encode_arguments,
        frozenset: _encode_frozenset,
        datetime.datetime: _encode_datetime,
        datetime.time: _encode_time,
        datetime.timedelta: _encode_timedelta,
        decimal.Decimal: _encode_decimal,
        bytearray: _encode_bytearray,
        set: _encode_set,
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
# bytes, faster. Going through a Python-level call also makes deep nesting
# raise RecursionError, where cbor2's recursive native dispatch would
# overflow the C stack (SIGSEGV at about 7,500 nested lists).
_ENCODERS.update(
    {
        int: _Encoder.encode_int,
        str: _Encoder.encode_string,
        float: _Encoder.encode_float,
        list: _Encoder.encode_array,
        dict: _Encoder.encode_map,
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


def _encode(value: object) -> bytes:
    try:
        return _cbor_dumps(value, default=_default, encoders=_ENCODERS)
    except Exception as exc:
        if not _is_unicode_error(exc):
            raise
    # Rare: some str is not valid UTF-8. Encode again with the slower table
    # (outside the except block, so that errors do not chain to the first).
    return _cbor_dumps(value, default=_default, encoders=_LENIENT_ENCODERS)


def dumps(value: object, *, where: str = "value") -> bytes:
    """Encode *value*; *where* ("argument", "result", ...) names it in errors.

    Raises :class:`SerializationError` naming the path and qualified type of
    the first value (cbor2's encoding order) that cannot be encoded, e.g.
    ``cannot serialize argument[0]['k']: object of type '_thread.lock' is not
    supported (...)``.

    Values nested deeper than the recursion limit allows (about 1,000
    levels) raise SerializationError, as they would with pickle.

    Limitations: subclasses of int, str, float, list, tuple, dict and
    datetime (IntEnum members, namedtuples, ...) are encoded by cbor2 as
    their base type and come back as plain int, str, float, list (even for a
    tuple subclass), dict or datetime, and containers of such subclasses
    nested thousands of levels deep can still crash cbor2's encoder.
    Subclasses of set and frozenset come back as plain set and frozenset.
    Aware datetimes and times come back with a fixed-offset timezone (same
    UTC offset) unless their tzinfo is a ``zoneinfo.ZoneInfo`` with a key
    (not a subclass, not one from ``ZoneInfo.from_file``).

    Dicts keep their insertion order, which is part of the bytes: equal dicts
    built in different orders encode differently (see the module docstring).
    Strings with lone surrogates round-trip (a slower second pass encodes
    them).
    """
    try:
        return _encode(value)
    except Exception as exc:
        error = _serialization_error(value, where, exc)
    raise error


# --- error reporting (slow path only) ---------------------------------------


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _key_repr(key: object, budget: int = 3) -> str:
    # Only reprs that do not depend on memory addresses or hash order, so
    # that error messages are identical from one run to the next.
    if key is None or isinstance(key, (bool, int, float, str, bytes)):
        text = repr(key)
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(key, tuple) and budget > 0:
        inner = ", ".join(_key_repr(k, budget - 1) for k in key)
        return f"({inner},)" if len(key) == 1 else f"({inner})"
    return f"<{type(key).__name__}>"


def _children(obj: object) -> list[tuple[str, object]] | None:
    if obj is None or isinstance(obj, (str, bytes, bytearray, int, float)):
        return None
    try:
        if isinstance(obj, Arguments):
            # argument[0]... for positional arguments, argument['name']...
            # for keyword arguments.
            found: list[tuple[str, object]] = [(f"[{i}]", item) for i, item in enumerate(obj.args)]
            for key, item in obj.kwargs.items():
                found.append(("<key>", key))
                found.append((f"[{_key_repr(key)}]", item))
            return found
        if isinstance(obj, Mapping):
            children: list[tuple[str, object]] = []
            for key, item in obj.items():
                children.append(("<key>", key))
                children.append((f"[{_key_repr(key)}]", item))
            return children
        if isinstance(obj, (list, tuple, Sequence)):
            return [(f"[{i}]", item) for i, item in enumerate(obj)]
        if isinstance(obj, (set, frozenset, Set)):
            return [("<element>", item) for item in obj]
    except Exception:
        return None
    return None


def _locate(
    root: object, match: Callable[[object, bool], bool]
) -> tuple[str, object] | None:
    """Path to, and value of, the first node (depth first) matching *match*.

    ``match(node, cyclic)`` is told whether *node* is a container already
    being visited higher up, i.e. one that closes a cycle.
    """
    on_path: set[int] = set()
    done: set[int] = set()
    stack: list[tuple[object, str, bool]] = [(root, "", False)]
    while stack:
        node, path, leaving = stack.pop()
        if leaving:
            on_path.discard(id(node))
            done.add(id(node))
            continue
        children = _children(node)
        if match(node, children is not None and id(node) in on_path):
            return path, node
        if children is None or id(node) in on_path or id(node) in done:
            continue
        on_path.add(id(node))
        stack.append((node, path, True))
        for part, child in reversed(children):
            stack.append((child, path + part, False))
    return None


def _serialization_error(value: object, where: str, exc: Exception) -> SerializationError:
    if isinstance(exc, _Unsupported):
        target = exc.obj
        found = _locate(value, lambda node, cyclic: node is target)
        return SerializationError(
            f"cannot serialize {where}{found[0] if found else ''}: object of type "
            f"{_type_name(type(target))!r} is not supported (supported: {_SUPPORTED})"
        )
    if isinstance(exc, RecursionError):
        return SerializationError(f"cannot serialize {where}: it is nested too deeply")
    found = _locate(value, lambda node, cyclic: cyclic)
    if found is not None:
        path, node = found
        return SerializationError(
            f"cannot serialize {where}{path}: cyclic reference "
            f"(a {type(node).__name__} that contains itself)"
        )
    # Something else failed inside cbor2 or in user code (a tzinfo or a
    # Mapping that raises, ...): point at the first leaf that fails alone.
    found = _locate(
        value, lambda node, cyclic: _children(node) is None and not _encodable(node)
    )
    if found is not None:
        path, node = found
        return SerializationError(
            f"cannot serialize {where}{path}: object of type "
            f"{_type_name(type(node))!r} cannot be encoded ({exc})"
        )
    return SerializationError(f"cannot serialize {where}: {type(exc).__name__}: {exc}")


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


def _find_exception_class(module: str, qualname: str) -> type[BaseException] | None:
    # Plain namespace lookups only: importing, or even getattr() (which can
    # run a module's __getattr__), could execute code while decoding.
    obj: object = sys.modules.get(module)
    if obj is None:
        return None
    for name in qualname.split("."):
        namespace = getattr(obj, "__dict__", None)
        if not isinstance(namespace, Mapping):
            return None
        obj = namespace.get(name)
        if obj is None:
            return None
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return obj
    return None


def _builtin_base(cls: type[BaseException]) -> type[BaseException]:
    for base in cls.__mro__:
        if base.__module__ == "builtins":
            return base
    return BaseException  # pragma: no cover - every exception has one


def _decode_exception(value: Any, immutable: bool) -> BaseException:
    module, qualname, args, attributes, message, slots = value
    args = tuple(args)
    cls = _find_exception_class(module, qualname)
    if cls is None:
        return RuntimeError(f"{module}.{qualname}: {message}")
    # The class's own __init__ may take any signature (several required or
    # keyword-only arguments), so it is never called. __new__ is, because
    # C-level classes need their own to allocate their state.
    try:
        exc = cls.__new__(cls, *args)
    except Exception:
        try:
            exc = BaseException.__new__(cls)
        except Exception:
            return RuntimeError(f"{module}.{qualname}: {message}")
    if not isinstance(exc, cls):
        return RuntimeError(f"{module}.{qualname}: {message}")
    # The builtin base's __init__ derives C-level state from args (OSError's
    # errno and strerror, UnicodeError's fields, StopIteration.value, ...).
    try:
        _builtin_base(cls).__init__(exc, *args)
    except Exception:
        pass
    exc.args = args
    for name, attr in slots.items():
        try:
            setattr(exc, name, attr)
        except Exception:
            pass
    try:
        exc.__dict__.update(attributes)
    except Exception:
        pass
    return exc


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
            max_depth=_MAX_DEPTH,
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


# --- frozen values: the form values take inside the service -----------------
#
# Most values crossing a call are a few ints or strs, or a list of them.
# Encoding those to CBOR and back only to get a private copy costs more than
# the rest of a call, so the service keeps immutable values as they are,
# copies flat lists and encodes only the rest. The result is the same as a
# round trip through dumps/loads: the same value, types and errors.

_ATOMS = frozenset({type(None), bool, int, str})


class _FrozenList(tuple):
    """A list whose items are all atoms other than floats; it thaws as a new list."""

    __slots__ = ()


class _FrozenArguments:
    """Arguments whose values are all atoms, or (positional only) flat lists of them."""

    __slots__ = ("args", "kwargs", "flat")

    def __init__(self, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...], flat: bool) -> None:
        self.args = args
        self.kwargs = kwargs
        self.flat = flat  # no _FrozenList among the args


def _is_atom(value: object) -> bool:
    cls = type(value)
    # NaN goes through CBOR, which writes every NaN the same way.
    return cls in _ATOMS or (cls is float and value == value)


def _flat_items(value: list[Any] | tuple[Any, ...]) -> bool:
    # One pass in C; floats are left to CBOR (NaN).
    return _ATOMS.issuperset(map(type, value))


def freeze(value: object, *, where: str = "value") -> object:
    """The service's private, immutable form of *value*; see :func:`thaw`.

    Atoms (None, bool, int, str, a float that is not NaN) and tuples of atoms
    other than floats stay as they are, such lists are kept as tuples,
    Arguments made of those become a small record, and everything else is
    encoded by :func:`dumps`, whose errors it raises.
    """
    cls = type(value)
    if cls in _ATOMS or (cls is float and value == value):
        return value
    if cls is Arguments:
        args, kwargs = value.args, value.kwargs  # type: ignore[attr-defined]
        if type(kwargs) is dict and not kwargs and type(args) is tuple:
            # The commonest input of all, checked here without another call.
            for arg in args:
                kind = type(arg)
                if kind not in _ATOMS and (kind is not float or arg != arg):
                    break
            else:
                return _FrozenArguments(args, (), True)
        frozen = _freeze_arguments(args, kwargs)
        if frozen is not None:
            return frozen
    elif cls is list:
        if _flat_items(value):  # type: ignore[arg-type]
            return _FrozenList(value)  # type: ignore[arg-type]
    elif cls is tuple:
        if _flat_items(value):  # type: ignore[arg-type]
            return value
    return dumps(value, where=where)


def _freeze_arguments(args: Any, kwargs: Any) -> _FrozenArguments | None:
    if type(args) is not tuple or type(kwargs) is not dict:
        return None
    flat = True
    for arg in args:
        kind = type(arg)
        if kind in _ATOMS or (kind is float and arg == arg):
            continue
        if kind is not list or not _flat_items(arg):
            return None
        flat = False
    if not flat:
        args = tuple(_FrozenList(a) if type(a) is list else a for a in args)
    if not kwargs:
        return _FrozenArguments(args, (), flat)
    items = tuple(kwargs.items())
    for key, arg in items:
        if type(key) is not str or not _is_atom(arg):
            return None
    return _FrozenArguments(args, items, flat)


def thaw(frozen: object) -> Any:
    """A fresh copy of the value *frozen* holds (each call gets its own)."""
    thaw_as = _THAWERS.get(type(frozen))
    return frozen if thaw_as is None else thaw_as(frozen)  # atoms are their own copy


def _thaw_arguments(frozen: _FrozenArguments) -> Arguments:
    args = frozen.args
    if not frozen.flat:
        args = tuple(list(a) if type(a) is _FrozenList else a for a in args)
    return Arguments(args, dict(frozen.kwargs))


_THAWERS: dict[type, Callable[[Any], Any]] = {
    bytes: loads,
    _FrozenList: list,
    _FrozenArguments: _thaw_arguments,
}


def frozen_bytes(frozen: object) -> bytes:
    """The canonical encoding of the value *frozen* holds, as :func:`dumps` writes it."""
    if type(frozen) is bytes:
        return frozen
    return dumps(thaw(frozen))


def same(a: object, b: object) -> bool:
    """Whether two frozen values hold values with the same encoding (what the journal compares)."""
    kind = type(a)
    if kind is not type(b):
        return frozen_bytes(a) == frozen_bytes(b)
    if kind is bytes:
        return a == b
    if kind is _FrozenArguments:
        if not (a.flat and b.flat):  # type: ignore[attr-defined]
            return frozen_bytes(a) == frozen_bytes(b)
        return _same_atoms(a.args, b.args) and _same_items(a.kwargs, b.kwargs)  # type: ignore[attr-defined]
    if kind is tuple or kind is _FrozenList:
        return _same_atoms(a, b)  # type: ignore[arg-type]
    return _same_atom(a, b)


def _same_atom(a: object, b: object) -> bool:
    # 1 == 1.0 == True, and 0.0 == -0.0, but their encodings differ.
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is float:
        return a.hex() == b.hex()  # type: ignore[attr-defined]
    return a == b


def _same_atoms(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    # Equal values of the same types differ in encoding only as floats can (-0.0).
    if a != b or list(map(type, a)) != list(map(type, b)):
        return False
    return all(x.hex() == y.hex() for x, y in zip(a, b) if type(x) is float)


def _same_items(a: tuple[tuple[str, Any], ...], b: tuple[tuple[str, Any], ...]) -> bool:
    if not a or not b:
        return a == b
    return [k for k, _ in a] == [k for k, _ in b] and _same_atoms(
        tuple(v for _, v in a), tuple(v for _, v in b)
    )
