"""Entry points for tests: run coroutines, and test functions, inside a simulation.

``@registry.test.function`` turns an ``async def`` test into a plain
function that runs it in a fresh `sim.Simulation` (a seeded, virtual-clock
Dispatch service with fault injection), once per seed.
"""

from __future__ import annotations

import functools
import inspect
import os
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar, overload

from sim import DEFAULT_SEED, FaultProfile, FaultScript, Simulation
from sim.lowlevel import (
    PropertyReport,
    SeedRun,
    SimulationTest,
    mark_test,
    overrides,
    property_catalog,
    property_reports,
    run_seed,
    test_id_of,
)
from sim import shrink as shrink_trace
from sim.lowlevel import OPTIONS, check_options, check_seeds
from sim.lowlevel import attach_shrunk

from ._registry import Registry

__all__ = ["DEFAULT_FAULTS", "NeverReached", "Registry", "function", "main", "method", "run"]
__all__ += ["DISPATCH_API_KEY", "DISPATCH_API_URL", "DISPATCH_ENDPOINT_URL"]

T = TypeVar("T")

FAULTS_ENV = "DISPATCH_SIM_FAULTS"
"""Environment variable naming the fault profile when a test gives none."""

DEFAULT_FAULTS = "light"
"""The fault profile of tests that name none (and no environment override)."""

# The SDK's dispatch.test names these for tests that build a Registry and a
# Client by hand. Here nothing listens at them: the simulation routes calls
# by endpoint URL in memory, and the key is never checked.
DISPATCH_ENDPOINT_URL = "http://127.0.0.1:0"
"""An endpoint URL for registries made in tests (as the SDK's dispatch.test has it)."""

DISPATCH_API_URL = "http://127.0.0.1:0"
"""An API URL for clients made in tests (as the SDK's dispatch.test has it)."""

DISPATCH_API_KEY = "916CC3D280BB46DDBDA984B3DD10059A"
"""An API key for clients made in tests (as the SDK's dispatch.test has it; never checked here)."""


def _faults(faults: str | FaultProfile | None) -> str | FaultProfile:
    if faults is not None:
        return faults
    return os.environ.get(FAULTS_ENV) or DEFAULT_FAULTS


class _Unset:
    """The `faults` of a decorator that names none (None, given, means no faults)."""

    def __repr__(self) -> str:
        return "<the default profile>"


_UNSET: Any = _Unset()


def _given_faults(options: dict[str, Any]) -> str | FaultProfile | None:
    # faults=None, given, means no faults (as in Simulation); not given, the default.
    return options["faults"] if "faults" in options else _faults(None)


# The options a test decorator takes: Simulation's (the runner sets test_id
# itself), seeds= and require_sometimes=.
_TEST_OPTIONS = tuple(name for name in OPTIONS if name != "test_id") + ("seeds", "require_sometimes")


async def main(coro: Coroutine[Any, Any, T], **options: Any) -> T:
    """Run `coro` in a new simulation inside the current trio run; returns its value.

    Options are those of `sim.Simulation` (`seed`, `faults`, ...). Under a
    clock that is not the simulation's, the simulator's own waits stay
    virtual.
    """
    options["faults"] = _given_faults(options)
    return await Simulation(**options).main(coro)


def run(coro: Coroutine[Any, Any, T] | Callable[[], Awaitable[T]], **options: Any) -> T:
    """Run `coro` in a new simulation (its own trio run, virtual clock); returns its value."""
    options["faults"] = _given_faults(options)
    return Simulation(**options).run(coro)


def _seeds(seed: int | None, seeds: Iterable[int] | None) -> list[int]:
    if seed is not None and seeds is not None:
        raise ValueError("give seed= or seeds=, not both")
    if seeds is None:
        if seed is not None:
            check_options({"seed": seed})
        return [DEFAULT_SEED if seed is None else seed]
    return list(check_seeds(seeds))


def _run_seeds(
    test: SimulationTest,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    __tracebackhide__ = True  # pytest: a failure shows the test's and the function's frames
    forced = overrides
    seeds: Sequence[int] = test.seeds
    if forced.seed is not None:
        seeds = [forced.seed]
    elif forced.seeds is not None:
        seeds = forced.seeds
    elif forced.seed_offset is not None:
        seeds = [s + forced.seed_offset for s in test.seeds]
    faults = forced.faults or _faults(test.faults)
    test_id = test_id_of(test.function)
    failed: list[SeedRun] = []
    tallies: list[Any] = []  # each seed's property rows, added up after the loop
    runs = 0
    options = {**test.options, **forced.schedule_options()}
    for seed in seeds:
        runs += 1
        outcome = run_seed(
            functools.partial(test.function, *args, **kwargs),
            seed=seed,
            faults=faults,
            test_id=test_id,
            options=options,
        )
        tallies.append(outcome.simulation.properties.rows())
        if forced.on_seed is not None:
            forced.on_seed(outcome, runs, len(seeds))
        if outcome.error is not None:
            failed.append(outcome)
            if forced.max_failures is not None and len(failed) >= forced.max_failures:
                break
    if failed:
        first = failed[0].error
        assert first is not None
        if runs > 1:
            first.add_note(_sweep_note(failed, runs))
            reports = _reports(test, tallies)
            if reports:
                first.add_note(_property_note(reports))
        if forced.shrink is not None:
            main = functools.partial(test.function, *args, **kwargs)
            shrunk = shrink_trace(failed[0].simulation.trace, main, time_limit=forced.shrink, options=options)
            attach_shrunk(first, shrunk)
        raise first
    required = test.require_sometimes or forced.require_sometimes
    if required or runs > 1:
        missing = [r for r in _reports(test, tallies) if r.never_reached]
        if missing and required:
            raise AssertionError(_property_note(missing, "never reached"))
        if missing:  # listed in pytest's warnings summary; --sim-require-sometimes fails instead
            warnings.warn(_property_note(missing, "never reached"), NeverReached, stacklevel=3)


class NeverReached(UserWarning):
    """A sim.sometimes or sim.reachable that none of a test's seeds satisfied."""


def _reports(test: SimulationTest, tallies: list[Any]) -> list[PropertyReport]:
    # Only when they are shown: reading the test's file for its properties costs milliseconds.
    return property_reports(tallies, property_catalog(test.function))


def _property_note(reports: list[PropertyReport], what: str = "properties") -> str:
    """One line per property over the seeds (evaluated, held, failed; or never reached)."""
    return "\n".join([f"dispatch-sim: {what}:"] + [f"  {r.line()}" for r in reports])


def _sweep_note(failed: list[SeedRun], runs: int) -> str:
    """The failure rate and the failures grouped by signature, each with its smallest seed."""
    groups: dict[str, list[int]] = {}
    for run in failed:
        groups.setdefault(run.signature or "?", []).append(run.seed)
    lines = [f"dispatch-sim: {len(failed)} of {runs} seeds failed ({len(failed) / runs:.0%}) "
             f"in {len(groups)} group(s); the error above is seed {failed[0].seed}'s"]
    for signature, group in sorted(groups.items(), key=lambda g: (-len(g[1]), min(g[1]))):
        shown = ", ".join(map(str, group[:10])) + (", ..." if len(group) > 10 else "")
        lines.append(f"  {len(group)} x {signature}  (seeds {shown}; replay: --sim-seed={min(group)})")
    return "\n".join(lines)


def _decorator(
    fn: Any,
    seed: int | None,
    seeds: Iterable[int] | None,
    options: dict[str, Any],
) -> Any:
    chosen = tuple(_seeds(seed, seeds))
    # Checked here, where the test is written, not when its first seed runs.
    check_options({k: v for k, v in options.items() if v is not _UNSET}, _TEST_OPTIONS)
    faults = options.pop("faults")
    if faults is _UNSET:
        faults = None  # the default profile, chosen when the test runs
    elif faults is None:
        faults = "none"  # None, given, means no faults, as everywhere else
    require_sometimes = bool(options.pop("require_sometimes", False))
    if faults is not None and not isinstance(faults, str | FaultProfile):
        faults = FaultProfile.coerce(faults)  # a FaultScript (or a list of Fault records)

    def decorate(f: Callable[..., Any]) -> Callable[..., None]:
        if not inspect.iscoroutinefunction(f):
            raise TypeError(f"{f.__qualname__} must be an async function (async def)")
        return _wrap(SimulationTest(f, chosen, faults, options, require_sometimes))

    return decorate if fn is None else decorate(fn)


def _wrap(spec: SimulationTest) -> Callable[..., None]:
    @functools.wraps(spec.function)
    def test(*args: Any, **kwargs: Any) -> None:
        __tracebackhide__ = True  # pytest: a failure shows the test's and the function's frames
        _run_seeds(spec, args, kwargs)

    # The test takes the coroutine's parameters, so that pytest fixtures and
    # Hypothesis's @given fill them as they would for any test function.
    del test.__wrapped__
    test.__signature__ = inspect.signature(spec.function)  # type: ignore[attr-defined]
    mark_test(test, spec)
    return test


@overload
def function(fn: Callable[[], Coroutine[Any, Any, Any]]) -> Callable[[], None]: ...
@overload
def function(
    fn: None = None,
    *,
    seed: int | None = None,
    seeds: Iterable[int] | None = None,
    faults: str | FaultProfile | FaultScript | None = _UNSET,
    **options: Any,
) -> Callable[[Callable[[], Coroutine[Any, Any, Any]]], Callable[[], None]]: ...
def function(
    fn: Any = None,
    *,
    seed: int | None = None,
    seeds: Iterable[int] | None = None,
    faults: str | FaultProfile | FaultScript | None = _UNSET,
    **options: Any,
) -> Any:
    """Decorator: run an async test function in a simulation, once per seed.

    Bare (``@function``) or with options: ``seed=7``, ``seeds=range(100)``,
    ``faults="none"`` (a profile name or `sim.FaultProfile`; default
    ``light``, or the ``DISPATCH_SIM_FAULTS`` environment variable),
    ``require_sometimes=True`` (a `sim.sometimes` or `sim.reachable` that no
    seed satisfied fails the test), and any other `sim.Simulation` option.
    A failure names its seed in a note.

    The test may take parameters: pytest fixtures, or values drawn by a
    Hypothesis ``@given`` placed above this decorator.
    """
    return _decorator(fn, seed, seeds, {"faults": faults, **options})


def method(
    fn: Any = None,
    *,
    seed: int | None = None,
    seeds: Iterable[int] | None = None,
    faults: str | FaultProfile | FaultScript | None = _UNSET,
    **options: Any,
) -> Any:
    """Like `function`, for test methods (the wrapped coroutine takes ``self``)."""
    return _decorator(fn, seed, seeds, {"faults": faults, **options})
