"""``python -m sim shrink TRACE`` and ``python -m sim fork TRACE``: the command lines of
shrinking a failing run and of branching fresh runs off a recorded one.

Exit status: shrink 0 when it wrote the minimal trace; fork 0 when no branch
failed, 1 when any did; both 2 on bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._show import terminal_safe

__all__ = ["add_parsers", "run"]


def add_parsers(commands: Any) -> None:
    """Add the ``shrink`` and ``fork`` subcommands to the CLI's subparsers."""
    shrink = commands.add_parser("shrink", help="shrink a failing trace to the faults its failure needs")
    shrink.add_argument("file", help="a failing run's trace file")
    shrink.add_argument("-o", "--output", metavar="MIN.cbor",
                        help="where to write the minimal trace (default: FILE with .min.cbor)")
    shrink.add_argument("--max-runs", default="500", help="at most this many replays (default 500)")
    shrink.add_argument("--time-limit", default="60", help="stop after this many seconds (default 60)")
    fork = commands.add_parser("fork", help="branch fresh runs off a recorded run at an event")
    fork.add_argument("file", help="a trace file")
    fork.add_argument("--at", required=True, help="the event index to branch at (see `show`)")
    fork.add_argument("--seeds", default="100", help="how many branches, each from a new seed (default 100)")


def _positive(name: str, text: str, kind: type) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    """Run ``shrink`` or ``fork`` as the arguments say; returns the exit status."""
    try:
        if args.command == "shrink":
            return _shrink(args)
        return _fork(args)
    except ValueError as exc:  # LoadTestError too: one line, exit 2
        print(f"error: {terminal_safe(str(exc))}", file=sys.stderr)
        return 2


def _shrink(args: argparse.Namespace) -> int:
    from ._shrink import shrink
    from ._trace import Trace

    max_runs = _positive("--max-runs", args.max_runs, int)
    time_limit = _positive("--time-limit", args.time_limit, float)
    trace = Trace.load(args.file)
    result = shrink(trace, max_runs=max_runs, time_limit=time_limit)
    output = Path(args.output) if args.output else Path(args.file).with_suffix(".min.cbor")
    written = result.trace.save(output)
    print(terminal_safe(result.summary()))
    print(terminal_safe(f"wrote {written}\n  replay it with: python -m sim replay {written}"))
    return 0


def _fork(args: argparse.Namespace) -> int:
    from ._fork import fork
    from ._trace import Trace

    try:
        at = int(args.at)
    except ValueError:
        raise ValueError(f"--at {args.at!r} is not an event index") from None
    seeds = _positive("--seeds", args.seeds, int)
    result = fork(Trace.load(args.file), at=at, seeds=seeds)
    print(terminal_safe(result.report()))
    return 1 if result.failures else 0
