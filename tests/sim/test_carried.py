"""What events carry (issue 11): summaries of arguments, results and errors, the digest
over them, attempt start events, sim.note, and all of it through a trace file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import registry
import sim
from sim import SerializationError, Simulation, Trace
from sim._carried import Carried
from sim._summary import SUMMARY_LIMIT, summarize
from sim import _codec

ROOT = Path(__file__).resolve().parents[2]


def pay_run(pay: Any, cents: int, *, test_id: str | None = None, seed: int = 1, faults: str = "none") -> Simulation:
    simulation = Simulation(seed=seed, faults=faults, test_id=test_id)

    async def main() -> None:
        try:
            await pay("alice", cents)
        except Exception:  # noqa: BLE001 - the trace is what these tests read
            pass

    simulation.run(main())
    return simulation


def register_pay(reg: registry.Registry) -> Any:
    @reg.function
    def debit(account: str, cents: int) -> int:
        if cents > 1000:
            raise ValueError(f"insufficient funds for {cents}")
        return 1000 - cents

    @reg.function
    async def pay(account: str, cents: int) -> int:
        return await debit(account, cents)

    return pay


def kinds(trace: Trace) -> list[str]:
    return [e.kind for e in trace]


# -- the digest covers what calls carried -------------------------------------------


def test_other_arguments_give_another_digest_and_the_same_the_same(reg: registry.Registry) -> None:
    pay = register_pay(reg)
    small, big, again = (pay_run(pay, cents).trace for cents in (10, 10000, 10))
    assert small.digest() != big.digest()
    assert small.digest() == again.digest()
    # where a replay would say the runs part: the first call's arguments
    first = next(i for i, (a, b) in enumerate(zip(small, big, strict=True)) if a != b)
    assert small[first].kind == "dispatch" and small[first].data == Carried("dispatch", _codec.freeze(
        sim.Arguments(("alice", 10)))) and big[first].data["args"] == "('alice', 10000)"


def test_a_result_alone_changes_the_digest(reg: registry.Registry) -> None:
    answers = iter([1, 2, 1])

    @reg.function
    def fetch() -> int:
        return next(state)

    state = answers
    digests = []
    for _ in range(3):
        simulation = Simulation(seed=0, faults="none")
        simulation.run(fetch())
        digests.append(simulation.trace.digest())
    assert digests[0] != digests[1] and digests[0] == digests[2]


def test_paths_of_the_checkout_stay_out_of_the_digest(reg: registry.Registry) -> None:
    pay = register_pay(reg)
    a = pay_run(pay, 10, test_id="/home/a/checkout/tests/test_x.py::test_pay").trace
    b = pay_run(pay, 10, test_id="/srv/ci/build/tests/test_x.py::test_pay").trace
    assert a.header["test_id"] != b.header["test_id"]
    assert a.digest() == b.digest()


def test_the_digest_with_sets_and_dicts_is_the_same_in_other_processes(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent("""
        import registry, sim
        reg = registry.Registry("hashseed")
        @reg.function
        def keep(tags, table):
            return {"tags": tags, "table": table}
        s = sim.Simulation(seed=3, faults="none")
        s.run(keep({"alpha", "beta", "gamma", "delta"}, {"x": frozenset({"p", "q", "r"})}))
        print(s.trace.digest())
        print(s.trace.format())
    """))
    outputs = {
        subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("0", "7", "12345")
    }
    assert len(outputs) == 1, outputs
    # a set's elements in the encoding's order (shorter strings first), not the hash seed's
    assert "{'beta', 'alpha', 'delta', 'gamma'}" in outputs.pop()


# -- summaries -----------------------------------------------------------------------


def test_events_carry_arguments_results_and_errors(reg: registry.Registry) -> None:
    pay = register_pay(reg)
    trace = pay_run(pay, 10000).trace
    by_kind: dict[tuple[str, str], dict[str, Any]] = {}
    for e in trace:
        if e.data:
            by_kind[(e.kind, e.dispatch_id)] = dict(e.data)
    assert by_kind[("dispatch", "d1")] == {"args": "('alice', 10000)"}
    assert by_kind[("dispatch", "d2")] == {"args": "('alice', 10000)"}
    for key in (("attempt", "d2"), ("outcome", "d2")):
        assert by_kind[key]["error"] == "ValueError: insufficient funds for 10000"
        assert "in debit" in by_kind[key]["traceback"]  # the user's traceback, shown (not hashed)
    ok = pay_run(pay, 10).trace
    assert [dict(e.data or {}) for e in ok if e.kind == "outcome"] == [{"result": "990"}, {"result": "990"}]
    assert "args=('alice', 10)" in ok.format() and "result=990" in ok.format()


def test_every_attempt_has_a_start_event_before_its_end(reg: registry.Registry) -> None:
    pay = register_pay(reg)
    for seed in range(5):
        trace = pay_run(pay, 10, seed=seed, faults="heavy").trace
        open_attempts: dict[str, int] = {}
        for e in trace:
            if e.kind == "start":
                assert e.dispatch_id not in open_attempts
                open_attempts[e.dispatch_id] = e.attempt
            elif e.kind == "attempt" or (e.kind == "fault" and e.detail in ("endpoint_error", "response_lost")):
                assert open_attempts.pop(e.dispatch_id) == e.attempt
        assert not open_attempts
        ending_faults = sum(1 for e in trace if e.kind == "fault" and e.detail in ("endpoint_error", "response_lost"))
        assert kinds(trace).count("start") == kinds(trace).count("attempt") + ending_faults


def test_summaries_come_from_the_encoding_not_from_repr() -> None:
    class Loud(Exception):
        def __repr__(self) -> str:
            return "<Loud object at 0xdeadbeef>"

    assert summarize(_codec.dumps(Loud("quiet"))) == "test_summaries_come_from_the_encoding_not_from_repr.<locals>.Loud('quiet')"
    assert summarize(_codec.dumps({"b", "a", "c"})) == "{'a', 'b', 'c'}"
    assert summarize(_codec.dumps(sim.Arguments(("a", 1), {"to": "b"}))) == "('a', 1, to='b')"
    assert summarize(_codec.dumps((1,))) == "(1,)"
    assert summarize(_codec.dumps([None, True, 2.5, b"\x00", 10**40])) == f"[None, True, 2.5, b'\\x00', {10**40}]"


def test_summaries_are_bounded_whatever_the_value() -> None:
    for value in (list(range(100_000)), "x" * 1_000_000, {str(i): [i] * 50 for i in range(1000)}, [[[[[[[[[[[[1]]]]]]]]]]]] * 500):
        text = summarize(_codec.dumps(value))
        assert len(text) <= SUMMARY_LIMIT
    assert summarize(b"") == "<not serializable>"
    assert summarize(b"\xff\x00") == "<malformed value>"


# -- sim.note ------------------------------------------------------------------------


def test_a_note_lands_on_the_call_whose_code_made_it(reg: registry.Registry) -> None:
    @reg.function
    def debit(account: str, cents: int) -> int:
        sim.note("debiting", account=account, cents=cents)
        return cents

    @reg.function
    async def pay(account: str) -> int:
        sim.note("paying")
        return await debit(account, 10)

    simulation = Simulation(seed=0, faults="none")

    async def main() -> None:
        sim.note("test begins", tags={"b", "a"})
        await pay("alice")

    simulation.run(main())
    notes = [e for e in simulation.trace if e.kind == "note"]
    assert [(e.dispatch_id, e.function, e.attempt) for e in notes] == [
        ("", "", 0),
        ("d1", pay.name, 1),
        ("d2", debit.name, 1),
    ]
    assert dict(notes[0].data) == {"message": "test begins", "data": {"tags": "{'a', 'b'}"}}
    assert dict(notes[2].data) == {"message": "debiting", "data": {"account": "'alice'", "cents": "10"}}
    assert "note" in str(notes[2]) and "debiting account='alice' cents=10" in str(notes[2])


def test_note_values_are_in_the_digest(reg: registry.Registry) -> None:
    def run(value: Any) -> str:
        simulation = Simulation(seed=0, faults="none")

        async def main() -> None:
            sim.note("value", v=value)

        simulation.run(main())
        return simulation.trace.digest()

    assert run(1) != run(2)
    assert run([1, 2]) == run([1, 2])


def test_a_note_value_that_cannot_be_encoded_names_its_key() -> None:
    simulation = Simulation(seed=0, faults="none")

    async def main() -> None:
        sim.note("bad", fine=1, lock=object())

    with pytest.raises(SerializationError, match="note value 'lock'"):
        simulation.run(main())


def test_a_note_outside_a_simulation_does_nothing() -> None:
    assert sim.note("nobody listens", anything=object()) is None
    with pytest.raises(TypeError, match="takes a str message"):
        simulation = Simulation(seed=0, faults="none")

        async def main() -> None:
            sim.note(42)  # type: ignore[arg-type]

        simulation.run(main())


# -- through a trace file ----------------------------------------------------------------


def test_a_saved_trace_keeps_summaries_fingerprints_and_its_digest(reg: registry.Registry, tmp_path: Path) -> None:
    @reg.function
    def greet(name: str) -> str:
        sim.note("greeting", name=name)
        return f"hello {name}"

    simulation = Simulation(seed=0, faults="heavy")
    simulation.run(greet("\x1b[31mbob"))
    trace = simulation.trace
    loaded = Trace.load(trace.save(tmp_path / "t.trace"))
    assert loaded.digest() == trace.digest()
    assert list(loaded) == list(trace)  # equal events: equal fingerprints
    assert [dict(e.data) if e.data else None for e in loaded] == [dict(e.data) if e.data else None for e in trace]
    assert any(e.data and e.data.get("result") == "'hello \\x1b[31mbob'" for e in loaded)


def test_an_event_from_a_file_with_a_changed_summary_keeps_its_fingerprint(tmp_path: Path) -> None:
    stored = {"hash": bytes(16), "args": "(1,)"}
    other = {"hash": bytes(16), "args": "(2,)"}
    assert Carried("dispatch", stored) == Carried("dispatch", other)  # the fingerprint decides
    assert Carried("dispatch", stored) != Carried("dispatch", {"hash": bytes(15) + b"\x01", "args": "(1,)"})


def test_a_tail_call_carries_the_arguments_the_call_goes_on_with(reg: registry.Registry) -> None:
    @reg.function
    def second(x: int) -> int:
        return x * 10

    @reg.function
    def first(x: int) -> int:
        raise registry.Reset(second, x + 1)

    simulation = Simulation(seed=0, faults="none")
    assert simulation.run(first(1)) == 20
    tail = next(e for e in simulation.trace if e.status == "TAIL_CALL")
    assert tail.detail == second.name and dict(tail.data) == {"args": "(2)"}


def test_a_failure_shows_its_traceback_which_stays_out_of_the_digest(reg: registry.Registry) -> None:
    @reg.function
    def explode(n: int) -> None:
        raise KeyError(f"missing {n}")

    simulation = Simulation(seed=0, faults="none")
    with pytest.raises(KeyError):
        simulation.run(explode(3))
    outcome = next(e for e in simulation.trace if e.kind == "outcome")
    assert outcome.data["error"] == "KeyError: 'missing 3'"
    traceback = outcome.data["traceback"]
    assert "in explode" in traceback and traceback.endswith("KeyError: 'missing 3'") and len(traceback) <= 800
    assert "\n" not in str(outcome) and "in explode" not in str(outcome)  # show's lines stay one line each
    # another traceback (as from another checkout), the same digest
    raw = list(simulation.trace._rows())  # the events as tuples (the store keeps them compact)
    at = raw.index(next(e for e in raw if e[0] == "outcome"))
    what, payload = raw[at][7]
    before = simulation.trace.digest()
    moved = Trace(simulation.trace.header)
    moved._events.extend(raw)
    moved._events[at] = (*raw[at][:7], (what, (*payload[:4], b"File \"/elsewhere/x.py\", line 1\nKeyError")))
    assert moved.digest() == before
    assert moved[at].data["traceback"] != outcome.data["traceback"]


# -- the fingerprint's fast encoding -------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sim._carried import _encoded, _error_bytes  # noqa: E402

_ATOM = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),  # bignums too
    st.floats(allow_nan=True, allow_infinity=True),  # -0.0, NaN, infinities
    st.text(alphabet=st.characters(max_codepoint=0xFFFF, blacklist_categories=())),  # lone surrogates too
)


@settings(max_examples=300, deadline=None)
@given(
    args=st.lists(st.one_of(_ATOM, st.lists(st.one_of(st.none(), st.integers(), st.text()), max_size=3)), max_size=5),
    kwargs=st.dictionaries(st.text(max_size=5), _ATOM, max_size=3),
)
def test_the_fast_encoding_is_the_codecs(args: list[Any], kwargs: dict[str, Any]) -> None:
    # What the fingerprint hashes must be the codec's canonical bytes, byte for byte,
    # for every frozen form (flat Arguments, Arguments with lists, atoms, encoded bytes).
    for value in (sim.Arguments(tuple(args), kwargs), *args, tuple(a for a in args if not isinstance(a, list))):
        frozen = _codec.freeze(value)
        assert _encoded(frozen) == _codec.frozen_bytes(frozen)


@given(status=st.integers(min_value=0, max_value=30), type_name=st.one_of(st.none(), st.text()), message=st.one_of(st.none(), st.text()))
def test_the_fast_error_encoding_is_the_codecs(status: int, type_name: str | None, message: str | None) -> None:
    assert _error_bytes(status, type_name, message) == _codec.dumps([status, type_name, message])
