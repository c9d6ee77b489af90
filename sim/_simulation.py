"""A simulation run, as the user sees it: options, replay from a trace, run, and calls.

`Simulation` is the façade. It builds the run's parts (the decisions, the
trace, the synchronous `Service` that owns every call, and the trio
`Runtime` that drives it on the virtual clock) and answers dispatch, wait and
call. How time moves and tasks wake is `_runtime`'s business; what happens to
a call is `_service`'s.
"""

from __future__ import annotations

import functools
import inspect
import random
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextvars import ContextVar
from itertools import compress
from operator import is_not
from typing import Any, NoReturn, TypeVar

import trio

from . import _environment, _host
from ._decisions import Decisions, RecordedRandom, decisions_for
from ._environment import RunEnvironment
from ._errors import SimulationError
from ._faults import PROFILES, FaultProfile
from ._script import Fault, FaultScript
from ._journal import ABANDONED, decode_outcome
from ._options import check_options, unknown_option
from ._protocol import Call, CallResult, DispatchID
from ._records import _Record
from ._retry import RetryPolicy
from ._runtime import RUN_LOCK, Runtime, VirtualClock
from ._schedule import DEFAULT_DEPTH, DEFAULT_STEPS, SCHEDULES, PCTSchedule
from ._service import DEFAULT_MAX_LIVE_CALLS, DEFAULT_MAX_MEMORY, Service
from ._tally import PropertyTally
from ._trace import _SLICE, Trace

__all__ = ["DEFAULT_SEED", "Simulation", "current", "now"]

T = TypeVar("T")

DEFAULT_SEED = 0
"""The seed used when none is given."""

DEFAULT_MAX_STALLED_ROUNDS = 100_000
"""trio scheduling rounds in a row without progress (time, an action) a run may take."""

_current: ContextVar[Simulation | None] = ContextVar("dispatch_sim_current", default=None)
_current_get = _current.get  # bound once: current() runs on every attempt of an async function


def current() -> Simulation:
    """The simulation running in this context; RuntimeError outside of one."""
    sim = _current_get()
    if sim is None:
        raise RuntimeError(
            "no simulation is running here: call functions from a test decorated with "
            "@registry.test.function, or inside registry.test.run()/Simulation.run()"
        )
    return sim


def now() -> float:
    """The current virtual time of the running simulation, in seconds."""
    return current()._service.now


@functools.cache
def _package_versions() -> dict[str, str]:
    # importlib.metadata takes milliseconds; the answer never changes. Only ever copied.
    import platform
    from importlib import metadata

    versions = [("python", platform.python_version())]
    for package in ("dispatch-sim", "trio", "cbor2", "attrs"):
        try:
            versions.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            versions.append((package, "unknown"))
    return dict(versions)


# The profile of the last plain header, and its fields: a sweep gives the same
# profile to every seed, and an identity test costs less than walking its fields
# (as_header) or hashing it for a cache (attrs' __hash__, in Python). One tuple,
# so threads see a pair.
_last_fields: tuple[FaultProfile | None, dict[str, Any]] = (None, {})


def _profile_fields(profile: FaultProfile) -> dict[str, Any]:
    global _last_fields
    last = _last_fields
    if last[0] is not profile:
        fields = profile.as_header()
        if profile.functions or profile.script is not None:
            return fields  # nested lists: each trace gets its own, made afresh
        last = _last_fields = (profile, fields)
    return last[1].copy()  # each trace gets a dict of its own (a copy clones the table)


def _discard(main: Any) -> None:
    # A refused coroutine is closed, so Python does not warn it was never awaited.
    close = getattr(main, "close", None)
    if close is not None:
        close()


def _first_line(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = ""
    return text.splitlines()[0] if text else ""


def _result_of(rec: _Record) -> CallResult:
    outcome = rec.outcome
    if outcome is ABANDONED:
        raise SimulationError(f"call {rec.id} ({rec.function}) was abandoned")
    return decode_outcome(rec.correlation_id, rec.id, outcome)  # type: ignore[arg-type]


_DEFAULT_RETRY = RetryPolicy()  # frozen: one shared by every run that gives none

_DEFAULTS: dict[str, Any] = {}  # option name -> its default, filled in below Simulation
# The same names and defaults as tuples, in signature order, but for `seed` and
# `faults` (which `__init__` checks first, by themselves).
_REST_NAMES: tuple[str, ...] = ()
_REST_DEFAULTS: tuple[Any, ...] = ()


class Simulation:
    """One deterministic run of durable functions.

    `seed` chooses every fault, latency and ordering (through `faults`, a
    profile name or a `FaultProfile`; or exactly, a `FaultScript`, its text
    or a list of `Fault` records); `rng` replaces the seeded source of
    decisions with any `random.Random` (Hypothesis hands in its own). After
    the main coroutine returns, calls still in flight are drained to their
    outcome unless `drain=False`. `schedule="pct"` orders
    what can run next (trio tasks, and calls due at the same time) by random
    priorities with ``depth - 1`` change points drawn from the first
    `pct_steps` steps (see `sim._schedule`); the default ``"uniform"``
    shuffles trio's tasks afresh at every step.

    Caps end a run that cannot end with `LivelockError`: `max_events`
    actions, `max_virtual_time` virtual seconds (trio-level waits included),
    `max_stalled_rounds` trio scheduling rounds in a row in which neither
    time moves nor the service acts (tasks spinning on checkpoints),
    `max_live_calls` calls without an outcome at once, and `max_memory`
    estimated bytes of call records and trace events. With
    `deterministic_environment` (the default), user code in the run reads
    virtual time from `time`/`datetime` and seeded entropy from
    `os.urandom`/`uuid`/`secrets` (the README's "Guarantees and limits"). Every option is
    checked here: a wrong name or value raises at once. After a run,
    `properties` holds what `sim.always` & co. counted and `buggify_sites`
    which `sim.buggify` sites were active.
    """

    _decisions_type: type[Decisions] = Decisions
    """What makes the decisions; the shrinker's subclass also notes which draws each took."""

    def __init__(
        self,
        seed: int = DEFAULT_SEED,
        faults: str | FaultProfile | FaultScript | Sequence[Fault] | None = "light",
        *,
        rng: random.Random | None = None,
        retry: RetryPolicy | None = None,
        max_events: int = 2_000_000,
        max_virtual_time: float = 30 * 86400.0,
        drain: bool = True,
        test_id: str | None = None,
        schedule: str = "uniform",
        depth: int = DEFAULT_DEPTH,
        pct_steps: int = DEFAULT_STEPS,
        max_live_calls: int = DEFAULT_MAX_LIVE_CALLS,
        max_memory: int = DEFAULT_MAX_MEMORY,
        max_stalled_rounds: int = DEFAULT_MAX_STALLED_ROUNDS,
        deterministic_environment: bool = True,
        **unknown: NoReturn,
    ) -> None:
        if unknown:  # a misspelled option: say which one was meant
            raise unknown_option(next(iter(unknown)))
        # Every option is checked in the order of the signature, so the first wrong
        # one is the same whatever else is wrong. A seed sweep makes a Simulation
        # per seed: an exact int seed and a preset name are right at a glance.
        if seed.__class__ is not int:
            check_options({"seed": seed})
        profile = PROFILES.get(faults) if faults.__class__ is str else None
        if profile is None:
            profile = FaultProfile.coerce(faults)  # raises what the check of `faults` raises
        rest = (
            rng, retry, max_events, max_virtual_time, drain, test_id, schedule, depth, pct_steps,
            max_live_calls, max_memory, max_stalled_rounds, deterministic_environment,
        )  # fmt: skip
        # A default is never wrong, so only what the caller gave is checked, picked
        # out by C builtins (a dict comprehension over the options costs more).
        if any(map(is_not, rest, _REST_DEFAULTS)):
            check_options(dict(compress(zip(_REST_NAMES, rest), map(is_not, rest, _REST_DEFAULTS))))
        self.seed = seed
        self.deterministic_environment = deterministic_environment
        self.faults = profile
        self.max_events = max_events
        self.max_virtual_time = float(max_virtual_time)
        self.drain = drain
        # Without `rng`, the seed text: the decisions make their Random on the first draw.
        source = rng if rng is not None else f"dispatch-sim:{seed}:decisions"
        # A scripted or targeted profile has its own source; the shrinker's subclass
        # (which notes each draw) takes plain profiles.
        if self._decisions_type is Decisions:
            self.decisions = decisions_for(profile, source)
        else:
            self.decisions = self._decisions_type(profile, source)
        last = _last_fields  # _profile_fields(), its usual case written out: once per seed
        trace = self.trace = Trace(
            {
                "seed": seed,
                "faults": profile.name,
                "profile": last[1].copy() if last[0] is profile else _profile_fields(profile),
                "test_id": test_id,
                "decisions": None,
                "versions": _package_versions().copy(),
            }
        )
        service = self._service = Service(
            self.decisions,
            retry or _DEFAULT_RETRY,
            trace,
            max_events=max_events,
            max_virtual_time=self.max_virtual_time,
            max_live_calls=max_live_calls,
            max_memory=max_memory,
        )
        runtime = self._runtime = Runtime(service, trace, max_stalled_rounds)
        self._task_order: random.Random | None = None  # None: trio's own source, seeded
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(map(repr, SCHEDULES))}, got {schedule!r}")
        self.schedule = schedule
        if schedule == "pct":
            pct = PCTSchedule(seed, depth, pct_steps)
            pct.install(service)
            self._task_order = pct.task_order
            trace.header["schedule"] = pct.header  # `taken` says what k would fit
        self._wait_until = runtime.wait_until  # bound once: every wait goes through it
        self._started = False
        self._memory: dict[str, dict[Any, Any]] = {}
        self.properties = PropertyTally()  # sim.always & co. count their evaluations here
        self.buggify_sites: dict[str, bool] = {}  # sim.buggify: whether each site is active

    @classmethod
    def from_trace(cls, trace: Trace, **options: Any) -> Simulation:
        """A simulation that takes the decisions recorded in `trace`, to replay its run.

        Raises ValueError when the trace's header cannot describe a run.
        """
        header = trace.header
        decisions = header.get("decisions")
        if not isinstance(decisions, list):
            raise ValueError("the trace records no decisions (was its run finished?)")
        if not all(isinstance(d, float) and 0.0 <= d < 1.0 for d in decisions):
            raise ValueError("the trace's decisions are not all numbers in [0, 1)")
        seed = header.get("seed", DEFAULT_SEED)
        if type(seed) is not int:
            raise ValueError(f"the trace's seed is not an int: {seed!r}")
        profile = header.get("profile")
        try:
            faults: Any = (
                FaultProfile(**profile) if isinstance(profile, dict) else header.get("faults")
            )
            options.setdefault("test_id", header.get("test_id"))
            schedule = header.get("schedule")
            if isinstance(schedule, dict):  # a PCT run replays under the same schedule
                options.setdefault("schedule", schedule.get("name"))
                options.setdefault("depth", schedule.get("depth"))
                options.setdefault("pct_steps", schedule.get("steps"))
            options.setdefault("rng", RecordedRandom(decisions))  # a shrinker or fork gives its own
            return cls(seed=seed, faults=faults, **options)
        except TypeError as exc:
            raise ValueError(f"the trace's header does not describe a run: {exc}") from None

    def __repr__(self) -> str:
        state = "not run" if not self._started else f"{len(self.trace)} events"
        parts = [f"seed={self.seed}", f"faults={self.faults.name!r}", state]
        if self._started and self.trace.faults():
            injected = "; ".join(self.trace.describe_faults(limit=5).splitlines())
            parts.append(f"injected: {injected}")
        return f"Simulation({', '.join(parts)})"

    # -- running ----------------------------------------------------------------

    def run(self, main: Coroutine[Any, Any, T] | Callable[[], Awaitable[T]]) -> T:
        """Run `main` (a coroutine, or an async function taking no arguments) to its end.

        trio runs with the virtual clock; returns what `main` returns and
        raises what it raises.
        """
        __tracebackhide__ = True  # pytest: a failure shows the test's and the function's frames
        if _current_get() is not None:
            _discard(main)
            raise RuntimeError("a simulation is already running in this context")
        shared = _host.host()  # one trio run for every simulation of this thread (see _host)
        with RUN_LOCK:  # simulations of a process take turns, whatever their thread (see RUN_LOCK)
            if shared is None:
                return trio.run(self.main, main, clock=VirtualClock(self._runtime))
            value, error = shared.run(self._runtime, functools.partial(self.main, main))
        # Raised here, as trio.run raises, so no helper's frame is in tracebacks.
        if error is None:
            return value
        raise error

    async def main(self, main: Coroutine[Any, Any, T] | Callable[[], Awaitable[T]]) -> T:
        """Run `main` inside the current trio run (see `run`).

        Under another clock, the simulation keeps its own virtual time: its
        waits (latency, backoff, durable sleeps) still cost no wall time,
        while `trio.sleep` follows the host's clock.
        """
        __tracebackhide__ = True  # pytest: a failure shows the test's and the function's frames
        if self._started or _current_get() is not None:
            _discard(main)
            if self._started:
                raise RuntimeError("a Simulation runs once; create a new one for another run")
            raise RuntimeError("a simulation is already running in this context")
        self._started = True
        token = _current.set(self)
        runtime = self._runtime
        env = RunEnvironment(self.now, self.seed, self.deterministic_environment, runtime.refuse)
        try:
            # Pairs of calls in `finally` blocks rather than `with` blocks: a
            # generator's context manager costs a run as much as what it does.
            saved = runtime.enter_deterministic(self.seed, self._task_order)
            try:
                entered = _environment.enter(env)
                try:
                    value, error = await runtime.host(functools.partial(self._body, main))
                finally:
                    _environment.leave(entered)
            finally:
                runtime.leave_deterministic(saved)
        except BaseException as exc:
            # The run itself broke (an exception that is not an Exception from
            # a call nobody awaits, an internal error): every call still gets
            # its outcome before the exception goes on, as itself.
            self._end(exc)
            raise
        finally:
            _current.reset(token)
        failure: BaseException | None = runtime.failure
        if failure is None and error is not None and not isinstance(error, Exception):
            failure = error  # KeyboardInterrupt, SystemExit... where the test awaited
        self._end(failure)
        if runtime.failure is not None:
            raise runtime.failure
        if self.properties.failure is not None:
            # A failed property fails the run even where user code caught what it raised.
            raise self.properties.failure
        if error is not None:
            # Raised here rather than by unwrap(), whose frame would show in
            # every failure report above the user's own.
            raise error
        return value

    def _end(self, failure: BaseException | None) -> None:
        # A normal end abandons what is in flight; an abnormal one aborts it, saying why.
        if failure is None:
            self._service.abandon()
        else:
            self.trace.header["aborted"] = f"{type(failure).__qualname__}: {_first_line(failure)}"
            self._service.abort(failure)
        trace = self.trace
        trace.header["decisions"] = list(self.decisions.record)
        # sim-internal: the finished run's events go to the trace's compact store,
        # which takes whole slices only (a short run, the usual seed, has none to give).
        if len(trace._events) >= _SLICE:
            trace._compact()

    async def _body(self, main: Any) -> Any:
        __tracebackhide__ = True  # pytest: a failure shows the test's and the function's frames
        value = await (main() if callable(main) else main)
        if self.drain:
            await self._runtime.wait_quiet()  # as quiesce(), one coroutine fewer
        return value

    # -- the public service surface ---------------------------------------------

    def dispatch(
        self, calls: Sequence[Call], *, caller: DispatchID | None = None, key: Any = None
    ) -> list[DispatchID]:
        """Dispatch `calls` without waiting; returns their DispatchIDs in order.

        With `caller` and a `key` (e.g. the caller's count of dispatches so
        far), the dispatch is a durable step of the caller: made again with
        the same key, it returns the first ids and sends nothing.
        """
        return self._service.dispatch(calls, caller, key)

    async def wait(self, dispatch_id: DispatchID) -> Any:
        """Wait for the call's outcome: return its value or raise its error."""
        result = await self.wait_result(dispatch_id)
        if result.error is not None:
            raise result.error.to_exception()
        return result.output

    async def wait_result(self, dispatch_id: DispatchID) -> CallResult:
        """Wait for the call's outcome and return it as a CallResult, without raising."""
        rec = self._service.records.get(dispatch_id) if isinstance(dispatch_id, str) else None
        if rec is None:
            raise ValueError(f"unknown dispatch id {dispatch_id!r} in this simulation")
        if rec.outcome is None:
            await self._wait_until(rec)
        return _result_of(rec)

    async def call_result(self, call: Call, *, caller: DispatchID | None = None) -> CallResult:
        """Dispatch one call and wait for its outcome, as a CallResult (without raising)."""
        rec = self._service.dispatch_one(call, caller)
        if rec.outcome is None:
            await self._wait_until(rec)
        return _result_of(rec)

    def report_unawaited(self, caller: DispatchID, function: str) -> None:
        """Put in the trace that `caller` dropped a call of `function` without awaiting it."""
        self._service.unawaited(caller, function)

    def memory(self, owner: str) -> dict[Any, Any]:
        """In-memory state an endpoint keeps for this run (lost with the run)."""
        # A subscript, not .get(): registry asks on every attempt, and the owner
        # is missing once per run.
        try:
            return self._memory[owner]
        except KeyError:
            memory = self._memory[owner] = {}
            return memory

    async def call(self, call: Call) -> Any:
        """Dispatch one call and wait for its outcome: return its value or raise its error."""
        result = await self.call_result(call)
        if result.error is not None:
            raise result.error.to_exception()
        return result.output

    async def quiesce(self) -> None:
        """Wait until no call is in flight and nothing is scheduled."""
        await self._runtime.wait_quiet()

    def now(self) -> float:
        """Virtual seconds since the simulation started."""
        return self._service.now

    def lose_state(self, dispatch_id: DispatchID) -> None:
        """Make the endpoint forget the call's in-memory state, as a crash would.

        Its next resume rebuilds the coroutine from the journal.
        """
        rec = self._service.records.get(dispatch_id)
        if rec is None:
            raise ValueError(f"unknown dispatch id {dispatch_id!r} in this simulation")
        self._service.lose_state(rec)


_DEFAULTS.update(
    (name, parameter.default)
    for name, parameter in inspect.signature(Simulation.__init__).parameters.items()
    if parameter.default is not inspect.Parameter.empty
)
# The options in the order of the signature (and of `rest` in `__init__`), and their defaults.
_REST_NAMES = tuple(_DEFAULTS)[2:]
_REST_DEFAULTS = tuple(_DEFAULTS.values())[2:]
assert tuple(_DEFAULTS)[:2] == ("seed", "faults")
