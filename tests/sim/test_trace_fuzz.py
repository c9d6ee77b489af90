"""Fuzzing Trace.load: whatever a file holds, a one-line ValueError or a trace, quickly, in bounded memory.

A bounded, seeded loop (the same cases on every run) over mutations of real
trace files (bit flips, byte changes, truncations, insertions, deletions,
crafted CBOR items spliced in) and over crafted documents. Any exception
other than ValueError, a message on more than one line, more than
`MAX_SECONDS` or more than `MAX_BYTES` of Python allocations on one input
fails the test. The figures of the run are printed (``pytest -s``).
"""

from __future__ import annotations

import random
import time
import tracemalloc
from pathlib import Path
from typing import Any

import cbor2
import pytest

import registry
import sim
from sim import Simulation, Trace
from sim._trace import FILE_MAGIC, FILE_VERSION

MAX_SECONDS = 3.0
MAX_BYTES = 200 * 1024 * 1024
CASES = 2_500

# Items worth splicing in: tags the format never writes (value sharing, string
# references, sets, dates, bignums), lying lengths, indefinite lengths,
# reserved heads, deep nesting, odd simple values and floats.
CRAFTED_ITEMS = [
    b"\xd8\x1c\x81\xd8\x1d\x00",  # shareable [shared(0)]
    b"\xd8\x1d\x00",
    b"\xd9\x01\x00\x82\x61a\xd8\x19\x00",  # stringref namespace
    b"\xd9\x01\x02\x80",  # set
    b"\xc1\x1a\xff\xff\xff\xff",  # epoch datetime
    b"\xc2\x5a\x00\x10\x00\x00",  # bignum of 1 MB (lying)
    b"\x9b\x00\x00\x00\x01\x00\x00\x00\x00",  # array of 2**32 items
    b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\x7f\x61a\xff",
    b"\x9f\x01\x02\xff",
    b"\xbf\x61a\x01\xff",
    b"\x1c",
    b"\xff",
    b"\xf8\x20",
    b"\xf7",
    b"\xf9\x7e\x00",
    b"\x81" * 300 + b"\x80",
    b"\xa1\x81\x01\x01",  # a map with an array key
    b"\xa2\x01\x01\x01\x01",  # duplicate keys
    b"\x62\xff\xfe",  # invalid UTF-8
]


def crafted_documents() -> list[Any]:
    base = {"magic": FILE_MAGIC, "version": FILE_VERSION, "header": {}, "events": [], "digest": "x"}
    docs: list[Any] = [None, 0, -1, 2**64 - 1, 1.5, float("nan"), "", b"", [], {}, [base], {"magic": FILE_MAGIC}]
    for key, value in [
        ("header", []), ("header", {"decisions": {"a": 1}}), ("header", {"seed": [1] * 50}),
        ("events", {}), ("events", [[]]), ("events", [[None] * 7]), ("events", [["a", 1.0, "d", "f", 0, None, None]] * 3),
        ("version", True), ("version", 2**70), ("magic", b"dispatch-sim trace"), ("digest", None), ("checksum", 1),
        ("version", 1), ("events", [[None] * 8]),
        # what events carried (format 2): a map of a 16-byte hash and bounded texts
        ("events", [["a", 1.0, "d", "f", 0, None, None, {"hash": b"h" * 16, "args": {"a": [1] * 50}}]]),
        ("events", [["a", 1.0, "d", "f", 0, None, None, {"hash": b"h" * 16, "args": "x" * 100_000}]]),
        ("events", [["a", 1.0, "d", "f", 0, None, None, {"hash": b"h" * 16, "data": {str(i): "v" for i in range(10_000)}}]]),
        ("events", [["a", 1.0, "d", "f", 0, None, None, {"hash": b"h" * 10**5}]]),
        ("events", [["a", 1.0, "d", "f", 0, None, None, {"hash": b"h" * 16, "args": "(1,)"}]] * 1000),
    ]:
        docs.append(dict(base, **{key: value}))
    return docs


@pytest.fixture(scope="module")
def real_traces(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    reg = registry.Registry("fuzz")

    @reg.function
    def leaf(i: int) -> int:
        sim.note("leaf", i=i, tags={"a", "b"})  # notes and their values in the files too
        return i + 1

    @reg.function
    async def parent(n: int) -> list[int]:
        first = await registry.gather(*(leaf(i) for i in range(n)))
        await registry.sleep(0.25)
        return [*first, await leaf(99)]

    folder = tmp_path_factory.mktemp("fuzz-traces")
    found = []
    for seed, faults in [(0, "none"), (1, "heavy"), (2, "swarm")]:
        simulation = Simulation(seed=seed, faults=faults, test_id="fuzz.py::test_x")
        try:
            simulation.run(parent(4))
        except Exception:  # noqa: BLE001 - only the trace matters here
            pass
        found.append(simulation.trace.save(folder / f"{seed}.cbor").read_bytes())
    return found


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice([1, 1, 1, 2, 3, 8])):
        choice = rng.randrange(6)
        at = rng.randrange(len(buf) + 1) if buf else 0
        if choice == 0 and buf:
            buf[min(at, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1 and buf:
            buf[min(at, len(buf) - 1)] = rng.randrange(256)
        elif choice == 2:
            del buf[at:]
        elif choice == 3:
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        elif choice == 4:
            del buf[at : at + rng.randrange(1, 16)]
        else:
            buf[at:at] = rng.choice(CRAFTED_ITEMS)
    return bytes(buf)


def test_fuzz_trace_load(real_traces: list[bytes], tmp_path: Path) -> None:
    rng = random.Random("dispatch-sim:fuzz-trace-load")
    inputs: list[bytes] = [cbor2.dumps(doc, canonical=True) for doc in crafted_documents()]
    inputs += [
        mutate(rng, cbor2.dumps(doc)) for doc in crafted_documents() for _ in range(3)
    ]
    while len(inputs) < CASES:
        inputs.append(mutate(rng, rng.choice(real_traces)))
    path = tmp_path / "fuzzed.cbor"
    outcomes = {"loaded": 0, "refused": 0}
    worst_seconds = 0.0
    worst_bytes = 0
    tracemalloc.start()
    try:
        for i, data in enumerate(inputs):
            path.write_bytes(data)
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            started = time.perf_counter()
            try:
                Trace.load(path)
            except ValueError as exc:
                assert str(exc) and "\n" not in str(exc), (i, str(exc))
                outcomes["refused"] += 1
            except BaseException as exc:  # noqa: BLE001 - that is the failure being looked for
                pytest.fail(f"case {i}: {type(exc).__name__}: {exc} (input {data[:64]!r}...)")
            else:
                outcomes["loaded"] += 1
            seconds = time.perf_counter() - started
            allocated = tracemalloc.get_traced_memory()[1] - before
            assert seconds < MAX_SECONDS, (i, seconds)
            assert allocated < MAX_BYTES, (i, allocated)
            worst_seconds = max(worst_seconds, seconds)
            worst_bytes = max(worst_bytes, allocated)
    finally:
        tracemalloc.stop()
    print(
        f"\nfuzz Trace.load: {len(inputs)} cases ({outcomes['refused']} refused, {outcomes['loaded']} loaded), "
        f"slowest {worst_seconds * 1000:.1f} ms, largest peak {worst_bytes / 1024:.0f} KiB"
    )
    assert outcomes["refused"] > len(inputs) // 2
