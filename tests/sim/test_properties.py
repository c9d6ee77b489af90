"""Properties: always, sometimes, reachable, unreachable, in tests and in functions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import registry
import sim


def test_a_failing_always_in_a_function_names_message_details_call_and_seed(reg: registry.Registry) -> None:
    @reg.function
    def charge(cents: int) -> int:
        sim.always(cents >= 0, "charges are not negative", {"cents": cents})
        return cents

    async def main() -> None:
        await charge(5)
        await charge(-3)

    simulation = sim.Simulation(seed=11, faults="none")
    with pytest.raises(sim.PropertyFailed) as info:
        simulation.run(main())
    failure = info.value
    assert isinstance(failure, AssertionError)
    assert (failure.kind, failure.message, failure.details, failure.seed) == (
        "always", "charges are not negative", {"cents": -3}, 11
    )
    assert failure.call.startswith("d2 ") and failure.call.endswith(".charge attempt 1")
    assert str(failure) == (
        f"always('charges are not negative') was false (details: {{'cents': -3}}) in {failure.call}, seed 11"
    )
    events = [e for e in simulation.trace if e.kind == "property"]
    assert [(e.dispatch_id, e.status) for e in events] == [("d1", "HELD"), ("d2", "FAILED")]
    assert events[1].detail == "always: charges are not negative {'cents': -3}"


def test_a_failure_that_user_code_catches_still_fails_the_run(reg: registry.Registry) -> None:
    async def main() -> str:
        try:
            sim.unreachable("the fallback path", {"why": "test"})
        except AssertionError:
            pass
        return "swallowed"

    expected = r"unreachable\('the fallback path'\) was reached .*in the test body, seed 0"
    with pytest.raises(sim.PropertyFailed, match=expected):
        sim.Simulation(seed=0, faults="none").run(main())


def test_every_evaluation_is_an_event_and_is_tallied() -> None:
    async def main() -> None:
        for n in range(4):
            sim.always(True, "fine")
            sim.sometimes(n == 2, "two", {"n": n})
        sim.reachable("end")

    simulation = sim.Simulation(seed=0, faults="none")
    simulation.run(main())
    assert simulation.properties.rows() == (
        ("always", "fine", 4, 4), ("reachable", "end", 1, 1), ("sometimes", "two", 4, 1)
    )
    statuses = [e.status for e in simulation.trace if e.kind == "property"]
    assert statuses == ["HELD", "UNMET", "HELD", "UNMET", "HELD", "HELD", "HELD", "UNMET", "REACHED"]


def test_details_are_shown_through_the_canonical_encoding() -> None:
    async def main() -> None:
        # A set of strings iterates in an order that depends on PYTHONHASHSEED; the encoding sorts it.
        sim.sometimes(True, "ordered", {"names": {"carol", "alice", "bob"}, "n": 1})
        sim.sometimes(True, "ordered", {"names": {"bob", "carol", "alice"}, "n": 1})

    simulation = sim.Simulation(seed=0, faults="none")
    simulation.run(main())
    first, second = (e.detail for e in simulation.trace if e.kind == "property")
    assert first == second == "sometimes: ordered {'names': {'bob', 'alice', 'carol'}, 'n': 1}"  # canonical CBOR order


def test_outside_a_simulation_always_is_an_assert_and_the_others_do_nothing() -> None:
    sim.always(True, "fine")
    sim.sometimes(False, "never")
    sim.reachable("here")
    with pytest.raises(AssertionError, match=r"always\('broken'\) was false"):
        sim.always(0, "broken")
    with pytest.raises(TypeError, match="message must be a non-empty str"):
        sim.always(True, "")
    sim.unreachable("not in a simulation")  # does nothing outside one


def test_property_events_are_the_same_across_hash_seeds(tmp_path: Path) -> None:
    code = (
        "import sim\n"
        "async def main():\n"
        "    sim.sometimes(True, 'names', {'who': {'carol', 'alice', 'bob', 'dave'}, 'k': frozenset('xyz')})\n"
        "s = sim.Simulation(seed=1, faults='light')\n"
        "s.run(main())\n"
        "print(s.trace.digest(), [e.detail for e in s.trace])\n"
    )
    outputs = set()
    for hash_seed in ("0", "7", "123"):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                              cwd=tmp_path, env=dict(os.environ, PYTHONHASHSEED=hash_seed))
        assert done.returncode == 0, done.stderr
        outputs.add(done.stdout)
    assert len(outputs) == 1
