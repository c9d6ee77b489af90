"""Durable coroutines: how an async function runs as a series of polls.

A `Frame` holds one live call of an async function: the function's coroutine
and the helper coroutines it gathers ("strands"), driven with plain
`send`/`throw`. Each durable step (a function call, a durable sleep, a
gather/any/race) gets a key from its place in the spawn tree (the strand's
path plus the strand's own step counter), so keys do not depend on how
siblings interleave. When every strand is blocked, the frame answers the
service with a poll carrying the new calls; results come back by key.
Gathered helpers are stepped in trio tasks of their own, so that one
awaiting trio does not hold the attempt's poll (see `Frame.pass_through`).

A frame that lost its memory (a crash, or a response the service never saw)
is rebuilt from the call's journal: the function re-runs from its input and
the journaled results are replayed batch by batch, in delivery order, with
every step checked against the journal.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import types
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from typing import Any, NamedTuple, Protocol

import trio

from sim import Arguments, Call, CallResult, Error, Input, Output, SerializationError, Status, current
from sim.lowlevel import (
    Answer,
    Attempt,
    Journal,
    PollRequest,
    decode_result,
    freeze,
    replay_steps,
    resume_early,
    same_input,
    thaw,
)

from ._context import frame_var
from ._outcome import answer_for_value, output_for_exception, output_for_final_error
from ._status import _output_types
from ._steps import ALL, GATHER, CallStep, Combinator, GroupStep, Step, _StartedCallStep
from .error import NonDeterminismError, exception_for_error

__all__ = ["Frame", "run_async_function"]

MAX_RESULTS = 10


class _Waiter:
    __slots__ = ()

    gathers = False  # an _AllOf: a value for it is stored written out (deliver_raw)

    def child_done(self, index: int, ok: bool, value: Any) -> None:
        raise NotImplementedError


class _Strand(_Waiter):
    """A gathered helper coroutine: its place in the spawn tree and its own step counter.

    A plain slotted class: one is made per helper a function gathers. (The
    function's own coroutine, the root strand, is the frame itself.)
    """

    __slots__ = ("frame", "coro", "path", "parent", "index", "steps", "done", "in_trio")

    def __init__(self, frame: Frame, coro: Coroutine[Any, Any, Any], path: str, parent: _Waiter, index: int) -> None:
        self.frame = frame
        self.coro = coro
        self.path = path
        self.parent = parent
        self.index = index
        self.steps = 0
        self.done = False
        self.in_trio = False  # suspended in a trio await, in a helper task

    def next_key(self) -> str:
        key = f"{self.path}.{self.steps}"
        self.steps += 1
        return key

    def child_done(self, index: int, ok: bool, value: Any) -> None:
        self.frame.ready.append((self, ok, value))


class _Group(_Waiter):
    """The outcomes of a gather/any/race's awaitables, settled under its combinator.

    A plain slotted class: one is made per group a function awaits.
    """

    __slots__ = (
        "combinator", "parent", "index", "size", "values", "errors", "remaining", "done",
        "first_value_settles", "first_error_settles",
    )  # fmt: skip

    def __init__(self, combinator: Combinator, parent: _Waiter, index: int, size: int) -> None:
        self.combinator = combinator
        self.parent = parent
        self.index = index
        self.size = size
        self.values: list[Any] = [None] * size
        self.errors: list[BaseException | None] = [None] * size
        self.remaining = size
        self.done = False
        # Copied from the combinator: read on every child's outcome.
        self.first_value_settles = combinator.first_value_settles
        self.first_error_settles = combinator.first_error_settles

    def child_done(self, index: int, ok: bool, value: Any) -> None:
        if self.done:
            return  # a late sibling: its outcome no longer matters
        self.remaining -= 1
        if ok:
            if self.first_value_settles:
                self._resolve(True, value)
                return
            self.values[index] = value
            if self.remaining == 0:
                self._resolve(True, self.values)
        elif self.first_error_settles:
            self._resolve(False, value)
        else:  # remember the error; fail once all failed
            self.errors[index] = value
            if self.remaining == 0:
                errors = [e for e in self.errors if e is not None]
                self._resolve(False, self.combinator.all_failed(errors))

    def _resolve(self, ok: bool, value: Any) -> None:
        self.done = True
        self.parent.child_done(self.index, ok, value)


class _AllOf(_Waiter):
    """The outcomes of a gather's (or all's) awaitables: all their values, or the first error.

    `_Group` under GATHER or ALL, written for that policy alone: a fan-out
    makes one and hears from each of its calls.
    """

    __slots__ = ("parent", "index", "values", "remaining")

    gathers = True

    def __init__(self, parent: _Waiter, index: int, size: int) -> None:
        self.parent = parent
        self.index = index
        self.values: list[Any] = [None] * size
        # The values still awaited: 0 once all came, negative once an error
        # settled the group (late values only lower it), so no `done` flag.
        self.remaining = size

    def child_done(self, index: int, ok: bool, value: Any) -> None:
        if ok:
            self.values[index] = value
            self.remaining -= 1
            if self.remaining:
                return  # more to come, or settled by an error already
            value = self.values
        elif self.remaining < 0:
            return  # a late sibling's error: the group has settled
        else:
            self.remaining = -1
        self.parent.child_done(self.index, ok, value)


class _AwaitsTrio(NamedTuple):
    """What `Frame.advance` returns when a strand awaits trio: a type of its own, so
    that telling it from an answer (an Output, a PollRequest, a ``(value,)``) is one check."""

    strand: _Strand | Frame | None  # None: a gathered helper is ready (see advance)
    trap: Any


_current_task = trio.lowlevel.current_task
# trio's private per-thread run state: its `task` is what current_task()
# returns, read here without that call on every attempt of an async function
# (current_task() still says why when no trio run is there). Bound once: trio
# never replaces the object, and sim's host only saves and restores its fields.
_run_context: Any = trio._core._run.GLOBAL_RUN_CONTEXT
# The values thaw hands back as they are (a frozen atom is its own copy):
# a delivered result of one of these types needs no call to thaw.
_KEPT = frozenset({type(None), bool, int, str})


@types.coroutine
def _yield_to_trio(trap: Any) -> Generator[Any, Any, Any]:
    return (yield trap)


# Shared by every frame that is not replaying; such a frame only reads them.
_NO_REPLAY: deque[Any] = deque(maxlen=0)
_NOTHING_JOURNALED: dict[Any, Any] = {}
_NO_STEPS: list[list[Any]] = []
_NO_KEYS: set[Any] = set()
_NO_STRANDS: list[Any] = []
_CLOSED_CONTEXT = contextvars.Context()
_copy_context = contextvars.copy_context
_set_frame = frame_var.set  # bound once: each new frame sets it in its context


class Frame(_Waiter):
    """The live state of one call of an async function.

    The frame is also its root strand (the function's own coroutine), so that
    a call makes one object, not two: it has a strand's `coro`, `path` (""),
    `steps`, `done` and `in_trio`, and its `child_done` readies the root for
    the result of its step. The function's outcome is its `_outcome`, unless
    advance answers with it at once (a plain return, nothing else to run).
    """

    # Class-level defaults, so that making a frame (once per call) stores none of them.
    input: Attempt | Input | None = None  # the attempt, set by run_async_function
    # Dispatches made so far: the key of the next one, which the service uses
    # to make a re-run of this function (retry, rebuild) not send it again.
    dispatches = 0
    # Helper tasks step strands once a gathered helper is ready (see
    # pass_through): those running (or about to), those waiting in trio, the
    # first failure one of them met, the attempt task's wait for them to
    # settle, and their cancel scopes (closing the frame cancels them).
    _active = 0
    _in_trio = 0
    _settled_event: trio.Event | None = None
    _failure: BaseException | None = None
    _cancels: list[trio.CancelScope] | None = None
    _closed = False
    # Assigned, never mutated in place, so a shared default is safe.
    # The keys of the last poll's calls: the calls themselves after a poll (their
    # correlation ids are the keys; a poll that fails is rare, so they are read
    # then), the journaled step's keys when replaying.
    last_keys: list[Call] | list[str] = []  # noqa: RUF012
    # An attempt is stepping it: a new frame is, as it is made for its first
    # attempt (run_async_function), so True until that attempt's first step ends.
    running = True
    lost = False  # its memory was lost while it ran
    # The task driving the attempt, and its cancel state when the attempt began.
    task: trio.lowlevel.Task | None = None
    scopes: object = None
    token = 0
    state = b""  # set with each poll: nothing resumes a frame before its first
    _outcome: tuple[bool, Any] | None = None  # (ok, value) once the function ended
    # The root strand's state (see the class docstring).
    path = ""
    steps = 0
    done = False
    in_trio = False
    # The gathered helpers, in the order they were made; the shared empty list
    # until the first (never mutated: close() clears only a frame's own).
    _strands: list[_Strand] = _NO_STRANDS
    # Replay state, assigned anew only when the frame is rebuilt from a journal
    # (_load_journal); a frame that is not replaying only reads these shared ones.
    _replay: deque[tuple[int, tuple[CallResult, ...], Error | None]] = _NO_REPLAY
    _journaled: dict[Any, Any] = _NOTHING_JOURNALED
    _step_keys: list[list[Any]] = _NO_STEPS
    _unissued: set[Any] = _NO_KEYS  # journaled calls the rebuilt function has not made again

    def __init__(self, dispatch_id: str, coro: Coroutine[Any, Any, Any]) -> None:
        self.dispatch_id = dispatch_id
        self.coro = coro
        # The function runs in a context of its own, in which it is the frame.
        self._context = context = _copy_context()
        context.run(_set_frame, self)
        # ready, pending and new_calls are made by the first step (_first_step),
        # and only if it needs them, or by _load_journal for a rebuilt frame.

    # Made per frame, by _first_step or _load_journal (never shared: each is
    # mutated in place).
    # Strands ready to run, with what to resume each with.
    ready: deque[tuple[_Strand | Frame, bool, Any]]
    # Steps waiting for a result, by key: (the waiter, the step's index in it).
    pending: dict[str, tuple[_Waiter, int]]
    # Calls made since the last poll.
    new_calls: list[Call]

    def next_key(self) -> str:
        """The key of the root strand's next step: its step counter."""
        steps = self.steps
        self.steps = steps + 1
        return str(steps)

    def child_done(self, index: int, ok: bool, value: Any) -> None:
        """A step of the root strand settled: the root is ready to take its outcome."""
        self.ready.append((self, ok, value))

    def _ended(self, strand: _Strand | Frame, ok: bool, value: Any) -> None:
        """`strand` returned or raised: the function's outcome, or its group's news."""
        strand.done = True
        if strand is self:
            self._outcome = (ok, value)
        else:
            strand.parent.child_done(strand.index, ok, value)  # type: ignore[union-attr]

    def _set_token(self, token: int) -> None:
        # The state names the position (polls made so far), so a frame that
        # ran ahead of what the service saw never matches a retried resume.
        # (Only this call's frames are matched with it: the number alone will do.)
        self.token = token
        self.state = b"%d" % token

    # -- replay ---------------------------------------------------------------

    def _load_journal(self, journal: Journal) -> None:
        """Make a new frame one rebuilt from `journal`: it replays from the start."""
        self.ready = deque(((self, True, None),))
        self.pending = {}
        self.new_calls = []
        steps = replay_steps(journal)
        self._set_token(len(steps))
        self._replay = deque()
        # Each journaled call by key, as (key, function, frozen input): a rebuild
        # of a long fan-out loads every call, so the loops are dict.update's and
        # set()'s, not the interpreter's.
        journaled: dict[Any, Any] = {}
        self._journaled = journaled
        self._step_keys = []
        for number, (calls, results, poll_error) in enumerate(steps):
            keys = [c[0] for c in calls]
            journaled.update(zip(keys, calls))
            self._step_keys.append(keys)
            if results is not None:
                self._replay.append((number, results, poll_error))
        self._unissued = set(journaled)

    def _check_journaled(self, key: str, call: Call) -> bool:
        """True if the call was dispatched before (replay); raises on a mismatch."""
        if not self._journaled:
            return False
        entry = self._journaled.get(key)
        if entry is None:
            if self._replay:
                raise NonDeterminismError(
                    f"replaying {self.dispatch_id}: step {key} calls {call.function}, "
                    "but the journal has no such step (the function took another path)"
                )
            return False
        _, function, journaled = entry
        if function != call.function or not same_input(journaled, call.input):
            try:
                data = freeze(call.input, where="argument")
            except SerializationError:
                data = b""
            raise NonDeterminismError(
                f"replaying {self.dispatch_id}: step {key} was {function}"
                f"({_describe(journaled)}) in the journal, "
                f"but is now {call.function}({_describe(data)})"
            )
        self._unissued.discard(key)  # keys are unique: a spawn-tree place makes one step
        return True

    def _check_step_complete(self, number: int) -> None:
        keys = self._step_keys[number]
        if self._unissued.isdisjoint(keys):
            return
        for key in keys:
            if key in self._unissued:
                raise NonDeterminismError(
                    f"replaying {self.dispatch_id}: the journal has step {key} "
                    f"({self._journaled[key][1]}), which the function did not make again"
                )

    def _check_replay_finished(self) -> None:
        """The function ended: every journaled step must have been made again."""
        for number, _, _ in self._replay:
            self._check_step_complete(number)
        if self._replay:
            raise NonDeterminismError(
                f"replaying {self.dispatch_id}: the function ended, but its journal "
                f"holds {len(self._replay)} more resumes (it took another path)"
            )

    # -- delivering results ---------------------------------------------------

    def deliver(self, results: Sequence[CallResult], poll_error: Error | None) -> None:
        """Hand a resume's results (or the failure of the last poll) to the steps awaiting them."""
        if poll_error is not None:
            exc = exception_for_error(poll_error)
            for item in self.last_keys:
                key = item if isinstance(item, str) else item.correlation_id
                op = self.pending.pop(key, None)  # type: ignore[arg-type]
                if op is not None:
                    op[0].child_done(op[1], False, exc)
        pending = self.pending
        for result in results:
            op = pending.pop(result.correlation_id, None)  # type: ignore[arg-type]
            if op is None:
                continue  # a result nobody waits for any more
            if result.error is not None:
                op[0].child_done(op[1], False, exception_for_error(result.error))
            else:
                op[0].child_done(op[1], True, result.output)

    def deliver_raw(self, attempt: Attempt) -> None:
        """`deliver` for an Attempt: its raw results, each decoded only if a step awaits it."""
        poll_error = attempt.poll_error
        if poll_error is not None:
            self.deliver((), poll_error)
        pending = self.pending
        waiter: Any  # an _AllOf when its `gathers` says so
        for correlation_id, _, outcome in attempt.results:
            try:
                waiter, index = pending.pop(correlation_id)
            except KeyError:
                continue  # a result nobody waits for any more
            kind, value = outcome
            if kind != "value":
                error = decode_result(outcome)[1]
                waiter.child_done(index, False, exception_for_error(error))
                continue
            # (__class__, not type(): an attribute, not a call, read off the
            # service's frozen values.)
            if value.__class__ not in _KEPT:
                value = thaw(value)
            if waiter.gathers:
                # _AllOf.child_done's value case, written out: a fan-out's
                # results come here one by one.
                waiter.values[index] = value
                waiter.remaining = remaining = waiter.remaining - 1
                if not remaining:
                    parent = waiter.parent
                    if parent is self:  # the root's step: Frame.child_done, written out
                        self.ready.append((self, True, waiter.values))
                    else:
                        parent.child_done(waiter.index, True, waiter.values)
            elif waiter is self:  # the root's one call: Frame.child_done, written out
                self.ready.append((self, True, value))
            else:
                waiter.child_done(index, True, value)

    # -- running ----------------------------------------------------------------

    def _send(self, strand: _Strand | Frame, ok: bool, value: Any) -> Any:
        """Resume `strand`; returns what it yields next, or None once it has ended.

        The function runs in its own context, so context variables it sets do
        not leak into its caller or into other calls.
        """
        return self._context.run(self._send_here, strand, ok, value)

    def _send_here(self, strand: _Strand | Frame, ok: bool, value: Any) -> Any:
        coro = strand.coro
        try:
            yielded = coro.send(value) if ok else coro.throw(value)
            while (
                isinstance(yielded, Step)
                and getattr(self.task, "_cancel_status", None) is not self.scopes
            ):
                # A trio cancel scope is open across a durable step; the step
                # may resume in another task, which would corrupt trio's scope
                # stack. Fail the step here, where the scope can still unwind.
                # (Told by trio's private Task._cancel_status, which each scope
                # entered replaces, against the one the attempt began with.)
                yielded = coro.throw(RuntimeError(_SCOPE_ACROSS_STEP.format(self._name())))
            return yielded
        except StopIteration as stop:
            self._ended(strand, True, stop.value)
        except Exception as exc:
            self._ended(strand, False, _explained(exc, self._name()))
        return None

    def _name(self) -> str:
        inp = self.input
        return inp.function if inp is not None else self.dispatch_id

    def _first_step(self) -> Answer | _AwaitsTrio:
        """`advance` for a new frame (not rebuilt): run the function's first step,
        then make the frame's containers only if the step needs them.

        Many calls end in their first step, or make one call in it: those
        never make a ready queue, and the one call is polled written out.
        """
        coro = self.coro
        run = self._context.run
        try:
            yielded = run(coro.send, None)
            while (
                isinstance(yielded, Step)
                and self.task._cancel_status is not self.scopes  # type: ignore[union-attr]
            ):  # see _send_here
                yielded = run(coro.throw, RuntimeError(_SCOPE_ACROSS_STEP.format(self._name())))
        except StopIteration as stop:
            self.done = True
            # _finish, written out: no helper, no replay, so nothing to close.
            self._closed = True
            self._context = _CLOSED_CONTEXT
            if not _output_types:  # answer_for_value, written out: every value is OK
                return (stop.value,)
            return answer_for_value(stop.value, "the function")
        except Exception as exc:
            self.done = True
            return self._finish(False, _explained(exc, self._name()))
        if yielded.__class__ is CallStep:  # (an attribute, not a call of type())
            # One call: _begin and _poll, written out. (The frame's first poll.)
            yielded.__class__ = _StartedCallStep  # type: ignore[assignment]
            self.steps = 1
            call = yielded.call
            call.correlation_id = "0"
            self.ready = deque()
            self.pending = {"0": (self, 0)}
            self.new_calls = []
            self.last_keys = polled = [call]
            self.token = 1
            self.state = state = b"1"  # _set_token(1), written out
            return PollRequest(state, polled, 1, 1)
        ready: deque[tuple[_Strand | Frame, bool, Any]]
        pending: dict[str, tuple[_Waiter, int]]
        calls: list[Call]
        self.ready = ready = deque()
        self.pending = pending = {}
        self.new_calls = calls = []
        if yielded.__class__ is GroupStep:
            # _begin's group case, written out, and if nothing is ready (a
            # gather of calls, as most first steps are) the poll (_poll).
            self.steps = 1
            try:
                self._start_group(yielded, self, "0", self, 0)
            except Exception as exc:
                ready.append((self, False, exc))
            if not ready and pending:
                self.new_calls = []
                self.last_keys = calls
                self.token = 1
                self.state = state = b"1"  # _set_token(1), written out
                return PollRequest(state, calls, 1, min(MAX_RESULTS, len(pending)))
        elif isinstance(yielded, Step):
            self._begin(yielded, self)
        elif yielded is not None:
            if not _is_asyncio(yielded):
                return _AwaitsTrio(self, yielded)
            ready.append((self, False, _asyncio_misuse(self._name())))
        else:  # a bare yield, as asyncio.sleep(0) makes
            ready.append((self, False, _asyncio_misuse(self._name())))
        return self.advance()

    def advance(self) -> Answer | _AwaitsTrio:
        """Run until every strand is blocked or the function ends.

        Returns the answer for the service, or (strand, trap) when the root strand awaits
        something of trio's, which the caller must pass through, or (None,
        None) when a gathered helper is ready: helpers run in tasks of their
        own (pass_through), so that one awaiting trio does not hold the attempt.
        """
        try:
            ready = self.ready
        except AttributeError:  # a new frame: nothing has run it yet
            return self._first_step()
        run = self._context.run
        try:
            while True:
                while ready:
                    strand, ok, value = ready.popleft()
                    if strand.path:  # a gathered helper: it may await trio, so not in this task
                        ready.appendleft((strand, ok, value))
                        return _AwaitsTrio(None, None)
                    # _send and _send_here, written out: the root strand is
                    # resumed in the frame's context (see _send) with no
                    # Python frame of ours in between.
                    coro = strand.coro
                    try:
                        yielded = run(coro.send, value) if ok else run(coro.throw, value)
                        while (
                            isinstance(yielded, Step)
                            and self.task._cancel_status is not self.scopes  # type: ignore[union-attr]
                        ):  # see _send_here
                            yielded = run(coro.throw, RuntimeError(_SCOPE_ACROSS_STEP.format(self._name())))
                    except StopIteration as stop:
                        # The function returned (_ended, written out: the strand
                        # is the root, as gathered helpers went back above).
                        self.done = True
                        if not ready and not self._replay:
                            if self._strands is _NO_STRANDS and self._cancels is None and not _output_types:
                                # _finish, written out for the commonest end:
                                # no helper to close, every value is OK.
                                self._closed = True
                                self._context = _CLOSED_CONTEXT
                                return (stop.value,)
                            return self._finish(True, stop.value)
                        self._outcome = (True, stop.value)
                        continue
                    except Exception as exc:
                        self._ended(strand, False, _explained(exc, self._name()))
                        continue
                    if yielded.__class__ is CallStep and not self._journaled:
                        # _begin's call case, written out: most steps are one
                        # call. (The strand is the root: helpers went back above.)
                        steps = self.steps
                        self.steps = steps + 1
                        key = str(steps)
                        yielded.__class__ = _StartedCallStep  # type: ignore[assignment]
                        call = yielded.call
                        call.correlation_id = key
                        self.pending[key] = (self, 0)
                        self.new_calls.append(call)
                    elif isinstance(yielded, Step):
                        self._begin(yielded, strand)
                    elif yielded is not None:
                        if _is_asyncio(yielded):
                            ready.append((strand, False, _asyncio_misuse(self._name())))
                            continue
                        return _AwaitsTrio(strand, yielded)
                    else:  # a bare yield, as asyncio.sleep(0) makes
                        ready.append((strand, False, _asyncio_misuse(self._name())))
                if self._outcome is not None:
                    if self._replay:
                        self._check_replay_finished()
                    return self._finish(*self._outcome)
                if not self._replay:
                    break
                number, results, poll_error = self._replay.popleft()
                self._check_step_complete(number)
                self.last_keys = self._step_keys[number]
                self.deliver(results, poll_error)
        except NonDeterminismError as exc:
            self.close()
            return output_for_final_error(exc)
        if not self.pending:
            if self._in_trio or self._active:
                return _AwaitsTrio(None, None)  # helpers are in trio: wait for them (pass_through)
            self.close()
            return output_for_final_error(
                RuntimeError(f"{self.dispatch_id}: every coroutine is blocked and no call is pending")
            )
        if self._failure is not None:  # a helper task met it between attempts
            self.close()
            return output_for_final_error(self._failure)
        # _poll, written out: most attempts end here.
        calls = self.new_calls
        self.new_calls = []
        self.last_keys = calls
        self.token = token = self.token + 1
        self.state = state = b"%d" % token
        return PollRequest(state, calls, 1, min(MAX_RESULTS, len(self.pending)))

    def _poll(self) -> PollRequest:
        calls, self.new_calls = self.new_calls, []
        self.last_keys = calls  # their keys, read only if the poll fails (see deliver)
        self.token = token = self.token + 1  # _set_token, written out
        self.state = state = b"%d" % token
        # Sound by construction (pending is not empty), so no Output.poll and its checks.
        return PollRequest(state, calls, 1, min(MAX_RESULTS, len(self.pending)))

    def _begin(self, step: Step, strand: _Strand | Frame) -> None:
        """Start the step `strand` awaits; a misuse raises in the strand, at its await."""
        if type(step) is CallStep and not self._journaled:
            # The call case of _start, written out: most steps are one call.
            key = strand.next_key()
            step.__class__ = _StartedCallStep  # type: ignore[assignment]
            call = step.call
            call.correlation_id = key
            self.pending[key] = (strand, 0)
            self.new_calls.append(call)
            return
        try:
            if type(step) is GroupStep:
                self._start_group(step, strand, strand.next_key(), strand, 0)
            else:
                self._start(step, strand, strand.next_key(), strand, 0)
        except NonDeterminismError:
            raise
        except Exception as exc:
            self.ready.append((strand, False, exc))

    def _start(self, step: Step, parent: _Waiter, key: str, strand: _Strand | Frame, index: int) -> None:
        if type(step) is _StartedCallStep:
            raise RuntimeError(
                f"a call of {step.call.function} was awaited twice; like a coroutine, "
                "each call can be awaited once"
            )
        if isinstance(step, CallStep):
            step.__class__ = _StartedCallStep  # type: ignore[assignment]
            call = step.call
            call.correlation_id = key
            self.pending[key] = (parent, index)
            if not self._check_journaled(key, call):
                self.new_calls.append(call)
            return
        assert isinstance(step, GroupStep)
        self._start_group(step, parent, key, strand, index)

    def _start_group(self, step: GroupStep, parent: _Waiter, key: str, strand: _Strand | Frame, index: int) -> None:
        awaitables = step.awaitables
        if not awaitables:
            parent.child_done(index, True, step.combinator.empty())
            return
        n = len(awaitables)
        combinator = step.combinator
        group: _Waiter
        if combinator is GATHER or combinator is ALL:
            group = _AllOf(parent, index, n)
        else:
            group = _Group(combinator, parent, index, n)
        pending, add_call = self.pending, self.new_calls.append
        # The type of the calls started written out below: none while
        # replaying (each is checked against the journal by _start).
        fresh_call = None if self._journaled else CallStep
        for i, aw in enumerate(awaitables):
            child_key = f"{key}.{i}"
            if aw.__class__ is fresh_call:  # (an attribute, not a call of type())
                # The call case of _start, written out: a fan-out runs it once per call.
                aw.__class__ = _StartedCallStep  # type: ignore[assignment]
                call = aw.call
                call.correlation_id = child_key
                pending[child_key] = (group, i)
                add_call(call)
            elif isinstance(aw, Step):
                self._start(aw, group, child_key, strand, i)
            else:
                child = _Strand(self, aw, child_key, group, i)
                if self._strands is _NO_STRANDS:
                    self._strands = []
                self._strands.append(child)
                self.ready.append((child, True, None))

    def _finish(self, ok: bool, value: Any) -> Answer:
        if self._strands is _NO_STRANDS and self._cancels is None:
            # close(), written out for a function that gathered no helper
            # coroutine: its own has ended, so nothing is left to close.
            self._closed = True
            self._context = _CLOSED_CONTEXT
        else:
            self.close()
        if ok:
            if not _output_types:  # answer_for_value, written out: every value is OK
                return (value,)
            return answer_for_value(value, "the function")
        return output_for_exception(value, self.input)

    def lose(self) -> None:
        """The call's memory is lost while its attempt runs: the attempt ends as lost."""
        self.lost = True
        event = self._settled_event
        if event is not None:  # the attempt task waits for helpers: it need not any more
            self._settled_event = None
            event.set()

    def close(self) -> None:
        """Close every coroutine still suspended (the frame is dropped).

        A strand waiting in trio is cancelled instead: its helper task unwinds
        it there, where its cancel scopes live.
        """
        self._closed = True
        if self._cancels is not None:
            for scope in self._cancels:
                scope.cancel()
        if not self.done and not self.in_trio:  # the root strand
            self.done = True
            try:
                self.coro.close()
            except RuntimeError:
                pass  # it awaited in a finally block; nothing more can run it
        strands = self._strands
        for strand in strands:
            if not strand.done and not strand.in_trio:
                strand.done = True
                try:
                    strand.coro.close()
                except RuntimeError:
                    pass
        strands.clear()  # (the shared empty list stays empty)
        # The context refers to the frame (as the current frame): dropping it
        # breaks the cycle, so the frame is freed at once, not by the collector.
        self._context = _CLOSED_CONTEXT

    async def pass_through(self, strand: _Strand | Frame | None, trap: Any) -> Answer:
        """Finish the attempt in trio: await `trap` for the root `strand`, if
        given, then let helper tasks step the ready strands.

        Gathered helpers always run in helper tasks (`_helper`), each trio
        await in the task that stepped its strand into trio (its cancel
        scopes live there). This task only waits for them to settle (each
        blocked on a durable step, waiting in trio, or done), then polls with
        the calls made so far, even while some helper still waits in trio:
        that helper goes on between attempts and asks for an early resume
        when it has news (`_helper_stopped`). It waits for trio only when no durable
        step is pending.
        """
        me = (self.task, self.scopes)
        if strand is not None:
            await self._drive(strand, trap, me, False)
        while True:
            self.task, self.scopes = me
            if self.lost:
                return _lost(self)  # _settle closes the frame, which cancels its helpers
            if self._failure is not None:
                self.close()
                return output_for_final_error(self._failure)
            if self.ready and not self._active:
                self._spawn_helper()
            if self._active:
                await self._wait_settled()
                continue
            if self._outcome is not None:
                try:
                    if self._replay:
                        self._check_replay_finished()
                except NonDeterminismError as exc:
                    self.close()
                    return output_for_final_error(exc)
                return self._finish(*self._outcome)
            if self._replay:
                number, results, poll_error = self._replay[0]
                if self._in_trio and not self._unissued.isdisjoint(self._step_keys[number]):
                    # A helper in trio may yet make the journaled step's calls.
                    await self._wait_settled()
                    continue
                self._replay.popleft()
                try:
                    self._check_step_complete(number)
                except NonDeterminismError as exc:
                    self.close()
                    return output_for_final_error(exc)
                self.last_keys = self._step_keys[number]
                self.deliver(results, poll_error)
                continue
            if self.pending:
                return self._poll()
            if self._in_trio:
                await self._wait_settled()
                continue
            self.close()
            return output_for_final_error(
                RuntimeError(f"{self.dispatch_id}: every coroutine is blocked and no call is pending")
            )

    def _spawn_helper(self) -> None:
        self._active += 1
        trio.lowlevel.spawn_system_task(self._helper, context=contextvars.copy_context())

    async def _wait_settled(self) -> None:
        """Wait until no helper task runs: each waits in trio or has ended.

        With none running now, wait for the next time one comes back from trio
        and settles again.
        """
        event = self._settled_event = trio.Event()
        await event.wait()

    def _helper_stopped(self) -> None:
        """A helper task stopped running (it waits in trio or ended): tell whoever waits."""
        if self._active or self._closed:
            return
        event = self._settled_event
        if event is not None:
            self._settled_event = None
            event.set()
        elif not self.running and (self.new_calls or self._outcome is not None or self._failure is not None):
            # Between attempts, a helper back from trio made calls or ended
            # the function: only a resume can say so to the service.
            resume_early(self.dispatch_id)

    async def _drive(self, strand: _Strand | Frame, trap: Any, me: tuple[Any, Any], helper: bool = True) -> None:
        """Await `trap` for `strand` in this task, and step it until it yields a step or ends."""
        if self.ready:
            self._spawn_helper()  # others can run meanwhile
        while True:
            strand.in_trio = True
            if helper:
                self._active -= 1
                self._in_trio += 1
                self._helper_stopped()
            try:
                value = await _yield_to_trio(trap)
            except BaseException as exc:  # trio throws into the code that awaited
                ok, value = False, exc
            else:
                ok = True
            strand.in_trio = False
            if helper:
                self._active += 1
                self._in_trio -= 1
            self.task, self.scopes = me
            yielded = self._send(strand, ok, value)
            if yielded is None:
                if not strand.done:  # a bare yield, as asyncio.sleep(0) makes
                    self.ready.append((strand, False, _asyncio_misuse(self._name())))
                return
            if isinstance(yielded, Step):
                self._begin_or_fail(yielded, strand)
                return
            if _is_asyncio(yielded):
                self.ready.append((strand, False, _asyncio_misuse(self._name())))
                return
            trap = yielded

    def _run_ready(self) -> tuple[_Strand | Frame, Any] | None:
        """Run ready strands until none is left (None) or one awaits trio: (strand, trap)."""
        ready = self.ready
        while ready and self._failure is None:
            strand, ok, value = ready.popleft()
            yielded = self._send(strand, ok, value)
            if isinstance(yielded, Step):
                self._begin_or_fail(yielded, strand)
            elif yielded is not None:
                if _is_asyncio(yielded):
                    ready.append((strand, False, _asyncio_misuse(self._name())))
                    continue
                return strand, yielded
            elif not strand.done:
                ready.append((strand, False, _asyncio_misuse(self._name())))
        return None

    def _begin_or_fail(self, step: Step, strand: _Strand | Frame) -> None:
        try:
            self._begin(step, strand)
        except NonDeterminismError as exc:
            if self._failure is None:
                self._failure = exc  # the attempt task ends the frame with it

    async def _helper(self) -> None:
        """A helper task: run ready strands, waiting in trio for any that awaits it."""
        with trio.CancelScope() as scope:  # close() cancels it
            if self._cancels is None:
                self._cancels = []
            self._cancels.append(scope)
            task = trio.lowlevel.current_task()
            me = (task, getattr(task, "_cancel_status", None))  # trio's private cancel state, as in run_async_function
            try:
                while not self.lost and not self._closed:
                    self.task, self.scopes = me
                    found = self._run_ready()
                    if found is None:
                        break
                    await self._drive(*found, me)
            except BaseException as exc:  # a system task must not raise: the attempt task reports it
                if self._failure is None and not self._closed:
                    self._failure = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
            finally:
                self._cancels.remove(scope)
        self._active -= 1
        self._helper_stopped()


_SCOPE_ACROSS_STEP = (
    "a trio cancel scope (move_on_after, fail_after, CancelScope) or nursery "
    "(trio.open_nursery) is open across a durable step in {}; a durable function may "
    "resume anywhere, so run durable calls concurrently with registry.gather(...) rather "
    "than in a nursery, and time a step out with registry.race(step, registry.sleep(seconds))"
)


def _is_asyncio(yielded: Any) -> bool:
    # What an asyncio awaitable yields: a Future (it has _asyncio_future_blocking).
    return getattr(yielded, "_asyncio_future_blocking", None) is not None


def _asyncio_misuse(function: str) -> RuntimeError:
    return RuntimeError(
        f"{function} awaited an asyncio primitive, but durable functions here run on trio, "
        "not asyncio; use registry.sleep(seconds) for a durable timer, or trio "
        "(trio.sleep, trio.Event, ...) for waits inside one attempt"
    )


_ASYNCIO = os.path.dirname(asyncio.__file__) + os.sep


def _raised_in_asyncio(exc: BaseException) -> bool:
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename.startswith(_ASYNCIO)


_TRIO = os.path.dirname(trio.__file__) + os.sep


def _started_in_nursery(exc: BaseException) -> bool:
    """Whether `exc` is trio refusing a registered function given to nursery.start_soon/start."""
    if type(exc) is not TypeError:
        return False
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "coroutine_or_error" and code.co_filename.startswith(_TRIO):
            # trio's private helper that calls what start_soon was given: its
            # `async_fn` says whether that was one of ours (read only, on an error).
            given = tb.tb_frame.f_locals.get("async_fn")
            return getattr(type(given), "_registered_function", False) is True
        tb = tb.tb_next
    return False


def _explained(exc: BaseException, function: str) -> BaseException:
    """`exc`, or an error that says what to do instead when it comes from using asyncio
    or a trio nursery here (also inside the exception group a nursery raises)."""
    if isinstance(exc, BaseExceptionGroup):
        parts = [_explained(e, function) for e in exc.exceptions]
        if all(p is e for p, e in zip(parts, exc.exceptions)):
            return exc
        group = exc.derive(parts)
        group.__cause__, group.__context__, group.__traceback__ = exc.__cause__, exc.__context__, exc.__traceback__
        return group
    if _started_in_nursery(exc):
        nursery = RuntimeError(
            f"{function} started a registered function in a trio nursery (start_soon/start); "
            "durable calls run only in the function's own task: use registry.gather(...) to "
            "run them concurrently, or fn.dispatch(...) to start one without waiting"
        )
        nursery.__cause__ = exc
        return nursery
    if type(exc) in (RuntimeError, AttributeError) and _raised_in_asyncio(exc):
        # asyncio.sleep(), asyncio.Event().wait(), ... with no asyncio loop
        # running fail inside asyncio with "no running event loop" or worse.
        explained = _asyncio_misuse(function)
        explained.__cause__ = exc
        return explained
    return exc


def _describe(frozen: object) -> str:
    try:
        value = thaw(frozen)
    except ValueError:
        return "?"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _Served(Protocol):
    """What run_async_function reads of a registered function each attempt."""

    _endpoint: str  # its registry's while the registry serves it: whose memory keeps its frames


def run_async_function(
    fn: Callable[..., Coroutine[Any, Any, Any]], function: _Served, inp: Attempt | Input
) -> Answer | Awaitable[Answer]:
    """One attempt of the async function `fn`, registered as `function`: start
    it, resume its live frame, or rebuild it.

    A registered async function serves its attempts with this bound to both
    (no layer of its own in between): it is on every attempt's path.
    """
    frames: dict[str, Frame] = current().memory(function._endpoint)
    did = inp.dispatch_id
    try:  # the attempt's trio task, which the frame's steps run in
        task = _run_context.task
    except AttributeError:  # not in a trio run
        task = _current_task()  # raises
    if inp.is_first_call:
        if did in frames:  # a first call run again (its response never arrived)
            frames.pop(did).close()
        args, kwargs = inp.input_arguments()
        try:
            coro = fn(*args, **kwargs)
        except Exception as exc:  # e.g. wrong arguments: the function never started
            return output_for_exception(exc, inp)
        # A new frame is running (the class default): see the end of its first step below.
        frames[did] = frame = Frame(did, coro)
        frame.input = inp  # names the function, the call and the attempt in a failure
        frame.task = task
        frame.scopes = task._cancel_status  # trio's private cancel state: see _send_here
        try:
            result = frame._first_step()
        except BaseException:
            frame.running = False
            raise
        # _settle, written out for a first step (many calls end in it).
        kind = result.__class__  # (an attribute, not a call of type(): our own answers)
        if kind is _AwaitsTrio:
            return _finish_pass_through(frame, frames, *result)  # type: ignore[misc]
        if frame.lost:  # its own code lost its memory (Simulation.lose_state) as it ran
            frame.running = False
            frame.close()
            return _lost(frame)
        if kind is PollRequest:
            frame.running = False
        else:
            del frames[did]  # the function ended
        return result  # type: ignore[return-value]
    frame = frames.get(did)  # type: ignore[assignment]
    if frame is not None and frame.state == inp.coroutine_state:
        if inp.__class__ is Attempt:
            frame.deliver_raw(inp)
        else:
            frame.deliver(inp.call_results, inp.poll_error)
    else:
        if frame is not None:
            frames.pop(did).close()
        journal = inp.journal
        args, kwargs = _arguments(journal.input)
        try:
            coro = fn(*args, **kwargs)
        except Exception as exc:
            return output_for_exception(exc, inp)
        frames[did] = frame = Frame(did, coro)
        frame._load_journal(journal)
    frame.input = inp
    frame.running = True
    frame.task = task
    frame.scopes = task._cancel_status
    try:
        result = frame.advance()
    except BaseException:
        frame.running = False
        raise
    kind = result.__class__  # (an attribute, not a call of type(): our own answers)
    if kind is _AwaitsTrio:
        return _finish_pass_through(frame, frames, *result)  # type: ignore[misc]
    # _settle, written out: every attempt that does not await trio ends here.
    frame.running = False
    if frame.lost:
        frame.close()
        return _lost(frame)
    if kind is not PollRequest:  # a frame's polls are PollRequests, never Outputs
        frames.pop(did, None)
    return result  # type: ignore[return-value]


async def _finish_pass_through(
    frame: Frame, frames: dict[str, Frame], strand: _Strand | Frame | None, trap: Any
) -> Answer:
    try:
        out = await frame.pass_through(strand, trap)
    except BaseException:  # the attempt task itself was cancelled (the run is ending)
        frame.running = False
        frame.close()  # and its helper tasks with it
        raise
    return _settle(frame, frames, out)


def _lost(frame: Frame) -> Output:
    message = f"the in-memory state of {frame.dispatch_id} was lost during the attempt"
    return Output.error(Error(Status.TIMEOUT, "LostState", message))


def _settle(frame: Frame, frames: dict[str, Frame], out: Answer) -> Answer:
    frame.running = False
    if frame.lost:
        # Its memory was lost while it ran: like a crash mid-attempt, the
        # response never arrives, and the retry rebuilds it from the journal.
        frame.close()
        return _lost(frame)
    if type(out) is not PollRequest:  # a frame's polls are PollRequests, never Outputs
        frames.pop(frame.dispatch_id, None)
    return out


def _arguments(value: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if not isinstance(value, Arguments):
        raise ValueError(f"the journaled input is a {type(value).__qualname__}, not Arguments")
    return tuple(value.args), dict(value.kwargs)
