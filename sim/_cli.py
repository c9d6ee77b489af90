"""The command line: ``python -m sim show|report|export|replay FILE``.

Bad arguments and bad files end with a one-line error and exit status 2;
a replay that diverges from its trace exits with 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._perfetto import perfetto_json
from ._report import write_report
from ._show import show_text, terminal_safe
from ._simulation import Simulation
from ._trace import Event, Trace

__all__ = ["main"]


class _Failure(Exception):
    """A one-line reason to stop."""


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
    args = parser.parse_args(argv)
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
    except (_Failure, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _write_view(command: str, trace: Trace, file: str, output: str | None) -> Path:
    if command == "report":
        return write_report(trace, output or Path(file).with_suffix(".html"), trace_path=file)
    target = Path(output or Path(file).with_suffix(".json"))
    target.write_text(perfetto_json(trace, trace.header, trace.digest()), encoding="utf-8")
    return target


def _load_test(test_id: Any) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    if not isinstance(test_id, str) or "::" not in test_id:
        raise _Failure(f"the trace names no test to replay (test id {test_id!r})")
    file, _, qualname = test_id.rpartition("::")
    path = Path(file)
    if not path.is_file():
        raise _Failure(f"the recorded test file {file!r} does not exist here")
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"_dispatch_sim_replay_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise _Failure(f"cannot import {file!r}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    owner: Any = module
    parts = qualname.split(".")
    for part in parts:
        owner_next = getattr(owner, part, None)
        if owner_next is None:
            raise _Failure(f"{file!r} has no {qualname!r}")
        if inspect.isclass(owner_next) and part != parts[-1]:
            owner = owner_next
            continue
        owner = owner_next
    coroutine_function = getattr(owner, "__dispatch_sim_test__", None)
    if coroutine_function is None:
        raise _Failure(f"{qualname!r} is not a registry.test function or method")
    options = dict(getattr(owner, "__dispatch_sim_options__", {}))
    options.pop("faults", None)
    args: tuple[Any, ...] = ()
    if len(parts) > 1:
        cls = getattr(module, parts[0])
        args = (cls(),)
    required = [
        p.name
        for p in list(inspect.signature(coroutine_function).parameters.values())[len(args):]
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if required:
        raise _Failure(
            f"{qualname!r} takes parameters ({', '.join(required)}): fixtures or drawn values "
            "that only pytest can supply; replay it with the pytest command its failure printed"
        )
    return coroutine_function, args, options


def _replay(trace: Trace) -> int:
    test, args, options = _load_test(trace.header.get("test_id"))
    simulation = Simulation.from_trace(trace, **options)
    error: BaseException | None = None
    try:
        simulation.run(test(*args))
    except Exception as exc:  # the recorded run usually failed; so may this one
        error = exc
    recorded, replayed = list(trace), list(simulation.trace)
    outcome = "passed" if error is None else f"failed: {type(error).__name__}: {error}"
    if simulation.trace.digest() == trace.digest():
        print(f"replayed {len(replayed)} events, same digest {trace.digest()[:16]}; the test {outcome}")
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


def _at(events: list[Event], index: int) -> str:
    return str(events[index]) if index < len(events) else "(no more events)"
