"""sim._perfetto: Chrome Trace Event JSON of a run, checked event by event."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

import pytest

import registry
from sim import Simulation, Trace
from sim._perfetto import perfetto_json

HOSTILE = '</script><script>alert(1)</script>\x1b]52;c;aGk=\x07'


@pytest.fixture
def heavy_trace(reg: registry.Registry) -> Trace:
    """A real heavy-fault run: a workflow that makes calls, sleeps and fans out."""

    @reg.function
    def debit(account: str, cents: int) -> int:
        return cents

    @reg.function
    async def checkout(account: str) -> int:
        total = 0
        for _ in range(6):
            total += await debit(account, 10)
        await registry.sleep(1.0)
        values = await registry.gather(debit(account, 1), debit(account, 2))
        return total + sum(values)

    simulation = Simulation(seed=3, faults="heavy")
    simulation.run(checkout("alice"))
    assert simulation.trace.faults(), "seed 3 of heavy injects faults"
    return simulation.trace


def export(trace: Trace) -> list[dict[str, Any]]:
    document = json.loads(perfetto_json(trace, trace.header, trace.digest()))
    assert document["otherData"]["digest"] == trace.digest()
    return document["traceEvents"]


def test_every_slice_has_a_duration_and_microsecond_times(heavy_trace: Trace) -> None:
    events = export(heavy_trace)
    slices = [e for e in events if e["ph"] == "X"]
    assert slices
    for e in slices:
        assert isinstance(e["dur"], int | float) and e["dur"] >= 0, e
        assert isinstance(e["ts"], int | float)
    end = max(e.time for e in heavy_trace)
    assert max(e["ts"] + e["dur"] for e in slices) == pytest.approx(end * 1e6)


def test_one_attempt_slice_per_attempt_and_names_match_the_trace(heavy_trace: Trace) -> None:
    events = export(heavy_trace)
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    calls = {e.dispatch_id: e.function for e in heavy_trace if e.kind == "dispatch"}
    assert sorted(n.split()[0] for n in names.values()) == sorted(calls)
    for name in names.values():
        did, function = name.split()[:2]
        assert calls[did] == function
    attempts = [e for e in events if e["ph"] == "X" and e["cat"] == "attempt"]
    recorded = [e for e in heavy_trace if e.kind == "attempt" or e.detail in ("endpoint_error", "response_lost")]
    assert len(attempts) == len(recorded)
    for slice_, event in zip(sorted(attempts, key=lambda a: (a["ts"] + a["dur"], a["tid"])),
                             sorted(recorded, key=lambda r: (r.time, 0)), strict=False):
        assert slice_["ts"] + slice_["dur"] == pytest.approx(event.time * 1e6, abs=1e-3)
    for a in attempts:
        assert names[a["tid"]].split()[0] == a["args"]["dispatch_id"]


def test_metadata_first_then_timestamps_ordered_per_lane(heavy_trace: Trace) -> None:
    events = export(heavy_trace)
    phases = [e["ph"] for e in events]
    first_timed = next(i for i, p in enumerate(phases) if p != "M")
    assert "M" not in phases[first_timed:]
    last: dict[int, float] = defaultdict(lambda: -1.0)
    for e in events[first_timed:]:
        assert e["ts"] >= last[e["tid"]], e
        last[e["tid"]] = e["ts"]


def test_flows_pair_up_inside_slices(heavy_trace: Trace) -> None:
    events = export(heavy_trace)
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    ends = {e["id"]: e for e in events if e["ph"] == "f"}
    assert starts and starts.keys() == ends.keys()
    slices = defaultdict(list)
    for e in events:
        if e["ph"] == "X":
            slices[e["tid"]].append((e["ts"], e["ts"] + e["dur"]))
    for fid, start in starts.items():
        end = ends[fid]
        assert (start["cat"], start["name"]) == (end["cat"], end["name"])
        assert end["bp"] == "e" and end["ts"] >= start["ts"]
        for point in (start, end):  # each binds to a slice on its lane
            assert any(a <= point["ts"] <= b for a, b in slices[point["tid"]]), point
    kinds = Counter(s["name"] for s in starts.values())
    callees = sum(1 for e in heavy_trace if e.kind == "dispatch" and e.detail and e.function != "<sleep>")
    assert kinds["call"] == callees
    assert kinds["retry"] == sum(1 for e in heavy_trace if e.kind == "retry")


def test_faults_are_instants_and_calls_in_flight_a_counter(heavy_trace: Trace) -> None:
    events = export(heavy_trace)
    instants = [e for e in events if e["ph"] == "i"]
    assert sorted(e["name"] for e in instants) == sorted(f.detail for f in heavy_trace.faults())
    assert all(e["s"] == "t" for e in instants)
    counters = [e["args"]["calls"] for e in events if e["ph"] == "C"]
    assert counters[0] == 1 and counters[-1] == 0 and max(counters) >= 2
    assert all(c >= 0 for c in counters)


def test_hostile_names_stay_data() -> None:
    trace = Trace({"test_id": HOSTILE, "seed": 1})
    trace._events.extend([
        ("dispatch", 0.0, "d1", HOSTILE, 0, None, None),
        ("attempt", 0.5, "d1", HOSTILE, 1, "OK", None),
        ("outcome", 0.5, "d1", HOSTILE, 1, "OK", None),
    ])
    events = export(trace)
    assert any(HOSTILE in e.get("args", {}).get("name", "") for e in events if e["ph"] == "M")


def test_attempt_slices_run_from_their_start_event_to_their_end(heavy_trace: Trace) -> None:
    starts: dict[tuple[str, int], float] = {}
    ends: dict[tuple[str, int], float] = {}
    for e in heavy_trace:
        if e.kind == "start":
            starts[(e.dispatch_id, e.attempt)] = e.time
        elif e.kind == "attempt" or (e.kind == "fault" and e.detail in ("endpoint_error", "response_lost")):
            ends[(e.dispatch_id, e.attempt)] = e.time
    assert starts.keys() == ends.keys()
    dispatched = {e.dispatch_id: e.time for e in heavy_trace if e.kind == "dispatch"}
    # latency: a first attempt starts after its dispatch, as its start event says
    assert any(starts[(d, 1)] > t for d, t in dispatched.items() if (d, 1) in starts)
    slices = [e for e in export(heavy_trace) if e["ph"] == "X" and e["cat"] == "attempt"]
    assert len(slices) == len(starts)
    for s in slices:
        key = (s["args"]["dispatch_id"], s["args"]["attempt"])
        assert s["args"]["derived_start"] is False
        assert s["ts"] == pytest.approx(starts[key] * 1e6, abs=1e-3)
        assert s["dur"] == pytest.approx((ends[key] - starts[key]) * 1e6, abs=2e-3)
        assert s["args"]["args"].startswith("('alice'")  # what the call carried


def test_notes_are_instants_on_their_lane(reg: registry.Registry) -> None:
    import sim

    @reg.function
    def debit(account: str, cents: int) -> int:
        sim.note("debit", cents=cents)
        return cents

    async def main() -> None:
        sim.note("the test")
        await debit("alice", 5)

    simulation = Simulation(seed=0, faults="none")
    simulation.run(main())
    events = export(simulation.trace)
    notes = [e for e in events if e["ph"] == "i" and e["cat"] == "note"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert sorted((n["name"], names[n["tid"]]) for n in notes) == [("debit cents=5", f"d1 {debit.name}"), ("the test", "test")]
