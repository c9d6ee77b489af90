"""``python -m sim explore TARGET``: the command line of systematic exploration, and its report.

Exit status: 0 when no schedule failed, 1 when one did, 2 on bad input
(nothing run).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import IO, Any

from ._explore import ExploreGroup, ExploreResult, explore, run_script
from ._report import write_report
from ._runner import load_test
from ._script import FaultScript

__all__ = ["add_parser", "print_explore", "replay_commands", "run", "save_group"]


def add_parser(commands: Any) -> None:
    """Add the ``explore`` subcommand to the CLI's subparsers."""
    parser = commands.add_parser(
        "explore", help="run a simulation test once per fault point (or pair of points)"
    )
    parser.add_argument("target", help="a test id as pytest prints it: path/test_x.py::test_y")
    parser.add_argument("--depth", default="1", help="1: every single fault point; 2: also every pair")
    parser.add_argument("--budget", default=None, metavar="RUNS", help="at most this many runs after the first")
    parser.add_argument("--seed", default=None, help="the seed of every run (default: the test's first)")
    parser.add_argument("--out", type=Path, default=None, help="write the trace and report of each failure group here")


def _int(name: str, text: str | None, low: int) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a whole number") from None
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    """Run the exploration the arguments describe; returns the exit status."""
    try:
        depth = _int("--depth", args.depth, 1)
        if depth not in (1, 2):
            raise ValueError(f"--depth must be 1 or 2, got {args.depth}")
        budget = _int("--budget", args.budget, 1)
        seed = _int("--seed", args.seed, -(2**63))
        load_test(args.target).make_main()
    except (ValueError, TypeError) as exc:  # LoadTestError too
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = explore(args.target, depth=depth, budget=budget, seed=seed)
    files: dict[str, Path | None] = {}
    if args.out is not None:
        for index, group in enumerate(result.groups, 1):
            files[group.signature] = save_group(result, group, args.out / f"group{index}")
    print_explore(result, files)
    return 0 if result.ok else 1


def replay_commands(result: ExploreResult, script: str) -> list[str]:
    """The commands that run the test once more with exactly this schedule."""
    faults = shlex.quote(script or "none")
    return [
        f"pytest {shlex.quote(result.target)} --sim-seed={result.seed} --sim-faults={faults}",
        f"python -m sim sweep {shlex.quote(result.target)} --seeds {result.seed}:{result.seed + 1} --faults {faults}",
    ]


def save_group(result: ExploreResult, group: ExploreGroup, stem: Path) -> Path | None:
    """Run the group's first schedule again and save its trace (and HTML report) at `stem`."""
    loaded = load_test(result.target)
    run, _ = run_script(loaded, FaultScript.parse(group.first), result.seed)
    trace = run.simulation.trace
    path = trace.save(stem.with_suffix(".cbor")).resolve()
    outcome = "passed" if run.error is None else f"failed: {type(run.error).__name__}: {run.error}"
    write_report(trace, stem.with_suffix(".html"), trace_path=path, outcome=outcome)
    return path


def print_explore(result: ExploreResult, files: dict[str, Path | None] | None = None,
                  stream: IO[str] | None = None) -> None:
    """The exploration's report: points, runs, the failure groups with their replay commands."""
    out = stream or sys.stdout
    files = files or {}
    kinds = ", ".join(f"{k}={v}" for k, v in result.points_by_kind().items()) or "none"
    print(f"target: {result.target}  seed: {result.seed}  depth: {result.depth}  "
          f"time: {result.seconds:.1f} s", file=out)
    print(f"fault points in the run without faults: {len(result.points)} ({kinds})", file=out)
    singles = min(len(result.runs), len(result.points))
    line = f"runs: 1 without faults, {singles} with one fault"
    if result.depth == 2:
        line += f", {len(result.runs) - singles} with two (of {result.pairs} pairs)"
    if not result.complete:
        line += f"; stopped at the budget of {result.budget} runs"
    print(line, file=out)
    if not result.baseline.ok:
        print("the run without faults already fails: fix that first", file=out)
    for index, group in enumerate(result.groups, 1):
        print(f"group {index}: {group.count} schedule(s): {group.signature}", file=out)
        print(f"  error: {group.error}", file=out)
        shown = ", ".join(repr(s or "no faults") for s in group.scripts[:5])
        more = f" and {group.count - 5} more" if group.count > 5 else ""
        print(f"  schedules: {shown}{more}", file=out)
        commands = replay_commands(result, group.first)
        print(f"  replay: {commands[0]}", file=out)
        print(f"      or: {commands[1]}", file=out)
        path = files.get(group.signature)
        if path is not None:
            print(f"      or: python -m sim replay {path}", file=out)
    print(result.summary_line(), file=out)
