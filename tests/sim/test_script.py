"""Fault scripts and per-function fault rates."""

from __future__ import annotations

import attrs
import pytest

import registry
import sim
from sim import Fault, FaultProfile, FaultScript

TEXT = "response_lost charge#2 attempt 1; crash checkout before resume 3; endpoint_error reserve attempt 1 THROTTLED"


def test_a_script_parses_prints_and_round_trips() -> None:
    script = FaultScript.parse(TEXT)
    assert list(script) == [
        Fault.response_lost("charge", call=2),
        Fault.crash("checkout", resume=3),
        Fault.endpoint_error("reserve", attempt=1, status="THROTTLED"),
    ]
    assert str(script) == TEXT
    assert FaultScript.parse(str(script)) == script
    short = FaultScript.parse("response_lost charge#2\nendpoint_error reserve; buggify pay.py:12#3")
    assert str(short) == "response_lost charge#2 attempt 1; endpoint_error reserve attempt 1 TIMEOUT; buggify pay.py:12#3"
    assert FaultScript.parse(str(short)) == short


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lose charge", r"entry 1 \('lose charge'\): unknown fault 'lose'"),
        ("crash", r"name the function"),
        ("response_lost charge#0", r"the call after '#' must be a number >= 1, got '0'"),
        ("response_lost a; crash b before 3", r"entry 2 \('crash b before 3'\): expected 'before resume N'"),
        ("endpoint_error reserve attempt 1 OK", r"'OK' is not an error status"),
        ("response_lost charge attempt", r"'attempt' needs a number"),
        ("response_lost charge attempt 2 THROTTLED", r"unexpected 'THROTTLED'"),
    ],
)
def test_a_bad_script_names_the_entry_and_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultScript.parse(text)


def _shop(reg: registry.Registry) -> tuple[object, list[str]]:
    charges: list[str] = []

    @reg.function
    def charge(order: str) -> None:
        charges.append(order)

    @reg.function
    def reserve(order: str) -> str:
        return order

    @reg.function
    async def checkout(order: str) -> None:
        await reserve(order)
        await charge(order)
        await charge(order + "-tip")
        await reserve(order + "-again")

    async def main() -> None:
        await checkout("o1")

    return main, charges


def test_a_script_injects_exactly_its_faults_and_reproduces(reg: registry.Registry) -> None:
    main, charges = _shop(reg)
    traces = []
    for _ in range(2):
        charges.clear()
        simulation = sim.Simulation(seed=5, faults=FaultScript.parse(TEXT))
        simulation.run(main)  # type: ignore[arg-type]
        traces.append(simulation.trace)
    assert traces[0].digest() == traces[1].digest()
    faults = [(f.detail, f.function.rsplit(".", 1)[-1], f.attempt, f.status) for f in traces[0].faults()]
    assert faults == [
        ("endpoint_error", "reserve", 1, "THROTTLED"),
        ("response_lost", "charge", 1, "TIMEOUT"),
        ("crash", "checkout", 4, None),  # the 3rd resume is checkout's 4th attempt
    ]
    assert charges == ["o1", "o1-tip", "o1-tip"]  # the 2nd charge ran twice: its response was lost
    assert [e.dispatch_id for e in traces[0].faults() if e.detail == "response_lost"] == ["d4"]
    assert traces[0].header["faults"] == TEXT


def test_a_scripted_trace_replays_from_its_file(reg: registry.Registry, tmp_path: object) -> None:
    main, _ = _shop(reg)
    simulation = sim.Simulation(seed=2, faults=TEXT)
    simulation.run(main)  # type: ignore[arg-type]
    loaded = sim.Trace.load(simulation.trace.save(f"{tmp_path}/t.cbor"))
    again = sim.Simulation.from_trace(loaded)
    again.run(main)  # type: ignore[arg-type]
    assert again.faults.script == FaultScript.parse(TEXT).faults
    assert again.trace.digest() == simulation.trace.digest()


def test_faults_takes_a_list_of_records_and_patterns(reg: registry.Registry) -> None:
    main, charges = _shop(reg)
    simulation = sim.Simulation(faults=[Fault.response_lost("*arg*", call=1)])
    simulation.run(main)  # type: ignore[arg-type]
    assert charges == ["o1", "o1", "o1-tip"]


def test_for_function_changes_the_rates_of_that_function_only(reg: registry.Registry) -> None:
    main, _ = _shop(reg)
    profile = FaultProfile.named("none").for_function("reserve", endpoint_error=1.0, max_latency=2.0)
    assert not profile.is_none and profile.profile_for("x.reserve").endpoint_error == 1.0
    assert profile.profile_for("x.charge") is profile
    simulation = sim.Simulation(faults=profile)
    with pytest.raises(Exception, match="THROTTLED|TIMEOUT|ERROR"):
        simulation.run(main)  # type: ignore[arg-type]
    faulted = {f.function.rsplit(".", 1)[-1] for f in simulation.trace.faults()}
    assert faulted == {"reserve"}
    glob = FaultProfile.named("none").for_function("*.ch?rge", response_lost=1.0)
    assert glob.profile_for("t.charge").response_lost == 1.0 and glob.profile_for("t.reserve") is glob
    with pytest.raises(ValueError, match=r"unknown rate lost; known: endpoint_error"):
        FaultProfile.named("light").for_function("charge", lost=0.5)


def test_plain_profiles_keep_their_header() -> None:
    for name in ("none", "light", "heavy", "swarm"):
        plain = attrs.asdict(FaultProfile.named(name), filter=lambda a, v: a.name not in ("functions", "script"))
        assert FaultProfile.named(name).as_header() == plain
        assert FaultProfile(**FaultProfile.named(name).as_header()) == FaultProfile.named(name)
    targeted = FaultProfile.named("light").for_function("charge", crash=0.5)
    assert FaultProfile(**targeted.as_header()) == targeted


def test_an_override_for_another_function_changes_no_draw(reg: registry.Registry) -> None:
    main, _ = _shop(reg)
    digests = set()
    for profile in (FaultProfile.named("heavy"), FaultProfile.named("heavy").for_function("nobody", crash=1.0)):
        simulation = sim.Simulation(seed=4, faults=profile)
        try:
            simulation.run(main)  # type: ignore[arg-type]
        except Exception:
            pass
        digests.add(simulation.trace.digest())
    assert len(digests) == 1
