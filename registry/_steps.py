"""What user code awaits inside an async function: durable steps and their combinators.

`call` and `sleep` are single durable steps; `gather`, `all`, `any` and
`race` combine awaitables, each under a `Combinator` policy that says what
settles the group. `Reset` (a tail call) and `AnyException` (every
awaitable of `any` failed) are the exceptions that belong to them. Running
the steps is the frame's job (`_coroutine`).
"""

from __future__ import annotations

import sys
import types
import warnings
from collections.abc import Awaitable, Coroutine, Generator, Sequence
from typing import Any

import attrs

from sim import Call, current
from sim.lowlevel import TIMER_FUNCTION

from ._context import frame_var, require_frame

__all__ = [
    "ALL",
    "ANY",
    "GATHER",
    "RACE",
    "AnyException",
    "CallStep",
    "Combinator",
    "GroupStep",
    "Reset",
    "Step",
    "all",
    "any",
    "call",
    "gather",
    "race",
    "sleep",
]


class Reset(Exception):
    """Raise ``Reset(fn, *args, **kwargs)`` to continue the current call as ``fn(*args, **kwargs)``.

    The DispatchID stays the same, and the caller gets the new function's
    result. Works from async and sync functions.
    """

    def __init__(self, fn: Any, /, *args: Any, **kwargs: Any) -> None:
        build = getattr(fn, "build_call", None)
        if build is None:
            raise TypeError(f"Reset needs a registered function, not {fn!r}")
        self.call: Call = build(*args, **kwargs)
        super().__init__(f"reset to {self.call.function}")


class AnyException(RuntimeError):
    """Every awaitable given to `any` failed; `.exceptions` holds them in argument order."""

    def __init__(self, exceptions: Sequence[BaseException]) -> None:
        self.exceptions = list(exceptions)
        super().__init__(f"{len(self.exceptions)} coroutine(s) failed with an exception")


@attrs.frozen
class Combinator:
    """How a group of awaitables settles: the policy behind gather, all, any and race.

    A group settles on its first value when `first_value_settles`, on its
    first error when `first_error_settles`; otherwise it waits for all of
    them (all values: their list; all errors: `all_failed`). With no
    awaitables it settles at once on `empty()`.
    """

    name: str
    first_value_settles: bool
    first_error_settles: bool
    empty_is_list: bool

    def empty(self) -> Any:
        """The result of the group of no awaitables."""
        return [] if self.empty_is_list else None

    @staticmethod
    def all_failed(errors: Sequence[BaseException]) -> BaseException:
        """The error of a group whose every awaitable failed: the one error, or all of them."""
        return errors[0] if len(errors) == 1 else AnyException(errors)


GATHER = Combinator("gather", first_value_settles=False, first_error_settles=True, empty_is_list=True)
ALL = Combinator("all", first_value_settles=False, first_error_settles=True, empty_is_list=True)
ANY = Combinator("any", first_value_settles=True, first_error_settles=False, empty_is_list=False)
RACE = Combinator("race", first_value_settles=True, first_error_settles=True, empty_is_list=False)


class Step:
    """Base of everything a durable coroutine yields to its frame."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, Any, Any]:
        try:
            return (yield self)
        except TypeError as exc:
            raise _in_trio_task(self, exc) from None


def _in_trio_task(step: Step, exc: TypeError) -> TypeError | RuntimeError:
    """The error for a step trio got instead of the frame (it was awaited in a nursery's task)."""
    frame = frame_var.get()
    if frame is None or frame.task is None or _current_task() is frame.task:
        return exc  # the frame threw it: a TypeError of the function's own
    inp = frame.input
    name = inp.function if inp is not None else frame.dispatch_id
    return RuntimeError(
        f"{step!r} was awaited in a trio task that {name} started (trio.open_nursery / "
        "start_soon); durable calls run only in the function's own task: use "
        "registry.gather(...) to run them concurrently"
    )


def _current_task() -> object:
    import trio  # here: only a misuse needs it

    try:
        return trio.lowlevel.current_task()
    except RuntimeError:
        return None


class _CallStepBase(Step):
    """What a call step is before and after the frame starts it (its two classes)."""

    __slots__ = ("call",)

    call: Call

    def __repr__(self) -> str:
        return f"<durable call {self.call.function}>"


class CallStep(_CallStepBase):
    """A call of a function (or the durable timer), awaited once.

    Not started yet: the frame that starts it makes it a `_StartedCallStep`
    (assigning its class), so that a step dropped unawaited is one still of
    this class, found by its `__del__` alone, and a started one runs none.
    """

    __slots__ = ()

    def __init__(self, call: Call) -> None:
        self.call = call

    def __del__(self) -> None:
        _dropped(self.call.function)


class _StartedCallStep(_CallStepBase):
    """A `CallStep` its frame has started: awaiting it again is a mistake."""

    __slots__ = ()


def _dropped(function: str) -> None:
    """A call created inside a function is dropped unawaited: warn, and say so in the trace."""
    frame = frame_var.get()
    if frame is None:
        # Dropped while its frame is closed (a crash, the end of the run): the
        # function did not finish, so this is not a call it forgot.
        return
    # The call is dropped by refcount right where the function stops holding
    # it: at the statement that made it, when its result was never kept. So
    # the code running now is where it was created (or last held).
    caller = sys._getframe(2)
    where = f"{caller.f_code.co_filename}:{caller.f_lineno}"
    inp = frame.input
    name = inp.function if inp is not None else frame.dispatch_id
    warnings.warn_explicit(
        f"a call of {function} made in {name} (DispatchID {frame.dispatch_id}) at {where} was "
        f"never awaited, so it never ran; write await {function.rsplit('.', 1)[-1]}(...), pass it "
        "to registry.gather(...), or use .dispatch(...) to start it without waiting",
        RuntimeWarning,
        caller.f_code.co_filename,
        caller.f_lineno,
        module=caller.f_globals.get("__name__", "?"),
        registry=caller.f_globals.setdefault("__warningregistry__", {}),
    )
    try:
        simulation = current()
    except RuntimeError:
        return
    simulation.report_unawaited(frame.dispatch_id, function)


class GroupStep(Step):
    """Awaitables combined under a `Combinator`."""

    __slots__ = ("combinator", "awaitables")

    def __init__(self, combinator: Combinator, awaitables: tuple[Any, ...]) -> None:
        self.combinator = combinator
        self.awaitables = awaitables


async def call(c: Call) -> Any:
    """Await a raw `Call` (e.g. to a primitive function) as a durable step."""
    if not isinstance(c, Call):
        raise TypeError(f"call() takes a Call, not {type(c).__qualname__}")
    require_frame("call()")
    return await CallStep(attrs.evolve(c))


async def sleep(seconds: float) -> None:
    """A durable timer: suspend this function for `seconds` of virtual time.

    Journaled like a call, so a rebuilt coroutine does not sleep again.
    """
    require_frame("sleep()")
    return await CallStep(Call(TIMER_FUNCTION, seconds))


def _group(combinator: Combinator, awaitables: tuple[Any, ...]) -> Awaitable[Any]:
    if not _DURABLE_TYPES.issuperset(map(type, awaitables)):  # the usual ones, in one pass in C
        for i, aw in enumerate(awaitables):
            if not isinstance(aw, Step | Coroutine):
                raise TypeError(f"{combinator.name}() argument {i} is not awaitable durably: {aw!r}")
    if frame_var.get() is None:
        return _outside_group(combinator.name)
    return GroupStep(combinator, awaitables)


_frame_now = frame_var.get  # bound once: gather asks it per group

# What a group's awaitables usually are, exactly: calls, groups, and async
# functions' coroutines (gathered helpers). Anything else is checked one by one.
_DURABLE_TYPES = frozenset({CallStep, GroupStep, types.CoroutineType})


async def _outside_group(name: str) -> Any:
    raise RuntimeError(
        f"{name}() runs inside an async function registered with a Registry; "
        "outside of one, await the calls directly or use a Batch"
    )


def gather(*awaitables: Any) -> Awaitable[list[Any]]:
    """Await all, concurrently; results in argument order; the first error is raised."""
    # _group's usual case, written out: every fan-out comes here.
    if _DURABLE_TYPES.issuperset(map(type, awaitables)) and _frame_now() is not None:
        return GroupStep(GATHER, awaitables)
    return _group(GATHER, awaitables)


def all(*awaitables: Any) -> Awaitable[list[Any]]:  # noqa: A001 - the Dispatch name
    """Same as `gather`."""
    return _group(ALL, awaitables)


def any(*awaitables: Any) -> Awaitable[Any]:  # noqa: A001 - the Dispatch name
    """The first value to arrive; if all fail, their one error or an `AnyException`."""
    return _group(ANY, awaitables)


def race(*awaitables: Any) -> Awaitable[Any]:
    """The first outcome to arrive, value or error."""
    return _group(RACE, awaitables)
