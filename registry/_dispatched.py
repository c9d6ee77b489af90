"""What `dispatch()` returns: DispatchIDs of calls already sent, with or without ``await``.

In the Dispatch SDK, ``fn.dispatch(x)``, ``batch.dispatch()`` and
``client.dispatch(calls)`` are coroutines: ``await fn.dispatch(x)`` gives the
DispatchID. Code written for dispatch-sim (its examples, its tests) calls
them without ``await`` and gets a plain `str` or `list`. Both must work.

So dispatching happens at once, when ``dispatch()`` is called, and the value
is handed back the way the caller takes it: when the caller's very next
instruction awaits the result (``await fn.dispatch(x)``) it gets an awaitable
that gives the value; otherwise the value itself. Why not one object that is
both (a `str` subclass with ``__await__``)? The ids must stay exact `str` and
`list`: the codec copies exact atoms and flat lists as they are and encodes
subclasses through CBOR, so a subclass would change how an id crosses a call
and how a replay compares it (and tests hold ids to ``type(i) is str``).

Sending at once rather than on ``await`` is deliberate too: with the SDK, a
``dispatch()`` whose coroutine is never awaited silently sends nothing; here
a missing ``await`` changes nothing. A result kept and awaited later
(``pending = fn.dispatch(x); await pending``) is a plain `str` and cannot be
awaited: await the call, or do not await at all.
"""

from __future__ import annotations

import dis
from collections.abc import Generator
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sim import DispatchID

__all__ = ["DispatchedID", "DispatchedIDs", "hand_back"]

T = TypeVar("T")

if TYPE_CHECKING:
    # What type checkers see: the value, which can also be awaited for itself.

    class DispatchedID(str):
        def __await__(self) -> Generator[Any, Any, DispatchID]: ...

    class DispatchedIDs(list[DispatchID]):
        def __await__(self) -> Generator[Any, Any, list[DispatchID]]: ...

else:
    DispatchedID = DispatchID
    DispatchedIDs = list


class _Ready(Generic[T]):
    """An awaitable that is done already: awaiting it gives `value`, suspending nothing."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, Any, T]:
        return self.value
        yield  # a generator that finishes at once


# Whether the instruction after a call site awaits its result, by (code, offset).
_awaits_at: dict[tuple[CodeType, int], bool] = {}


def _awaited(frame: FrameType) -> bool:
    key = (frame.f_code, frame.f_lasti)
    known = _awaits_at.get(key)
    if known is None:
        after = (i for i in dis.get_instructions(frame.f_code) if i.offset > frame.f_lasti)
        following = next(after, None)
        known = _awaits_at[key] = following is not None and following.opname == "GET_AWAITABLE"
    return known


def hand_back(value: T, caller: FrameType | None) -> T:
    """`value` as `caller` takes it: wrapped to be awaited if the caller awaits it at once."""
    if caller is not None and _awaited(caller):
        return _Ready(value)  # type: ignore[return-value]
    return value
