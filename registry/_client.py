"""Dispatching calls: the Client and its Batch."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, overload

import sim
from sim import Call, DispatchID
from sim.lowlevel import wait_value

from ._context import current_dispatch_id, frame_var, running_sync
from ._dispatched import DispatchedID, DispatchedIDs, hand_back
from .error import exception_for_error

if TYPE_CHECKING:
    from ._function import Function, PrimitiveFunction

__all__ = ["Batch", "Client", "ClientError"]

P = ParamSpec("P")

_frame_now, _running_now = frame_var.get, running_sync.get  # bound once: read per dispatch


class ClientError(Exception):
    """The SDK's error for a failed request to the Dispatch API.

    Kept so that ported code importing it keeps working; the simulated
    service is in-process, so dispatch-sim never raises it.
    """


class Client:
    """Dispatches calls to the running simulation's service and waits for them.

    `api_key` and `api_url` are accepted for compatibility with the Dispatch
    SDK and ignored: the service is simulated in-process.
    """

    def __init__(self, api_key: str | None = None, api_url: str | None = None) -> None:
        self.api_key = api_key
        self.api_url = api_url

    def dispatch(self, calls: Sequence[Call]) -> DispatchedIDs:
        """Dispatch `calls` in one request, now; their DispatchIDs in order.

        The list can also be awaited, as the SDK's coroutine is:
        ``ids = await client.dispatch(calls)``.
        """
        return hand_back(self._send(calls), sys._getframe(1))  # type: ignore[return-value]

    def _send(self, calls: Sequence[Call]) -> list[DispatchID]:
        if isinstance(calls, Call):
            raise TypeError("dispatch() takes a list of Calls, not a single Call")
        frame = frame_var.get()
        if frame is not None:
            # Inside an async function, a dispatch is a durable step: the
            # function re-run from its start makes the same dispatches in the
            # same order, and the service hands back the first ids.
            key = frame.dispatches
            frame.dispatches = key + 1
            return sim.current().dispatch(list(calls), caller=frame.dispatch_id, key=key)
        return sim.current().dispatch(list(calls), caller=current_dispatch_id())

    def _dispatch_one(self, call: Call) -> DispatchedID:
        # Called by Function.dispatch with a Call it made: the frame two up is
        # the code that called that (hand_back would skip the registry's
        # frames anyway), which decides how the id is handed back.
        # _send and current_dispatch_id, written out: this is every dispatch
        # of one call.
        frame = _frame_now()
        if frame is not None:
            key = frame.dispatches
            frame.dispatches = key + 1
            ids = sim.current().dispatch([call], caller=frame.dispatch_id, key=key)
        else:
            running = _running_now(None)
            ids = sim.current().dispatch([call], caller=running[1] if running is not None else None)
        return hand_back(ids[0], sys._getframe(2))  # type: ignore[return-value]

    async def wait(self, dispatch_id: DispatchID) -> Any:
        """Wait for the call's outcome: return its value or raise its error."""
        __tracebackhide__ = True  # pytest: a failure shows the test's and the function's frames
        # sim.current().wait_result(), without the CallResult it would build.
        return await wait_value(dispatch_id, exception_for_error)

    def batch(self) -> Batch:
        """A Batch dispatched through this client."""
        return Batch(self)


class Batch:
    """Calls collected to be dispatched in one request."""

    def __init__(self, client: Client | None = None) -> None:
        self.client = client if client is not None else Client()
        self.calls: list[Call] = []

    @overload
    def add(self, func: Function[P, Any], /, *args: P.args, **kwargs: P.kwargs) -> Batch: ...
    @overload
    def add(self, func: PrimitiveFunction, input: Any = None, /) -> Batch: ...
    def add(self, func: Any, /, *args: Any, **kwargs: Any) -> Batch:
        """Add a call of registered function `func` with these arguments (type-checked
        against its signature), or of a primitive function with its input."""
        build = getattr(func, "build_call", None)
        if build is None:
            raise TypeError(f"Batch.add() needs a registered function, got {func!r}")
        return self.add_call(build(*args, **kwargs))

    def add_call(self, call: Call) -> Batch:
        """Add `call` as it is."""
        if not isinstance(call, Call):
            raise TypeError(f"Batch.add_call() takes a Call, not {type(call).__qualname__}")
        self.calls.append(call)
        return self

    def clear(self) -> None:
        """Forget the calls added so far."""
        self.calls.clear()

    def dispatch(self) -> DispatchedIDs:
        """Dispatch every added call, now; ids in insertion order. Cleared only on success.

        The list can also be awaited, as the SDK's coroutine is:
        ``ids = await batch.dispatch()``.
        """
        ids = self.client._send(self.calls) if self.calls else []
        self.clear()
        return hand_back(ids, sys._getframe(1))  # type: ignore[return-value]
