"""sim._show: `python -m sim show` filters and terminal-safe output."""

from __future__ import annotations

from pathlib import Path

import pytest

import registry
from sim import Trace
from sim._cli import main
from sim._show import select_events, show_text, terminal_safe

EVENTS = [
    ("dispatch", 0.0, "d1", "main", 0, None, None),
    ("attempt", 0.25, "d1", "main", 1, "POLL", "1 calls"),
    ("dispatch", 0.25, "d2", "child", 0, None, "d1"),
    ("attempt", 0.3, "d2", "child", 1, "POLL", "1 calls"),
    ("dispatch", 0.3, "d3", "leaf", 0, None, "d2"),
    ("fault", 0.5, "d3", "leaf", 1, "THROTTLED", "endpoint_error"),
    ("retry", 0.5, "d3", "leaf", 1, "THROTTLED", None),
    ("attempt", 0.75, "d3", "leaf", 2, "OK", None),
    ("outcome", 0.75, "d3", "leaf", 2, "OK", None),
    ("attempt", 0.8, "d2", "child", 2, "OK", None),
    ("outcome", 0.8, "d2", "child", 2, "OK", None),
    ("dispatch", 0.8, "d4", "child", 0, None, None),
    ("outcome", 0.9, "d4", "child", 0, "OK", None),
    ("attempt", 1.0, "d1", "main", 2, "OK", None),
    ("outcome", 1.0, "d1", "main", 2, "OK", None),
]


def make(events: list[tuple] = EVENTS) -> Trace:
    trace = Trace({"test_id": "t.py::test_x", "seed": 1, "faults": "heavy"})
    trace._events.extend(events)
    return trace


def test_call_selects_the_call_and_its_subtree() -> None:
    assert {e.dispatch_id for e in select_events(make(), call="d2")} == {"d2", "d3"}
    assert {e.dispatch_id for e in select_events(make(), call="d1")} == {"d1", "d2", "d3"}
    assert select_events(make(), call="d9") == []


def test_function_and_faults_filters_combine() -> None:
    assert {e.dispatch_id for e in select_events(make(), function="child")} == {"d2", "d4"}
    faulted = select_events(make(), faults=True)
    assert [(e.kind, e.attempt) for e in faulted] == [("fault", 1), ("retry", 1)]
    assert select_events(make(), function="main", faults=True) == []


@pytest.mark.parametrize(
    "control",
    ["\x1b[2J", "\x1b]52;c;aGVsbG8=\x07", "\x9b31m", "\x9d0;title\x9c", "\x07", "\x00", "\x7f", "\r", "\u202e"],
)
def test_terminal_safe_leaves_no_control_character(control: str) -> None:
    out = terminal_safe(f"f{control}g\nnext\tcol")
    assert out.endswith("\nnext\tcol")
    assert all(ch in "\n\t" or (ch.isprintable() and ord(ch) < 0x7F) for ch in out), repr(out)


def test_show_of_a_hostile_file_prints_no_escape_sequence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = "pay\x1b]52;c;ZXZpbA==\x07\x1b[2J"
    path = make([("dispatch", 0.0, "d1", evil, 0, None, "\x9b6n"), ("outcome", 0.1, "d1", evil, 0, "OK", None)]).save(
        tmp_path / "evil.cbor"
    )
    assert main(["show", str(path), "--function", evil]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert "pay\\x1b]52;c;ZXZpbA==\\x07" in out
    assert "shown: 2 of 2 events (function=" in out


def test_show_text_without_filters_is_the_whole_timeline() -> None:
    text = show_text(make())
    assert text.count("\n") >= len(EVENTS) and "shown:" not in text


def test_each_line_shows_what_its_event_carried_escaped(reg: registry.Registry) -> None:
    import sim
    from sim import Simulation

    @reg.function
    def greet(name: str) -> str:
        sim.note("greeting\x1b[2J", who=name)
        return "hi " + name

    simulation = Simulation(seed=0, faults="none")
    simulation.run(greet("\x1b]52;c;aGk=\x07bob"))
    text = show_text(simulation.trace)
    assert "\x1b" not in text and "\x07" not in text
    lines = text.splitlines()
    dispatch = next(line for line in lines if " dispatch " in line)
    assert dispatch.endswith("args=('\\x1b]52;c;aGk=\\x07bob')")  # the repr-like summary's escapes
    assert any(" note " in line and "greeting\\x1b[2J who=" in line for line in lines)
    assert any(" outcome " in line and "result='hi \\x1b]52;c;aGk=\\x07bob'" in line for line in lines)
