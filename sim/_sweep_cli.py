"""``python -m sim sweep TARGET``: the command line of a seed sweep.

Exit status: 0 when every seed passed, 1 when any failed (or, with
``--require-sometimes``, a sometimes/reachable was never reached), 2 on bad
input (nothing run), 130 when interrupted before any failure was found.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import attrs

from ._faults import FaultProfile
from ._runner import LoadTestError, load_test
from ._sweep import NONDETERMINISTIC, SweepResult, SweepStartError, sweep
from ._sweep_determinism import first_difference, hash_seeds_for_check
from ._sweep_view import live_progress, print_summary, write_outputs

__all__ = ["add_parser", "parse_seeds", "run"]


def parse_seeds(text: str) -> range:
    """``N`` means seeds 0..N-1; ``A:B`` seeds A..B-1. Raises ValueError naming the value."""
    try:
        if ":" in text:
            first, _, last = text.partition(":")
            chosen = range(int(first), int(last))
        else:
            chosen = range(int(text))
    except ValueError:
        raise ValueError(f"--seeds {text!r}: give a count N or a range A:B of integers") from None
    if not chosen:
        raise ValueError(f"--seeds {text!r} is an empty range (reversed or zero)")
    return chosen


def add_parser(commands: Any) -> None:
    """Add the ``sweep`` subcommand to the CLI's subparsers."""
    parser = commands.add_parser("sweep", help="run a simulation test under many seeds")
    parser.add_argument("target", help="a test id as pytest prints it: path/test_x.py::test_y")
    parser.add_argument("--seeds", default="100", help="N (seeds 0..N-1) or A:B (default 100)")
    parser.add_argument("--faults", default=None, help="fault profile (default: the test's own)")
    parser.add_argument("--jobs", default="1", help="worker processes (default 1: this process)")
    parser.add_argument("--dask", default=None, metavar="ADDRESS",
                        help="run on a Dask cluster: a scheduler address, or 'local' for a LocalCluster")
    parser.add_argument("--out", type=Path, default=None, help="write results.jsonl and failing traces here")
    parser.add_argument("--max-failures", default=None, help="stop after this many failing seeds")
    parser.add_argument("--time-limit", default=None, help="stop after this many seconds")
    parser.add_argument("--require-sometimes", action="store_true",
                        help="fail when a sometimes/reachable property was satisfied in no seed")
    parser.add_argument("--check-determinism", action="store_true",
                        help="run each seed twice and report seeds whose traces differ")
    parser.add_argument("--schedule", choices=["uniform", "pct"], default=None,
                        help="task and delivery order: uniform random (default) or PCT priorities")
    parser.add_argument("--depth", default=None, help="PCT bug depth d: d-1 priority change points (default 2)")
    parser.add_argument("--pct-steps", default=None, help="PCT's k: the steps change points are drawn from")
    parser.add_argument("--shrink", default="10", metavar="SECONDS",
                        help="shrink each failure group's smallest seed within this time (default 10)")
    parser.add_argument("--no-shrink", action="store_true", help="do not shrink the failures")


def _positive(name: str, text: str | None, kind: type) -> Any:
    if text is None:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    """Run the sweep the arguments describe; returns the exit status."""
    try:
        seeds = parse_seeds(args.seeds)
        jobs = _positive("--jobs", args.jobs, int)
        max_failures = _positive("--max-failures", args.max_failures, int)
        time_limit = _positive("--time-limit", args.time_limit, float)
        depth = _positive("--depth", args.depth, int)
        pct_steps = _positive("--pct-steps", args.pct_steps, int)
        shrink = None if args.no_shrink or args.check_determinism else _positive("--shrink", args.shrink, float)
        if args.faults is not None:
            FaultProfile.coerce(args.faults)
        load_test(args.target).make_main()  # bad targets fail here, before any worker starts
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        executor = None
        if args.dask is not None:
            try:
                executor = stack.enter_context(_dask_executor(args.dask, jobs))
            except _DaskUnavailable as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            jobs = max(jobs, executor.workers)
        options = dict(faults=args.faults, jobs=jobs, executor=executor and executor.executor,
                       max_failures=max_failures, time_limit=time_limit,
                       require_sometimes=args.require_sometimes)
        options.update(schedule=args.schedule, depth=depth, pct_steps=pct_steps)
        total = len(seeds) * (2 if args.check_determinism else 1)
        # The two passes of a determinism check run in two pools (so in different
        # processes) whose workers have different hash seeds; on one process (--jobs 1)
        # or a Dask cluster (its workers are its own) both passes share the processes.
        hash_seeds = hash_seeds_for_check() if args.check_determinism and executor is None and jobs > 1 else None
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
        with live_progress(total) as on_record:
            try:
                result = sweep(args.target, seeds, on_record=on_record, shrink=shrink,
                               hash_seed=hash_seeds and hash_seeds[0], check_determinism=args.check_determinism,
                               results=None if args.out is None else args.out / "results.jsonl", **options)
            except (LoadTestError, SweepStartError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
    result = _explain_nondeterminism(result, hash_seeds)
    artifacts = write_outputs(result, args.out)
    print_summary(result, artifacts)
    if result.failures:
        return 1
    if not result.ok:  # a required sometimes/reachable was never reached
        return 1
    return 130 if result.interrupted else 0


def _explain_nondeterminism(result: SweepResult, hash_seeds: tuple[int, int] | None) -> SweepResult:
    """Run the smallest seed of the non-deterministic group twice more, as its two passes
    ran, and keep where their traces part as that group's traceback (the summary shows it)."""
    groups = list(result.totals.groups)
    for index, group in enumerate(groups):
        if group.signature == NONDETERMINISTIC:
            where = first_difference(result.target, group.smallest_seed, result.faults, hash_seeds=hash_seeds)
            groups[index] = attrs.evolve(group, traceback=where)
            return attrs.evolve(result, totals=attrs.evolve(result.totals, groups=tuple(groups)))
    return result


class _DaskUnavailable(Exception):
    pass


class _DaskExecutor:
    """A Dask client's executor (``Client.get_executor()``), knowing how many workers it had."""

    def __init__(self, client: Any, cluster: Any) -> None:
        self.client, self.cluster = client, cluster
        self.executor = client.get_executor()
        self.workers = max(1, len(client.scheduler_info().get("workers", {})))

    def submit(self, fn: Any, *args: Any) -> Any:
        """Submit a task, as `concurrent.futures.Executor.submit`."""
        return self.executor.submit(fn, *args)


class _dask_executor:
    """Context manager: connect to (or start) a Dask cluster and yield its executor."""

    def __init__(self, address: str, jobs: int) -> None:
        self.address, self.jobs = address, jobs

    def __enter__(self) -> Any:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise _DaskUnavailable(
                "--dask needs the dask extra: pip install 'dispatch-sim[dask]'"
            ) from None
        cluster = None
        try:
            if self.address == "local":
                cluster = LocalCluster(n_workers=max(self.jobs, 2) if self.jobs == 1 else self.jobs,
                                       threads_per_worker=1, processes=True, dashboard_address=None)
                client = Client(cluster)
            else:
                client = Client(self.address, timeout="5s")
        except (OSError, TimeoutError, ValueError) as exc:
            if cluster is not None:
                cluster.close()
            raise _DaskUnavailable(f"cannot reach the Dask scheduler at {self.address!r}: {exc}") from None
        self.handle = _DaskExecutor(client, cluster)
        return self.handle

    def __exit__(self, *exc: object) -> None:
        self.handle.client.close()
        if self.handle.cluster is not None:
            self.handle.cluster.close()
