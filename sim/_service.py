"""The simulated Dispatch service: the life of every call, on a virtual timeline.

The service owns the timeline (a heap of due actions), the call records, and
the trace. It is synchronous and knows nothing of trio: whoever drives it (the
trio runtime in `_runtime`, or a unit test) calls `step()` to run the next
action, and installs two hooks: `on_push` (an action was scheduled) and `wake`
(a call someone waits for has its outcome). Only an attempt whose function
awaits something outside the simulation hands back an awaitable for the
driver to finish.
"""

from __future__ import annotations

import heapq
from inspect import isawaitable
from collections import deque
from itertools import repeat
from operator import attrgetter, itemgetter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any

from . import _codec
from ._decisions import Decisions
from ._errors import LivelockError
from ._events import (
    UNAWAITED,
    ABANDONED,
    ABORTED,
    ATTEMPT,
    ATTEMPT_START,
    CRASH,
    DISPATCH,
    ENDPOINT_ERROR,
    FAULT,
    OUTCOME,
    POLL,
    REPLAY_BUDGET,
    RESPONSE_LOST,
    RETRY,
    TAIL_CALL,
)
from ._faults import REPLAY_FACTOR, REPLAY_FREE_STEPS
from ._endpoints import DEFAULT_ENDPOINT, TIMER_FUNCTION, _endpoints
from ._journal import (
    RawOutcome,
    StoredResult,
    _Entry,
    error_outcome,
    value_outcome,
)
from ._journal import ABANDONED as ABANDONED_OUTCOME
from ._protocol import Call, DispatchID, Error, Output
from ._attempt import _FIRST_CALL, Attempt, PollRequest
from ._records import (
    _INTO,
    DONE,
    POLLING,
    RETRYING,
    RUNNING,
    SCHEDULED,
    SLEEPING,
    _check_call,
    _one_call_is_sound,
    _poll_is_sound,
    _poll_problem,
    _Record,
    _Suspension,
)
from ._retry import RetryPolicy
from ._status import Status
from ._trace import Trace

__all__ = ["Service"]


# Bound once: every call pushes and every action pops.
_heappop, _heappush = heapq.heappop, heapq.heappush
# Bound once too: every call freezes its input and result and thaws its input.
_freeze, _thaw = _codec.freeze, _codec.thaw
# The values freeze keeps as they are, checked before calling it for a result
# (most are one of these). The codec's own set: one sibling module reading another's.
_KEPT = _codec._frozen._ATOMS
# What freeze makes of a list of those (read the same way): a result's commonest container.
_FrozenList = _codec._frozen._FrozenList
# The moves the hot paths make, as {from: to} (see _records._INTO).
_INTO_RUNNING, _INTO_DONE, _INTO_POLLING, _INTO_SCHEDULED = (
    _INTO[RUNNING], _INTO[DONE], _INTO[POLLING], _INTO[SCHEDULED]
)
_correlation_id_of = attrgetter("correlation_id")
_first = itemgetter(0)
_new = object.__new__
_consume: Callable[[Iterable[Any]], None] = deque(maxlen=0).extend  # runs an iterator to its end, keeping nothing

# Enum .name is a slow descriptor; the trace names statuses on the hot path.
_NAMES: dict[int, str] = {int(s): s.name for s in Status}


def _invalid(exc: Exception) -> Error:
    return Error.from_exception(exc, Status.INVALID_ARGUMENT)


def _within_replay_budget(suspension: _Suspension) -> bool:
    """Whether a crash of the call may be injected now (see REPLAY_FACTOR), counting it if so."""
    if len(suspension.journal) <= REPLAY_FREE_STEPS:
        return True
    # A rebuild re-makes every journaled call and re-delivers every journaled
    # result: that, not the number of polls, is its cost.
    size = suspension.size
    if suspension.replayed + size > REPLAY_FACTOR * size:
        return False
    suspension.replayed += size
    return True


# The caps other than max_events are checked once per window of this many
# actions, not on every action: the countdown the max_events cap needs anyway
# opens each window, so the hot path pays nothing for them.
_CHECK_EVERY = 1024

DEFAULT_MAX_LIVE_CALLS = 150_000
"""Calls without an outcome a run may hold at once (a runaway fan-out ends there)."""
DEFAULT_MAX_MEMORY = 2 * 1024**3
"""The estimated bytes of call records and trace events a run may hold."""
RECORD_BYTES = 2_000
"""The memory a call's record is counted as (its frozen input, journal and state)."""
EVENT_BYTES = 200
"""The memory a trace event is counted as."""
def _carried(error: Error) -> tuple[str, tuple[Any, ...]]:
    # What a failed attempt's event keeps: the error's parts, not the Error, whose
    # exception (and its traceback's frames) the trace would otherwise keep alive.
    return ("error", (error.status, error.type, error.message, None, error.traceback))


def _wake_nobody(rec: _Record) -> None:
    raise RuntimeError(f"{rec.id} has waiters but no driver installed a wake hook")


class Service:
    """Calls, attempts, retries, polls and journals on a virtual timeline."""

    def __init__(
        self,
        decisions: Decisions,
        retry: RetryPolicy,
        trace: Trace,
        *,
        max_events: int = 2_000_000,
        max_virtual_time: float = 30 * 86400.0,
        max_live_calls: int = DEFAULT_MAX_LIVE_CALLS,
        max_memory: int = DEFAULT_MAX_MEMORY,
    ) -> None:
        self.decisions = decisions
        self.retry = retry
        self.trace = trace
        self.max_events = max_events
        self.max_virtual_time = max_virtual_time
        self.max_live_calls = max_live_calls
        self.max_memory = max_memory
        self.now = 0.0
        self.heap: list[tuple[float, int, Callable[[Any], Any], Any]] = []
        # Actions run before the current window, the window's size, and the
        # actions left in it (see _CHECK_EVERY).
        self._spent = 0
        self._window = self._budget = min(_CHECK_EVERY, max_events)
        self._seq = 0
        self._ids = 0
        self.records: dict[DispatchID, _Record] = {}
        self.pending = 0  # calls without an outcome
        # Keyed dispatches (durable steps of a caller), by caller id, then key: their ids.
        self._keyed: dict[DispatchID, dict[Any, list[DispatchID]]] = {}
        # The driver's hooks: an action was scheduled; a waited-for call ended.
        self.on_push: Callable[[], None] | None = None
        self.wake: Callable[[_Record], None] = _wake_nobody
        self._event = trace._events.append
        # With nothing to inject, no decision is drawn: skip asking.
        self._faults = not decisions.profile.is_none
        # The decisions asked per call, bound once: the run's source never changes.
        self._latency = decisions.latency
        self._endpoint_fault = decisions.endpoint_fault
        self._response_lost = decisions.response_lost
        self._crash = decisions.crash
        self._reorder = decisions.reorder

    # -- timeline ---------------------------------------------------------

    def push(self, time: float, action: Callable[[Any], Any], arg: Any) -> None:
        self._seq += 1
        _heappush(self.heap, (time, self._seq, action, arg))
        if self.on_push is not None:
            self.on_push()

    def step(self) -> Awaitable[None] | None:
        """Run the next action on the timeline, moving time to it.

        Returns what the action must await outside the simulation, if
        anything. Raises LivelockError, without running it, when the action
        lies past `max_virtual_time` or would exceed `max_events`, or (checked
        every `_CHECK_EVERY` actions) the run holds more than `max_live_calls`
        unfinished calls or more than `max_memory` estimated bytes.
        """
        due, _, action, arg = _heappop(self.heap)
        if due > self.max_virtual_time:
            raise self._livelock(f"virtual time passed max_virtual_time={self.max_virtual_time}s")
        if due > self.now:
            self.now = due
        self._budget -= 1  # a countdown costs the hot path less than `steps > max_events`
        if self._budget < 0:
            self._next_window()
        return action(arg)

    def _next_window(self) -> None:
        # The current window is used up: check the caps, then open the next one.
        self._spent += self._window
        self._window = self._budget = 0
        if self._spent >= self.max_events:
            self._budget = -1  # counts the refused action in `steps`
            raise self._livelock(f"more than max_events={self.max_events} events")
        self.check_growth()
        self.trace._compact()  # sim-internal: the trace moves its recent events to its compact store
        self._window = min(_CHECK_EVERY, self.max_events - self._spent)
        self._budget = self._window - 1  # the action being run is the window's first

    def check_growth(self) -> None:
        """Raise LivelockError when the run holds too many unfinished calls or too much memory."""
        if self.pending > self.max_live_calls:
            raise self._livelock(
                f"more than max_live_calls={self.max_live_calls} calls without an outcome "
                f"({self.pending} live; {self._dispatchers()})"
            )
        estimate = len(self.records) * RECORD_BYTES + len(self.trace) * EVENT_BYTES
        if estimate > self.max_memory:
            raise self._livelock(
                f"the run's records and trace passed max_memory={self.max_memory} bytes "
                f"(estimated {estimate} bytes: {len(self.records)} calls, "
                f"{len(self.trace)} events; {self._dispatchers()})"
            )

    def _dispatchers(self) -> str:
        # Who makes the live calls: the functions that dispatch them, by count.
        counts: dict[str, int] = {}
        records = self.records
        for rec in records.values():
            if rec.outcome is None:
                via = rec.parent or (records.get(rec.caller_id) if rec.caller_id else None)
                key = f"{via.function if via is not None else 'the test'} -> {rec.function}"
                counts[key] = counts.get(key, 0) + 1
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        return "live calls by dispatcher: " + ", ".join(f"{k} x{v}" for k, v in top)

    @property
    def steps(self) -> int:
        """Actions run so far (what the max_events cap counts)."""
        return self._spent + self._window - self._budget

    def _livelock(self, cap: str) -> LivelockError:
        return LivelockError(
            f"the simulation exceeded its cap: {cap} (at virtual time "
            f"{self.now:.6f}s, {self.steps} events); {self.busiest()}"
        )

    def busiest(self) -> str:
        """The functions with the most calls, and the calls with the most attempts, with counts."""
        per_function: dict[str, list[int]] = {}
        for rec in self.records.values():
            counts = per_function.setdefault(rec.function, [0, 0, 0])
            counts[0] += 1
            counts[1] += rec.outcome is None
            counts[2] += rec.attempt
        functions = sorted(per_function.items(), key=lambda kv: (-kv[1][0], -kv[1][2], kv[0]))[:5]
        by_function = ", ".join(
            f"{name} ({calls} calls, {live} unfinished, {attempts} attempts)"
            for name, (calls, live, attempts) in functions
        )
        busiest = sorted(self.records.values(), key=lambda r: (-r.attempt, r.id))[:5]
        calls = ", ".join(f"{r.id} {r.function} ({r.attempt} attempts)" for r in busiest)
        return f"busiest functions: {by_function or 'none'}; busiest calls: {calls or 'none'}"

    # -- dispatch -----------------------------------------------------------

    def dispatch(
        self, calls: Sequence[Call], caller: DispatchID | None = None, key: Any = None
    ) -> list[DispatchID]:
        """Accept `calls` (validated as a whole first) and return their ids in order.

        With `caller` and `key`, the dispatch is a durable step of the caller:
        the same key again (a retried or rebuilt caller doing it over) returns
        the ids of the first time and dispatches nothing, as long as the
        calls are the same; a tail call of the caller forgets its keys.
        """
        if key is None and type(calls) is list and len(calls) == 1:
            # One call, not a durable step (a test's fn.dispatch(x)): dispatch_one
            # checks and admits it as the general path below would.
            return [self.dispatch_one(calls[0], caller).id]
        calls = list(calls)
        for i, call in enumerate(calls):
            # The common case checked in exact types (as dispatch_one does), with
            # no message built per call; _check_call says what is wrong.
            if type(call) is not Call or type(call.function) is not str or not call.function or (
                call.endpoint is not None and type(call.endpoint) is not str
            ):
                _check_call(call, f"calls[{i}]")
        caller_record = self.records.get(caller) if caller is not None else None
        if key is not None and caller_record is not None:
            done = self._keyed.setdefault(caller_record.id, {})
            first = done.get(key)
            if first is not None:
                self._check_same_dispatch(caller_record, key, first, calls)
                return list(first)
            ids = [self._admit(call, None, caller_record).id for call in calls]
            done[key] = ids
            return list(ids)
        return [self._admit(call, None, caller_record).id for call in calls]

    def unawaited(self, caller: DispatchID, function: str) -> None:
        """Record that `caller` dropped a call of `function` it never awaited."""
        rec = self.records.get(caller)
        if rec is not None:
            self._event((UNAWAITED, self.now, rec.id, rec.function, rec.attempt, None, function, None))

    def _check_same_dispatch(
        self, caller: _Record, key: Any, first: list[DispatchID], calls: list[Call]
    ) -> None:
        before = [(self.records[i].function, self.records[i].input) for i in first]
        try:
            now = [(c.function, _codec.freeze(c.input, where="argument")) for c in calls]
        except _codec.SerializationError:
            now = []
        if len(before) != len(now) or any(
            f != g or not _codec.same(a, b) for (f, a), (g, b) in zip(before, now)
        ):
            raise ValueError(
                f"{caller.id} ({caller.function}) made dispatch {key} again with other calls: "
                f"first {[f for f, _ in before]}, now {[c.function for c in calls]} "
                "(the function took another path)"
            )

    def dispatch_one(self, call: Call, caller: DispatchID | None = None) -> _Record:
        """Accept one call, as `dispatch` does, and return its record."""
        # The common case checked in exact types here; _check_call says what is wrong.
        if type(call) is not Call or type(call.function) is not str or not call.function or (
            call.endpoint is not None and type(call.endpoint) is not str
        ):
            _check_call(call, "calls[0]")
        return self._admit(call, None, self.records.get(caller) if caller is not None else None)

    def _admit(self, call: Call, parent: _Record | None, caller: _Record | None) -> _Record:
        self._ids += 1
        did = f"d{self._ids}"
        now = self.now
        function, value = call.function, call.input
        try:
            data: object = _freeze(value, where="argument")
            failure = None
        except _codec.SerializationError as exc:
            data, failure = b"", exc  # never run: it fails at once
        via = parent or caller
        if via is None:  # dispatched by the test: its own root
            caller_id = None
            rec = _Record(did, function, call.endpoint or DEFAULT_ENDPOINT, data, None, call.correlation_id, None, did, now)
        else:
            caller_id = via.id
            rec = _Record(
                did, function, call.endpoint or via.endpoint, data, parent, call.correlation_id, caller_id,
                via.root_id, now,
            )  # fmt: skip
        self.records[did] = rec
        self.pending += 1
        if parent is not None:
            parent.suspension.outstanding[call.correlation_id] = rec  # type: ignore[union-attr]
        self._event((DISPATCH, now, did, function, 0, None, caller_id, data))
        if failure is not None:
            self._fail(rec, _invalid(failure))
        elif function == TIMER_FUNCTION:
            self._start_timer(rec, value)
        else:
            # push(), written out: this runs for every call, and the two calls saved
            # are a measurable part of it.
            self._seq += 1
            _heappush(
                self.heap,
                (now + self._latency(rec) if self._faults else now, self._seq, self._attempt, rec),
            )
            if self.on_push is not None:
                self.on_push()
        return rec

    def _admit_polled(self, rec: _Record, calls: Sequence[Call]) -> tuple[tuple[Any, str, object], ...]:
        """`_admit(call, rec, None)` for each call of a sound poll of `rec`; what the poll journals of them.

        The same steps in the same order, with what the children share (their
        parent, the records, the timeline) looked up once rather than per
        call: a fan-out polls with thousands of calls.
        """
        records, event, heap, attempt = self.records, self._event, self.heap, self._attempt
        outstanding = rec.suspension.outstanding  # type: ignore[union-attr]
        parent_id, root_id, parent_endpoint = rec.id, rec.root_id, rec.endpoint
        faults, latency, on_push = self._faults, self._latency, self.on_push
        entry_calls: list[tuple[Any, str, object]] = []  # (correlation id, function, frozen input) each
        journal = entry_calls.append
        now = self.now  # nothing here moves time
        # The counters in locals, written back before anything else reads them
        # (a failed or timer child's own path) and when the loop ends or raises.
        ids, seq, pending = self._ids, self._seq, self.pending
        try:
            for call in calls:
                ids += 1
                did = f"d{ids}"
                function, cid, value = call.function, call.correlation_id, call.input
                try:
                    data: object = _freeze(value, where="argument")
                    failure = None
                except _codec.SerializationError as exc:
                    data, failure = b"", exc  # never run: it fails at once
                child = _Record(did, function, call.endpoint or parent_endpoint, data, rec, cid, parent_id, root_id, now)
                records[did] = child
                pending += 1
                outstanding[cid] = child
                event((DISPATCH, now, did, function, 0, None, parent_id, data))
                if failure is None and function != TIMER_FUNCTION:
                    seq += 1
                    _heappush(heap, (now + latency(child) if faults else now, seq, attempt, child))
                    if on_push is not None:
                        on_push()
                else:
                    self._ids, self._seq, self.pending = ids, seq, pending
                    if failure is not None:
                        self._fail(child, _invalid(failure))
                    else:
                        self._start_timer(child, value)
                    ids, seq, pending = self._ids, self._seq, self.pending
                journal((cid, function, data))
        finally:
            self._ids, self._seq, self.pending = ids, seq, pending
        return tuple(entry_calls)

    def _delivery_time(self, rec: _Record) -> float:
        return self.now + self._latency(rec) if self._faults else self.now

    def _start_timer(self, rec: _Record, seconds: Any) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
            error = ValueError(f"a durable sleep needs seconds >= 0, got {seconds!r}")
            self._fail(rec, _invalid(error))
            return
        rec.move(SLEEPING)
        self.push(self.now + float(seconds), self._wake_timer, rec)

    def _wake_timer(self, rec: _Record) -> None:
        self._finish(rec, value_outcome(None), "OK")

    # -- attempts -------------------------------------------------------------

    def _attempt(self, rec: _Record) -> Coroutine[Any, Any, None] | None:
        if rec.outcome is not None:
            return None
        now = self.now  # nothing before the endpoint runs moves time
        rec.attempt = attempt = rec.attempt + 1
        self._event((ATTEMPT_START, now, rec.id, rec.function, attempt, None, None, None))
        if rec.failures == 0:
            rec.step_start = now
        try:  # (a lookup that may fail costs less than get() and a test of what it gave)
            endpoint = _endpoints[rec.endpoint]
        except KeyError:
            self._no_endpoint(rec)
            return None
        if self._faults:
            fault = self._endpoint_fault(rec)
            if fault is not None:
                self._endpoint_failed(rec, fault)
                return None
        suspension = rec.suspension
        if suspension is not None:
            self._prepare_resume(rec, suspension)
        try:
            rec.state = _INTO_RUNNING[rec.state]  # rec.move(RUNNING), without the call
        except KeyError:
            rec.move(RUNNING)  # raises
        try:  # getattr(endpoint, "run_attempt", None), without the call
            serve = endpoint.run_attempt  # type: ignore[attr-defined]
        except AttributeError:
            serve = None
        if serve is None:
            return self._run_plain(rec, endpoint, suspension)
        # A light view, not an Input: the endpoint builds what it reads (see
        # _attempt). Attempt(rec, suspension), written out: one per attempt,
        # and the two stores here cost less than the call of __init__.
        view = _new(Attempt)
        view._rec = rec
        view._suspension = _FIRST_CALL if suspension is None else suspension
        try:
            out = serve(view)
        except Exception as exc:  # an endpoint must not raise; treat it as a crash of the attempt
            out = Output.error(Error.from_exception(exc, Status.PERMANENT_ERROR))
        kind = out.__class__  # (type(out), without the call)
        if kind is tuple:  # a fast endpoint's (value,)
            # _completed's commonest case, written out.
            if rec.outcome is not None or (
                self._faults and self._response_lost(rec) and self._lose_response(rec)
            ):
                return None
            # (`now` and `attempt` are still the attempt's: a fast answer is made
            # without awaiting, and only an action, run by step(), moves time.)
            self._event((ATTEMPT, now, rec.id, rec.function, attempt, "OK", None, None))
            data = out[0]
            if type(data) not in _KEPT:  # else freeze would keep it as it is
                if type(data) is list and _KEPT.issuperset(map(type, data)):
                    data = _FrozenList(data)  # what freeze makes of a flat list, without its other checks
                else:
                    try:
                        data = _freeze(data, where="result")
                    except _codec.SerializationError as exc:
                        self._fail(rec, _invalid(exc))
                        return None
            self._finish(rec, ("value", data), "OK")  # value_outcome(data), written out
            return None
        if kind is PollRequest:
            # _completed's poll case, written out as for (value,) above.
            if rec.outcome is not None or (
                self._faults and self._response_lost(rec) and self._lose_response(rec)
            ):
                return None
            self._event((ATTEMPT, now, rec.id, rec.function, attempt, POLL, f"{len(out.calls)} calls", None))
            self._poll(rec, out)
            return None
        return self._answered(rec, out, True)

    def _run_plain(self, rec: _Record, endpoint: Any, suspension: _Suspension | None) -> Coroutine[Any, Any, None] | None:
        # An endpoint without run_attempt: it gets the public Input, and must answer an Output.
        try:
            out = endpoint.run(rec.function, Attempt(rec, suspension).to_input())
        except Exception as exc:  # an endpoint must not raise; treat it as a crash of the attempt
            out = Output.error(Error.from_exception(exc, Status.PERMANENT_ERROR))
        return self._answered(rec, out, False)

    def _answered(self, rec: _Record, out: Any, fast: bool) -> Coroutine[Any, Any, None] | None:
        # The rarer answers of an attempt: an Output, an awaitable, or something else.
        if isinstance(out, Output):
            self._completed(rec, out)
            return None
        if not isawaitable(out):  # neither an Output nor something that gives one: say so
            message = f"endpoint {rec.endpoint} returned {type(out).__qualname__}, not an Output"
            self._completed(rec, Output.error(Error(Status.INVALID_RESPONSE, "TypeError", message)))
            return None
        return self._finish_running(rec, out, fast)

    def _no_endpoint(self, rec: _Record) -> None:
        error = Error(
            Status.NOT_FOUND,
            "NotFoundError",
            f"no endpoint serves {rec.endpoint!r} (was its registry closed?)",
        )
        self._event((ATTEMPT, self.now, rec.id, rec.function, rec.attempt, "NOT_FOUND", None, _carried(error)))
        self._fail(rec, error)

    def _endpoint_failed(self, rec: _Record, fault: Status) -> None:
        """Inject the endpoint failure `fault` before the function runs."""
        self._event((FAULT, self.now, rec.id, rec.function, rec.attempt, fault.name, ENDPOINT_ERROR, None))
        message = f"injected: endpoint {rec.endpoint} failed with {fault.name} before running"
        self._attempt_failed(rec, Error(fault, "InjectedFault", message), fault)

    async def _finish_running(self, rec: _Record, pending: Awaitable[Any], fast: bool) -> None:
        try:
            out = await pending
        except Exception as exc:
            out = Output.error(Error.from_exception(exc, Status.PERMANENT_ERROR))
        kind = type(out)
        if not isinstance(out, Output) and not (fast and (kind is tuple or kind is PollRequest)):
            out = Output.error(
                Error(
                    Status.INVALID_RESPONSE,
                    "TypeError",
                    f"endpoint {rec.endpoint} returned {type(out).__qualname__}, not an Output",
                )
            )
        self._completed(rec, out)

    def _prepare_resume(self, rec: _Record, suspension: _Suspension) -> None:
        # What a resume's attempt needs before it runs: the crash decision (a
        # rebuild from the journal) and the batch of results it delivers.
        if self._faults and self._crash(rec):
            if _within_replay_budget(suspension):
                self.lose_state(rec)
            else:
                self._event((REPLAY_BUDGET, self.now, rec.id, rec.function, rec.attempt, None, CRASH, None))
        if suspension.batch is None:
            # The batch of results the resume delivers, taken from `ready`
            # (here, not in a method of its own: once per resume).
            ready, taken = suspension.ready, suspension.taken
            available = len(ready) - taken
            most = suspension.max_results
            shuffle = self._reorder(available, rec) if self._faults else None
            if shuffle is None and available <= most:  # all of them, in order: the usual resume
                if taken:
                    batch = tuple(ready[taken:])
                    suspension.taken = 0
                else:  # (the usual case: nothing taken before)
                    batch = tuple(ready)
                suspension.ready = []  # (a new list: fewer bytecodes than clearing this one)
            else:
                start, size = 0, most if most < available else available  # min(), without the call
                if shuffle is not None:
                    start = shuffle[0]
                    size = min(shuffle[1], size, available - start)
                if start == 0 and size == available:
                    batch = tuple(ready[taken:]) if taken else tuple(ready)
                    ready.clear()
                    suspension.taken = 0
                elif start == 0:
                    batch = tuple(ready[taken : taken + size])
                    taken += size
                    if 2 * taken >= len(ready):  # drop the taken prefix once it is half the list
                        del ready[:taken]
                        taken = 0
                    suspension.taken = taken
                else:  # out of order (a reordering fault)
                    batch = tuple(ready[taken + start : taken + start + size])
                    del ready[taken + start : taken + start + size]
            # Each result's child is no longer outstanding: outstanding.pop(raw[0], None)
            # for raw in batch, as passes in C when the batch is large (a fan-out's
            # resume takes many), as a loop when small (the passes' fixed cost is
            # that of a loop over about ten).
            pop = suspension.outstanding.pop
            count = len(batch)
            if count > 8:
                _consume(map(pop, map(_first, batch), repeat(None)))
            else:
                for raw in batch:
                    pop(raw[0], None)
            suspension.batch = batch
            suspension.size += count
            entry = suspension.journal[-1]
            entry.results = batch
            entry.poll_error = suspension.error

    def _completed(self, rec: _Record, out: Output | tuple[Any] | PollRequest) -> None:
        if rec.outcome is not None:
            return
        if self._faults and self._response_lost(rec) and self._lose_response(rec):
            return
        form = type(out)
        if form is tuple:  # (value,): returned with status OK (a fast endpoint's form)
            self._event((ATTEMPT, self.now, rec.id, rec.function, rec.attempt, "OK", None, None))
            data = out[0]  # type: ignore[index]
            if type(data) not in _KEPT:  # else freeze would keep it as it is
                try:
                    data = _freeze(data, where="result")
                except _codec.SerializationError as exc:
                    self._fail(rec, _invalid(exc))
                    return
            self._finish(rec, ("value", data), "OK")  # value_outcome(data), written out
            return
        if form is PollRequest:
            self._event((ATTEMPT, self.now, rec.id, rec.function, rec.attempt, POLL, f"{len(out.calls)} calls", None))  # type: ignore[union-attr]
            self._poll(rec, out)
            return
        out_: Output = out  # type: ignore[assignment]
        kind = out_.kind
        if kind == "value":
            status = out_.status
            self._event((ATTEMPT, self.now, rec.id, rec.function, rec.attempt, _NAMES[status], None, None))
            if status is Status.OK:
                try:
                    data = _freeze(out_._value, where="result")
                except _codec.SerializationError as exc:
                    self._fail(rec, _invalid(exc))
                    return
                self._finish(rec, value_outcome(data), "OK")
            else:
                message = f"{rec.function} returned a value with status {status.name}"
                self._attempt_failed(rec, Error(status, "Status", message), status)
        elif kind == "error":
            failure = out_._error
            assert failure is not None
            self._event(
                (ATTEMPT, self.now, rec.id, rec.function, rec.attempt, failure.status.name, failure.type,
                 _carried(failure))
            )
            self._attempt_failed(rec, failure, failure.status)
        elif kind == "poll":
            poll = out_._poll
            assert poll is not None
            detail = f"{len(poll.calls)} calls"
            self._event((ATTEMPT, self.now, rec.id, rec.function, rec.attempt, POLL, detail, None))
            self._poll(rec, poll)
        else:
            call = out_._tail_call
            assert call is not None
            self._tail_call(rec, call)

    def _lose_response(self, rec: _Record) -> bool:
        """Lose the response of the attempt that ran (the decisions said so), if the replay budget allows.

        True if it was lost: the attempt failed with a timeout.
        """
        # A resume whose response is lost is retried from the journal the
        # function already ran past: a rebuild, as for a crash, so the same
        # replay budget decides.
        suspension = rec.suspension
        if suspension is not None and not _within_replay_budget(suspension):
            self._event((REPLAY_BUDGET, self.now, rec.id, rec.function, rec.attempt, None, RESPONSE_LOST, None))
            return False
        self._event((FAULT, self.now, rec.id, rec.function, rec.attempt, "TIMEOUT", RESPONSE_LOST, None))
        error = Error(
            Status.TIMEOUT,
            "InjectedFault",
            f"injected: the response of {rec.function} attempt {rec.attempt} was lost",
        )
        self._attempt_failed(rec, error, Status.TIMEOUT)
        return True

    def _attempt_failed(self, rec: _Record, error: Error, status: Status) -> None:
        rec.failures += 1
        delay = self.retry.retry_delay(status, rec.failures, rec.step_start, self.now, self.decisions.jitter)
        if delay is None:
            self._fail(rec, error)
            return
        rec.move(RETRYING)
        self._event((RETRY, self.now, rec.id, rec.function, rec.attempt, status.name, None, None))
        self.push(self.now + delay, self._attempt, rec)

    # -- polls ------------------------------------------------------------------

    def _poll(self, rec: _Record, poll: Any) -> None:
        rec.failures = 0
        suspension = rec.suspension
        if suspension is None:  # the function's first poll: a suspension made with its fields
            suspension = rec.suspension = _Suspension(poll.coroutine_state, poll.min_results, poll.max_results)
        else:
            suspension.batch = None
            suspension.coroutine_state = poll.coroutine_state
            suspension.error = None
            # (Set before the calls are admitted: nothing reads them until the call is polling.)
            suspension.min_results = poll.min_results
            suspension.max_results = poll.max_results
        calls = poll.calls
        count = len(calls)
        # `journaled`: what the poll journals, each call's (correlation id,
        # function, frozen input), set on every path below.
        if count == 1:
            # A lone call (the commonest poll): checked as _poll_is_sound checks
            # one, then given to _admit itself, as _admit_polled would give it
            # (whose setup for many calls costs more than it saves for one).
            call = calls[0]
            cid = call.correlation_id
            if _one_call_is_sound(call, cid, suspension.outstanding):
                child = self._admit(call, rec, None)
                journaled: tuple[tuple[Any, str, object], ...] = ((cid, call.function, child.input),)
                problem = None
            else:
                problem = _poll_problem(calls, [cid], suspension.outstanding)
        elif count:
            ids = list(map(_correlation_id_of, calls))
            # _poll_problem, with its common case (sound) asked first without the call.
            problem = None if _poll_is_sound(calls, ids, suspension.outstanding) else _poll_problem(
                calls, ids, suspension.outstanding
            )
            if problem is None:
                journaled = self._admit_polled(rec, calls)
        else:  # a resumed function waiting on (no new calls): nothing to check or admit
            problem = None
            journaled = ()
        if problem is not None:
            # Rejected calls are journaled all the same: a rebuilt coroutine
            # makes them again and must find them, with the poll's error.
            suspension.error = Error.from_exception(ValueError(problem), Status.INVALID_ARGUMENT)
            rejected: list[tuple[Any, str, object]] = []
            for call in calls:
                try:
                    data = _codec.freeze(call.input, where="argument")
                except _codec.SerializationError:
                    data = b""
                rejected.append((call.correlation_id, call.function, data))
            journaled = tuple(rejected)
        suspension.journal.append(_Entry(journaled))
        suspension.size += len(journaled)
        # Children that failed at once (bad input) are already in `ready`.
        try:
            rec.state = _INTO_POLLING[rec.state]  # rec.move(POLLING), without the call
        except KeyError:
            rec.move(POLLING)  # raises
        if poll.max_wait_seconds is not None:
            self.push(self.now + poll.max_wait_seconds, self._poll_timeout, (rec, suspension.generation))
        # _maybe_resume(rec), written out: the call is polling, with its suspension.
        ready = len(suspension.ready) - suspension.taken
        if suspension.error is not None or ready >= suspension.min_results or ready >= len(suspension.outstanding):
            self._resume(rec)

    def _poll_timeout(self, arg: tuple[_Record, int]) -> None:
        rec, generation = arg
        if rec.state is POLLING and rec.suspension.generation == generation:  # type: ignore[union-attr]
            self._resume(rec)

    def resume_early(self, dispatch_id: DispatchID) -> None:
        """Resume a polling call now with the results ready so far (maybe none).

        As if its poll's `max_wait_seconds` ran out: its endpoint has news the
        service cannot see (a coroutine's trio work ended). A call that is not
        polling is left alone: its next attempt sees the news anyway.
        """
        rec = self.records.get(dispatch_id)
        if rec is not None and rec.state is POLLING:
            self._resume(rec)

    def _maybe_resume(self, rec: _Record) -> None:
        suspension = rec.suspension
        if rec.state is not POLLING or suspension is None:
            return
        ready = len(suspension.ready) - suspension.taken
        # ready >= min(min_results, outstanding), without the call to min.
        if suspension.error is not None or ready >= suspension.min_results or ready >= len(suspension.outstanding):
            self._resume(rec)

    def _resume(self, rec: _Record) -> None:
        try:
            rec.state = _INTO_SCHEDULED[rec.state]  # rec.move(SCHEDULED), without the call
        except KeyError:
            rec.move(SCHEDULED)  # raises
        # push(), written out: every resume makes one.
        self._seq += 1
        _heappush(
            self.heap,
            (self.now + self._latency(rec) if self._faults else self.now, self._seq, self._attempt, rec),
        )
        if self.on_push is not None:
            self.on_push()

    def _tail_call(self, rec: _Record, call: Call) -> None:
        try:
            _check_call(call, "tail call")
            data = _codec.freeze(call.input, where="argument")
            failure = None
        except (TypeError, ValueError) as exc:
            data, failure = None, exc
        # The attempt's end carries the arguments the call goes on with.
        self._event((ATTEMPT, self.now, rec.id, rec.function, rec.attempt, TAIL_CALL, call.function, ("args", data)))
        if failure is not None:
            self._fail(rec, _invalid(failure))
            return
        endpoint = _endpoints.get(rec.endpoint)
        if endpoint is not None:
            endpoint.forget(rec.id)
        rec.function = call.function
        rec.endpoint = call.endpoint or rec.endpoint
        rec.input = data
        rec.failures = 0
        rec.suspension = None  # the new function starts afresh; late children are ignored
        if self._keyed:
            self._keyed.pop(rec.id, None)  # its dispatches were the old function's steps
        rec.move(SCHEDULED)
        self.push(self._delivery_time(rec), self._attempt, rec)

    def lose_state(self, rec: _Record) -> None:
        """The endpoint forgets the call's in-memory state, as a crash would."""
        endpoint = _endpoints.get(rec.endpoint)
        if endpoint is not None:
            endpoint.forget(rec.id)
        self._event((FAULT, self.now, rec.id, rec.function, rec.attempt, None, CRASH, None))

    # -- outcomes -----------------------------------------------------------------

    def _fail(self, rec: _Record, error: Error) -> None:
        self._finish(rec, error_outcome(error), _NAMES[int(error.status)])

    def _finish(self, rec: _Record, outcome: RawOutcome, status: str) -> None:
        """Give the call its outcome (`status` names it in the trace)."""
        rec.outcome = outcome
        try:
            rec.state = _INTO_DONE[rec.state]  # rec.move(DONE), without the call
        except KeyError:
            rec.move(DONE)  # raises
        self.pending -= 1
        self._event((OUTCOME, self.now, rec.id, rec.function, rec.attempt, status, None, outcome))
        if rec.suspension is not None:
            endpoint = _endpoints.get(rec.endpoint)
            if endpoint is not None:
                endpoint.forget(rec.id)
            rec.suspension = None  # late children are ignored; the journal is not needed any more
        if rec.waiters:
            self.wake(rec)
        parent = rec.parent
        if parent is not None:
            suspension = parent.suspension
            cid = rec.correlation_id
            if suspension is not None and suspension.outstanding.get(cid) is rec:
                ready = suspension.ready
                ready.append((cid, rec.id, outcome))
                if parent.state is POLLING:  # a fan-out's parent is resumed by its first result
                    # _maybe_resume(parent), written out: every child's outcome asks it.
                    count = len(ready) - suspension.taken
                    if (
                        suspension.error is not None
                        or count >= suspension.min_results
                        or count >= len(suspension.outstanding)
                    ):
                        self._resume(parent)

    def abandon(self) -> None:
        """Give every call still without an outcome an 'abandoned' outcome in the trace."""
        for rec in self.records.values():
            if rec.outcome is None:
                rec.outcome = ABANDONED_OUTCOME
                rec.move(DONE)
                self.pending -= 1
                self._event((OUTCOME, self.now, rec.id, rec.function, rec.attempt, None, ABANDONED, None))

    def abort(self, reason: BaseException) -> None:
        """The run ended abnormally: every call still without an outcome gets an 'aborted' one.

        The event's detail is ``aborted: <exception type>``; nothing is run
        any more (the timeline is emptied).
        """
        self.heap.clear()
        detail = f"{ABORTED}: {type(reason).__qualname__}"
        for rec in self.records.values():
            if rec.outcome is None:
                rec.outcome = ABANDONED_OUTCOME
                rec.move(DONE)
                self.pending -= 1
                self._event((OUTCOME, self.now, rec.id, rec.function, rec.attempt, None, detail, None))

