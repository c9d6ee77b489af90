"""Trace files: save/load round trips, every way a file can be bad, and replay from a file.

`Trace.save` writes canonical CBOR {magic, version, header, events, digest};
`Trace.load` gives back the same trace, or raises ValueError with a one-line
reason; it never executes code. `Simulation.from_trace` re-runs a run from
the decisions recorded in the header.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import pickle
from pathlib import Path
from typing import Any

import cbor2
import pytest

import registry
import sim
from sim import Simulation, Trace
from sim._trace import FILE_MAGIC, FILE_VERSION

_names = itertools.count()




def workflow(reg: registry.Registry) -> Any:
    """A gather of non-idempotent leaves, a race, a durable sleep and a nested any."""
    executions: list[int] = []

    @reg.function
    def leaf(i: int) -> int:
        executions.append(i)
        return i * 2

    @reg.function
    async def fan_out(n: int) -> list[Any]:
        first = await registry.gather(*(leaf(i) for i in range(n)))
        winner = await registry.race(leaf(100), leaf(101))
        await registry.sleep(0.5)
        rest = await registry.gather(leaf(200), registry.any(leaf(300), leaf(301)))
        return [first, winner, rest]

    async def main() -> Any:
        executions.clear()
        result = await fan_out(6)
        return result, len(executions)

    return main


def run(main: Any, **options: Any) -> tuple[Simulation, Any]:
    simulation = Simulation(**options)
    try:
        value: Any = simulation.run(main())
    except Exception as exc:  # noqa: BLE001 - the outcome is compared, whatever it is
        value = repr(exc)
    return simulation, value


@pytest.fixture
def saved(reg: registry.Registry, tmp_path: Path) -> tuple[Simulation, Path]:
    main = workflow(reg)
    for seed in range(50):
        simulation, _ = run(main, seed=seed, faults="heavy", test_id="some/file.py::test_x")
        if any(e.detail == "response_lost" for e in simulation.trace):
            return simulation, simulation.trace.save(tmp_path / "trace.cbor")
    raise AssertionError("no seed in 50 lost a response under heavy faults")


def document(path: Path) -> dict[str, Any]:
    return cbor2.loads(path.read_bytes())


def write(path: Path, doc: Any, canonical: bool = True) -> Path:
    path.write_bytes(cbor2.dumps(doc, canonical=canonical))
    return path


def events_digest(events: list[Any]) -> str:
    return hashlib.sha256(cbor2.dumps(events, canonical=True)).hexdigest()


def load_error(path: Path) -> str:
    with pytest.raises(ValueError) as info:
        Trace.load(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert message
    return message


# -- round trip ----------------------------------------------------------------


def test_save_returns_the_path_and_writes_canonical_cbor(saved: tuple[Simulation, Path]) -> None:
    simulation, path = saved
    doc = document(path)
    assert set(doc) == {"magic", "version", "header", "events", "digest", "checksum"}
    assert doc["magic"] == FILE_MAGIC == "dispatch-sim trace"
    assert doc["version"] == FILE_VERSION == 2
    assert doc["digest"] == simulation.trace.digest()
    assert path.read_bytes() == cbor2.dumps(doc, canonical=True)


def test_save_creates_missing_folders(saved: tuple[Simulation, Path], tmp_path: Path) -> None:
    simulation, _ = saved
    target = tmp_path / "a" / "b" / "t.cbor"
    assert simulation.trace.save(str(target)) == target
    assert Trace.load(target).digest() == simulation.trace.digest()


def test_load_round_trips_digest_events_and_header(saved: tuple[Simulation, Path]) -> None:
    simulation, path = saved
    original = simulation.trace
    loaded = Trace.load(path)
    assert loaded.digest() == original.digest()
    assert list(loaded) == list(original)
    assert len(loaded) == len(original)
    assert loaded.header == original.header
    header = loaded.header
    assert header["seed"] == simulation.seed
    assert header["faults"] == "heavy"
    assert header["test_id"] == "some/file.py::test_x"
    assert header["decisions"] == simulation.decisions.record
    assert header["decisions"] and all(isinstance(d, float) for d in header["decisions"])
    assert set(header["versions"]) >= {"python", "dispatch-sim", "trio", "cbor2", "attrs"}
    assert loaded.format() == original.format()
    assert loaded.summary() == original.summary()
    assert loaded.describe_faults() == original.describe_faults()
    assert loaded.faults() == original.faults()
    assert any(f.detail == "response_lost" for f in loaded.faults())


def test_saving_twice_gives_identical_bytes(saved: tuple[Simulation, Path], tmp_path: Path) -> None:
    _, path = saved
    again = Trace.load(path).save(tmp_path / "again.cbor")
    assert again.read_bytes() == path.read_bytes()


def test_empty_trace_round_trips(tmp_path: Path) -> None:
    loaded = Trace.load(Trace({"seed": 3}).save(tmp_path / "empty.cbor"))
    assert len(loaded) == 0
    assert loaded.header == {"seed": 3}
    assert loaded.digest() == Trace().digest()


def test_describe_faults_lists_each_fault_and_limits(saved: tuple[Simulation, Path]) -> None:
    simulation, _ = saved
    trace = simulation.trace
    faults = trace.faults()
    assert faults and all(f.kind == "fault" for f in faults)
    lines = trace.describe_faults(limit=len(faults)).splitlines()
    assert len(lines) == len(faults)
    for line, fault in zip(lines, faults):
        assert line.startswith(f"{fault.detail} on {fault.dispatch_id} {fault.function} attempt {fault.attempt}")
    if len(faults) > 1:
        short = trace.describe_faults(limit=1).splitlines()
        assert short[-1] == f"... and {len(faults) - 1} more"
    assert Trace().describe_faults() == "no faults injected"


# -- bad files -----------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.cbor"
    assert load_error(path) == f"cannot read trace file {str(path)!r}: No such file or directory"


def test_directory(tmp_path: Path) -> None:
    assert load_error(tmp_path).startswith(f"cannot read trace file {str(tmp_path)!r}")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.cbor"
    path.write_bytes(b"")
    # The strict decoder's wording (issue 12); cbor2's was "CBORDecodeEOF: ...".
    assert load_error(path) == f"{str(path)!r} is not a dispatch-sim trace: the document ends early (truncated) (at byte 0)"


def test_every_truncation_is_rejected(saved: tuple[Simulation, Path], tmp_path: Path) -> None:
    _, path = saved
    data = path.read_bytes()
    cut = tmp_path / "cut.cbor"
    for size in range(len(data)):
        cut.write_bytes(data[:size])
        message = load_error(cut)
        assert message.startswith(f"{str(cut)!r} is not a dispatch-sim trace"), (size, message)


def test_trailing_garbage_is_rejected_or_ignored_consistently(saved: tuple[Simulation, Path], tmp_path: Path) -> None:
    simulation, path = saved
    longer = tmp_path / "longer.cbor"
    longer.write_bytes(path.read_bytes() + b"\x00garbage")
    try:
        loaded = Trace.load(longer)
    except ValueError as exc:
        assert "\n" not in str(exc)
    else:
        assert loaded.digest() == simulation.trace.digest()


def _section(data: bytes, value: Any) -> range:
    encoded = cbor2.dumps(value, canonical=True)
    start = data.find(encoded)
    assert start >= 0 and data.find(encoded, start + 1) < 0
    return range(start, start + len(encoded))


def _flips(path: Path, positions: range, tmp_path: Path) -> list[int]:
    """The byte positions where flipping a bit yields a file that loads as something else."""
    original = Trace.load(path)
    data = path.read_bytes()
    bad = tmp_path / "flipped.cbor"
    silent = []
    for i in positions:
        flipped = bytearray(data)
        flipped[i] ^= 0x01
        bad.write_bytes(bytes(flipped))
        try:
            loaded = Trace.load(bad)
        except ValueError as exc:
            assert "\n" not in str(exc)
            continue
        if loaded.header != original.header or list(loaded) != list(original):
            silent.append(i)
    return silent


def test_corruption_outside_the_header_is_always_detected(
    saved: tuple[Simulation, Path], tmp_path: Path
) -> None:
    _, path = saved
    data = path.read_bytes()
    header = _section(data, document(path)["header"])
    before, after = range(0, header.start), range(header.stop, len(data))
    assert len(before) + len(after) > 1000
    assert _flips(path, before, tmp_path) == []
    assert _flips(path, after, tmp_path) == []


def test_corruption_inside_the_header_is_detected(saved: tuple[Simulation, Path], tmp_path: Path) -> None:
    _, path = saved
    data = path.read_bytes()
    decisions = _section(data, document(path)["header"]["decisions"])
    assert _flips(path, decisions, tmp_path) == []


def test_digest_mismatch(saved: tuple[Simulation, Path], tmp_path: Path) -> None:
    _, path = saved
    doc = document(path)
    doc["events"][0][1] += 1.0  # a different time for the first event
    bad = write(tmp_path / "mismatch.cbor", doc)
    assert load_error(bad) == (
        f"{str(bad)!r} is not a dispatch-sim trace: its events do not match its digest (the file is corrupt)"
    )
    doc = document(path)
    del doc["digest"]
    assert "do not match its digest" in load_error(write(tmp_path / "nodigest.cbor", doc))


def test_foreign_cbor(tmp_path: Path) -> None:
    bad = write(tmp_path / "foreign.cbor", {"a": 1}, canonical=False)
    assert load_error(bad) == f"{str(bad)!r} is not a dispatch-sim trace: no dispatch-sim header"
    for other in ([1, 2, 3], "dispatch-sim trace", 42, None, {"magic": "other"}):
        assert load_error(write(tmp_path / "other.cbor", other)).endswith(": no dispatch-sim header")


def test_json_file(saved: tuple[Simulation, Path], tmp_path: Path) -> None:
    import json

    simulation, _ = saved
    doc = {
        "magic": FILE_MAGIC,
        "version": FILE_VERSION,
        "header": {"seed": 0},
        "events": [[*e[:7], None] for e in simulation.trace._events],
        "digest": simulation.trace.digest(),
    }
    bad = tmp_path / "trace.json"
    bad.write_text(json.dumps(doc))
    assert load_error(bad).startswith(f"{str(bad)!r} is not a dispatch-sim trace")


@pytest.mark.parametrize("version", [0, 3, "1", None, 1.5])
def test_wrong_version(saved: tuple[Simulation, Path], tmp_path: Path, version: Any) -> None:
    _, path = saved
    doc = document(path)
    doc["version"] = version
    bad = write(tmp_path / "version.cbor", doc)
    assert load_error(bad) == f"{str(bad)!r} is not a dispatch-sim trace of version 2: it has version {version!r}"


def test_a_file_of_an_older_format_says_to_record_it_again(tmp_path: Path) -> None:
    # A format-1 file as version 1 wrote it: 7-field events, no data.
    events = [["dispatch", 0.0, "d1", "f", 0, None, None], ["outcome", 0.0, "d1", "f", 1, "OK", None]]
    doc = {"magic": FILE_MAGIC, "version": 1, "header": {"seed": 0}, "events": events,
           "digest": events_digest(events),
           "checksum": hashlib.sha256(cbor2.dumps([{"seed": 0}, events], canonical=True)).hexdigest()}
    old = write(tmp_path / "old.cbor", doc)
    assert load_error(old) == (
        f"{str(old)!r} was written by an older version of dispatch-sim (format 1); "
        "re-run the test to record it again"
    )


@pytest.mark.parametrize("missing", ["header", "events"])
def test_header_or_events_missing(saved: tuple[Simulation, Path], tmp_path: Path, missing: str) -> None:
    _, path = saved
    doc = document(path)
    del doc[missing]
    bad = write(tmp_path / "missing.cbor", doc)
    assert load_error(bad) == f"{str(bad)!r} is not a dispatch-sim trace: header or events missing"
    doc[missing] = "not a container"
    assert load_error(write(bad, doc)).endswith(": header or events missing")


GOOD_EVENT = ["dispatch", 0.0, "d1", "f", 0, None, None, None]
GOOD_HASH = bytes(16)


@pytest.mark.parametrize(
    "event",
    [
        GOOD_EVENT[:7],
        [*GOOD_EVENT, "extra"],
        {"kind": "dispatch"},
        "dispatch",
        ["dispatch", "0.0", "d1", "f", 0, None, None, None],
        ["dispatch", 0.0, 1, "f", 0, None, None, None],
        ["dispatch", 0.0, "d1", "f", 0.5, None, None, None],
        ["dispatch", 0.0, "d1", "f", 0, 7, None, None],
        [b"dispatch", 0.0, "d1", "f", 0, None, None, None],
        ["dispatch", cbor2.CBORTag(6000, 1), "d1", "f", 0, None, None, None],
        ["dispatch", 0.0, "d1", "f", 0, None, cbor2.CBORTag(6001, "x"), None],
        ["dispatch", 0.0, "d1", "f", 0, None, {1, 2}, None],
        ["dispatch", 0.0, "d1", "f", 0, None, None, "args"],
        ["dispatch", 0.0, "d1", "f", 0, None, None, {"args": "x"}],
        ["dispatch", 0.0, "d1", "f", 0, None, None, {"hash": b"short", "args": "x"}],
        ["dispatch", 0.0, "d1", "f", 0, None, None, {"hash": GOOD_HASH, "code": "x"}],
        ["dispatch", 0.0, "d1", "f", 0, None, None, {"hash": GOOD_HASH, "args": 7}],
        ["dispatch", 0.0, "d1", "f", 0, None, None, {"hash": GOOD_HASH, "args": "x" * 5000}],
        ["note", 0.0, "", "", 0, None, None, {"hash": GOOD_HASH, "data": {"k": 1}}],
        ["note", 0.0, "", "", 0, None, None, {"hash": GOOD_HASH, "data": {str(i): "v" for i in range(40)}}],
        ["dispatch", 0.0, "d1", "f", 0, None, None, {"hash": GOOD_HASH, cbor2.CBORTag(6003, 1): "x"}],
    ],
    ids=[
        "short", "long", "map", "string", "time-str", "id-int", "attempt-float", "status-int",
        "kind-bytes", "unknown-tag", "unknown-tag-detail", "set-tag", "data-str", "data-no-hash",
        "data-short-hash", "data-unknown-key", "data-not-text", "data-too-long", "note-value-not-text",
        "note-too-many-values", "data-tagged-key",
    ],
)
def test_malformed_event(tmp_path: Path, event: Any) -> None:
    events = [GOOD_EVENT, event]
    doc = {"magic": FILE_MAGIC, "version": FILE_VERSION, "header": {}, "events": events, "digest": "x"}
    bad = write(tmp_path / "malformed.cbor", doc)
    message = load_error(bad)
    tagged = [v for v in event if isinstance(v, (cbor2.CBORTag, set))]
    tagged += [k for v in event if isinstance(v, dict) for k in v if isinstance(k, cbor2.CBORTag)]
    if tagged:
        # The format writes no tags: the strict decoder refuses one wherever
        # it is (issue 12), before the schema is checked.
        tag = next(v.tag if isinstance(v, cbor2.CBORTag) else 258 for v in tagged)
        assert message.startswith(f"{str(bad)!r} is not a dispatch-sim trace: CBOR tag {tag} is not allowed (at byte ")
    else:
        assert message.startswith(f"{str(bad)!r} is not a dispatch-sim trace: event 1 is malformed: ")


@pytest.mark.parametrize("index", [1, 4])
def test_boolean_time_or_attempt_is_malformed(tmp_path: Path, index: int) -> None:
    event: list[Any] = list(GOOD_EVENT)
    event[index] = True
    doc = {
        "magic": FILE_MAGIC,
        "version": FILE_VERSION,
        "header": {},
        "events": [event],
        "digest": events_digest([tuple(event)]),
    }
    bad = write(tmp_path / "bool.cbor", doc)
    assert "event 0 is malformed" in load_error(bad)


def test_tagged_datetime_in_an_event_is_malformed(tmp_path: Path) -> None:
    # tag 1 (epoch time) decodes to a datetime: data, but not an event field
    raw = cbor2.dumps(
        {
            "magic": FILE_MAGIC,
            "version": FILE_VERSION,
            "header": {},
            "events": [["dispatch", cbor2.CBORTag(1, 0), "d1", "f", 0, None, None]],
            "digest": "x",
        }
    )
    bad = tmp_path / "datetime.cbor"
    bad.write_bytes(raw)
    assert "CBOR tag 1 is not allowed" in load_error(bad)  # refused while decoding (issue 12)


class _Boom:
    """Unpickling this creates a marker folder: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.mkdir, (self.marker,))


def test_loading_never_executes_code(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    payload = pickle.dumps(_Boom(str(marker)))
    events = [["dispatch", 0.0, "d1", "f", 0, None, None, None]]
    header = {
        "pickle": payload,
        "unknown_tag": cbor2.CBORTag(6002, payload),
        "decisions": [0.1],
    }
    doc = {"magic": FILE_MAGIC, "version": FILE_VERSION, "header": header, "events": events,
           "digest": events_digest([tuple(e) for e in events]),
           "checksum": hashlib.sha256(cbor2.dumps([header, events], canonical=True)).hexdigest()}
    path = write(tmp_path / "tagged.cbor", doc)
    # The format writes no CBOR tags, so a file that holds one is refused
    # (issue 12: only the tags the format uses); before, it loaded as an
    # inert CBORTag. Without it the pickle bytes load as inert bytes.
    # where the tag lies depends on the length of the pickled path (the tmp dir's name)
    at = path.read_bytes().index(b"\xd9\x17\x72")  # the head of tag 6002
    assert load_error(path) == f"{str(path)!r} is not a dispatch-sim trace: CBOR tag 6002 is not allowed (at byte {at})"
    assert not marker.exists()
    del header["unknown_tag"]
    doc["checksum"] = hashlib.sha256(cbor2.dumps([header, events], canonical=True)).hexdigest()
    loaded = Trace.load(write(path, doc))
    assert not marker.exists()
    assert loaded.header["pickle"] == payload  # inert bytes
    # the same payload as an event field, or as the whole file, is refused
    bad = write(tmp_path / "event.cbor", dict(doc, events=[["dispatch", 0.0, "d1", "f", 0, None, cbor2.CBORTag(6002, payload), None]]))
    assert "CBOR tag 6002 is not allowed" in load_error(bad)
    whole = tmp_path / "pickle.cbor"
    whole.write_bytes(payload)
    load_error(whole)
    assert not marker.exists()


# -- replay from a trace -------------------------------------------------------


@pytest.mark.parametrize("faults", ["heavy", "swarm"])
def test_from_trace_reproduces_runs_with_lost_responses(
    reg: registry.Registry, tmp_path: Path, faults: str
) -> None:
    main = workflow(reg)
    replayed = lost = 0
    for seed in range(25):
        original, value = run(main, seed=seed, faults=faults)
        path = original.trace.save(tmp_path / f"{faults}-{seed}.cbor")
        trace = Trace.load(path)
        simulation = Simulation.from_trace(trace)
        assert simulation.seed == seed
        assert simulation.faults == original.faults
        try:
            copy_value = simulation.run(main())
        except Exception as exc:  # noqa: BLE001
            copy_value = repr(exc)
        assert simulation.trace.digest() == original.trace.digest(), (faults, seed)
        assert list(simulation.trace) == list(original.trace)
        assert copy_value == value
        assert simulation.decisions.record == original.decisions.record
        replayed += 1
        lost += sum(1 for e in original.trace if e.detail == "response_lost")
    assert replayed == 25
    assert lost > 0, f"no response was lost in 25 {faults} runs"


def test_from_trace_of_a_swarm_run_keeps_the_swarm_subset(reg: registry.Registry) -> None:
    main = workflow(reg)
    original, _ = run(main, seed=4, faults="swarm")
    again = Simulation.from_trace(original.trace)
    assert again.decisions.profile == original.decisions.profile
    assert again.decisions.profile.name == "swarm*"


def test_from_trace_keeps_the_test_id_and_accepts_options(reg: registry.Registry) -> None:
    main = workflow(reg)
    original, _ = run(main, seed=2, faults="heavy", test_id="x.py::test_y")
    assert Simulation.from_trace(original.trace).trace.header["test_id"] == "x.py::test_y"
    other = Simulation.from_trace(original.trace, test_id="z.py::test_w", drain=False)
    assert other.trace.header["test_id"] == "z.py::test_w"
    assert other.drain is False


def test_from_trace_without_decisions(reg: registry.Registry) -> None:
    with pytest.raises(ValueError, match="records no decisions"):
        Simulation.from_trace(Trace())
    unstarted = Simulation(seed=1, faults="heavy")
    assert unstarted.trace.header["decisions"] is None
    with pytest.raises(ValueError, match="records no decisions"):
        Simulation.from_trace(unstarted.trace)
    with pytest.raises(ValueError, match="records no decisions"):
        Simulation.from_trace(Trace({"seed": 1, "faults": "heavy", "decisions": "0.5,0.1"}))


def test_from_trace_with_fewer_decisions_still_ends(reg: registry.Registry) -> None:
    main = workflow(reg)
    original, value = run(main, seed=6, faults="heavy")
    decisions = original.trace.header["decisions"]
    assert len(decisions) > 4
    short = Trace(dict(original.trace.header, decisions=decisions[:4]))
    simulation = Simulation.from_trace(short)
    result = simulation.run(main())  # past the record every decision is the benign one
    assert result[0][0] == [0, 2, 4, 6, 8, 10]
    assert simulation.trace.digest() != original.trace.digest() or value == result
    assert simulation.decisions.record[:4] == decisions[:4]
    assert set(simulation.decisions.record[4:]) <= {0.0}


def test_from_trace_uses_the_recorded_profile_over_the_name(reg: registry.Registry) -> None:
    main = workflow(reg)
    custom = sim.FaultProfile("mine", response_lost=0.5)
    original, _ = run(main, seed=9, faults=custom)
    assert original.trace.header["faults"] == "mine"
    again = Simulation.from_trace(original.trace)
    assert again.faults == custom
    again.run(main())
    assert again.trace.digest() == original.trace.digest()


# -- hostile files (issue 12: trace files are untrusted input) -----------------


def _head(major: int, argument: int) -> bytes:
    """A CBOR item head (major type and argument), as RFC 8949 writes it."""
    if argument < 24:
        return bytes([major << 5 | argument])
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if argument < 1 << (8 * width):
            return bytes([major << 5 | info]) + argument.to_bytes(width, "big")
    raise ValueError(argument)


def sharing_bomb(levels: int = 33, fan_out: int = 100) -> bytes:
    """A trace document whose header holds nested shared references: about 10.8 KB that stand for
    100**32 strings, which cbor2 would decode as shared objects and then expand when encoding them again."""
    # Build the levels side by side in one array: each refers to the previous one.
    parts = [_head(6, 28) + b"\x61x"]
    for level in range(1, levels):
        parts.append(_head(6, 28) + _head(4, fan_out) + (_head(6, 29) + _head(0, level - 1)) * fan_out)
    bomb = _head(5, 1) + b"\x64bomb" + _head(4, len(parts)) + b"".join(parts)
    # A valid digest, so that a loader gets as far as the checksum.
    doc = cbor2.dumps(
        {"magic": FILE_MAGIC, "version": FILE_VERSION, "events": [], "digest": events_digest([]), "checksum": "x"},
        canonical=True,
    )
    # the same map with a "header" entry holding the bomb (one more pair)
    return _head(5, 6) + doc[1:] + b"\x66header" + bomb


def test_value_sharing_bomb_is_refused_quickly(tmp_path: Path) -> None:
    import time
    import tracemalloc

    data = sharing_bomb()
    assert 10_000 < len(data) < 11_500
    path = tmp_path / "bomb.cbor"
    path.write_bytes(data)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        message = load_error(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 5_000_000
    assert "CBOR tag 28 (shareable value) is not allowed" in message, message


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (_head(6, 29) + b"\x00", "CBOR tag 29 (shared reference) is not allowed"),
        (_head(6, 256) + b"\x80", "CBOR tag 256 (string reference namespace) is not allowed"),
        (_head(6, 25) + b"\x00", "CBOR tag 25 (string reference) is not allowed"),
        (_head(6, 258) + b"\x80", "CBOR tag 258 is not allowed"),
        (b"\x9f\xff", "indefinite-length array"),
        (b"\xf7", "simple value 23"),
        (_head(4, 2**40), "an array of 1099511627776 items, more than the bytes left"),
        (_head(2, 2**62), "a byte string of 4611686018427387904 bytes, more than the bytes left"),
        (b"\x81" * 5000 + b"\x80", "nested more than 100 levels deep"),
    ],
    ids=["shared-ref", "stringref-namespace", "stringref", "set", "indefinite", "undefined",
         "lying-array-length", "lying-bytes-length", "deep"],
)
def test_crafted_items_in_the_header_are_refused(tmp_path: Path, item: bytes, reason: str) -> None:
    doc = cbor2.dumps({"magic": FILE_MAGIC, "version": FILE_VERSION, "events": [], "digest": "x"}, canonical=True)
    path = tmp_path / "crafted.cbor"
    path.write_bytes(_head(5, 5) + doc[1:] + b"\x66header" + _head(5, 1) + b"\x61k" + item)
    assert reason in load_error(path)


def test_trailing_bytes_are_refused(saved: tuple[Simulation, Path], tmp_path: Path) -> None:
    _, path = saved
    longer = tmp_path / "longer.cbor"
    longer.write_bytes(path.read_bytes() + b"\x00garbage")
    assert load_error(longer) == f"{str(longer)!r} is not a dispatch-sim trace: 8 bytes after the end of the document (at byte {path.stat().st_size})"


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "trace.fifo"
    os.mkfifo(fifo)
    assert load_error(fifo) == f"cannot read trace file {str(fifo)!r}: not a regular file (a FIFO)"


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_are_refused(device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"{device} does not exist here")
    assert load_error(Path(device)) == f"cannot read trace file {device!r}: not a regular file (a character device)"


def test_directory_is_named(tmp_path: Path) -> None:
    assert load_error(tmp_path) == f"cannot read trace file {str(tmp_path)!r}: not a regular file (a directory)"


def test_size_limit_is_documented_and_configurable(saved: tuple[Simulation, Path], tmp_path: Path) -> None:
    from sim import _codec

    simulation, path = saved
    size = path.stat().st_size
    assert _codec.UNTRUSTED_MAX_SIZE == 32 * 1024 * 1024
    message = load_error_with(path, max_size=size - 1)
    assert message == (
        f"cannot read trace file {str(path)!r}: {size} bytes, more than the limit of {size - 1} "
        "(Trace.load(path, max_size=...) reads larger files)"
    )
    assert Trace.load(path, max_size=size).digest() == simulation.trace.digest()


def load_error_with(path: Path, **options: Any) -> str:
    with pytest.raises(ValueError) as info:
        Trace.load(path, **options)
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ({1: "x"}, "key 1 is not a str"),
        ({"decisions": 7}, "decisions is a int, not list or NoneType"),
        ({"test_id": ["a"]}, "test_id is a list, not str or NoneType"),
        ({"profile": "heavy"}, "profile is a str, not dict or NoneType"),
    ],
)
def test_header_types_are_checked(tmp_path: Path, header: dict[Any, Any], problem: str) -> None:
    events: list[Any] = []
    doc = {"magic": FILE_MAGIC, "version": FILE_VERSION, "header": header, "events": events,
           "digest": events_digest(events),
           "checksum": hashlib.sha256(cbor2.dumps([header, events], canonical=True)).hexdigest()}
    bad = write(tmp_path / "header.cbor", doc)
    assert load_error(bad) == f"{str(bad)!r} is not a dispatch-sim trace: its header is malformed: {problem}"


def test_save_refuses_a_header_that_would_not_load(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot save a trace whose header would not load: CBOR tag 258"):
        Trace({"tags": {1, 2}}).save(tmp_path / "set.cbor")
    deep: Any = []
    for _ in range(150):
        deep = [deep]
    with pytest.raises(ValueError, match="nested more than 100 levels deep"):
        Trace({"deep": deep}).save(tmp_path / "deep.cbor")
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(sim.SerializationError, match="nested more than 500 levels deep"):
        Trace({"deep": deep}).save(tmp_path / "deeper.cbor")
    assert not any(tmp_path.iterdir())
