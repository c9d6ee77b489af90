"""Frozen values: the form values take inside the service.

Most values crossing a call are a few ints or strs, or a list of them.
Encoding those to CBOR and back only to get a private copy costs more than
the rest of a call, so the service keeps immutable values as they are,
copies flat lists and encodes only the rest (through `dumps`, so its nesting
bound and errors apply). The result is the same as a round trip through
dumps/loads: the same value, types and errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._protocol import Arguments
from ._cbor import loads
from ._report import dumps

__all__ = ["freeze", "frozen_bytes", "same", "thaw"]


_ATOMS = frozenset({type(None), bool, int, str})


class _FrozenList(tuple):
    """A list whose items are all atoms other than floats; it thaws as a new list."""

    __slots__ = ()


class _FrozenArguments:
    """Arguments whose values are all atoms, or (positional only) flat lists of them.

    `flat` is True when no _FrozenList is among the args, else False, or None
    (false too) when freeze's fast path made it of one _FrozenList and no
    kwargs: a reader that sees None copies that one list without looking further.
    A slotted object rather than a tuple subclass made in C: it is kept for every
    call, and is smaller (a finished sequential call retains 593 bytes against 609).
    """

    __slots__ = ("args", "kwargs", "flat")

    def __init__(self, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...], flat: bool | None) -> None:
        self.args = args
        self.kwargs = kwargs
        self.flat = flat


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
    # Arguments first: every registry call's input is one, and the service
    # does not call this for a result that is an atom (it checks that first).
    if cls is Arguments:
        args, kwargs = value.args, value.kwargs  # type: ignore[attr-defined]
        if type(args) is tuple and type(kwargs) is dict:
            if not kwargs:
                # The commonest inputs of all: positional atoms other than floats,
                # or one list of them; checked here without another call.
                if len(args) == 1:  # one argument: its type alone (a pass in C costs more)
                    arg = args[0]
                    kind = type(arg)
                    if kind in _ATOMS:
                        return _FrozenArguments(args, (), True)
                    if kind is list and _ATOMS.issuperset(map(type, arg)):
                        return _FrozenArguments((_FrozenList(arg),), (), None)
                else:
                    # A loop: argument lists are short, and for a few a pass in C
                    # (issuperset of an iterator builds a set first) costs more.
                    for arg in args:
                        if type(arg) not in _ATOMS:
                            break
                    else:
                        return _FrozenArguments(args, (), True)
            frozen = _freeze_arguments(args, kwargs)
            if frozen is not None:
                return frozen
    elif cls in _ATOMS or (cls is float and value == value):
        return value
    elif cls is list:
        if _ATOMS.issuperset(map(type, value)):  # type: ignore[call-overload]  # _flat_items, written out
            return _FrozenList(value)  # type: ignore[arg-type]
    elif cls is tuple:
        if _flat_items(value):  # type: ignore[arg-type]
            return value
    return dumps(value, where=where)


def _freeze_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> _FrozenArguments | None:
    # Exactly a tuple and a dict (freeze checks): their items made of atoms, or
    # (positional only) of flat lists of them; None for anything else.
    flat = True
    frozen_args: list[Any] = []  # the args, each flat list as a _FrozenList (one pass)
    for arg in args:
        kind = type(arg)
        if kind in _ATOMS or (kind is float and arg == arg):
            frozen_args.append(arg)
        elif kind is list and _ATOMS.issuperset(map(type, arg)):  # _flat_items, written out
            frozen_args.append(_FrozenList(arg))
            flat = False
        else:
            return None
    if not flat:
        args = tuple(frozen_args)
    if not kwargs:
        return _FrozenArguments(args, (), flat)
    items = tuple(kwargs.items())
    for key, arg in items:
        if type(key) is not str or not _is_atom(arg):
            return None
    return _FrozenArguments(args, items, flat)


def thaw(frozen: object) -> Any:
    """A fresh copy of the value *frozen* holds (each call gets its own)."""
    thaw_as = _thawer_of(type(frozen))
    return frozen if thaw_as is None else thaw_as(frozen)  # atoms are their own copy


def thaw_args(frozen: _FrozenArguments) -> tuple[Any, ...]:
    """The positional arguments *frozen* holds, each list a fresh copy."""
    args = frozen.args
    if frozen.flat:
        return args  # atoms only: the tuple can be shared as it is
    if frozen.flat is None:  # one list, as freeze's fast path makes it
        return (list(args[0]),)
    thawed: list[Any] = []  # one pass, without a generator's frame
    for arg in args:
        thawed.append(list(arg) if type(arg) is _FrozenList else arg)
    return tuple(thawed)


def _thaw_arguments(frozen: _FrozenArguments) -> Arguments:
    return Arguments(thaw_args(frozen), dict(frozen.kwargs))


_THAWERS: dict[type, Callable[[Any], Any]] = {
    bytes: loads,
    _FrozenList: list,
    _FrozenArguments: _thaw_arguments,
}
_thawer_of = _THAWERS.get  # bound once: thaw runs for every value delivered that is not an atom


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
