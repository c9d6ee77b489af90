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

"The caller" is the first frame outside this package (so the depth a
dispatch method is called at does not matter), followed through plain
functions that return the result as it is (``def send(x): return
fn.dispatch(x)`` and then ``await send(x)``, as ported SDK helpers do), up to
a few of them. An async function returning the result is not followed: its
caller awaits the function, not the id.
"""

from __future__ import annotations

import dis
import inspect
import os
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


# What the instruction after a call site does with its result, by (code, offset):
# "await" it, "return" it (from a plain function), or anything else.
_use_at: dict[tuple[CodeType, int], str] = {}
_AWAIT, _RETURN, _OTHER = "await", "return", "other"
_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_MAX_WRAPPERS = 8  # plain functions returning the result, followed up to the awaiting caller


def _use(frame: FrameType) -> str:
    key = (frame.f_code, frame.f_lasti)
    known = _use_at.get(key)
    if known is None:
        after = (i for i in dis.get_instructions(frame.f_code) if i.offset > frame.f_lasti)
        following = next(after, None)
        name = following.opname if following is not None else ""
        if name == "GET_AWAITABLE":
            known = _AWAIT
        elif name in ("RETURN_VALUE", "RETURN_CONST") and not frame.f_code.co_flags & inspect.CO_COROUTINE:
            known = _RETURN
        else:
            known = _OTHER
        _use_at[key] = known
    return known


def hand_back(value: T, caller: FrameType | None) -> T:
    """`value` as `caller` takes it: wrapped to be awaited if the caller awaits it at once.

    `caller` is the frame that called into the registry; registry frames
    above it are skipped, so the depth it is taken at does not matter.
    """
    # The registry's own frames (a dispatch method calling another) and plain
    # functions that return the result as it is (a user's wrapper) pass it
    # on: what counts is whether the code that finally gets it awaits it.
    # Written out, with _use's cache read here: this runs on every dispatch.
    frame = caller
    while frame is not None and frame.f_code.co_filename.startswith(_HERE):
        frame = frame.f_back
    wrappers = 0
    while frame is not None:
        use = _use_at.get((frame.f_code, frame.f_lasti)) or _use(frame)
        if use is _AWAIT:
            return _Ready(value)  # type: ignore[return-value]
        if use is not _RETURN or wrappers == _MAX_WRAPPERS:
            return value
        wrappers += 1
        frame = frame.f_back
    return value
