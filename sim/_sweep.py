"""Seed sweeps: run one simulation test under many seeds, on many cores or a Dask cluster.

`sweep(target, seeds=...)` loads the test by id (`sim._runner.load_test`),
hands the seeds to workers in batches through any
`concurrent.futures.Executor` (a local process pool by default; Dask's
``Client.get_executor()`` is the same code path), and adds up one
`SeedRecord` per seed as it arrives (`SweepTally`: the parent's memory does
not grow with the number of seeds; a results file, when asked for, gets one
line per seed, in seed order). Failures are grouped by signature; each group
keeps its count and smallest seed. Workers send back only small records: the
trace of a group's smallest seed is made again by the caller (the run is
deterministic), so nothing large crosses a process boundary. A worker that
dies takes only its batch with it: the batch is re-run seed by seed to find
the seed that kills it, which is reported as a failure of its own. Workers
die with the sweep's process (they must not outlive a killed sweep), and a
program whose workers cannot start is told so before any seed runs. The
records and the result are in `sim._sweep_result`, the determinism check in
`sim._sweep_determinism`.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from traceback import format_exception
from typing import IO, Any

import attrs

from . import _host
from ._environment import held
from ._faults import FaultProfile
from ._script import FaultScript
from ._runner import LoadedTest, load_test, run_seed
from ._tally import catalog
from ._simulation import Simulation
from ._sweep_result import FailureGroup, SeedRecord, SweepResult, SweepTally, SweepTotals
from ._sweep_digests import HASH_SEED, NONDETERMINISTIC, DigestCheck, hash_seeds_for_check
from ._sweep_shrink import shrink_groups


__all__ = [
    "NONDETERMINISTIC",
    "FailureGroup",
    "SeedRecord",
    "SweepResult",
    "SweepStartError",
    "SweepTally",
    "SweepTotals",
    "run_batch",
    "sweep",
]

_CRASH_SIGNATURE = "worker process died"
_HASH_SEED = HASH_SEED
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class SweepStartError(ValueError):
    """The sweep's worker processes cannot start or cannot load the test; the message says what to do."""


# -- the worker side ---------------------------------------------------------------------

_loaded: dict[tuple[str, str], LoadedTest] = {}
_parent: int | None = None  # the sweep's process, in a local pool's worker (None elsewhere)


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
    main: Any = None,
) -> SeedRecord:
    """Run one seed, with `options` over the test's own `Simulation` options. With `seen` (the signatures this batch has met), a failure's traceback
    is formatted only the first time its signature comes up: a batch runs its seeds in
    increasing order, so that is the one a group shows (its smallest seed), and the others'
    tracebacks would cost time here and memory in the parent for nothing. `main` is
    ``loaded.make_main()`` made once for many seeds (it is a fresh instance per run
    already: making it costs more than the rest of the bookkeeping of a seed)."""
    start = time.perf_counter()
    run = run_seed(
        main or loaded.make_main(),
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
        traceback="".join(format_exception(error))[-8000:] if keep_traceback else "",
        faults=tuple(counts.items()),
        properties=run.simulation.properties.rows(),
    )


def run_batch(
    test_id: str,
    root: str,
    seeds: Sequence[int],
    faults: str | FaultProfile,
    options: Mapping[str, Any] | None = None,
) -> list[SeedRecord]:
    """Run `seeds` of the test in this process (the task a sweep sends to a worker).

    `options` are `Simulation` options over the test's own (the schedule). In
    a local pool's worker, a batch stops the process when the sweep that
    started it is gone.
    """
    loaded = _load(test_id, root)
    seen = _seen_if_ascending(seeds)
    main = loaded.make_main()
    records = []
    # Nothing but the seeds runs here: the `random` module's state, the gc
    # threshold and the deterministic environment's installation are saved and
    # put back once for the batch, not around each seed (each still seeds `random`);
    # a Dask worker's thread shares one trio run among the batch's seeds.
    with _host.hosting(), held():
        for seed in seeds:
            if _parent is not None and os.getppid() != _parent:
                os._exit(1)  # the sweep died (on systems without a parent-death signal): stop now
            records.append(_run_one(loaded, seed, faults, seen, options, main))
    return records


def _check_worker(test_id: str, root: str) -> None:
    # A pool's first task: the worker started and loads the test (then cached for the batches).
    _load(test_id, root)


def _seen_if_ascending(seeds: Sequence[int]) -> set[str] | None:
    # Only in increasing order is the first failure of a signature its smallest seed;
    # the set is for membership only, its order decides nothing.
    if isinstance(seeds, range):
        return set() if seeds.step > 0 or len(seeds) < 2 else None
    return set() if all(a < b for a, b in zip(seeds, seeds[1:])) else None


def _start_worker(parent: int) -> None:
    """A local pool worker's initializer: ignore Ctrl-C, and die with the sweep's process."""
    global _parent
    # Ctrl-C reaches the whole process group; the parent alone decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _parent = parent
    if sys.platform.startswith("linux"):
        # The kernel kills this worker when the process that started it dies, even by
        # SIGKILL, and even in the middle of a seed. (A worker keeps nothing worth saving.)
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # without it, run_batch's check between seeds still stops the worker
    if os.getppid() != parent:  # the sweep died before the signal was asked for
        os._exit(1)


# -- the parent side ---------------------------------------------------------------------


class _Batches:
    """Seeds cut into tasks sized by how long a seed takes: the first tasks are small, so
    that a slow test shows progress (and a Ctrl-C loses little) early, then each task aims
    at about a second of work, 10 to 2,000 seeds, so per-task overhead vanishes. The seeds
    are read from their sequence as batches are taken (a range is never made a list)."""

    def __init__(self, seeds: Sequence[int], size: int | None) -> None:
        self.seeds = seeds
        self.next = 0
        self.front: list[int] = []  # seeds given back (a broken pool's), to take first
        self.fixed = size
        self.seconds = 0.0
        self.done = 0

    def __bool__(self) -> bool:
        return bool(self.front) or self.next < len(self.seeds)

    def take(self) -> list[int]:
        size = self.fixed or self._size()
        if self.front:
            batch = self.front[:size]
            del self.front[:size]
            return batch
        batch = list(self.seeds[self.next : self.next + size])
        self.next += len(batch)
        return batch

    def push_front(self, batches: Iterable[Sequence[int]]) -> None:
        self.front[:0] = [s for b in batches for s in b]

    def measured(self, record: SeedRecord) -> None:
        self.seconds += record.seconds
        self.done += 1

    def _size(self) -> int:
        if self.done < 10:
            return 10
        per_seed = self.seconds / self.done
        return max(10, min(2_000, int(1.0 / per_seed) if per_seed > 0 else 2_000))


def _resolve_faults(loaded: LoadedTest, faults: str | FaultProfile | FaultScript | None) -> str | FaultProfile:
    chosen = faults if faults is not None else loaded.test.faults
    if chosen is None:
        chosen = os.environ.get("DISPATCH_SIM_FAULTS") or "light"
    profile = FaultProfile.coerce(chosen)  # a bad name fails here, before anything runs
    return chosen if isinstance(chosen, str) else profile  # a script travels as its profile


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
    faults: str | FaultProfile | FaultScript | None = None,
    jobs: int = 1,
    executor: cf.Executor | None = None,
    max_failures: int | None = None,
    time_limit: float | None = None,
    batch_size: int | None = None,
    root: str | os.PathLike[str] | None = None,
    on_record: Progress | None = None,
    hash_seed: int | None = None,
    require_sometimes: bool = False,
    schedule: str | None = None,
    depth: int | None = None,
    pct_steps: int | None = None,
    shrink: float | None = None,
    results: str | os.PathLike[str] | None = None,
    check_determinism: bool = False,
) -> SweepResult:
    """Run the simulation test `target` (a pytest id) once per seed; return the totals.

    With ``jobs=1`` and no `executor` the seeds run in this process; with
    ``jobs>1`` in a pool of that many worker processes (they die with this
    process; a program they cannot re-import, such as a script read from
    stdin, raises `SweepStartError` before any seed runs); with `executor` in
    that (e.g. a Dask client's ``get_executor()``: its workers must see the
    test file at the same path, so run them from the project checkout).
    `max_failures` stops after that many failing seeds, `time_limit` after
    that many seconds; `on_record` is called with each record as it arrives
    (in the order they arrive). Ctrl-C stops the sweep and returns what ran.
    `hash_seed` starts the local pool's workers (``jobs>1``, no `executor`)
    with that ``PYTHONHASHSEED``, as the determinism check does.
    With `require_sometimes`, a sometimes/reachable that no seed satisfied
    makes the result not `ok`.
    `schedule`, `depth` and `pct_steps` replace the test's own scheduling
    options (``schedule="pct"``: see `Simulation`). With `shrink` (seconds),
    the smallest seed of each failure group is shrunk afterwards to the faults
    it needs, within that much time in all (`SweepResult.shrunk`).

    The result keeps totals and groups, not every record (see `SweepResult`):
    with `results` (a path), one JSON line per seed (seed, ok, digest,
    seconds, signature) is appended to that file as the seeds finish, in
    the order of `seeds`. With `check_determinism`, every seed runs twice,
    first in reverse order, then in order (with ``jobs>1`` in two pools
    whose workers get two different hash seeds: `hash_seed` and the next,
    by default those of `hash_seeds_for_check`); a seed whose two digests
    differ fails in the `NONDETERMINISTIC` group; the second pass gives the
    records (and writes `results`), and the check keeps 8 bytes per seed.
    """
    chosen: Sequence[int] = seeds if isinstance(seeds, range) else list(seeds)
    if not chosen:
        raise ValueError("the seed range is empty: give at least one seed")
    if not isinstance(chosen, range) and any(isinstance(s, bool) or not isinstance(s, int) for s in chosen):
        raise TypeError("seeds must be ints")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    if max_failures is not None and max_failures < 1:
        raise ValueError(f"max_failures must be at least 1, got {max_failures!r}")
    base = str(Path(root or Path.cwd()).resolve())
    loaded = load_test(target, root=Path(base))
    loaded.make_main()  # a test that takes fixtures cannot run outside pytest: say so now
    profile = _resolve_faults(loaded, faults)
    given = {"schedule": schedule, "depth": depth, "pct_steps": pct_steps}
    options = {k: v for k, v in given.items() if v is not None}
    if options:  # bad values fail here, before anything runs
        Simulation(faults="none", **{**loaded.test.options, **options})
    if executor is None and jobs > 1:
        _check_main_script(jobs)
    run = _Pass(loaded, base, profile, jobs, executor, batch_size, options, max_failures, time_limit, on_record)
    if not check_determinism:
        result = run.result(chosen, hash_seed, results, require_sometimes)
    else:
        first, second = hash_seeds_for_check() if hash_seed is None else (hash_seed, (hash_seed + 1) % 2**32)
        digests = DigestCheck(chosen)
        before = run.result(chosen[::-1], first, None, require_sometimes, record=digests)
        if before.interrupted or before.stopped_early:
            return before
        result = run.result(chosen, second, results, require_sometimes, check=digests)
        result = attrs.evolve(result, seconds=before.seconds + result.seconds)
    if shrink is not None and result.failures and not result.interrupted:
        shrunk = shrink_groups(result.groups, _CRASH_SIGNATURE, loaded, profile, options, shrink)
        result = attrs.evolve(result, shrunk=shrunk)
    return result


def _check_main_script(jobs: int) -> None:
    """Fail now when spawned workers could not start: each one runs this program's main
    script again (by module name or by path), and a script read from stdin has no path."""
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None) is not None:
        return  # python -m module: workers import it by name
    path = getattr(main, "__file__", None)
    if path is not None and not os.path.isfile(path):
        raise SweepStartError(
            f"jobs={jobs}: worker processes start by running this program's main script again, and "
            f"{path!r} is not a file (a script read from stdin?): save the script to a file and run "
            "that, or sweep with jobs=1"
        )


@attrs.define
class _Pass:
    """One pass over the seeds: how it runs (the same for both passes of a determinism check)."""

    loaded: LoadedTest
    base: str
    profile: str | FaultProfile
    jobs: int
    executor: cf.Executor | None
    batch_size: int | None
    options: dict[str, Any]
    max_failures: int | None
    time_limit: float | None
    on_record: Progress | None

    def result(
        self,
        seeds: Sequence[int],
        hash_seed: int | None,
        results: str | os.PathLike[str] | None,
        require_sometimes: bool,
        record: DigestCheck | None = None,
        check: DigestCheck | None = None,
    ) -> SweepResult:
        loaded, options = self.loaded, self.options
        with open(results, "a", encoding="utf-8") if results is not None else _no_file() as lines:
            state = _Collector(seeds, self.max_failures, self.time_limit, self.on_record, lines, record, check)
            interrupted = False
            try:
                if self.executor is None and self.jobs == 1:
                    seen = _seen_if_ascending(seeds)
                    main = loaded.make_main()
                    for seed in seeds:
                        if state.full():
                            break
                        state.add(_run_one(loaded, seed, self.profile, seen, options, main))
                elif self.executor is not None:
                    batches = _Batches(seeds, self.batch_size)
                    with _INTERRUPT.deferred():
                        _drive(self.executor, loaded.test_id, self.base, batches, self.profile, self.jobs, state,
                               options)
                else:
                    with _worker_hash_seed(hash_seed), _INTERRUPT.deferred():
                        _drive_pool(loaded.test_id, self.base, seeds, self.profile, self.jobs, self.batch_size,
                                    state, options)
            except KeyboardInterrupt:
                interrupted = True
            finally:
                state.finish()
        name = self.profile if isinstance(self.profile, str) else self.profile.name
        return SweepResult(
            loaded.test_id, name, state.tally.records(), time.perf_counter() - state.start, interrupted,
            state.stopped, options=options, known_properties=tuple(catalog(loaded.test.function)),
            require_sometimes=require_sometimes, totals=state.tally.totals(),
        )


@contextmanager
def _no_file() -> Iterator[None]:
    yield None


class _Collector:
    """Takes the records as they arrive: counts failures (for the early stops), tells
    `on_record`, and passes them on in the order of the seeds (to the tally and the
    results file). Records that arrive ahead of an earlier seed wait for it; only the
    batches in flight can be ahead, so what waits is bounded too."""

    def __init__(
        self,
        seeds: Sequence[int],
        max_failures: int | None,
        time_limit: float | None,
        on_record: Progress | None,
        lines: IO[str] | None,
        record: DigestCheck | None,
        check: DigestCheck | None,
    ) -> None:
        self.seeds = seeds
        self.max_failures = max_failures
        self.time_limit = time_limit
        self.on_record = on_record
        self.lines = lines
        self.record = record
        self.check = check
        self.tally = SweepTally()
        self.failures = 0
        self.start = time.perf_counter()
        self.stopped: str | None = None
        self.next = 0  # the position in `seeds` of the next record to pass on
        self.waiting: dict[int, list[SeedRecord]] = {}  # by seed: a list, as seeds may repeat

    def add(self, record: SeedRecord) -> None:
        if self.record is not None:
            self.record.put(record)
        if self.check is not None:
            record = self.check.compare(record)
        if not record.ok:
            self.failures += 1
        seeds = self.seeds
        if self.next < len(seeds) and seeds[self.next] == record.seed and not self.waiting:
            self._pass_on(record)  # in order: the usual case, nothing waits
            self.next += 1
        else:
            self.waiting.setdefault(record.seed, []).append(record)
            self._pass_on_ready()
        if self.on_record is not None:
            self.on_record(record)

    def _pass_on_ready(self) -> None:
        seeds, waiting = self.seeds, self.waiting
        while self.next < len(seeds) and seeds[self.next] in waiting:
            self._take(seeds[self.next])
            self.next += 1

    def _take(self, seed: int) -> None:
        queued = self.waiting[seed]
        self._pass_on(queued.pop(0))
        if not queued:
            del self.waiting[seed]

    def _pass_on(self, record: SeedRecord) -> None:
        self.tally.add(record)
        if self.lines is not None:
            self.lines.write(record.json_line())

    def finish(self) -> None:
        """Pass on what still waits (the sweep stopped before the seeds ahead of it ran)."""
        for seed in islice(self.seeds, self.next, None):
            if not self.waiting:
                break
            if seed in self.waiting:
                self._take(seed)

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
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker, initargs=(os.getpid(),),
    )


def _check_pool(pool: cf.ProcessPoolExecutor, test_id: str, root: str) -> None:
    """Run a first task that loads the test, so that workers which cannot start (or load
    it) fail the sweep with a message instead of every seed failing as a dead worker."""
    future = pool.submit(_check_worker, test_id, root)  # what submit raises is not the workers'
    try:
        future.result()
    except cf.process.BrokenProcessPool:
        raise SweepStartError(
            "the sweep's worker processes died as they started: each one imports this program's "
            "main script again, so guard the code that calls sim.sweep with "
            "'if __name__ == \"__main__\":' (or sweep with jobs=1)"
        ) from None
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise SweepStartError(f"a worker process cannot load {test_id!r}: {type(exc).__name__}: {first}") from None


class _DeferredInterrupt:
    """Ctrl-C while other processes (or Dask) run the seeds, taken at a safe point.

    A KeyboardInterrupt raised at an arbitrary bytecode of the driving thread can land
    inside concurrent.futures' own locking (in `submit`, or its idle-worker semaphore)
    and leave a lock held, after which the pool's shutdown waits forever for its
    manager thread. So while seeds run elsewhere, SIGINT only sets `requested`, and the
    drive loop raises KeyboardInterrupt itself between waits. A second Ctrl-C
    interrupts at once, as usual.
    """

    def __init__(self) -> None:
        self.requested = False

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    @contextmanager
    def deferred(self) -> Iterator[None]:
        # Only Python's own handler is replaced (a program's own SIGINT handler is left
        # alone), and only on the main thread, where signal handlers run.
        if (
            threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        ):
            yield
            return
        self.requested = False
        signal.signal(signal.SIGINT, self._handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.requested = False

    def check(self) -> None:
        """Raise the KeyboardInterrupt a Ctrl-C asked for, here rather than anywhere."""
        if self.requested:
            raise KeyboardInterrupt


_INTERRUPT = _DeferredInterrupt()
_WAIT = 0.25  # seconds between looks at a deferred Ctrl-C while waiting for batches


def _drive_pool(
    test_id: str,
    root: str,
    seeds: Sequence[int],
    faults: str | FaultProfile,
    jobs: int,
    batch_size: int | None,
    state: _Collector,
    options: Mapping[str, Any] | None = None,
) -> None:
    remaining = _Batches(seeds, batch_size)
    first = True
    while remaining and not state.full():
        pool = _new_pool(jobs)
        try:
            if first:
                _check_pool(pool, test_id, root)
                first = False
                _INTERRUPT.check()
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
                _INTERRUPT.check()
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
            done, _ = cf.wait(futures, timeout=_WAIT, return_when=cf.FIRST_COMPLETED)
            _INTERRUPT.check()
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
