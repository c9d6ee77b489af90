"""The simulated Dispatch service: the life of every call, on a virtual timeline.

The service owns the timeline (a heap of due actions), the call records, and
the trace. It is synchronous: the runtime (`_simulation`) decides when to
advance time and which trio task executes the next action. Only an attempt
whose function awaits something outside the simulation hands back an
awaitable for the runtime to finish.
"""

from __future__ import annotations

import heapq
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

import trio

from . import _codec
from ._decisions import Decisions
from ._journal import Journal, _Entry, decode_result
from ._protocol import Call, DispatchID, Error, Input, Output
from ._retry import RetryPolicy
from ._status import Status
from ._trace import Trace

__all__ = [
    "DEFAULT_ENDPOINT",
    "TIMER_FUNCTION",
    "Endpoint",
    "register_endpoint",
    "unregister_endpoint",
]

DEFAULT_ENDPOINT = "sim://default"
"""Where a call without an endpoint goes (the default registry serves it)."""

TIMER_FUNCTION = "<sleep>"
"""A call to this function is a durable timer: its input is the delay in seconds."""


class Endpoint(Protocol):
    """What the service needs from a process serving functions (registry implements it)."""

    def run(self, function: str, input: Input) -> Output | Awaitable[Output]:
        """Run one attempt of `function`. Return an awaitable only when it must await trio."""

    def forget(self, dispatch_id: DispatchID) -> None:
        """Drop any in-memory state kept for the call (a crash, or the call ended)."""


_endpoints: dict[str, Endpoint] = {}


def register_endpoint(url: str, endpoint: Endpoint) -> None:
    """Make `endpoint` reachable at `url` for every simulation."""
    current = _endpoints.get(url)
    if current is not None and current is not endpoint:
        raise ValueError(f"endpoint {url!r} is already served by {current!r}")
    _endpoints[url] = endpoint


def unregister_endpoint(url: str) -> None:
    """Take `url` off the network; calls to it fail with NOT_FOUND."""
    _endpoints.pop(url, None)


# Enum .name is a slow descriptor; the trace names statuses on the hot path.
_NAMES: dict[int, str] = {int(s): s.name for s in Status}

# A raw outcome keeps values serialized, so that every reader gets its own copy:
# ("value", bytes) or ("error", (status, type, message, exception bytes or None)).
_RawOutcome = tuple[str, Any]


class _Record:
    """Everything the service knows about one call (a plain class: one is made per call)."""

    __slots__ = (
        "id", "function", "endpoint", "input", "parent", "correlation_id", "caller_id",
        "root_id", "created", "attempt", "failures", "step_start", "state", "outcome",
        "waiters", "suspension",
    )  # fmt: skip

    def __init__(
        self,
        id: DispatchID,
        function: str,
        endpoint: str,
        input: object,
        parent: _Record | None,
        correlation_id: int | str | None,
        caller_id: DispatchID | None,
        root_id: DispatchID,
        created: float,
    ) -> None:
        self.id = id
        self.function = function
        self.endpoint = endpoint
        self.input = input
        self.parent = parent
        self.correlation_id = correlation_id
        self.caller_id = caller_id
        self.root_id = root_id
        self.created = created
        self.attempt = 0
        self.failures = 0  # consecutive failed attempts of the current step
        self.step_start = 0.0
        self.state = "scheduled"
        self.outcome: _RawOutcome | None = None
        self.waiters: list[trio.lowlevel.Task] = []
        # Made by the function's first poll, dropped by a tail call and at the
        # end: most calls never poll, and keep none of it.
        self.suspension: _Suspension | None = None


class _Suspension:
    """What the service keeps for a call whose function has polled (its current function)."""

    __slots__ = (
        "coroutine_state", "min_results", "max_results", "generation", "outstanding",
        "ready", "taken", "batch", "error", "journal",
    )  # fmt: skip

    def __init__(self) -> None:
        self.coroutine_state: bytes | None = None
        self.min_results = 1
        self.max_results = 10
        self.generation = 0  # polls so far: a poll's timeout applies to that poll only
        self.outstanding: dict[Any, _Record] = {}  # children not delivered yet, by correlation id
        self.ready: list[tuple[Any, ...]] = []  # children done, waiting for a resume
        # The prefix of `ready` already handed over: a big fan-out takes a
        # few results at a time, and deleting each batch from the front of
        # the list would cost its whole length every time.
        self.taken = 0
        self.batch: tuple[tuple[Any, ...], ...] | None = None  # the resume being attempted
        self.error: Error | None = None  # why the last poll failed as a whole
        self.journal: list[_Entry] = []


def _raw_error(error: Error) -> _RawOutcome:
    value = None
    if error.value is not None:
        try:
            value = _codec.dumps(error.value, where="error")
        except _codec.SerializationError:
            value = None
    return ("error", (int(error.status), error.type, error.message, value))


def _serialization_error(exc: Exception) -> _RawOutcome:
    return _raw_error(Error.from_exception(exc, Status.INVALID_ARGUMENT))


class Service:
    """Calls, attempts, retries, polls and journals on a virtual timeline."""

    def __init__(self, decisions: Decisions, retry: RetryPolicy, trace: Trace) -> None:
        self.decisions = decisions
        self.retry = retry
        self.trace = trace
        self.now = 0.0
        self.heap: list[tuple[float, int, Callable[[Any], Any], Any]] = []
        self._seq = 0
        self._ids = 0
        self.records: dict[DispatchID, _Record] = {}
        self.pending = 0  # calls without an outcome
        self.on_push: Callable[[], None] | None = None
        self._event = trace._events.append
        # With nothing to inject, no decision is drawn: skip asking.
        self._faults = not decisions.profile.is_none

    # -- timeline ---------------------------------------------------------

    def push(self, time: float, action: Callable[[Any], Any], arg: Any) -> None:
        self._seq += 1
        heapq.heappush(self.heap, (time, self._seq, action, arg))
        if self.on_push is not None:
            self.on_push()

    # -- dispatch -----------------------------------------------------------

    def dispatch(
        self, calls: Sequence[Call], caller: DispatchID | None = None
    ) -> list[DispatchID]:
        """Accept `calls` (validated as a whole first) and return their ids in order."""
        calls = list(calls)
        for i, call in enumerate(calls):
            _check_call(call, f"calls[{i}]")
        caller_record = self.records.get(caller) if caller is not None else None
        return [self._admit(call, None, caller_record).id for call in calls]

    def dispatch_one(self, call: Call, caller: DispatchID | None = None) -> _Record:
        """Accept one call, as `dispatch` does, and return its record."""
        _check_call(call, "calls[0]")
        return self._admit(call, None, self.records.get(caller) if caller is not None else None)

    def _admit(self, call: Call, parent: _Record | None, caller: _Record | None) -> _Record:
        self._ids += 1
        did = f"d{self._ids}"
        now = self.now
        try:
            data: object = _codec.freeze(call.input, where="argument")
            failure = None
        except _codec.SerializationError as exc:
            data, failure = b"", exc  # never run: it fails at once
        via = parent or caller
        endpoint = call.endpoint or (via.endpoint if via is not None else DEFAULT_ENDPOINT)
        rec = _Record(
            did,
            call.function,
            endpoint,
            data,
            parent,
            call.correlation_id,
            via.id if via is not None else None,
            via.root_id if via is not None else did,
            now,
        )
        self.records[did] = rec
        self.pending += 1
        if parent is not None:
            parent.suspension.outstanding[call.correlation_id] = rec  # type: ignore[union-attr]
        self._event(("dispatch", now, did, rec.function, 0, None, rec.caller_id))
        if failure is not None:
            self._finish(rec, _serialization_error(failure))
        elif rec.function == TIMER_FUNCTION:
            self._start_timer(rec, call.input)
        else:
            # push(), written out: this runs for every call, and the two calls saved
            # are a measurable part of it.
            self._seq += 1
            heapq.heappush(
                self.heap,
                (now + self.decisions.latency() if self._faults else now, self._seq, self._attempt, rec),
            )
            if self.on_push is not None:
                self.on_push()
        return rec

    def _delivery_time(self) -> float:
        return self.now + self.decisions.latency() if self._faults else self.now

    def _start_timer(self, rec: _Record, seconds: Any) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
            error = ValueError(f"a durable sleep needs seconds >= 0, got {seconds!r}")
            self._finish(rec, _serialization_error(error))
            return
        rec.state = "sleeping"
        self.push(self.now + float(seconds), self._wake_timer, rec)

    def _wake_timer(self, rec: _Record) -> None:
        self._finish(rec, ("value", None))

    # -- attempts -------------------------------------------------------------

    def _attempt(self, rec: _Record) -> Coroutine[Any, Any, None] | None:
        if rec.outcome is not None:
            return None
        rec.attempt += 1
        if rec.failures == 0:
            rec.step_start = self.now
        endpoint = _endpoints.get(rec.endpoint)
        if endpoint is None:
            error = Error(
                Status.NOT_FOUND,
                "NotFoundError",
                f"no endpoint serves {rec.endpoint!r} (was its registry closed?)",
            )
            self._event(("attempt", self.now, rec.id, rec.function, rec.attempt, "NOT_FOUND", None))
            self._finish(rec, _raw_error(error))
            return None
        fault = self.decisions.endpoint_fault() if self._faults else None
        if fault is not None:
            self._event(
                ("fault", self.now, rec.id, rec.function, rec.attempt, fault.name, "endpoint_error")
            )
            message = f"injected: endpoint {rec.endpoint} failed with {fault.name} before running"
            self._attempt_failed(rec, Error(fault, "InjectedFault", message), fault)
            return None
        suspension = rec.suspension
        if suspension is None:
            # No journal: a first call has nothing to rebuild from.
            inp = Input(
                rec.id,
                rec.function,
                rec.attempt,
                rec.created,
                rec.caller_id,
                rec.root_id,
                _codec.thaw(rec.input),
            )
        else:
            inp = self._resume_input(rec, suspension)
        rec.state = "running"
        try:
            out = endpoint.run(rec.function, inp)
        except Exception as exc:  # an endpoint must not raise; treat it as a crash of the attempt
            out = Output.error(Error.from_exception(exc))
        if isinstance(out, Output):
            self._completed(rec, out)
            return None
        return self._finish_running(rec, out)

    async def _finish_running(self, rec: _Record, pending: Awaitable[Output]) -> None:
        try:
            out = await pending
        except Exception as exc:
            out = Output.error(Error.from_exception(exc))
        if not isinstance(out, Output):
            out = Output.error(
                Error(Status.INVALID_RESPONSE, "TypeError", f"endpoint returned {out!r}")
            )
        self._completed(rec, out)

    def _resume_input(self, rec: _Record, suspension: _Suspension) -> Input:
        journal = Journal(rec.input, suspension.journal)
        if self._faults and self.decisions.crash():
            self.lose_state(rec)
        if suspension.batch is None:
            suspension.batch = self._take_batch(suspension)
            suspension.journal[-1].results = suspension.batch
            suspension.journal[-1].poll_error = suspension.error
        results = tuple(decode_result(r) for r in suspension.batch)
        return Input(
            rec.id,
            rec.function,
            rec.attempt,
            rec.created,
            rec.caller_id,
            rec.root_id,
            first_call=False,
            coroutine_state=suspension.coroutine_state,
            call_results=results,
            poll_error=suspension.error,
            journal=journal,
        )

    def _take_batch(self, suspension: _Suspension) -> tuple[tuple[Any, ...], ...]:
        ready, taken = suspension.ready, suspension.taken
        available = len(ready) - taken
        start, size = 0, min(suspension.max_results, available)
        shuffle = self.decisions.reorder(available) if self._faults else None
        if shuffle is not None:
            start = shuffle[0]
            size = min(shuffle[1], size, available - start)
        if start == 0 and size == available:
            batch = tuple(ready[taken:])
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
        outstanding = suspension.outstanding
        for raw in batch:
            outstanding.pop(raw[0], None)
        return batch

    def _completed(self, rec: _Record, out: Output) -> None:
        if rec.outcome is not None:
            return
        if self._faults and self.decisions.response_lost():
            self._event(("fault", self.now, rec.id, rec.function, rec.attempt, "TIMEOUT", "response_lost"))
            error = Error(
                Status.TIMEOUT,
                "InjectedFault",
                f"injected: the response of {rec.function} attempt {rec.attempt} was lost",
            )
            self._attempt_failed(rec, error, Status.TIMEOUT)
            return
        kind = out.kind
        if kind == "value":
            status = out.status
            self._event(("attempt", self.now, rec.id, rec.function, rec.attempt, _NAMES[status], None))
            if status is Status.OK:
                try:
                    data = _codec.freeze(out._value, where="result")
                except _codec.SerializationError as exc:
                    self._finish(rec, _serialization_error(exc))
                    return
                self._finish(rec, ("value", data))
            else:
                message = f"{rec.function} returned a value with status {status.name}"
                self._attempt_failed(rec, Error(status, "Status", message), status)
        elif kind == "error":
            failure = out._error
            assert failure is not None
            self._event(
                ("attempt", self.now, rec.id, rec.function, rec.attempt, failure.status.name, failure.type)
            )
            self._attempt_failed(rec, failure, failure.status)
        elif kind == "poll":
            poll = out._poll
            assert poll is not None
            detail = f"{len(poll.calls)} calls"
            self._event(("attempt", self.now, rec.id, rec.function, rec.attempt, "POLL", detail))
            self._poll(rec, poll)
        else:
            call = out._tail_call
            assert call is not None
            self._event(
                ("attempt", self.now, rec.id, rec.function, rec.attempt, "TAIL_CALL", call.function)
            )
            self._tail_call(rec, call)

    def _attempt_failed(self, rec: _Record, error: Error, status: Status) -> None:
        rec.failures += 1
        if status.temporary and rec.failures < self.retry.max_attempts:
            delay = self.retry.backoff(rec.failures, self.decisions.jitter())
            if self.now + delay - rec.step_start <= self.retry.max_duration:
                rec.state = "retrying"
                self._event(("retry", self.now, rec.id, rec.function, rec.attempt, status.name, None))
                self.push(self.now + delay, self._attempt, rec)
                return
        self._finish(rec, _raw_error(error))

    # -- polls ------------------------------------------------------------------

    def _poll(self, rec: _Record, poll: Any) -> None:
        rec.failures = 0
        suspension = rec.suspension
        if suspension is None:
            suspension = rec.suspension = _Suspension()
        suspension.batch = None
        suspension.coroutine_state = poll.coroutine_state
        suspension.generation += 1
        suspension.error = None
        ids = [c.correlation_id for c in poll.calls]
        problem = _poll_problem(poll.calls, ids, suspension.outstanding)
        entry_calls: list[tuple[Any, str, object]] = []
        if problem is not None:
            # Rejected calls are journaled all the same: a rebuilt coroutine
            # makes them again and must find them, with the poll's error.
            suspension.error = Error.from_exception(ValueError(problem), Status.INVALID_ARGUMENT)
            for call in poll.calls:
                try:
                    data = _codec.freeze(call.input, where="argument")
                except _codec.SerializationError:
                    data = b""
                entry_calls.append((call.correlation_id, call.function, data))
        else:
            for call in poll.calls:
                child = self._admit(call, rec, None)
                entry_calls.append((call.correlation_id, call.function, child.input))
        suspension.journal.append(_Entry(tuple(entry_calls)))
        # Children that failed at once (bad input) are already in `ready`.
        suspension.min_results = poll.min_results
        suspension.max_results = poll.max_results
        rec.state = "polling"
        if poll.max_wait_seconds is not None:
            self.push(self.now + poll.max_wait_seconds, self._poll_timeout, (rec, suspension.generation))
        self._maybe_resume(rec)

    def _poll_timeout(self, arg: tuple[_Record, int]) -> None:
        rec, generation = arg
        if rec.state == "polling" and rec.suspension.generation == generation:  # type: ignore[union-attr]
            self._resume(rec)

    def _maybe_resume(self, rec: _Record) -> None:
        suspension = rec.suspension
        if rec.state != "polling" or suspension is None:
            return
        ready = len(suspension.ready) - suspension.taken
        if suspension.error is not None or ready >= min(suspension.min_results, len(suspension.outstanding)):
            self._resume(rec)

    def _resume(self, rec: _Record) -> None:
        rec.state = "scheduled"
        self.push(self._delivery_time(), self._attempt, rec)

    def _tail_call(self, rec: _Record, call: Call) -> None:
        try:
            _check_call(call, "tail call")
            data = _codec.freeze(call.input, where="argument")
        except (TypeError, ValueError) as exc:
            self._finish(rec, _serialization_error(exc))
            return
        endpoint = _endpoints.get(rec.endpoint)
        if endpoint is not None:
            endpoint.forget(rec.id)
        rec.function = call.function
        rec.endpoint = call.endpoint or rec.endpoint
        rec.input = data
        rec.failures = 0
        rec.suspension = None  # the new function starts afresh; late children are ignored
        rec.state = "scheduled"
        self.push(self._delivery_time(), self._attempt, rec)

    def lose_state(self, rec: _Record) -> None:
        """The endpoint forgets the call's in-memory state, as a crash would."""
        endpoint = _endpoints.get(rec.endpoint)
        if endpoint is not None:
            endpoint.forget(rec.id)
        self._event(("fault", self.now, rec.id, rec.function, rec.attempt, None, "crash"))

    # -- outcomes -----------------------------------------------------------------

    def _finish(self, rec: _Record, outcome: _RawOutcome) -> None:
        rec.outcome = outcome
        rec.state = "done"
        self.pending -= 1
        status = "OK" if outcome[0] == "value" else _NAMES[outcome[1][0]]
        self._event(("outcome", self.now, rec.id, rec.function, rec.attempt, status, None))
        if rec.suspension is not None:
            endpoint = _endpoints.get(rec.endpoint)
            if endpoint is not None:
                endpoint.forget(rec.id)
            rec.suspension = None  # late children are ignored; the journal is not needed any more
        if rec.waiters:
            for task in rec.waiters:
                trio.lowlevel.reschedule(task)
            rec.waiters.clear()
        parent = rec.parent
        if parent is not None:
            suspension = parent.suspension
            if suspension is not None and suspension.outstanding.get(rec.correlation_id) is rec:
                suspension.ready.append((rec.correlation_id, rec.id, *outcome))
                self._maybe_resume(parent)

    def abandon(self) -> None:
        """Give every call still without an outcome an 'abandoned' outcome in the trace."""
        for rec in self.records.values():
            if rec.outcome is None:
                rec.outcome = ("abandoned", None)
                rec.state = "done"
                self.pending -= 1
                self._event(
                    ("outcome", self.now, rec.id, rec.function, rec.attempt, None, "abandoned")
                )


def _poll_is_sound(calls: Sequence[Call], ids: list[Any], outstanding: dict[Any, _Record]) -> bool:
    # The common case in one pass over exact types; anything unusual goes to
    # the checks of _poll_problem, which say what is wrong.
    try:
        if len(set(ids)) != len(ids) or not outstanding.keys().isdisjoint(ids):
            return False
    except TypeError:  # an unhashable correlation id
        return False
    for call, cid in zip(calls, ids, strict=True):
        kind = type(cid)
        if type(call) is not Call or (kind is not str and kind is not int):
            return False
        function, endpoint = call.function, call.endpoint
        if type(function) is not str or not function or (endpoint is not None and type(endpoint) is not str):
            return False
    return True


def _check_call(call: object, where: str) -> None:
    if not isinstance(call, Call):
        raise TypeError(f"{where} is a {type(call).__qualname__}, not a Call")
    if not isinstance(call.function, str) or not call.function:
        raise ValueError(f"{where} has no function name (got {call.function!r})")
    if call.endpoint is not None and not isinstance(call.endpoint, str):
        raise TypeError(f"{where} has an endpoint that is not a str: {call.endpoint!r}")


def _poll_problem(calls: Sequence[Call], ids: list[Any], outstanding: dict[Any, _Record]) -> str | None:
    if _poll_is_sound(calls, ids, outstanding):
        return None
    seen: set[Any] = set()
    for i, (call, cid) in enumerate(zip(calls, ids, strict=True)):
        try:
            _check_call(call, f"calls[{i}]")
        except (TypeError, ValueError) as exc:
            return str(exc)
        if not isinstance(cid, int | str) or isinstance(cid, bool):
            return f"calls[{i}] ({call.function}) needs an int or str correlation_id, got {cid!r}"
        if cid in seen or cid in outstanding:
            return f"calls[{i}] ({call.function}) reuses correlation_id {cid!r} of an outstanding call"
        seen.add(cid)
    return None
