"""Tests for sim._trace_store: the compact event store behind Trace, read back exactly as written."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import cbor2
import pytest
import registry

from sim import Simulation, Trace
from sim._trace import FILE_MAGIC, FILE_VERSION, _stored_form
from sim._trace_store import EventStore

ROOT = Path(__file__).resolve().parents[2]


def run_long(reg: registry.Registry, calls: int, faults: str) -> Simulation:
    @reg.function
    def step(i: int) -> int:
        return i * 2

    @reg.function
    async def fan(n: int) -> int:
        return sum(await registry.gather(*[step(i) for i in range(n)]))

    async def main() -> None:
        for i in range(calls // 2):
            await step(i)
        await fan(calls // 2)

    simulation = Simulation(seed=3, faults=faults)
    simulation.run(main)
    return simulation


def as_tuples(trace: Trace) -> Trace:
    """The same events, kept as tuples (never compacted): what the store must be equal to."""
    copy = Trace(trace.header)
    copy._events.extend(trace._rows())
    return copy


@pytest.mark.parametrize("faults", ["none", "light"])
def test_a_long_run_is_stored_compactly_and_reads_back_the_same(reg: registry.Registry, faults: str) -> None:
    simulation = run_long(reg, 3000, faults)
    trace = simulation.trace
    assert len(trace._store) > 0.9 * len(trace)  # all but the last slice went to the store
    assert len(trace._events) < 1024
    plain = as_tuples(trace)
    assert len(plain._store) == 0
    assert len(trace) == len(plain)
    assert list(trace) == list(plain)
    for i in (0, 1, 777, len(trace) // 2, len(trace) - 1, -1, -len(trace)):
        assert trace[i] == plain[i]
    with pytest.raises(IndexError):
        trace[len(trace)]
    with pytest.raises(IndexError):
        trace[-len(trace) - 1]
    assert trace.digest() == plain.digest()
    assert trace.summary() == plain.summary()
    assert trace.fault_counts() == plain.fault_counts()
    assert trace._digest_forms(100) == plain._digest_forms()[:100]


def test_rows_come_back_as_the_very_objects_stored() -> None:
    zero, negative_zero = 0.0, -0.0
    events = [
        ("dispatch", zero, "d1", "f", 0, None, None, None),
        ("start", negative_zero, "d1", "f", 1, None, None, None),  # equal to 0.0, another encoding
        ("attempt", 1, "d1", "f", 1, "OK", None, None),  # an int time (files may hold them)
        ("outcome", 1.0, "d1", "f", 1, "OK", None, ("value", 7)),
    ] * 300
    store = EventStore()
    assert store.take(events)
    rows = list(store.rows())
    assert rows == events
    assert all(a is b for row, event in zip(rows, events) for a, b in zip(row[1:3], event[1:3]))
    assert [type(r[1]) for r in rows[:4]] == [float, float, int, float]
    assert str(rows[1][1]) == "-0.0"
    assert [store.row(i) for i in range(len(events))] == events


def test_callers_ids_make_no_combination_of_their_own() -> None:
    # A DISPATCH event's detail is its caller's id: kept apart, so a thousand
    # callers make no thousand combinations, and every row still comes back.
    events = []
    for i in range(1024):
        caller = f"c{i}"
        events += [
            ("dispatch", 0.0, f"d{i}", "f", 0, None, caller, None),
            ("dispatch", 0.0, f"e{i}", "f", 0, None, caller if i % 3 else None, None),
            ("attempt", 0.0, f"d{i}", "f", 1, "OK", "2 calls", None),
        ]
    store = EventStore()
    for at in range(0, len(events), 1000):
        assert store.take(events[at : at + 1000])
    assert len(store._shapes.rows) == 3
    rows = list(store.rows())
    assert rows == events
    assert all(r[6] is e[6] for r, e in zip(rows, events))
    assert [store.row(i) for i in range(len(events))] == events
    assert list(store.rows([None] * len(events))) == [(*e[:7], None) for e in events]


def test_a_caller_of_another_type_refuses_the_batch() -> None:
    store = EventStore()
    assert not store.take([("dispatch", 0.0, "d1", "f", 0, None, 7, None)])
    assert not store.take([("dispatch", 0.0, "d1", "f", 0, None, type("S", (str,), {})("c"), None)])
    assert len(store) == 0


@pytest.mark.parametrize(
    "odd",
    [
        ("attempt", 0.5, "d1", "f", True, "OK", None, None),  # a bool attempt: equal to 1, encoded otherwise
        ("attempt", 0.5, "d1", "f", 1.0, "OK", None, None),
        ("attempt", 0.5, "d1", "f", 1, 200, None, None),  # a status that is not a str
        ("attempt", 0.5, "d1", "f", 1, "OK", None),  # 7 fields, built by hand
        ("attempt", 0.5, "d1", "f", 1, "OK", None, None, "extra"),
        42,
    ],
)
def test_events_the_store_cannot_keep_exactly_stay_tuples(odd: Any) -> None:
    good = [("attempt", 0.5, "d1", "f", 1, "OK", None, None)] * 1500
    trace = Trace()
    trace._events.extend(good)
    trace._compact()
    assert len(trace._store) == 1024
    trace._events.append(odd)
    trace._events.extend(good)
    trace._compact()  # refused: nothing moves, and nothing after it ever will
    assert len(trace._store) == 1024 and trace._events[1500 - 1024] is odd
    trace._events.extend(good)
    trace._compact()
    assert len(trace._store) == 1024
    assert list(trace._rows())[1500] is odd
    if isinstance(odd, tuple) and len(odd) in (7, 8):
        assert trace[1500].attempt is odd[4]
        plain = Trace()
        plain._events.extend([*good, odd, *good, *good])
        assert trace.digest() == plain.digest()


def test_the_digest_is_cached_until_an_event_is_appended() -> None:
    trace = Trace()
    trace._events.extend([("dispatch", 0.0, "d1", "f", 0, None, None, None)] * 2000)
    before = trace.digest()
    assert trace._digest == (2000, before)
    trace._compact()
    assert trace.digest() == before
    trace._events.append(("outcome", 0.0, "d1", "f", 1, "OK", None, None))
    after = trace.digest()
    assert after != before
    plain = Trace()
    plain._events.extend(trace._rows())
    assert plain.digest() == after


def test_a_saved_file_holds_the_bytes_the_document_encodes_to(reg: registry.Registry, tmp_path: Path) -> None:
    # save() puts the document together from parts encoded once: the same bytes as
    # encoding the whole document canonically (what format 2 files always held).
    simulation = run_long(reg, 1200, "heavy")
    trace = simulation.trace
    path = trace.save(tmp_path / "t.cbor")
    events = [_stored_form(e, {}) for e in trace._rows()]
    document = {
        "magic": FILE_MAGIC,
        "version": FILE_VERSION,
        "header": trace.header,
        "events": events,
        "digest": trace.digest(),
        "checksum": __import__("hashlib").sha256(cbor2.dumps([trace.header, events], canonical=True)).hexdigest(),
    }
    assert path.read_bytes() == cbor2.dumps(document, canonical=True)
    loaded = Trace.load(path)
    assert loaded.digest() == trace.digest() and len(loaded) == len(trace)
    assert len(loaded._store) > 0  # a loaded file is kept compact too
    assert list(loaded) == list(Trace.load(path))


def test_a_stored_event_costs_far_less_than_a_tuple() -> None:
    # Sequential calls' events: a new id every four events, one time, data on two in four.
    events = []
    for i in range(8192):
        did = f"d{i}"
        events += [
            ("dispatch", 0.0, did, "step", 0, None, None, (i,)),
            ("start", 0.0, did, "step", 1, None, None, None),
            ("attempt", 0.0, did, "step", 1, "OK", None, None),
            ("outcome", 0.0, did, "step", 1, "OK", None, ("value", i)),
        ]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        store = EventStore()
        for at in range(0, len(events), 1024):
            assert store.take(events[at : at + 1024])
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # A tuple and its list slot cost ~115 bytes; the store's columns ~21 (4 + 8 + 8 + runs).
    assert held / len(events) < 26, held / len(events)
    assert list(store.rows()) == events


SHAPES = """
import sys
sys.path.insert(0, {root!r})
import registry
from sim import Simulation
reg = registry.Registry("hash-seeds")

@reg.function
async def sort(items):
    if len(items) <= 1:
        return items
    middle = len(items) // 2
    left, right = await registry.gather(sort(items[:middle]), sort(items[middle:]))
    return sorted(left + right)

simulation = Simulation(seed=5, faults="light")
simulation.run(sort(list(range(600, 0, -1))))
store = simulation.trace._store
print(len(store), store._shapes.rows[:50], list(store._codes[:3000]), simulation.trace.digest())
"""


def test_the_store_is_the_same_whatever_the_hash_seed() -> None:
    outputs = set()
    for seed in ("1", "7"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run(
            [sys.executable, "-c", SHAPES.format(root=str(ROOT))], capture_output=True, text=True, env=env, timeout=300
        )
        assert done.returncode == 0, done.stderr
        outputs.add(done.stdout)
    assert len(outputs) == 1
    assert int(next(iter(outputs)).split()[0]) > 1024


def test_traces_share_one_empty_store_until_they_move_events() -> None:
    # A short run (a sweep's seed) never compacts: its trace makes no store of its own.
    from sim._trace import Trace

    short, long = Trace(), Trace()
    assert short._store is long._store and len(short._store) == 0
    long._events.extend(("dispatch", float(i), f"d{i}", "f", 0, None, None, None) for i in range(1100))
    long._compact()
    assert long._store is not short._store and len(long._store) == 1024 and len(long) == 1100
    assert len(short._store) == 0 and len(Trace()._store) == 0
    assert [e.time for e in long][1020:1030] == [float(i) for i in range(1020, 1030)]
