"""Registered functions: how a Python function becomes a durable, dispatchable one."""

from __future__ import annotations

import contextvars
import functools
import inspect
from inspect import isawaitable
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from sim import Arguments, Call, DispatchID, Input, Output
from sim.lowlevel import Answer, Attempt, call_value, output_of

from ._context import current_dispatch_id, frame_var, running_sync
from ._coroutine import run_async_function
from ._dispatched import DispatchedID
from ._outcome import answer_for_value, output_for_exception, output_for_primitive, output_for_value
from ._status import _output_types
from ._steps import CallStep
from .error import exception_for_error

if TYPE_CHECKING:
    from ._registry import Registry

# Bound once: each is on every sync attempt's path (the first, on every call's).
_frame_now = frame_var.get
_copy_context = contextvars.copy_context
_set_running, _reset_running = running_sync.set, running_sync.reset

# current_dispatch_id: also read from here by code written before _context.
__all__ = ["Function", "PrimitiveFunction", "PrimitiveFunctionType", "current_dispatch_id"]

P = ParamSpec("P")
T = TypeVar("T")

PrimitiveFunctionType = Callable[[Input], Output] | Callable[[Input], Awaitable[Output]]
"""A function that handles the protocol itself: it takes an Input, returns an Output (sync or async)."""


class PrimitiveFunction:
    """A function registered as a primitive: it receives Inputs and returns Outputs."""

    # Marks registered functions for modules that cannot import this one.
    _registered_function = True

    def __init__(self, registry: Registry, name: str, primitive: PrimitiveFunctionType) -> None:
        self._registry = registry
        self._name = name
        self._primitive = primitive
        self._endpoint = registry._endpoint  # the registry's close() changes it
        functools.update_wrapper(self, primitive)  # type: ignore[arg-type]

    @property
    def name(self) -> str:
        """The name the function is registered under (its ``__qualname__``)."""
        return self._name

    @property
    def registry(self) -> Registry:
        """The registry the function belongs to."""
        return self._registry

    @property
    def endpoint(self) -> str:
        """The endpoint URL that serves the function (none once its registry closed)."""
        return self._endpoint

    def build_call(self, input: Any = None) -> Call:
        """A Call of this function with `input` (not dispatched)."""
        return Call(self._name, input, self.endpoint)

    def dispatch(self, input: Any = None) -> DispatchedID:
        """Dispatch a call of this function with `input`, now; its DispatchID (also awaitable)."""
        return self._registry.client._dispatch_one(self.build_call(input))

    def _run(self, inp: Input) -> Output | Awaitable[Output]:
        returned = self._primitive(inp)
        if inspect.isawaitable(returned):
            return self._finish_async(returned)
        return output_for_primitive(returned, self._name)

    def _serve(self, attempt: Attempt) -> Answer | Awaitable[Answer]:
        # A primitive function takes the public Input: build it for it.
        return self._run(attempt.to_input())

    async def _finish_async(self, pending: Awaitable[Any]) -> Output:
        return output_for_primitive(await pending, self._name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name} of registry {self._registry.name!r}>"

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        # Pickled by name, as in the SDK: unpickling finds the function in its
        # (open) registry, even one defined in a local scope. (Through the
        # registry's class, which pickle names by reference: no import cycle.)
        return type(self._registry)._function_named, (self._registry.name, self._name)


class Function(PrimitiveFunction, Generic[P, T]):
    """A registered function, sync or async.

    Calling it from a test (outside any function) dispatches the call and
    waits for its result: ``await fn(x)``. Inside an async registered
    function, ``await fn(x)`` is a durable step of that function.
    """

    def __init__(self, registry: Registry, name: str, func: Callable[P, Any]) -> None:
        self._func = func
        self._is_async = inspect.iscoroutinefunction(func)
        super().__init__(registry, name, self._primitive_for)  # type: ignore[arg-type]
        functools.update_wrapper(self, func)
        # Straight to the right runner: this is on every attempt's path.
        self._run = self._run_async if self._is_async else self._run_sync  # type: ignore[method-assign]
        if self._is_async:
            # Attempts go straight to run_async_function, bound here once.
            self._serve = functools.partial(run_async_function, func, self)  # type: ignore[method-assign]
        else:
            self._serve = self._serve_sync  # type: ignore[method-assign]

    def __call__(self, /, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, T]:
        call = Call(self._name, Arguments(args, kwargs), self._endpoint)
        if _frame_now() is not None:
            return CallStep(call)  # type: ignore[return-value]
        running = running_sync.get(None)
        if running is not None:
            raise RuntimeError(
                f"{running[0]} is a sync function and cannot call {self._name}: only async "
                f"functions can await other functions; use {self._name}.dispatch() to start "
                "it without waiting"
            )
        # Outside any function, so there is no caller: the call is dispatched
        # and awaited in this one coroutine (no Client method between).
        return call_value(call, exception_for_error)

    def build_call(self, /, *args: P.args, **kwargs: P.kwargs) -> Call:
        """A Call of this function with these arguments (not dispatched)."""
        return Call(self._name, Arguments(args, kwargs), self.endpoint)

    def dispatch(self, /, *args: P.args, **kwargs: P.kwargs) -> DispatchedID:
        """Dispatch a call now without waiting for it; its DispatchID.

        Awaiting the result gives the same DispatchID, as with the SDK's
        coroutine: ``await fn.dispatch(x)``.
        """
        # build_call, written out (self._endpoint is what self.endpoint reads).
        return self._registry._client._dispatch_one(Call(self._name, Arguments(args, kwargs), self._endpoint))

    def _primitive_for(self, inp: Input) -> Output | Awaitable[Output]:
        return self._run(inp)

    def _run_async(self, inp: Input) -> Output | Awaitable[Output]:
        answer = run_async_function(self._func, self, inp)
        if isawaitable(answer):
            return _output_later(answer)
        return output_of(answer)

    def _run_sync(self, inp: Input) -> Output:
        args, kwargs = inp.input_arguments()
        token = running_sync.set((self._name, inp.dispatch_id))
        try:
            # A context of its own: what the function sets stays with it.
            value = contextvars.copy_context().run(self._func, *args, **kwargs)
        except Exception as exc:
            return output_for_exception(exc, inp)
        finally:
            running_sync.reset(token)
        return output_for_value(value, self._name)

    def _serve_sync(self, attempt: Attempt) -> Answer:
        # _run_sync on the service's light view, answering a value as (value,).
        args, kwargs = attempt.input_arguments()
        token = _set_running((self._name, attempt.dispatch_id))
        try:
            # A context of its own, never held in a local: a failure's traceback
            # keeps this frame, and the context would keep the simulation alive.
            value = _copy_context().run(self._func, *args, **kwargs)
        except Exception as exc:
            return output_for_exception(exc, attempt)
        finally:
            _reset_running(token)
        if not _output_types:  # answer_for_value, written out: every value is OK
            return (value,)
        return answer_for_value(value, self._name)


async def _output_later(pending: Awaitable[Answer]) -> Output:
    return output_of(await pending)
