"""A trace as Chrome Trace Event Format JSON, which ui.perfetto.dev and chrome://tracing open.

One process (the run), one thread per call in call-tree order (named by its
DispatchID and function, sorted so a callee follows its caller); ``X``
slices for attempts and for the gaps between them (backoff, waiting for
children, durable sleeps), ``s``/``f`` flow pairs from a caller's attempt to
each callee and from a failed attempt to its retry, ``i`` instants for
faults and for notes (`sim.note`; the test's own notes on thread 0), and a
``C`` counter of calls in flight. ``ts`` and ``dur`` are microseconds of
virtual time; an attempt's slice runs from its ``start`` event to its end.
Slices carry the summaries of what the call carried (``args``, ``result``,
``error``) in their ``args``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ._timeline import Timeline, build_timeline, json_ready

__all__ = ["perfetto_events", "perfetto_json"]

_PID = 1


def _us(seconds: float) -> float:
    # Nanosecond resolution: virtual times are floats, and a fixed rounding keeps the file stable.
    return round(seconds * 1e6, 3)


def perfetto_events(timeline: Timeline) -> list[dict[str, Any]]:
    """The trace events (metadata first, then by time) of a timeline."""
    header = timeline.header
    tids = {call.id: i + 1 for i, call in enumerate(timeline.calls)}
    meta: list[dict[str, Any]] = [
        {
            "ph": "M", "pid": _PID, "tid": 0, "name": "process_name",
            "args": {"name": f"{header.test_id or 'simulation'} seed={header.seed} faults={header.faults}"},
        },
    ]
    timed: list[dict[str, Any]] = []
    flow_id = 0

    def flow(src: tuple[int, float], dst: tuple[int, float], name: str) -> None:
        nonlocal flow_id
        flow_id += 1
        common = {"cat": "flow", "name": name, "id": flow_id, "pid": _PID}
        timed.append({"ph": "s", "tid": src[0], "ts": src[1], **common})
        timed.append({"ph": "f", "bp": "e", "tid": dst[0], "ts": dst[1], **common})

    calls = timeline.by_id()
    for call in timeline.calls:
        tid = tids[call.id]
        caller = f" (from {call.caller})" if call.caller else ""
        meta.append({"ph": "M", "pid": _PID, "tid": tid, "name": "thread_name",
                     "args": {"name": f"{call.id} {call.function}{caller}"}})
        meta.append({"ph": "M", "pid": _PID, "tid": tid, "name": "thread_sort_index",
                     "args": {"sort_index": tid}})
        for attempt in call.attempts:
            args: dict[str, Any] = {
                "dispatch_id": call.id, "attempt": attempt.number, "status": attempt.status,
                "detail": attempt.detail, "derived_start": attempt.derived_start,
            }
            args.update({k: json_ready(v) for k, v in call.extras.items()})  # the call's arguments, outcome
            args.update({k: json_ready(v) for k, v in attempt.extras.items()})  # this attempt's error
            timed.append({
                "ph": "X", "cat": "attempt", "name": f"{attempt.function} #{attempt.number} {attempt.status}",
                "pid": _PID, "tid": tid, "ts": _us(attempt.start), "dur": _us(attempt.end) - _us(attempt.start),
                "args": args,
            })
        for gap in call.gaps:
            timed.append({
                "ph": "X", "cat": gap.kind, "name": gap.kind, "pid": _PID, "tid": tid,
                "ts": _us(gap.start), "dur": _us(gap.end) - _us(gap.start), "args": {"dispatch_id": call.id},
            })
        for fault in call.faults:
            timed.append({
                "ph": "i", "s": "t", "cat": "fault", "name": fault.kind, "pid": _PID, "tid": tid,
                "ts": _us(fault.time), "args": {"attempt": fault.attempt, "status": fault.status},
            })
        for time, text in call.notes:
            timed.append({
                "ph": "i", "s": "t", "cat": "note", "name": text, "pid": _PID, "tid": tid,
                "ts": _us(time), "args": {"dispatch_id": call.id},
            })
        for before, after in zip(call.attempts, call.attempts[1:], strict=False):
            if before.status not in ("POLL", "TAIL_CALL"):  # the next attempt retries this one
                flow((tid, _us(before.start)), (tid, _us(after.start)), "retry")
        parent = calls.get(call.caller) if call.caller else None
        if parent is not None and call.attempts:
            # The caller's attempt that dispatched this call: the last one to start by then.
            source = max((a for a in parent.attempts if a.start <= call.created), key=lambda a: a.start, default=None)
            if source is not None:
                flow((tids[parent.id], _us(source.start)), (tid, _us(call.attempts[0].start)), "call")
    if timeline.notes:
        meta.append({"ph": "M", "pid": _PID, "tid": 0, "name": "thread_name", "args": {"name": "test"}})
    for time, text in timeline.notes:  # the test's own notes, on the process's own thread
        timed.append({"ph": "i", "s": "t", "cat": "note", "name": text, "pid": _PID, "tid": 0,
                      "ts": _us(time), "args": {"by": "test"}})
    for time, flying in timeline.in_flight:
        timed.append({"ph": "C", "pid": _PID, "tid": 0, "name": "calls in flight", "ts": _us(time),
                      "args": {"calls": flying}})
    timed.sort(key=lambda e: e["ts"])  # stable: equal times keep their written order
    return meta + timed


def perfetto_json(
    events: Iterable[Any], header: Mapping[str, Any] | None = None, digest: str = ""
) -> str:
    """The JSON document (object form, with the run's header in ``otherData``)."""
    timeline = build_timeline(events, header, digest)
    document = {
        "traceEvents": perfetto_events(timeline),
        "displayTimeUnit": "ms",
        "otherData": {
            "test_id": timeline.header.test_id, "seed": json_ready(timeline.header.seed),
            "faults": timeline.header.faults, "digest": digest, "clock": "virtual time",
        },
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=False)

