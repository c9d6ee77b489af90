"""A run as calls on a virtual-time axis: the model every picture of a trace draws.

The exporters (`_report` for HTML, `_perfetto` for Chrome Trace Event JSON)
read a trace through `build_timeline`, which turns `Iterable[Event]` into one
`CallView` per call (in call-tree order), its attempts as spans, the gaps
between them (backoff, waiting for children, durable sleeps), the injected
faults and the number of calls in flight over time.

Each attempt is a span from its ``start`` event to its end (an ``attempt``
event, or a fault that ends it). For events without a start (traces built
by hand, or by other tools) an attempt is taken to start when the service
sent its request: at the dispatch for a first attempt, when the last
awaited child finished for a resumed one, and at its end for a retry or a
tail call; such spans say `derived_start`. What events carried (argument,
result and error summaries, notes) comes from their `data` mapping (or a
mapping in `detail`, or attributes of the event). Notes made by the test's
own code (dispatch id "") are the timeline's own `notes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .lowlevel import TIMER_FUNCTION

__all__ = ["AttemptSpan", "CallView", "FaultMark", "Gap", "RunHeader", "Timeline", "build_timeline", "event_extras", "json_ready", "note_text"]

# Event kinds that open an attempt explicitly (traces that record attempt starts).
_START_KINDS = frozenset({"start", "attempt_start"})
# Faults that end an attempt without an `attempt` event: the response never arrives.
_ENDING_FAULTS = frozenset({"endpoint_error", "response_lost"})
# Optional summaries an event may carry; shown wherever the event is shown.
EXTRA_KEYS = ("args", "result", "error", "traceback", "notes", "message", "data")


def event_extras(event: Any) -> dict[str, Any]:
    """The optional summaries of an event (see EXTRA_KEYS), from its detail mapping or attributes."""
    found: dict[str, Any] = {}
    detail = getattr(event, "detail", None)
    for source in (detail if isinstance(detail, Mapping) else {}, getattr(event, "data", None) or {}):
        if isinstance(source, Mapping):
            for key in EXTRA_KEYS:
                if source.get(key) is not None:
                    found[key] = source[key]
    for key in EXTRA_KEYS:
        if key == "data":  # the event's own field, read above; a note's values are its "data" key
            continue
        value = getattr(event, key, None)
        if value is not None:
            found.setdefault(key, value)
    return found


def json_ready(value: Any) -> Any:
    """A JSON-ready form of an optional summary (text for anything JSON cannot hold)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return str(value)


def event_detail_text(event: Any) -> str | None:
    """The event's detail as a short text (None for a mapping, whose parts are extras)."""
    detail = getattr(event, "detail", None)
    return None if detail is None or isinstance(detail, Mapping) else str(detail)


@attrs.frozen
class FaultMark:
    """One injected fault: kind is endpoint_error, response_lost or crash."""

    time: float
    call: str
    function: str
    attempt: int
    kind: str
    status: str | None


@attrs.frozen
class AttemptSpan:
    """One attempt of a call; `start` is derived when the trace records none (`derived_start`)."""

    number: int
    start: float
    end: float
    status: str | None
    detail: str | None
    function: str
    resumed: bool = False
    derived_start: bool = True
    extras: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Gap:
    """Time a call spent outside its attempts: ``delivery`` (from its dispatch to its first
    attempt), ``backoff``, ``waiting`` (for children) or ``sleep``."""

    kind: str
    start: float
    end: float


@attrs.define
class CallView:
    """One call: where it sits in the call tree and what happened to it."""

    id: str
    function: str
    caller: str | None
    created: float
    depth: int = 0
    end: float | None = None
    status: str | None = None  # the outcome's status; "abandoned"; None while unfinished
    attempts: list[AttemptSpan] = attrs.field(factory=list)
    gaps: list[Gap] = attrs.field(factory=list)
    faults: list[FaultMark] = attrs.field(factory=list)
    retries: int = 0
    children: list[str] = attrs.field(factory=list)
    extras: dict[str, Any] = attrs.field(factory=dict)
    notes: list[tuple[float, str]] = attrs.field(factory=list)

    @property
    def failed(self) -> bool:
        """Whether the call ended other than OK (an error status, or abandoned)."""
        return self.status is not None and self.status != "OK"


@attrs.frozen
class RunHeader:
    """What the trace file says about the run, as text ready to show."""

    test_id: str | None
    seed: Any
    faults: str | None
    digest: str
    outcome: str | None  # recorded by the writer when it knows (e.g. "failed: AssertionError ...")

    @classmethod
    def from_trace(cls, header: Mapping[str, Any], digest: str) -> RunHeader:
        """Read the header mapping of a `Trace` (unknown keys ignored)."""
        test_id = header.get("pytest_nodeid") or header.get("test_id")
        outcome = header.get("outcome")
        return cls(
            None if test_id is None else str(test_id),
            header.get("seed"),
            None if header.get("faults") is None else str(header.get("faults")),
            digest,
            None if outcome is None else str(outcome),
        )


@attrs.define
class Timeline:
    """Calls in call-tree order (a caller before its callees), faults and in-flight counts."""

    header: RunHeader
    calls: list[CallView]
    faults: list[FaultMark]
    in_flight: list[tuple[float, int]]
    end: float
    events: int
    notes: list[tuple[float, str]] = attrs.field(factory=list)  # the test's own (not in a call)

    def by_id(self) -> dict[str, CallView]:
        """The calls keyed by DispatchID."""
        return {c.id: c for c in self.calls}

    def failing_path(self) -> list[str]:
        """Ids on the paths from the test to each deepest failing call (callers first)."""
        calls = self.by_id()
        path: dict[str, None] = {}
        for call in self.calls:
            if call.failed and not any(calls[c].failed for c in call.children):
                chain = []
                node: CallView | None = call
                while node is not None:
                    chain.append(node.id)
                    node = calls.get(node.caller) if node.caller else None
                for cid in reversed(chain):
                    path.setdefault(cid, None)
        return list(path)

    def outcome(self) -> str:
        """The recorded outcome, or one said from the calls' outcomes."""
        if self.header.outcome:
            return self.header.outcome
        failed = sum(1 for c in self.calls if c.failed)
        unfinished = sum(1 for c in self.calls if c.status is None)
        if failed or unfinished:
            parts = [f"{failed} calls did not end OK"] if failed else []
            if unfinished:
                parts.append(f"{unfinished} without an outcome")
            return ", ".join(parts)
        return "every call ended OK"


@attrs.define
class _Open:
    """Per-call state while reading: when its next attempt was requested, and how."""

    ready: float
    after: str = "dispatch"  # dispatch, retry, poll, tail_call
    explicit_start: float | None = None


def build_timeline(events: Iterable[Any], header: Mapping[str, Any] | None = None, digest: str = "") -> Timeline:
    """Read events (in trace order) into a `Timeline`."""
    calls: dict[str, CallView] = {}
    state: dict[str, _Open] = {}
    roots: list[str] = []
    faults: list[FaultMark] = []
    in_flight: list[tuple[float, int]] = []
    test_notes: list[tuple[float, str]] = []
    flying = count = 0
    end = 0.0
    for event in events:
        count += 1
        kind, time, did = event.kind, float(event.time), event.dispatch_id
        end = max(end, time)
        extras = event_extras(event)
        if kind == "note" and not did:  # the test's own code, not a call's
            test_notes.append((time, note_text(extras, event)))
            continue
        if kind == "dispatch":
            caller = event_detail_text(event)
            call = calls[did] = CallView(did, event.function, caller, time, extras=extras)
            state[did] = _Open(time)
            parent = calls.get(caller) if caller else None
            if parent is not None:
                parent.children.append(did)
                call.depth = parent.depth + 1
            else:
                roots.append(did)
            flying += 1
            in_flight.append((time, flying))
            continue
        if not did:  # an event of the test body (a property, a buggify firing): no call to show
            continue
        if did not in calls:  # an event of a call whose dispatch is not in these events
            calls[did] = CallView(did, event.function, None, time)
            state[did] = _Open(time)
            roots.append(did)
        call = calls[did]
        here = state[did]
        if kind in _START_KINDS:
            here.explicit_start = time
        elif kind == "attempt" or (kind == "fault" and event.detail in _ENDING_FAULTS):
            if kind == "fault":
                faults.append(_fault(event))
                call.faults.append(faults[-1])
            start = here.explicit_start
            if start is None:
                start = here.ready if here.after in ("dispatch", "poll") else time
            detail = event_detail_text(event)
            call.attempts.append(
                AttemptSpan(
                    event.attempt,
                    min(start, time),
                    time,
                    event.status,
                    detail,
                    event.function,
                    resumed=here.after == "poll",
                    derived_start=here.explicit_start is None,
                    extras=extras,
                )
            )
            here.explicit_start = None
            if kind == "attempt" and event.status == "POLL":
                here.after, here.ready = "poll", time
            elif kind == "attempt" and event.status == "TAIL_CALL":
                here.after, here.ready = "tail_call", time
                call.function = detail or call.function
        elif kind == "fault":
            faults.append(_fault(event))
            call.faults.append(faults[-1])
        elif kind == "retry":
            call.retries += 1
            here.after, here.ready = "retry", time
        elif kind == "outcome":
            call.end, call.status = time, event.status or event_detail_text(event) or "unknown"
            call.extras.update(extras)
            flying -= 1
            in_flight.append((time, flying))
            parent = calls.get(call.caller) if call.caller else None
            if parent is not None and state[parent.id].after == "poll":
                state[parent.id].ready = time  # the latest child to finish wakes the caller
        elif kind == "note":
            call.notes.append((time, note_text(extras, event)))
        if kind == "note":
            continue  # its message and values are the note itself, not the call's extras
        if "notes" in extras:
            for note in extras["notes"] if isinstance(extras["notes"], list | tuple) else [extras["notes"]]:
                call.notes.append((time, str(note)))
    for call in calls.values():
        call.gaps.extend(_gaps(call))
    ordered: list[CallView] = []
    stack = list(reversed(roots))
    while stack:  # depth first, children in dispatch order, without recursion (deep trees)
        call = calls[stack.pop()]
        ordered.append(call)
        stack.extend(reversed(call.children))
    return Timeline(RunHeader.from_trace(header or {}, digest), ordered, faults, in_flight, end, count, test_notes)


def note_text(extras: Mapping[str, Any], event: Any) -> str:
    """A note's message and its values (``key=summary``) on one line."""
    text = str(extras.get("message") or event_detail_text(event) or "")
    values = extras.get("data")
    if isinstance(values, Mapping) and values:
        text += " " + " ".join(f"{k}={v}" for k, v in values.items())
    return text


def _fault(event: Any) -> FaultMark:
    return FaultMark(
        float(event.time), event.dispatch_id, event.function, event.attempt, str(event_detail_text(event)), event.status
    )


def _gaps(call: CallView) -> list[Gap]:
    """Delivery before the first attempt, backoff before a retry, waiting between a poll and
    its resume, a durable sleep."""
    if call.function == TIMER_FUNCTION and not call.attempts:
        return [Gap("sleep", call.created, call.end if call.end is not None else call.created)]
    gaps = []
    if call.attempts and call.attempts[0].start > call.created:
        gaps.append(Gap("delivery", call.created, call.attempts[0].start))  # the request's latency
    for before, after in zip(call.attempts, call.attempts[1:], strict=False):
        if after.start > before.end:
            kind = "waiting" if before.status == "POLL" else "backoff"
            gaps.append(Gap(kind, before.end, after.start))
    return gaps
