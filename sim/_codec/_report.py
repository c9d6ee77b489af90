"""`dumps`: encode a value, or say exactly where it cannot be encoded.

The fast path is `_cbor.encode`; only when it fails does this module walk the
value (depth first, without recursion) to name the path and type of the
first part that cannot be encoded: an unsupported type, a cycle, a container
nested deeper than `MAX_DEPTH` (500 levels), or a leaf whose encoding
raised. Messages never depend on memory addresses or hash order.
"""

from __future__ import annotations

import contextlib
import re
import sys
import types
from collections.abc import Callable, Iterator, Mapping, Sequence, Set

from .._protocol import Arguments
from ._cbor import _SUPPORTED, MAX_DEPTH, _encodable, _TooDeep, _Unsupported, encode
from ._exceptions import type_name

__all__ = ["SerializationError", "dumps"]


class SerializationError(TypeError):
    """A value cannot cross a call boundary."""


def dumps(value: object, *, where: str = "value") -> bytes:
    """Encode *value*; *where* ("argument", "result", ...) names it in errors.

    Raises :class:`SerializationError` naming the path and qualified type of
    the first value (cbor2's encoding order) that cannot be encoded, e.g.
    ``cannot serialize argument[0]['k']: object of type '_thread.lock' is not
    supported (...)``.

    Values nested more than `MAX_DEPTH` (500) containers deep raise
    SerializationError naming the path, whatever the recursion limit or the
    depth of the caller's stack (when they leave too little room, the
    encoding is retried once with the limit raised just enough).

    Limitations: subclasses of int, str, float, list, tuple, dict and
    datetime (IntEnum members, namedtuples, ...) are encoded by cbor2 as
    their base type and come back as plain int, str, float, list (even for a
    tuple subclass), dict or datetime.
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
        return encode(value)
    except Exception as exc:
        # A RecursionError: the caller's stack left too little room; try
        # again with enough (outside the except block: errors never chain).
        error = None if isinstance(exc, RecursionError) else _serialization_error(value, where, exc)
    if error is None:
        try:
            with _room_for_max_depth():
                return encode(value)
        except Exception as exc:
            error = _serialization_error(value, where, exc)
    raise error


# Python frames one level of nesting can take while encoding (a set: its
# counting wrapper, its encoder, the shared element encoder, a comprehension).
_FRAMES_PER_LEVEL = 4


@contextlib.contextmanager
def _room_for_max_depth() -> Iterator[None]:
    """A recursion limit with room for MAX_DEPTH levels above the current stack, restored after.

    So that the explicit bound, not the caller's stack depth or a low
    recursion limit, decides which values encode. Safe for the C stack: the
    bound keeps the encoder's own recursion to MAX_DEPTH levels.
    """
    frame: types.FrameType | None = sys._getframe()
    depth = 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(max(saved, depth + _FRAMES_PER_LEVEL * MAX_DEPTH + 100))
    try:
        yield
    finally:
        sys.setrecursionlimit(saved)


# --- error reporting (slow path only) ---------------------------------------


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


_PATH_HEAD = re.compile(r"(?:\[[^\]]*\]|<key>|<element>)")


def _abridged(path: str, keep: int = 8) -> str:
    """*path* with the middle left out when it has many parts (a deep one has thousands)."""
    parts = _PATH_HEAD.findall(path)
    if len(parts) <= 2 * keep or "".join(parts) != path:
        return path
    return f"{''.join(parts[:keep])}...({len(parts) - 2 * keep} more)...{''.join(parts[-keep:])}"


def _serialization_error(value: object, where: str, exc: Exception) -> SerializationError:
    if isinstance(exc, _Unsupported):
        target = exc.obj
        found = _locate(value, lambda node, cyclic: node is target)
        return SerializationError(
            f"cannot serialize {where}{found[0] if found else ''}: object of type "
            f"{type_name(type(target))!r} is not supported (supported: {_SUPPORTED})"
        )
    if isinstance(exc, _TooDeep):
        target = exc.obj
        found = _locate(value, lambda node, cyclic: node is target)
        return SerializationError(
            f"cannot serialize {where}{_abridged(found[0]) if found else ''}: "
            f"nested more than {MAX_DEPTH} levels deep (a {type(target).__name__} at that depth)"
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
            f"{type_name(type(node))!r} cannot be encoded ({exc})"
        )
    return SerializationError(f"cannot serialize {where}: {type(exc).__name__}: {exc}")

