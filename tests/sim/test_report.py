"""sim._report and sim._timeline: the HTML report's embedded data, its escaping, and the CLI."""

from __future__ import annotations

import html.parser
import json
from pathlib import Path
from typing import Any

import pytest

from sim import Trace
from sim._cli import main
from sim._report import embed_json, report_html, write_report
from sim._timeline import build_timeline

HOSTILE = "</script><script>alert(1)</script><!--\u2028\u2029&amp;"

EVENTS = [
    ("dispatch", 0.0, "d1", "main", 0, None, None),
    ("attempt", 0.25, "d1", "main", 1, "POLL", "2 calls"),
    ("dispatch", 0.25, "d2", "child", 0, None, "d1"),
    ("dispatch", 0.25, "d3", "<sleep>", 0, None, "d1"),
    ("fault", 0.5, "d2", "child", 1, "THROTTLED", "endpoint_error"),
    ("retry", 0.5, "d2", "child", 1, "THROTTLED", None),
    ("attempt", 0.75, "d2", "child", 2, "PERMANENT_ERROR", "ValueError"),
    ("outcome", 0.75, "d2", "child", 2, "PERMANENT_ERROR", None),
    ("outcome", 1.25, "d3", "<sleep>", 0, "OK", None),
    ("fault", 1.5, "d1", "main", 2, None, "crash"),
    ("attempt", 1.5, "d1", "main", 2, "PERMANENT_ERROR", "ValueError"),
    ("outcome", 1.5, "d1", "main", 2, "PERMANENT_ERROR", None),
    ("dispatch", 1.5, "d4", HOSTILE, 0, None, None),
]


def make(events: list[tuple[Any, ...]] = EVENTS, header: dict[str, Any] | None = None) -> Trace:
    trace = Trace(header if header is not None else {"test_id": "t.py::test_x", "seed": 7, "faults": "heavy"})
    trace._events.extend(events)
    return trace


class _Scripts(html.parser.HTMLParser):
    """Collects every <script> element's type, id and text, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._open = {**dict(attrs), "text": ""}
            self.scripts.append(self._open)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open["text"] += data


def embedded(page: str) -> dict[str, Any]:
    parser = _Scripts()
    parser.feed(page)
    blocks = [s for s in parser.scripts if s.get("type") == "application/json"]
    assert len(blocks) == 1
    return json.loads(blocks[0]["text"])


def test_the_page_is_self_contained() -> None:
    page = report_html(make(), make().header, "abc")
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and " src=" not in page
    parser = _Scripts()
    parser.feed(page)
    assert [s.get("type") for s in parser.scripts] == [None, "application/json", None]


def test_embedded_data_has_one_lane_per_call_in_tree_order() -> None:
    data = embedded(report_html(make(), make().header, "abc"))
    assert [c["id"] for c in data["calls"]] == ["d1", "d2", "d3", "d4"]
    assert [c["d"] for c in data["calls"]] == [0, 1, 1, 0]
    assert [c["p"] for c in data["calls"]] == [-1, 0, 0, -1]
    assert data["calls"][3]["fn"] == HOSTILE  # the name round-trips exactly
    assert data["header"]["test"] == "t.py::test_x" and data["header"]["seed"] == 7
    assert data["header"]["digest"] == "abc"
    assert data["header"]["duration"] == 1.5


def test_attempts_gaps_faults_and_the_failing_path() -> None:
    data = embedded(report_html(make(), make().header, "abc"))
    main_, child, sleep, unfinished = data["calls"]
    # The child's first attempt failed before running (endpoint error), then a backoff, then attempt 2.
    assert [a[2] for a in child["a"]] == ["THROTTLED", "PERMANENT_ERROR"]
    assert child["g"] == [["backoff", 0.5, 0.75]]
    assert child["a"][0][:2] == [0.25, 0.5]  # sent at dispatch, ended by the fault
    assert sleep["a"] == [] and sleep["g"] == [["sleep", 0.25, 1.25]]
    # main waited for its calls: the last to finish (the sleep) woke it
    assert main_["g"] == [["waiting", 0.25, 1.25]]
    assert main_["a"][1][0] == 1.25 and main_["a"][1][5] is True  # resumed
    kinds = data["faultKinds"]
    assert sorted(kinds[f[1]] for c in data["calls"] for f in c["f"]) == ["crash", "endpoint_error"]
    assert data["path"] == [0, 1]  # the test's call d1, then its failing child d2
    assert unfinished["st"] is None and data["header"]["failed"] is True


def test_optional_summaries_are_carried_when_events_have_them() -> None:
    # Events whose detail is a mapping (the richer schema to come) show its summaries.
    class Rich:
        def __init__(self, kind: str, time: float, attempt: int, status: str | None, detail: Any) -> None:
            self.kind, self.time, self.dispatch_id, self.function = kind, time, "d1", "pay"
            self.attempt, self.status, self.detail = attempt, status, detail

    events = [
        Rich("dispatch", 0.0, 0, None, {"args": "('alice', 10)"}),
        Rich("attempt", 0.5, 1, "PERMANENT_ERROR", {"error": "ValueError: no", "traceback": "line 3"}),
        Rich("note", 0.5, 1, None, {"message": "charged"}),
        Rich("outcome", 0.5, 1, "PERMANENT_ERROR", None),
    ]
    data = embedded(report_html(events, {}, ""))
    call = data["calls"][0]
    assert call["x"] == {"args": "('alice', 10)"}
    assert call["ax"]["1"] == {"error": "ValueError: no", "traceback": "line 3"}
    assert call["n"] == [[0.5, "charged"]]


@pytest.mark.parametrize("where", ["function", "test_id", "outcome"])
def test_hostile_strings_cannot_leave_the_data_block(where: str) -> None:
    header = {"test_id": "t.py::test_x", "seed": 1}
    events = [("dispatch", 0.0, "d1", "f", 0, None, None), ("outcome", 0.0, "d1", "f", 0, "OK", None)]
    if where == "function":
        events = [(k, t, d, HOSTILE, a, s, x) for k, t, d, _, a, s, x in events]
    elif where == "test_id":
        header["test_id"] = HOSTILE
    else:
        header["outcome"] = HOSTILE
    page = report_html(make(events, header), header, "abc")
    block = page.split('id="dispatch-sim-data">', 1)[1].split("</script>", 1)[0]
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in block
    assert page.count("</script>") == 3  # the page's own three scripts, no more
    assert HOSTILE in json.dumps(embedded(page), ensure_ascii=False)
    title = page.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "<" not in title


def test_embed_json_round_trips() -> None:
    value = {"s": HOSTILE, "n": [1, 2.5, None, True]}
    assert json.loads(embed_json(value)) == value


def test_timeline_of_a_call_tree_deeper_than_the_recursion_limit() -> None:
    events = [("dispatch", 0.0, "d1", "f", 0, None, None)]
    events += [("dispatch", float(i), f"d{i}", "f", 0, None, f"d{i - 1}") for i in range(2, 3000)]
    timeline = build_timeline(make(events))
    assert [c.depth for c in timeline.calls][-1] == 2998


def test_write_report_and_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = make()
    path = write_report(trace, tmp_path / "deep" / "r.html", outcome="failed: AssertionError: boom")
    data = embedded(path.read_text(encoding="utf-8"))
    assert data["header"]["outcome"] == "failed: AssertionError: boom" and data["header"]["recorded"]
    saved = trace.save(tmp_path / "run.cbor")
    assert main(["report", str(saved)]) == 0
    page = (tmp_path / "run.html").read_text(encoding="utf-8")
    assert embedded(page)["header"]["replay"][0] == f"python -m sim replay {saved}"
    assert main(["export", str(saved), "--format", "perfetto", "-o", str(tmp_path / "p.json")]) == 0
    assert json.loads((tmp_path / "p.json").read_text())["traceEvents"]
    assert "wrote" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(saved), "--format", "bogus"])
    assert exit_.value.code == 2


def _run_and_report(reg: Any, fail_call: bool, tmp_path: Path) -> dict[str, Any]:
    import registry
    import sim
    from sim import Simulation

    @reg.function
    def debit(account: str, cents: int) -> int:
        sim.note("debiting", cents=cents)
        if fail_call:
            raise ValueError("no funds")
        return cents

    @reg.function
    async def pay(account: str) -> int:
        return await debit(account, 10)

    async def main() -> None:
        sim.note("test starts")
        try:
            await pay("alice")
        except ValueError:
            pass

    simulation = Simulation(seed=0, faults="none")
    simulation.run(main())
    assert isinstance(registry, object)
    page = write_report(simulation.trace, tmp_path / "r.html", outcome="failed: AssertionError: assert 10 == 11")
    return embedded(page.read_text(encoding="utf-8"))


def test_embedded_data_has_the_summaries_and_the_notes(reg: Any, tmp_path: Path) -> None:
    data = _run_and_report(reg, False, tmp_path)
    pay, debit = data["calls"]
    assert pay["x"] == {"args": "('alice')", "result": "10"}
    assert debit["x"] == {"args": "('alice', 10)", "result": "10"}
    assert [n[1] for n in debit["n"]] == ["debiting cents=10"]
    assert [n[1] for n in data["test"]["notes"]] == ["test starts"]
    assert all(a[6] is False for c in data["calls"] for a in c["a"])  # starts recorded, not derived


def test_a_test_that_failed_though_every_call_ended_ok_is_blamed_in_the_header(reg: Any, tmp_path: Path) -> None:
    data = _run_and_report(reg, False, tmp_path)
    assert data["header"]["failed"] is True and data["header"]["inTest"] is True
    assert "every call ended OK" in data["header"]["blame"]
    assert data["path"] == []  # no call to point at: the test lane is the one highlighted


def test_a_failing_call_is_highlighted_from_the_test_down(reg: Any, tmp_path: Path) -> None:
    data = _run_and_report(reg, True, tmp_path)
    assert data["header"]["inTest"] is False and data["header"]["blame"] is None
    assert [data["calls"][i]["id"] for i in data["path"]] == ["d1", "d2"]  # pay, then the failing debit
    assert data["calls"][1]["x"]["error"] == "ValueError: no funds"
