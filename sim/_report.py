"""A trace as one self-contained HTML file: a header and a zoomable timeline, one lane per call.

The first lane is the test itself (its notes; highlighted when the test
failed though every call ended OK, or as the start of the path to the
failing call), then one lane per call. The page needs no network and opens
from ``file://``: its CSS and JavaScript
(``_report_assets/``) are inlined, and the run is embedded as JSON in a
``<script type="application/json">`` block. That JSON is escaped so no trace
content can end the block or open a comment (``<``, ``>``, ``&``, U+2028 and
U+2029 become ``\\uXXXX``), and the page's script only ever puts trace
strings into the page with ``textContent`` or on a canvas, never as HTML.
"""

from __future__ import annotations

import html
import json
import os
import shlex
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from ._timeline import Timeline, build_timeline, json_ready

__all__ = ["embed_json", "report_data", "report_html", "write_report"]

_DATA_ID = "dispatch-sim-data"


def report_data(timeline: Timeline, trace_path: str | None = None) -> dict[str, Any]:
    """The run as the page reads it: plain JSON-ready data, calls in call-tree order."""
    index = {call.id: i for i, call in enumerate(timeline.calls)}
    kinds = sorted({fault.kind for fault in timeline.faults})
    fault_counts = {k: sum(1 for f in timeline.faults if f.kind == k) for k in kinds}
    calls = []
    for call in timeline.calls:
        row: dict[str, Any] = {
            "id": call.id,
            "fn": call.function,
            "p": index.get(call.caller, -1) if call.caller else -1,
            "d": call.depth,
            "t0": call.created,
            "t1": call.end,
            "st": call.status,
            "r": call.retries,
            "a": [[a.start, a.end, a.status, a.detail, a.number, a.resumed, a.derived_start] for a in call.attempts],
            "g": [[g.kind, g.start, g.end] for g in call.gaps],
            "f": [[f.time, kinds.index(f.kind), f.attempt, f.status] for f in call.faults],
        }
        attempt_extras = {str(a.number): json_ready(a.extras) for a in call.attempts if a.extras}
        if attempt_extras:
            row["ax"] = attempt_extras
        if call.extras:
            row["x"] = json_ready(call.extras)
        if call.notes:
            row["n"] = [[t, m] for t, m in call.notes]
        calls.append(row)
    header = timeline.header
    failed = bool(header.outcome and not header.outcome.startswith("passed")) or any(c.failed for c in timeline.calls)
    # A failing test whose calls all ended OK failed in its own code (an assertion).
    in_test = failed and not any(c.failed or c.status is None for c in timeline.calls)
    replay = []
    if trace_path is not None:
        replay.append(f"python -m sim replay {shlex.quote(trace_path)}")
    if header.test_id and "::" in header.test_id and header.seed is not None:
        replay.append(f"pytest {shlex.quote(header.test_id)} --sim-seed={header.seed}")
    return {
        "header": {
            "test": header.test_id,
            "seed": json_ready(header.seed),
            "faults": header.faults,
            "digest": header.digest,
            "outcome": timeline.outcome(),
            "failed": failed,
            "inTest": in_test,
            "blame": (
                "every call ended OK: the failure is in the test's own code (its assertion)"
                if in_test
                else None
            ),
            "recorded": bool(header.outcome),
            "replay": replay,
            "events": timeline.events,
            "attempts": sum(len(c.attempts) for c in timeline.calls),
            "retries": sum(c.retries for c in timeline.calls),
            "duration": timeline.end,
            "faultCounts": fault_counts,
        },
        "faultKinds": kinds,
        "calls": calls,
        "test": {"notes": [[t, m] for t, m in timeline.notes]},
        "path": [index[i] for i in timeline.failing_path()],
        "inflight": [[t, n] for t, n in timeline.in_flight],
    }


def embed_json(data: Any) -> str:
    """JSON safe inside a <script> element: nothing in it can close the element or open a comment."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    # ensure_ascii already writes U+2028/U+2029 as escapes; these three are ASCII.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset(name: str) -> str:
    text = resources.files("sim").joinpath("_report_assets", name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():
        raise RuntimeError(f"{name} must not contain '</script'")  # it is inlined
    return text


def report_html(
    events: Iterable[Any],
    header: Mapping[str, Any] | None = None,
    digest: str = "",
    *,
    trace_path: str | None = None,
) -> str:
    """The whole HTML page for a run."""
    timeline = build_timeline(events, header, digest)
    data = report_data(timeline, trace_path)
    title = f"dispatch-sim: {timeline.header.test_id or 'simulation'} seed {timeline.header.seed}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<style>{_asset('report.css')}</style>"
        # Errors are caught from the first line on, so the browser test sees any of them.
        "<script>window.__errors=[];window.addEventListener('error',function(e){"
        "window.__errors.push(String(e.message||e))});var _ce=console.error;console.error=function(){"
        "window.__errors.push(Array.prototype.join.call(arguments,' '));_ce.apply(console,arguments)};</script>"
        "</head><body>"
        f"<script type=\"application/json\" id=\"{_DATA_ID}\">{embed_json(data)}</script>"
        f"<script>{_asset('report.js')}</script>"
        "</body></html>\n"
    )


def write_report(
    trace: Any,
    path: str | os.PathLike[str],
    *,
    trace_path: str | os.PathLike[str] | None = None,
    outcome: str | None = None,
) -> Path:
    """Write the HTML report of a `Trace` to `path` (parents created); returns the path.

    `trace_path`, when the trace was saved, makes the page show its replay
    command; `outcome` is the test's result when the caller knows it (e.g.
    ``"failed: AssertionError: assert 890 == 900"``; one starting with
    ``passed`` is a pass), else the trace header's ``outcome``, if any.
    """
    target = Path(path)
    header = dict(trace.header)
    if outcome is not None:
        header["outcome"] = outcome
    page = report_html(trace, header, trace.digest(), trace_path=None if trace_path is None else str(trace_path))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target
