"""Seed sweeps: run one simulation test under many seeds, on many cores or a Dask cluster.

`sweep(target, seeds=...)` loads the test by id (`sim._runner.load_test`),
hands the seeds to workers in batches through any
`concurrent.futures.Executor` (a local process pool by default; Dask's
``Client.get_executor()`` is the same code path), and gathers one
`SeedRecord` per seed. Failures are grouped by signature; each group keeps its
count and smallest seed. Workers send back only small records: the trace of a
group's smallest seed is made again by the caller (the run is deterministic),
so nothing large crosses a process boundary. A worker that dies takes only
its batch with it: the batch is re-run seed by seed to find the seed that
kills it, which is reported as a failure of its own. The records and the
result are in `sim._sweep_result`, the determinism check in
`sim._sweep_determinism`.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from ._faults import FaultProfile
from ._runner import LoadedTest, load_test, run_seed
from ._simulation import Simulation
from ._sweep_result import FailureGroup, SeedRecord, SweepResult
from ._sweep_shrink import shrink_groups

__all__ = [
    "NONDETERMINISTIC",
    "FailureGroup",
    "SeedRecord",
    "SweepResult",
    "run_batch",
    "sweep",
]

_CRASH_SIGNATURE = "worker process died"
NONDETERMINISTIC = "non-deterministic: the same seed gave two different traces"
"""The signature of the failure group of seeds whose two runs gave different traces."""
_HASH_SEED = "PYTHONHASHSEED"


# -- the worker side ---------------------------------------------------------------------

_loaded: dict[tuple[str, str], LoadedTest] = {}


def _load(test_id: str, root: str) -> LoadedTest:
    key = (test_id, root)
    if key not in _loaded:
        _loaded[key] = load_test(test_id, root=Path(root))
    return _loaded[key]


def _run_one(
    loaded: LoadedTest,
    seed: int,
    faults: str | FaultProfile,
    seen: set[str] | None = None,
    options: Mapping[str, Any] | None = None,
) -> SeedRecord:
    """Run one seed, with `options` over the test's own `Simulation` options. With `seen` (the signatures this batch has met), a failure's traceback
    is formatted only the first time its signature comes up: a batch runs its seeds in
    increasing order, so that is the one a group shows (its smallest seed), and the others'
    tracebacks would cost time here and memory in the parent for nothing."""
    import traceback

    start = time.perf_counter()
    run = run_seed(
        loaded.make_main(),
        seed=seed,
        faults=faults,
        test_id=loaded.test_id,
        options={**loaded.test.options, **options} if options else loaded.test.options,
    )
    seconds = time.perf_counter() - start
    counts = run.simulation.trace.fault_counts()
    error = run.error
    signature = run.signature
    keep_traceback = error is not None and (seen is None or signature not in seen)
    if seen is not None and signature is not None:
        seen.add(signature)
    return SeedRecord(
        seed=seed,
        ok=error is None,
        digest=run.digest,
        seconds=seconds,
        signature=signature,
        error="" if error is None else f"{type(error).__qualname__}: {error}".splitlines()[0][:500],
        traceback="".join(traceback.format_exception(error))[-8000:] if keep_traceback else "",
        faults=tuple(counts.items()),
    )


def run_batch(
    test_id: str,
    root: str,
    seeds: Sequence[int],
    faults: str | FaultProfile,
    options: Mapping[str, Any] | None = None,
) -> list[SeedRecord]:
    """Run `seeds` of the test in this process (the task a sweep sends to a worker).

    `options` are `Simulation` options over the test's own (the schedule).
    """
    loaded = _load(test_id, root)
    seen = _seen_if_ascending(seeds)
    return [_run_one(loaded, seed, faults, seen, options) for seed in seeds]


def _seen_if_ascending(seeds: Sequence[int]) -> set[str] | None:
    # Only in increasing order is the first failure of a signature its smallest seed;
    # the set is for membership only, its order decides nothing.
    return set() if all(a < b for a, b in zip(seeds, seeds[1:])) else None


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group; the parent alone decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# -- the parent side ---------------------------------------------------------------------


class _Batches:
    """Seeds cut into tasks sized by how long a seed takes: the first tasks are small, so
    that a slow test shows progress (and a Ctrl-C loses little) early, then each task aims
    at about a second of work, 10 to 2,000 seeds, so per-task overhead vanishes."""

    def __init__(self, seeds: Sequence[int], size: int | None) -> None:
        self.seeds = list(seeds)
        self.next = 0
        self.fixed = size
        self.seconds = 0.0
        self.done = 0

    def __bool__(self) -> bool:
        return self.next < len(self.seeds)

    def take(self) -> list[int]:
        size = self.fixed or self._size()
        batch = self.seeds[self.next : self.next + size]
        self.next += len(batch)
        return batch

    def push_front(self, batches: Iterable[Sequence[int]]) -> None:
        front = [s for b in batches for s in b]
        self.seeds[self.next : self.next] = front

    def measured(self, record: SeedRecord) -> None:
        self.seconds += record.seconds
        self.done += 1

    def _size(self) -> int:
        if self.done < 10:
            return 10
        per_seed = self.seconds / self.done
        return max(10, min(2_000, int(1.0 / per_seed) if per_seed > 0 else 2_000))


def _resolve_faults(loaded: LoadedTest, faults: str | FaultProfile | None) -> str | FaultProfile:
    chosen = faults if faults is not None else loaded.test.faults
    if chosen is None:
        chosen = os.environ.get("DISPATCH_SIM_FAULTS") or "light"
    FaultProfile.coerce(chosen)  # a bad name fails here, before anything runs
    return chosen


def _crash_record(seed: int, exc: BaseException) -> SeedRecord:
    return SeedRecord(
        seed=seed,
        ok=False,
        digest="",
        seconds=0.0,
        signature=_CRASH_SIGNATURE,
        error=f"{_CRASH_SIGNATURE} while running seed {seed}: {type(exc).__name__}: {exc}"[:500],
    )


Progress = Callable[[SeedRecord], None]


def sweep(
    target: str,
    seeds: Iterable[int] = range(100),
    *,
    faults: str | FaultProfile | None = None,
    jobs: int = 1,
    executor: cf.Executor | None = None,
    max_failures: int | None = None,
    time_limit: float | None = None,
    batch_size: int | None = None,
    root: str | os.PathLike[str] | None = None,
    on_record: Progress | None = None,
    hash_seed: int | None = None,
    schedule: str | None = None,
    depth: int | None = None,
    pct_steps: int | None = None,
    shrink: float | None = None,
) -> SweepResult:
    """Run the simulation test `target` (a pytest id) once per seed; return the records.

    With ``jobs=1`` and no `executor` the seeds run in this process; with
    ``jobs>1`` in a pool of that many worker processes; with `executor` in
    that (e.g. a Dask client's ``get_executor()``: its workers must see the
    test file at the same path, so run them from the project checkout).
    `max_failures` stops after that many failing seeds, `time_limit` after
    that many seconds; `on_record` is called with each record as it arrives
    (in the order they arrive). Ctrl-C stops the sweep and returns what ran.
    `hash_seed` starts the local pool's workers (``jobs>1``, no `executor`)
    with that ``PYTHONHASHSEED``, as the determinism check does.
    `schedule`, `depth` and `pct_steps` replace the test's own scheduling
    options (``schedule="pct"``: see `Simulation`). With `shrink` (seconds),
    the smallest seed of each failure group is shrunk afterwards to the faults
    it needs, within that much time in all (`SweepResult.shrunk`).
    """
    chosen = list(seeds)
    if not chosen:
        raise ValueError("the seed range is empty: give at least one seed")
    if any(isinstance(s, bool) or not isinstance(s, int) for s in chosen):
        raise TypeError("seeds must be ints")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    if max_failures is not None and max_failures < 1:
        raise ValueError(f"max_failures must be at least 1, got {max_failures!r}")
    base = str(Path(root or Path.cwd()).resolve())
    loaded = load_test(target, root=Path(base))
    loaded.make_main()  # a test that takes fixtures cannot run outside pytest: say so now
    profile = _resolve_faults(loaded, faults)
    name = profile if isinstance(profile, str) else profile.name
    given = {"schedule": schedule, "depth": depth, "pct_steps": pct_steps}
    options = {k: v for k, v in given.items() if v is not None}
    if options:  # bad values fail here, before anything runs
        Simulation(faults="none", **{**loaded.test.options, **options})
    state = _Collector(max_failures, time_limit, on_record)
    interrupted = False
    try:
        if executor is None and jobs == 1:
            seen = _seen_if_ascending(chosen)
            for seed in chosen:
                if state.full():
                    break
                state.add(_run_one(loaded, seed, profile, seen, options))
        elif executor is not None:
            _drive(executor, loaded.test_id, base, _Batches(chosen, batch_size), profile, jobs, state, options)
        else:
            with _worker_hash_seed(hash_seed):
                _drive_pool(loaded.test_id, base, chosen, profile, jobs, batch_size, state, options)
    except KeyboardInterrupt:
        interrupted = True
    records = tuple(sorted(state.records, key=lambda r: r.seed))
    result = SweepResult(
        loaded.test_id, name, records, time.perf_counter() - state.start, interrupted, state.stopped,
        options=options,
    )
    if shrink is not None and result.failures and not interrupted:
        shrunk = shrink_groups(result.groups, _CRASH_SIGNATURE, loaded, profile, options, shrink)
        result = attrs.evolve(result, shrunk=shrunk)
    return result


@attrs.define
class _Collector:
    max_failures: int | None
    time_limit: float | None
    on_record: Progress | None
    records: list[SeedRecord] = attrs.field(factory=list)
    failures: int = 0
    start: float = attrs.field(factory=time.perf_counter)
    stopped: str | None = None

    shared: dict[Any, Any] = attrs.field(factory=dict)

    def add(self, record: SeedRecord) -> None:
        self.records.append(self._compact(record))
        if not record.ok:
            self.failures += 1
        if self.on_record is not None:
            self.on_record(record)

    def _compact(self, record: SeedRecord) -> SeedRecord:
        """The record with its repeated values (fault counts, a group's signature and
        message) shared with earlier records: each arrives as its own copy from a
        worker, and a long sweep keeps every record."""
        if not record.faults and record.ok:
            return record
        faults = self.shared.setdefault(record.faults, record.faults)
        if record.ok:
            return record if faults is record.faults else attrs.evolve(record, faults=faults)
        signature = self.shared.setdefault(record.signature, record.signature)
        error = self.shared.setdefault(record.error, record.error)
        return attrs.evolve(record, faults=faults, signature=signature, error=error)

    def full(self) -> bool:
        if self.max_failures is not None and self.failures >= self.max_failures:
            self.stopped = f"stopped after {self.failures} failures (max failures {self.max_failures})"
        elif self.time_limit is not None and time.perf_counter() - self.start >= self.time_limit:
            self.stopped = f"stopped at the time limit of {self.time_limit:g} s"
        return self.stopped is not None


@contextmanager
def _worker_hash_seed(value: int | None) -> Iterator[None]:
    """Set ``PYTHONHASHSEED`` in this process's environment while the pool starts workers.

    Hash randomisation is fixed when an interpreter starts, so the only way to give
    spawned workers another hash seed is the environment they inherit: spawn passes
    ``os.environ`` as it is when each worker starts (they start on demand, so the
    whole drive is covered). This process's own hashing does not change.
    """
    if value is None:
        yield
        return
    before = os.environ.get(_HASH_SEED)
    os.environ[_HASH_SEED] = str(value)
    try:
        yield
    finally:
        if before is None:
            del os.environ[_HASH_SEED]
        else:
            os.environ[_HASH_SEED] = before


def _new_pool(jobs: int) -> cf.ProcessPoolExecutor:
    # spawn, not fork: the parent may hold trio state, threads (a progress bar) or locks.
    return cf.ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_sigint
    )


def _drive_pool(
    test_id: str,
    root: str,
    seeds: list[int],
    faults: str | FaultProfile,
    jobs: int,
    batch_size: int | None,
    state: _Collector,
    options: Mapping[str, Any] | None = None,
) -> None:
    remaining = _Batches(seeds, batch_size)
    while remaining and not state.full():
        pool = _new_pool(jobs)
        try:
            suspects = _drive(pool, test_id, root, remaining, faults, jobs, state, options)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        _isolate(suspects, test_id, root, faults, state, options)


def _isolate(
    suspects: list[int],
    test_id: str,
    root: str,
    faults: str | FaultProfile,
    state: _Collector,
    options: Mapping[str, Any] | None = None,
) -> None:
    """A worker died, which breaks the whole pool and fails every batch in flight. Run
    those seeds again one at a time, in a fresh worker after each death: a seed that
    still kills its worker is the one to report."""
    while suspects and not state.full():
        pool = _new_pool(1)
        try:
            while suspects and not state.full():
                seed = suspects.pop(0)
                try:
                    records = pool.submit(run_batch, test_id, root, [seed], faults, options).result()
                except Exception as exc:
                    state.add(_crash_record(seed, exc))
                    break  # this pool is broken: start another
                for record in records:
                    state.add(record)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _drive(
    executor: cf.Executor,
    test_id: str,
    root: str,
    todo: _Batches,
    faults: str | FaultProfile,
    jobs: int,
    state: _Collector,
    options: Mapping[str, Any] | None = None,
) -> list[int]:
    """Run the batches of `todo` on `executor`, a few tasks per worker at a time so that
    progress and early stops stay prompt.

    Returns the seeds of batches whose task failed because a process pool broke (a
    worker died); what was not sent by then stays in `todo`. On another executor (Dask)
    a failed batch is retried there seed by seed, and a seed that fails alone is reported.
    """
    futures: dict[cf.Future[list[SeedRecord]], list[int]] = {}
    broken: list[int] = []  # seeds of the batches a broken pool failed
    pool = isinstance(executor, cf.ProcessPoolExecutor)
    retry: list[list[int]] = []  # single seeds to try again (not on a process pool)
    try:
        refused = False
        while futures or ((retry or todo) and not (broken or refused)):
            while (retry or todo) and not (broken or refused) and len(futures) < jobs * 2 and not state.full():
                batch = retry.pop(0) if retry else todo.take()
                try:
                    future = executor.submit(run_batch, test_id, root, batch, faults, options)
                except cf.BrokenExecutor:
                    todo.push_front([batch])  # the pool broke meanwhile: a new one runs it
                    refused = True
                    break
                futures[future] = batch
            if not futures:
                break
            done, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: futures[f][0]):
                batch = futures.pop(future)
                try:
                    records = future.result()
                except Exception as exc:
                    if pool:
                        broken.extend(batch)
                    elif len(batch) == 1:
                        state.add(_crash_record(batch[0], exc))
                    else:
                        retry.extend([seed] for seed in batch)
                    continue
                for record in records:
                    todo.measured(record)
                    state.add(record)
    finally:
        for future in futures:
            future.cancel()
    return sorted(broken)
