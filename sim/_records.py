"""What the service keeps per call: its record, with the state machine of its life, and
the suspension of a function that polled.

Both are plain slotted classes rather than attrs: one record is made per call,
and their constructors are on the hot path.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from ._journal import RawOutcome, StoredResult, _Entry
from ._protocol import Call, DispatchID, Error

__all__ = ["DONE", "POLLING", "RETRYING", "RUNNING", "SCHEDULED", "SLEEPING", "State"]


class State(enum.StrEnum):
    """Where a call is in its life. The allowed moves are `_MOVES`, below."""

    SCHEDULED = "scheduled"  # an attempt (first, resume, or after a tail call) is on the timeline
    SLEEPING = "sleeping"  # a durable timer: its outcome is on the timeline
    RUNNING = "running"  # an attempt is in the endpoint
    RETRYING = "retrying"  # an attempt failed; the retry is on the timeline
    POLLING = "polling"  # suspended, waiting for its children's results
    DONE = "done"  # it has its outcome (or was abandoned)


SCHEDULED, SLEEPING, RUNNING, RETRYING, POLLING, DONE = State

# The state machine, written once: every move goes through _Record.move, which
# checks it here. An attempt is scheduled or a retry of one; it runs, fails
# (then retries) or ends with a poll, a tail call or the outcome. A failure
# before the function runs (endpoint fault, no endpoint, bad input) moves a
# scheduled or retrying call without running it. Any call not done may be
# abandoned when the run ends.
_MOVES: dict[State, tuple[State, ...]] = {
    SCHEDULED: (RUNNING, RETRYING, SLEEPING, DONE),
    RETRYING: (RUNNING, RETRYING, DONE),
    RUNNING: (RETRYING, POLLING, SCHEDULED, DONE),
    POLLING: (SCHEDULED, DONE),
    SLEEPING: (DONE,),
    DONE: (),
}


# _MOVES as {from: {to: to}}, for _Record.move.
_NEXT: dict[State, dict[State, State]] = {a: {b: b for b in moves} for a, moves in _MOVES.items()}

# _MOVES as {to: {from: to}}: the service's hot paths make a move they know
# the target of as ``rec.state = _INTO_X[rec.state]``, one lookup and no call,
# and call `move` only on a KeyError, to raise its error.
_INTO: dict[State, dict[State, State]] = {
    b: {a: b for a, moves in _MOVES.items() if b in moves} for b in State
}


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
        self.state = SCHEDULED
        self.outcome: RawOutcome | None = None
        # Whatever the driver parks until the outcome (trio tasks, for the
        # runtime); the service only hands the record to its `wake` hook.
        self.waiters: list[Any] = []
        # Made by the function's first poll, dropped by a tail call and at the
        # end: most calls never poll, and keep none of it.
        self.suspension: _Suspension | None = None

    def move(self, state: State) -> None:
        """Go to `state`: the one place a call's state changes, checked against _MOVES."""
        try:
            # One lookup both checks the move and yields the state (cheaper than an assert).
            self.state = _NEXT[self.state][state]
        except KeyError:
            raise AssertionError(f"{self.id} cannot go from {self.state} to {state}") from None


class _Suspension:
    """What the service keeps for a call whose function has polled (its current function)."""

    __slots__ = (
        "coroutine_state", "min_results", "max_results", "outstanding",
        "ready", "taken", "batch", "error", "journal", "replayed",
        "size",
    )  # fmt: skip

    is_first_call = False  # what an Attempt holding it says (see _attempt._FirstCall)

    def __init__(self, coroutine_state: bytes | None = None, min_results: int = 1, max_results: int = 10) -> None:
        # (The service makes one with its first poll's fields, and sets a later poll's.)
        self.coroutine_state = coroutine_state
        self.min_results = min_results
        self.max_results = max_results
        self.outstanding: dict[Any, _Record] = {}  # children not delivered yet, by correlation id
        self.ready: list[StoredResult] = []  # children done, waiting for a resume
        # The prefix of `ready` already handed over: a big fan-out takes a
        # few results at a time, and deleting each batch from the front of
        # the list would cost its whole length every time.
        self.taken = 0
        self.batch: tuple[StoredResult, ...] | None = None  # the resume being attempted
        self.error: Error | None = None  # why the last poll failed as a whole
        self.journal: list[_Entry] = []
        self.replayed = 0  # journal entries replayed by rebuilds past the free size (the replay budget)
        # The journal's size in what a rebuild replays: the calls its polls made
        # and the results delivered to it. A poll can carry any number of calls
        # (a 100k-call gather journals them in one), so polls alone undercount it.
        self.size = 0

    @property
    def generation(self) -> int:
        """Polls so far, one journal entry each: a poll's timeout applies to that poll only.

        (Counted by the journal, which only grows, rather than by a counter every poll would keep.)
        """
        return len(self.journal)


_function_of = attrgetter("function")
_endpoint_of = attrgetter("endpoint")
_CALLS_ONLY = frozenset({Call})
_STRS_ONLY = frozenset({str})
_ID_TYPES = frozenset({str, int})
_ENDPOINT_TYPES = frozenset({str, type(None)})


def _one_call_is_sound(call: Any, cid: Any, outstanding: dict[Any, _Record]) -> bool:
    """`_poll_is_sound` for a poll of one call, whose correlation id is `cid` (the commonest poll)."""
    # (x.__class__, not type(x), here and in _poll_is_sound's short cases: an
    # attribute, not a call; the exact type, for the values that reach it.)
    if call.__class__ is not Call or cid.__class__ not in _ID_TYPES or cid in outstanding:
        return False
    function = call.function
    return function.__class__ is str and function != "" and call.endpoint.__class__ in _ENDPOINT_TYPES


def _poll_is_sound(calls: Sequence[Call], ids: list[Any], outstanding: dict[Any, _Record]) -> bool:
    # The common case in passes over exact types, each a loop in C (a fan-out
    # polls with thousands of calls); anything unusual goes to the checks of
    # _poll_problem, which say what is wrong. `ids` are the calls' correlation ids.
    count = len(ids)
    # One call (a lone await, the commonest poll) or two (a pair gathered): the
    # same checks written out. Each pass in C has a fixed cost (issuperset of an
    # iterator builds a set first), which a poll of one or two calls pays five
    # times over: these cost a fifth to a third of the wall time, though more
    # bytecodes. (An exact str or int is hashable, and equal only to its own type.)
    if count == 1:
        return _one_call_is_sound(calls[0], ids[0], outstanding)
    if count == 2:
        a, b = calls  # (two items: `ids` was made from them)
        x, y = ids
        if (
            a.__class__ is not Call
            or b.__class__ is not Call
            or x.__class__ not in _ID_TYPES
            or y.__class__ not in _ID_TYPES
            or x == y
            or x in outstanding
            or y in outstanding
        ):
            return False
        f, g = a.function, b.function
        return (
            f.__class__ is str
            and g.__class__ is str
            and f != ""
            and g != ""
            and a.endpoint.__class__ in _ENDPOINT_TYPES
            and b.endpoint.__class__ in _ENDPOINT_TYPES
        )
    try:
        if len(set(ids)) != len(ids) or not outstanding.keys().isdisjoint(ids):
            return False
    except TypeError:  # an unhashable correlation id
        return False
    if not (_CALLS_ONLY.issuperset(map(type, calls)) and _ID_TYPES.issuperset(map(type, ids))):
        return False
    functions = list(map(_function_of, calls))
    return (
        _STRS_ONLY.issuperset(map(type, functions))
        and all(functions)  # no empty name
        and _ENDPOINT_TYPES.issuperset(map(type, map(_endpoint_of, calls)))
    )


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
