"""One attempt as a fast endpoint sees it: a light view of the call, not an `Input`.

Building the public `Input` (an attrs class of twelve fields) and decoding
every delivered result into a `CallResult` cost more than the rest of a
simple call. An endpoint that serves many calls (registry's) implements
``run_attempt(attempt)`` and gets an `Attempt` instead: the few fields every
attempt reads are plain slots, and the rest (the arguments, the results, the
journal, the public `Input` itself) are built only when asked for.

``run_attempt`` may answer with an `Output`, with the two fast forms below
(``(value,)``: the call returned `value` with status OK; a `PollRequest`),
or with an awaitable of one of them when it must await trio.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeAlias

from ._codec import _frozen
from ._codec import thaw as _thaw
from ._journal import Journal, decode_outcome
from ._protocol import Arguments, Call, CallResult, DispatchID, Error, Input, Output

if TYPE_CHECKING:
    from ._journal import StoredResult
    from ._records import _Record, _Suspension

__all__ = ["Answer", "Attempt", "PollRequest", "decode_result", "output_of"]

# The frozen form of Arguments is the codec's private record; reading it here
# (one sibling module of sim reading another's) skips building an Arguments
# only to take it apart again, once per call.
_FrozenArguments, _thaw_args = _frozen._FrozenArguments, _frozen.thaw_args


class _FirstCall:
    """What a first call's Attempt holds instead of a suspension: nothing to resume from."""

    __slots__ = ()
    is_first_call = True  # (a _Suspension's class says False)
    coroutine_state = None
    batch = ()  # no results (a resume's batch is taken before its attempt runs)
    error = None


_FIRST_CALL = _FirstCall()


class Attempt:
    """What one attempt of a call gets: the call's identity, and its input or resume on demand.

    `dispatch_id`, `function`, `attempt` (1 for the first) and
    `is_first_call` are read-only attributes. On a first call
    `input_arguments()` gives the arguments; on a resume `coroutine_state`,
    `results` (raw, see `decode_result`), `call_results`, `poll_error` and
    `journal` describe it.
    `to_input()` builds the public `Input` the same attempt would have had.
    An Attempt is valid while its attempt runs.
    """

    # The service makes one per attempt without calling __init__ (see
    # Service._attempt): keep the two in step.
    __slots__ = ("_rec", "_suspension")

    _suspension: _Suspension | _FirstCall

    if TYPE_CHECKING:

        @property
        def dispatch_id(self) -> DispatchID:
            """The call's DispatchID."""

        @property
        def function(self) -> str:
            """The function this attempt runs."""

        @property
        def attempt(self) -> int:
            """The attempt's number (1 for the first)."""

        @property
        def is_first_call(self) -> bool:
            """True on a first call, False on a resume of a poll."""

    else:
        # The record's, read by a C getter: a call's id never changes, and
        # this saves making the view (on every attempt) a store.
        dispatch_id = property(attrgetter("_rec.id"), doc="The call's DispatchID.")
        # The record's too: its function and attempt number change only when
        # this attempt has ended (a tail call, the next attempt), and a view is
        # valid only while its attempt runs.
        function = property(attrgetter("_rec.function"), doc="The function this attempt runs.")
        attempt = property(attrgetter("_rec.attempt"), doc="The attempt's number (1 for the first).")
        # What the held suspension's class says (_FirstCall: True, _Suspension:
        # False), read by a C getter: no store per attempt.
        is_first_call = property(
            attrgetter("_suspension.is_first_call"), doc="True on a first call, False on a resume of a poll."
        )

    def __init__(self, rec: _Record, suspension: _Suspension | None) -> None:
        self._rec = rec
        # A first call holds _FIRST_CALL, whose fields are a first call's: the
        # properties a resume reads on every attempt are then C attribute getters.
        self._suspension = _FIRST_CALL if suspension is None else suspension

    def input_arguments(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The positional and keyword arguments of the call (fresh copies), as Input's method gives them."""
        frozen = self._rec.input
        # (__class__, not type(): an attribute, not a call; the service's frozen values.)
        if frozen.__class__ is _FrozenArguments:
            # Atoms only, or flat lists of them: the tuple of atoms can be shared
            # as it is, lists are copied (no Arguments built only to be taken
            # apart); kwargs get a dict of their own.
            if frozen.flat and not frozen.kwargs:  # the common case, first
                return frozen.args, {}
            if frozen.flat is None:  # one flat list and nothing else: a copy of it
                return (list(frozen.args[0]),), {}
            kwargs = frozen.kwargs
            return frozen.args if frozen.flat else _thaw_args(frozen), dict(kwargs) if kwargs else {}
        value = _thaw(frozen)
        if not isinstance(value, Arguments):
            raise ValueError(
                f"the input of {self.function} is a {type(value).__qualname__}, not Arguments"
            )
        return tuple(value.args), dict(value.kwargs)

    @property
    def input(self) -> Any:
        """The call's input, thawed afresh."""
        return _thaw(self._rec.input)

    if TYPE_CHECKING:

        @property
        def coroutine_state(self) -> bytes | None:
            """The state the function returned with its last poll (None on a first call)."""

        @property
        def poll_error(self) -> Error | None:
            """Why the last poll failed as a whole, if it did."""

    else:
        coroutine_state = property(
            attrgetter("_suspension.coroutine_state"),
            doc="The state the function returned with its last poll (None on a first call).",
        )
        poll_error = property(attrgetter("_suspension.error"), doc="Why the last poll failed as a whole, if it did.")

    if TYPE_CHECKING:

        @property
        def results(self) -> tuple[StoredResult, ...]:
            """The results this resume delivers, raw: (correlation id, dispatch id, outcome) each."""

    else:
        # The held suspension's batch, read by a C getter: the service takes a
        # resume's batch before its attempt runs, and a first call's is ().
        results = property(
            attrgetter("_suspension.batch"),
            doc="The results this resume delivers, raw: (correlation id, dispatch id, outcome) each.",
        )

    @property
    def call_results(self) -> tuple[CallResult, ...]:
        """The results this resume delivers, decoded afresh."""
        return tuple(decode_outcome(*r) for r in self.results)

    @property
    def journal(self) -> Journal:
        """Everything delivered to the call's current function so far (empty on a first call)."""
        suspension = self._suspension
        return Journal(self._rec.input, [] if isinstance(suspension, _FirstCall) else suspension.journal)

    def to_input(self) -> Input:
        """The public Input of this attempt."""
        rec = self._rec
        suspension = self._suspension
        if isinstance(suspension, _FirstCall):
            return Input(
                rec.id, self.function, self.attempt, rec.created, rec.caller_id, rec.root_id,
                _thaw(rec.input),
            )  # fmt: skip
        return Input(
            rec.id,
            self.function,
            self.attempt,
            rec.created,
            rec.caller_id,
            rec.root_id,
            first_call=False,
            coroutine_state=suspension.coroutine_state,
            call_results=self.call_results,
            poll_error=suspension.error,
            journal=Journal(rec.input, suspension.journal),
        )


def decode_result(outcome: tuple[str, Any]) -> tuple[bool, Any]:
    """(True, the value thawed afresh) or (False, the Error) of a raw result's outcome."""
    kind, payload = outcome
    if kind == "value":
        return True, _thaw(payload)
    result = decode_outcome(None, "", outcome)
    return False, result.error


class PollRequest:
    """A poll, as a fast endpoint answers one without building an `Output`.

    The fields are those of ``Output.poll``; `calls` is a sequence of
    `Call`s the service takes over (it checks each, as it does any poll's). No bounds are
    checked here: the endpoint builds it from counts it already knows are sound.
    """

    __slots__ = ("coroutine_state", "calls", "min_results", "max_results", "max_wait_seconds")

    def __init__(
        self,
        coroutine_state: bytes | None,
        calls: Sequence[Call],
        min_results: int,
        max_results: int,
        max_wait_seconds: float | None = None,
    ) -> None:
        self.coroutine_state = coroutine_state
        self.calls = calls
        self.min_results = min_results
        self.max_results = max_results
        self.max_wait_seconds = max_wait_seconds


Answer: TypeAlias = "Output | PollRequest | tuple[Any]"
"""What ``run_attempt`` answers: an Output, a PollRequest, or ``(value,)`` (returned, status OK)."""


def output_of(answer: Answer) -> Output:
    """The public Output an answer stands for (for code that hands answers to `Endpoint.run`'s callers)."""
    if type(answer) is tuple:
        return Output.value(answer[0])
    if type(answer) is PollRequest:
        return Output.poll(
            answer.coroutine_state, answer.calls, answer.min_results, answer.max_results, answer.max_wait_seconds
        )
    return answer  # type: ignore[return-value]
