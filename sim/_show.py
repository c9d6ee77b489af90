"""``python -m sim show``: the text timeline of a trace, filtered, and safe to print.

Each line shows what its event carried: a call's arguments (``args=``),
its result or error, a note's message and values, as the bounded summaries
the trace holds. A trace file comes from anywhere, and function names,
details and summaries in it are strings: `terminal_safe` writes every control character (C0 but
newline and tab, DEL, C1: ESC, CSI, OSC, BEL...) as a visible escape, so no
file can move the cursor, set the clipboard (OSC 52) or retitle the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["select_events", "show_text", "terminal_safe"]

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """`text` with every terminal control character written as a visible ``\\xNN``/``\\uNNNN`` escape."""

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _CONTROL.sub(escape, text)


def select_events(
    events: Iterable[Any],
    *,
    function: str | None = None,
    call: str | None = None,
    faults: bool = False,
) -> list[Any]:
    """The events that pass every filter given.

    `function`: events of calls to that function; `call`: events of that
    call and of every call it made, transitively; `faults`: only the events
    of attempts that had a fault injected.
    """
    chosen = list(events)
    if call is not None:
        subtree = {call}
        for event in chosen:  # a callee is dispatched after its caller: one pass suffices
            if event.kind == "dispatch" and event.detail in subtree:
                subtree.add(event.dispatch_id)
        chosen = [e for e in chosen if e.dispatch_id in subtree]
    if function is not None:
        chosen = [e for e in chosen if e.function == function]
    if faults:
        faulted = {(e.dispatch_id, e.attempt) for e in chosen if e.kind == "fault"}
        chosen = [e for e in chosen if (e.dispatch_id, e.attempt) in faulted]
    return chosen


def show_text(trace: Any, *, function: str | None = None, call: str | None = None, faults: bool = False) -> str:
    """The header, the (filtered) timeline and the summary of a trace, escaped for a terminal."""
    header = trace.header
    events: Sequence[Any] = select_events(trace, function=function, call=call, faults=faults)
    filters = [f"{name}={value}" for name, value in (("function", function), ("call", call)) if value is not None]
    if faults:
        filters.append("faulted attempts")
    lines = [
        f"test: {header.get('pytest_nodeid') or header.get('test_id') or '(none recorded)'}",
        f"seed: {header.get('seed')}, faults: {header.get('faults')}, "
        f"decisions: {len(header.get('decisions') or [])}",
        "",
        f"{'time':>12} {'call':>6} {'event':<9} function #attempt status (detail) what it carried",
        *(str(e) for e in events),
        "",
    ]
    if filters:
        lines.append(f"shown: {len(events)} of {len(trace)} events ({', '.join(filters)})")
    lines.append(trace.summary())
    return terminal_safe("\n".join(lines))
