"""The command line: ``python -m sim show|report|export|replay FILE`` and ``sweep TARGET``.

``shrink FILE`` and ``fork FILE`` live in `_shrink_cli`.

Bad arguments and bad files end with a one-line error and exit status 2;
a replay exits with 1 when the recorded failure reproduces (its traceback
shown) or the replay diverges from its trace, 0 when it passes as recorded.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from pathlib import Path

from . import _sweep_cli
from . import _shrink_cli
from ._perfetto import perfetto_json
from ._report import write_report
from ._runner import SeedRun, load_hypothesis_test, load_test, run_seed
from ._show import show_text, terminal_safe
from ._simulation import Simulation
from ._trace import Event, Trace

__all__ = ["main"]


def main(argv: Sequence[str] | None = None, prog: str = "dispatch-sim") -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Inspect and replay dispatch-sim trace files."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="print a trace's timeline and summary")
    show.add_argument("file", help="a trace file written by Trace.save or the pytest plugin")
    show.add_argument("--function", metavar="NAME", help="only the calls to this function")
    show.add_argument("--call", metavar="ID", help="only this call (a DispatchID) and the calls it made")
    show.add_argument("--faults", action="store_true", help="only the attempts that had a fault injected")
    report = commands.add_parser("report", help="write a self-contained HTML timeline of a trace")
    report.add_argument("file", help="a trace file written by Trace.save or the pytest plugin")
    report.add_argument("-o", "--output", metavar="HTML", help="where to write it (default: FILE with .html)")
    export = commands.add_parser("export", help="write a trace in another format (Perfetto)")
    export.add_argument("file", help="a trace file written by Trace.save or the pytest plugin")
    export.add_argument("--format", choices=["perfetto"], default="perfetto", help="Chrome Trace Event JSON")
    export.add_argument("-o", "--output", metavar="JSON", help="where to write it (default: FILE with .json)")
    replay = commands.add_parser("replay", help="re-run the recorded test with its decisions")
    replay.add_argument("file", help="a trace file written by Trace.save or the pytest plugin")
    _sweep_cli.add_parser(commands)
    _shrink_cli.add_parsers(commands)
    args = parser.parse_args(argv)
    if args.command == "sweep":
        return _sweep_cli.run(args)
    if args.command in ("shrink", "fork"):
        return _shrink_cli.run(args)
    try:
        trace = Trace.load(args.file)
        if args.command in ("report", "export"):
            written = _write_view(args.command, trace, args.file, args.output)
            print(terminal_safe(f"wrote {written}"))
            return 0
        if args.command == "show":
            try:
                print(show_text(trace, function=args.function, call=args.call, faults=args.faults))
            except BrokenPipeError:  # e.g. piped into head
                sys.stderr.close()
            return 0
        return _replay(trace)
    except ValueError as exc:  # LoadTestError too: one line, exit 2
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _write_view(command: str, trace: Trace, file: str, output: str | None) -> Path:
    if command == "report":
        return write_report(trace, output or Path(file).with_suffix(".html"), trace_path=file)
    target = Path(output or Path(file).with_suffix(".json"))
    target.write_text(perfetto_json(trace, trace.header, trace.digest()), encoding="utf-8")
    return target


def _replay(trace: Trace) -> int:
    # Exit 0 only when the replay passes as the recording did; a reproduced failure
    # is a failure (1), shown with its traceback, and so is a divergence.
    if trace.header.get("hypothesis") is True:
        run = _replay_hypothesis(trace)
    else:
        loaded = load_test(trace.header.get("test_id"))
        main = loaded.make_main()
        options = dict(loaded.test.options)
        run = run_seed(main, simulation=Simulation.from_trace(trace, **options))
    error = run.error
    recorded, replayed = list(trace), list(run.simulation.trace)
    outcome = "passed" if error is None else f"failed: {type(error).__name__}: {error}"
    if run.digest == trace.digest():
        print(f"replayed {len(replayed)} events, same digest {trace.digest()[:16]}; the test {outcome}")
        if error is not None:
            print(terminal_safe("".join(traceback.format_exception(error)).rstrip()))
            print(terminal_safe(f"failure reproduced: {_one_line(error)}"))
            return 1
        was = trace.header.get("failure")
        if isinstance(was, str):
            print(f"the recording failed ({was}) but the replay passed: the failure is not in the events")
            return 1
        return 0
    print(f"the replay diverged from the trace; the test {outcome}")
    index = next(
        (i for i, (a, b) in enumerate(zip(recorded, replayed, strict=False)) if a != b),
        min(len(recorded), len(replayed)),
    )
    print(f"first difference at event {index} (user code that is not deterministic?):")
    print(f"  recorded: {_at(recorded, index)}")
    print(f"  replayed: {_at(replayed, index)}")
    return 1


def _replay_hypothesis(trace: Trace) -> SeedRun:
    """Run a Hypothesis test's falsifying example again, its simulation taking the
    recorded decisions (the test itself runs it: ``s.run(...)``)."""
    test = load_hypothesis_test(trace.header.get("test_id"))
    simulation = Simulation.from_trace(trace)
    try:
        test(simulation)
    except Exception as exc:
        return SeedRun(simulation.seed, simulation, exc)
    return SeedRun(simulation.seed, simulation, None)


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0]


def _at(events: list[Event], index: int) -> str:
    return str(events[index]) if index < len(events) else "(no more events)"
