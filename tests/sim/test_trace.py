"""Tests for sim._trace: Event, Trace storage, digest, summary and text rendering."""

from __future__ import annotations

import re

import attrs
import pytest

import registry
import sim
from sim import Event, Trace

EVENTS = [
    ("dispatch", 0.0, "d1", "main", 0, None, None),
    ("attempt", 0.25, "d1", "main", 1, "POLL", "1 calls"),
    ("dispatch", 0.25, "d2", "child", 0, None, "d1"),
    ("fault", 0.5, "d2", "child", 1, "THROTTLED", "endpoint_error"),
    ("retry", 0.5, "d2", "child", 1, "THROTTLED", None),
    ("attempt", 0.75, "d2", "child", 2, "OK", None),
    ("fault", 0.75, "d2", "child", 2, "TIMEOUT", "response_lost"),
    ("attempt", 1.0, "d2", "child", 3, "OK", None),
    ("outcome", 1.0, "d2", "child", 3, "OK", None),
    ("fault", 1.25, "d1", "main", 2, None, "crash"),
    ("attempt", 1.5, "d1", "main", 2, "PERMANENT_ERROR", "ValueError"),
    ("outcome", 1.5, "d1", "main", 2, "PERMANENT_ERROR", None),
]


def make(events: list[tuple] = EVENTS, header: dict | None = None) -> Trace:
    trace = Trace(header)
    for e in events:
        trace._events.append(e)
    return trace


# -- Event ------------------------------------------------------------------------


def test_event_fields_and_defaults() -> None:
    e = Event("dispatch", 1.5, "d1", "f", 0)
    assert (e.kind, e.time, e.dispatch_id, e.function, e.attempt) == ("dispatch", 1.5, "d1", "f", 0)
    assert e.status is None
    assert e.detail is None


def test_event_is_frozen_and_comparable() -> None:
    e = Event("attempt", 1.0, "d1", "f", 1, "OK", None)
    assert e == Event("attempt", 1.0, "d1", "f", 1, "OK", None)
    assert e != Event("attempt", 1.0, "d1", "f", 2, "OK", None)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        e.kind = "x"  # type: ignore[misc]


def test_event_str_full() -> None:
    e = Event("attempt", 1.5, "d12", "greet", 3, "TIMEOUT", "lost")
    assert str(e) == "    1.500000    d12 attempt   greet #3 TIMEOUT (lost)"


def test_event_str_minimal_omits_attempt_zero_status_and_detail() -> None:
    e = Event("dispatch", 0.0, "d1", "main", 0)
    assert str(e) == "    0.000000     d1 dispatch  main"


def test_event_str_detail_without_status() -> None:
    e = Event("fault", 2.0, "d3", "f", 2, None, "crash")
    assert str(e) == "    2.000000     d3 fault     f #2 (crash)"


def test_event_str_long_values_are_not_truncated() -> None:
    e = Event("tail_call", 123456.5, "d1234567", "mod.fn", 10, "TAIL_CALL", "g")
    assert str(e) == "123456.500000 d1234567 tail_call mod.fn #10 TAIL_CALL (g)"


# -- Trace storage ----------------------------------------------------------------


def test_empty_trace() -> None:
    trace = Trace()
    assert len(trace) == 0
    assert list(trace) == []
    assert trace.header == {}
    assert trace.format() == ""


def test_header_is_copied() -> None:
    header = {"seed": 3}
    trace = Trace(header)
    header["seed"] = 4
    assert trace.header == {"seed": 3}


def test_len_iter_and_index() -> None:
    trace = make()
    assert len(trace) == len(EVENTS)
    events = list(trace)
    assert all(type(e) is Event for e in events)
    assert events == [Event(*e) for e in EVENTS]
    assert trace[0] == Event("dispatch", 0.0, "d1", "main", 0, None, None)
    assert trace[-1] == Event("outcome", 1.5, "d1", "main", 2, "PERMANENT_ERROR", None)
    with pytest.raises(IndexError):
        trace[len(EVENTS)]


def test_iteration_fields() -> None:
    e = make()[3]
    assert e.kind == "fault"
    assert e.time == 0.5
    assert e.dispatch_id == "d2"
    assert e.function == "child"
    assert e.attempt == 1
    assert e.status == "THROTTLED"
    assert e.detail == "endpoint_error"


def test_iteration_is_repeatable() -> None:
    trace = make()
    assert list(trace) == list(trace)


# -- digest -------------------------------------------------------------------------


def test_digest_is_sha256_hex() -> None:
    d = make().digest()
    assert re.fullmatch(r"[0-9a-f]{64}", d)
    assert re.fullmatch(r"[0-9a-f]{64}", Trace().digest())


def test_digest_equal_for_equal_events() -> None:
    assert make().digest() == make([tuple(e) for e in EVENTS]).digest()


def test_digest_ignores_header() -> None:
    assert make(header={"seed": 1}).digest() == make(header={"seed": 2}).digest()


def test_digest_known_value_for_empty_trace() -> None:
    # sha256 of the CBOR encoding of an empty array (0x80)
    import hashlib

    assert Trace().digest() == hashlib.sha256(b"\x80").hexdigest()


@pytest.mark.parametrize("field", range(7))
def test_digest_changes_when_any_field_changes(field: int) -> None:
    changed = list(EVENTS)
    e = list(changed[1])
    e[field] = {0: "poll", 1: 0.26, 2: "d9", 3: "other", 4: 7, 5: "OK", 6: "2 calls"}[field]
    changed[1] = tuple(e)
    assert make(changed).digest() != make().digest()


def test_digest_changes_with_order_and_length() -> None:
    base = make().digest()
    swapped = list(EVENTS)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    assert make(swapped).digest() != base
    assert make(EVENTS[:-1]).digest() != base


def test_digest_changes_after_append() -> None:
    trace = make()
    before = trace.digest()
    trace._events.append(("outcome", 2.0, "d3", "x", 1, "OK", None))
    assert trace.digest() != before


# -- summary -------------------------------------------------------------------------


def test_summary_lines() -> None:
    trace = make()
    lines = trace.summary().splitlines()
    assert lines == [
        f"calls: 2, attempts: 4, events: {len(EVENTS)}",
        "outcomes: OK=1, PERMANENT_ERROR=1",
        f"virtual time: 1.500000s, digest: {trace.digest()[:16]}",
        "faults: crash=1, endpoint_error=1, response_lost=1",
    ]


def test_summary_without_faults_has_three_lines() -> None:
    trace = make([e for e in EVENTS if e[0] != "fault"])
    lines = trace.summary().splitlines()
    assert len(lines) == 3
    assert lines[0] == "calls: 2, attempts: 4, events: 9"
    assert not any(line.startswith("faults:") for line in lines)


def test_summary_counts_outcomes_by_status_sorted() -> None:
    events = [
        ("outcome", 1.0, "d1", "f", 1, "TIMEOUT", None),
        ("outcome", 2.0, "d2", "f", 1, "OK", None),
        ("outcome", 3.0, "d3", "f", 1, "TIMEOUT", None),
        ("fault", 3.0, "d3", "f", 1, "DNS_ERROR", "endpoint_error"),
        ("fault", 3.0, "d3", "f", 1, "TCP_ERROR", "endpoint_error"),
    ]
    lines = make(events).summary().splitlines()
    assert lines[0] == "calls: 0, attempts: 0, events: 5"
    assert lines[1] == "outcomes: OK=1, TIMEOUT=2"
    assert lines[2].startswith("virtual time: 3.000000s, digest: ")
    assert lines[3] == "faults: endpoint_error=2"


def test_summary_empty() -> None:
    trace = Trace()
    assert trace.summary().splitlines() == [
        "calls: 0, attempts: 0, events: 0",
        "outcomes: none",
        f"virtual time: 0.000000s, digest: {trace.digest()[:16]}",
    ]


def test_summary_with_abandoned_and_finished_outcomes() -> None:
    # Regression: an abandoned outcome has status None, which sorted() could not compare.
    # Service.abandon() records ("outcome", t, id, fn, attempt, None, "abandoned").
    events = [
        ("dispatch", 0.0, "d1", "<sleep>", 0, None, None),
        ("dispatch", 0.0, "d2", "<sleep>", 0, None, None),
        ("outcome", 1.0, "d1", "<sleep>", 0, "OK", None),
        ("outcome", 1.0, "d2", "<sleep>", 0, None, "abandoned"),
    ]
    lines = make(events).summary().splitlines()
    assert lines[0] == "calls: 2, attempts: 0, events: 4"
    assert lines[1] == "outcomes: OK=1, abandoned=1"


# -- format ---------------------------------------------------------------------------


def test_format_one_line_per_event() -> None:
    trace = make()
    text = trace.format()
    lines = text.split("\n")
    assert len(lines) == len(EVENTS)
    assert lines == [str(Event(*e)) for e in EVENTS]
    assert not text.endswith("\n")


def test_slicing_returns_events_or_raises() -> None:
    trace = make()
    try:
        result = trace[1:6]  # type: ignore[index]
    except TypeError:
        return
    assert result == [Event(*e) for e in EVENTS[1:6]]


def test_fault_counts_are_the_fault_events_by_kind_sorted() -> None:
    from collections import Counter

    seen_faults = 0
    for seed in range(20):
        simulation = sim.Simulation(seed=seed, faults="heavy")
        simulation.run(_fault_counts_workload())
        trace = simulation.trace
        expected = Counter(str(e.detail) for e in trace if e.kind == "fault")
        assert trace.fault_counts() == dict(sorted(expected.items()))
        assert list(trace.fault_counts()) == sorted(expected)
        seen_faults += sum(expected.values())
    assert seen_faults > 0


_counts_registry = registry.Registry("test-trace-fault-counts")


@_counts_registry.function
def _counted(x: int) -> int:
    return x + 1


async def _fault_counts_workload() -> int:
    total = 0
    for i in range(20):
        total += await _counted(i)
    return total
