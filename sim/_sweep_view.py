"""How a sweep looks: live progress, the summary table, results.jsonl and the failing traces.

Progress and tables are drawn with `rich` on a terminal; elsewhere (CI logs,
pipes) progress is a plain line every few seconds. `write_outputs` saves
the trace of each failure group's smallest seed, made again in this process
(runs are deterministic, so workers never ship traces); ``DIR/results.jsonl``
is written by the sweep itself as seeds finish (``sweep(results=...)``).
"""

from __future__ import annotations

import os
import shlex
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import attrs

from ._report import write_report
from ._runner import load_test, run_seed
from ._sweep import NONDETERMINISTIC, FailureGroup, SeedRecord, SweepResult

__all__ = ["GroupArtifacts", "live_progress", "print_summary", "write_outputs"]


@attrs.frozen
class GroupArtifacts:
    """What was written for one failure group: its trace file (and report, when made)."""

    trace: Path | None
    report: Path | None = None
    minimal: Path | None = None  # the shrunk trace, when the sweep shrank the group


@contextmanager
def live_progress(total: int, stream: IO[str] | None = None) -> Iterator[Any]:
    """A callback for `sweep(on_record=...)` that shows seeds done, failures, seeds/s and
    time left: a rich progress bar on a terminal, a plain line every 5 s otherwise."""
    stream = stream or sys.stderr
    failures = 0
    done = 0
    start = time.perf_counter()
    if stream.isatty():
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        progress = Progress(
            TextColumn("[bold]sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failures]} failed"),
            TextColumn("{task.fields[rate]} seeds/s"),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=True,
        )
        task = progress.add_task("sweep", total=total, failures=0, rate="-")

        def on_record(record: SeedRecord) -> None:
            nonlocal failures, done
            done += 1
            failures += not record.ok
            rate = done / max(time.perf_counter() - start, 1e-9)
            progress.update(task, advance=1, failures=failures, rate=f"{rate:,.0f}")

        with progress:
            yield on_record
        return

    last = start

    def on_plain(record: SeedRecord) -> None:
        nonlocal failures, done, last
        done += 1
        failures += not record.ok
        now = time.perf_counter()
        if now - last >= 5.0:
            last = now
            rate = done / (now - start)
            left = (total - done) / rate if rate else 0.0
            print(f"sweep: {done}/{total} seeds, {failures} failed, {rate:,.0f} seeds/s, "
                  f"about {left:,.0f} s left", file=stream, flush=True)

    yield on_plain


def replay_command(target: str, seed: int, faults: str) -> str:
    """The pytest command that runs the test with exactly this seed."""
    return f"pytest {shlex.quote(target)} --sim-seed={seed} --sim-faults={shlex.quote(faults)}"


def _schedule_flags(options: Any) -> str:
    # The pytest options that give the runs the sweep's schedule.
    flags = {"schedule": "--sim-schedule", "depth": "--sim-depth", "pct_steps": "--sim-pct-steps"}
    return "".join(f" {flag}={options[key]}" for key, flag in flags.items() if key in options)


def write_outputs(result: SweepResult, out: Path | None, root: str | None = None) -> dict[str, GroupArtifacts]:
    """Save the trace and report of each group's smallest seed in `out`; returns the files
    written per signature (nothing is written when `out` is None). The sweep wrote
    ``results.jsonl`` there already, as its seeds finished."""
    artifacts: dict[str, GroupArtifacts] = {}
    if out is None:
        return artifacts
    out.mkdir(parents=True, exist_ok=True)
    for index, group in enumerate(result.groups, 1):
        artifacts[group.signature] = _save_group(result, group, out / f"group{index}-seed{group.smallest_seed}", root)
    return artifacts


def _save_group(result: SweepResult, group: FailureGroup, stem: Path, root: str | None) -> GroupArtifacts:
    try:
        loaded = load_test(result.target, root=Path(root) if root else None)
        run = run_seed(loaded.make_main(), seed=group.smallest_seed, faults=result.faults,
                       test_id=loaded.test_id, options={**loaded.test.options, **result.options})
    except Exception:  # e.g. the seed killed its worker: there is no trace to keep
        return GroupArtifacts(None)
    trace = run.simulation.trace
    trace.header["pytest_nodeid"] = result.target
    outcome = "passed" if run.error is None else f"failed: {type(run.error).__name__}: {run.error}"
    trace.header["outcome"] = outcome  # so `sim report FILE` says how the test ended (not in the digest)
    path = trace.save(stem.with_suffix(".cbor")).resolve()
    report = write_report(trace, stem.with_suffix(".html"), trace_path=path, outcome=outcome).resolve()
    shrunk = result.shrunk.get(group.signature)
    # In a folder of their own: DIR/*.cbor stays one trace per group, as recorded.
    minimal = None
    if shrunk is not None:
        minimal = shrunk.trace.save(stem.parent / "minimal" / stem.with_suffix(".cbor").name).resolve()
    return GroupArtifacts(path, report, minimal)


def print_summary(
    result: SweepResult, artifacts: dict[str, GroupArtifacts], stream: IO[str] | None = None
) -> None:
    """The summary table, one row per failure group, then the closing ``sweep:`` line."""
    stream = stream or sys.stdout
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream, width=max(100, _columns()), highlight=False,
                      force_terminal=stream.isatty(), no_color=not stream.isatty())
    console.print(f"target: {result.target}  faults: {result.faults}  "
                  f"seeds: {result.runs}  time: {result.seconds:.1f} s", markup=False)
    if result.interrupted:
        console.print("interrupted: the summary covers the seeds that ran", markup=False)
    if result.stopped_early:
        console.print(result.stopped_early, markup=False)
    kinds = result.faults_by_kind
    if kinds:
        console.print("faults injected: " + ", ".join(f"{k}={v:,}" for k, v in kinds.items()), markup=False)
    if result.groups:
        table = Table(title="failures by signature", title_justify="left", show_lines=True)
        table.add_column("#", justify="right")
        table.add_column("seeds", justify="right")
        table.add_column("rate", justify="right")
        table.add_column("smallest")
        table.add_column("signature", overflow="fold")
        for index, group in enumerate(result.groups, 1):
            table.add_row(str(index), str(group.count), f"{group.count / result.runs:.1%}",
                          str(group.smallest_seed), group.signature)
        console.print(table)
        for index, group in enumerate(result.groups, 1):
            console.print(f"group {index}: {group.error}", markup=False)
            if group.signature == NONDETERMINISTIC and group.traceback:
                console.print(textwrap.indent(group.traceback, "  "), markup=False, soft_wrap=True)
            console.print(f"  replay: {replay_command(result.target, group.smallest_seed, result.faults)}"
                          + _schedule_flags(result.options), markup=False)
            files = artifacts.get(group.signature)
            if files and files.trace:
                console.print(f"     or: python -m sim replay {files.trace}", markup=False)
            if files and files.report:
                console.print(f"  report: {files.report}", markup=False)
            shrunk = result.shrunk.get(group.signature)
            if shrunk is not None:
                console.print(f"  shrunk: {shrunk.faults_line()}", markup=False)
                if files and files.minimal:
                    console.print(f"  minimal trace: {files.minimal}", markup=False)
    _print_properties(result, console)
    console.print(result.summary_line(), markup=False)


def _columns() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 120


def _print_properties(result: SweepResult, console: Any) -> None:
    """One row per property: seeds where it was evaluated, held, failed; the never reached flagged."""
    reports = result.properties
    if not reports:
        return
    from rich.table import Table

    table = Table(title="properties", title_justify="left")
    for name, justify in (("kind", "left"), ("message", "left"), ("evaluated", "right"),
                          ("held", "right"), ("failed", "right"), ("note", "left")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for p in reports:
        note = f"never reached in {p.seeds} seeds" if p.never_reached else ""
        table.add_row(p.kind, p.message, str(p.evaluated), str(p.held), str(p.failed), note)
    console.print(table)
    for p in result.never_reached:
        console.print(p.line() + (" (required: the sweep fails)" if result.require_sometimes else ""),
                      markup=False)
