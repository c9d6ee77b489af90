"""A simulation run: the virtual clock, trio integration, and waiting for calls.

trio hosts the run. When `Simulation.run` owns the trio run, trio's clock is
the simulation's virtual clock, so `trio.sleep` in tests and functions costs
no wall time. A task waiting for a call runs what is due now inline, with no
task switch. Time moves only in the clock, when trio finds no task runnable:
it jumps to the next simulated action (or trio deadline) and wakes a waiting
task, or else a background pump task, to run it. When every task is blocked
and nothing is scheduled, the run stops with `DeadlockError` instead of
hanging. Under another trio clock the pump moves the simulation's own time
whenever every task is blocked.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import heapq
import math
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

import attrs
import outcome
import trio
import trio.testing

from ._decisions import Decisions, RecordedRandom
from ._errors import DeadlockError, LivelockError, SimulationError
from ._faults import FaultProfile
from ._journal import decode_result
from ._protocol import Call, CallResult, DispatchID
from ._retry import RetryPolicy
from ._service import Service, _Record
from ._trace import Trace

__all__ = ["DEFAULT_SEED", "Simulation", "current", "now"]

T = TypeVar("T")

DEFAULT_SEED = 0
"""The seed used when none is given."""

_current: ContextVar[Simulation | None] = ContextVar("dispatch_sim_current", default=None)
_run_core: Any = trio._core._run  # trio's documented hook for deterministic scheduling


def current() -> Simulation:
    """The simulation running in this context; RuntimeError outside of one."""
    sim = _current.get()
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
def _package_versions() -> tuple[tuple[str, str], ...]:
    # importlib.metadata takes milliseconds; the answer never changes.
    import platform
    from importlib import metadata

    versions = [("python", platform.python_version())]
    for package in ("dispatch-sim", "trio", "cbor2", "attrs"):
        try:
            versions.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            versions.append((package, "unknown"))
    return tuple(versions)


def _versions() -> dict[str, str]:
    return dict(_package_versions())


def _discard(main: Any) -> None:
    # A refused coroutine is closed, so Python does not warn it was never awaited.
    close = getattr(main, "close", None)
    if close is not None:
        close()


def _result_of(rec: _Record) -> CallResult:
    kind, payload = rec.outcome  # type: ignore[misc]
    if kind == "abandoned":
        raise SimulationError(f"call {rec.id} ({rec.function}) was abandoned")
    return decode_result((rec.correlation_id, rec.id, kind, payload))


_BLOCKED, _DUE, _LATER = 0, 1, 2


class _VirtualClock(trio.abc.Clock):
    """trio's clock during `Simulation.run`: the simulation's virtual time.

    trio asks how long to sleep only when no task is runnable and the last
    batch of tasks has run: the one moment when time may move. Tasks waiting
    in `wait_all_tasks_blocked` are woken first, at the current time. Then,
    if the simulation's next action comes no later than trio's next deadline,
    time jumps to it and the parked pump task runs it; otherwise time jumps to
    trio's deadline. With neither, nothing can ever happen: the pump reports
    the deadlock.
    """

    def __init__(self, simulation: Simulation) -> None:
        self._simulation = simulation

    def start_clock(self) -> None:
        pass

    def current_time(self) -> float:
        return self._simulation._service.now

    def deadline_to_sleep_time(self, deadline: float) -> float:
        simulation = self._simulation
        service = simulation._service
        if deadline <= service.now:
            return 0.0
        if _run_core.GLOBAL_RUN_CONTEXT.runner.waiting_for_idle:
            return math.inf  # trio wakes them now, before time moves
        heap = service.heap
        if heap and heap[0][0] <= deadline and simulation._wake_driver():
            service.now = max(service.now, heap[0][0])
            return 0.0
        if deadline == math.inf:
            if not heap and simulation._wake_driver(stalled=True):
                return 0.0
            return math.inf
        service.now = deadline
        return 0.0


class Simulation:
    """One deterministic run of durable functions.

    `seed` chooses every fault, latency and ordering (through `faults`, a
    profile name or a `FaultProfile`); `rng` replaces the seeded source of
    decisions with any `random.Random` (Hypothesis hands in its own). After
    the main coroutine returns, calls still in flight are drained to their
    outcome unless `drain=False`. `max_events` and `max_virtual_time` stop a
    run that does not converge with `LivelockError`.
    """

    def __init__(
        self,
        seed: int = DEFAULT_SEED,
        faults: str | FaultProfile | None = "light",
        *,
        rng: random.Random | None = None,
        retry: RetryPolicy | None = None,
        max_events: int = 2_000_000,
        max_virtual_time: float = 30 * 86400.0,
        drain: bool = True,
        test_id: str | None = None,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, not {type(seed).__qualname__}")
        if not (isinstance(max_events, int) and max_events > 0):
            raise ValueError(f"max_events must be a positive int, got {max_events!r}")
        if not max_virtual_time > 0:
            raise ValueError(f"max_virtual_time must be > 0, got {max_virtual_time!r}")
        self.seed = seed
        self.faults = FaultProfile.coerce(faults)
        self.max_events = max_events
        self.max_virtual_time = float(max_virtual_time)
        self.drain = drain
        source = rng if rng is not None else random.Random(f"dispatch-sim:{seed}:decisions")
        self.decisions = Decisions(self.faults, source)
        self.trace = Trace(
            {
                "seed": seed,
                "faults": self.faults.name,
                "profile": attrs.asdict(self.faults),
                "test_id": test_id,
                "decisions": None,
                "versions": _versions(),
            }
        )
        self._service = Service(self.decisions, retry or RetryPolicy(), self.trace)
        self._events = 0
        self._driving = False
        self._running_foreign = 0
        self._waiting: list[trio.lowlevel.Task] = []  # tasks waiting for quiescence
        self._parked_pump: trio.lowlevel.Task | None = None
        self._pumps = 0
        self._own_clock = False
        self._failure: SimulationError | None = None
        self._stalled = False
        self._time_driver: tuple[trio.lowlevel.Task, list[trio.lowlevel.Task]] | None = None
        self._main_scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._started = False
        self._memory: dict[str, dict[Any, Any]] = {}

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
            return cls(seed=seed, faults=faults, rng=RecordedRandom(decisions), **options)
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
        if _current.get() is not None:
            _discard(main)
            raise RuntimeError("a simulation is already running in this context")
        return trio.run(self.main, main, clock=_VirtualClock(self))

    async def main(self, main: Coroutine[Any, Any, T] | Callable[[], Awaitable[T]]) -> T:
        """Run `main` inside the current trio run (see `run`).

        Under another clock, the simulation keeps its own virtual time: its
        waits (latency, backoff, durable sleeps) still cost no wall time,
        while `trio.sleep` follows the host's clock.
        """
        if self._started or _current.get() is not None:
            _discard(main)
            if self._started:
                raise RuntimeError("a Simulation runs once; create a new one for another run")
            raise RuntimeError("a simulation is already running in this context")
        self._started = True
        clock = trio.lowlevel.current_clock()
        self._own_clock = isinstance(clock, _VirtualClock) and clock._simulation is self
        token = _current.set(self)
        try:
            with self._deterministic():
                result = await self._host(main)
        finally:
            _current.reset(token)
        return result

    @contextlib.contextmanager
    def _deterministic(self) -> Iterator[None]:
        # trio shuffles each batch of runnable tasks with its module-level
        # random; seeding it and turning on its deterministic mode (the hook
        # trio keeps for Hypothesis) makes task order a function of the seed.
        # User code that calls the `random` module is seeded the same way.
        saved_flag = _run_core._ALLOW_DETERMINISTIC_SCHEDULING
        saved_trio = _run_core._r.getstate()
        saved_random = random.getstate()
        # A run allocates a few dozen short-lived objects per call; with the
        # default threshold of 700 the collector runs every few calls (a
        # quarter of the time of a 100k-call fan-out). Restored afterwards.
        saved_gc = gc.get_threshold()
        gc.set_threshold(max(saved_gc[0], 50_000), *saved_gc[1:])
        _run_core._ALLOW_DETERMINISTIC_SCHEDULING = True
        _run_core._r.seed(f"dispatch-sim:{self.seed}:trio")
        random.seed(f"dispatch-sim:{self.seed}:user")
        try:
            yield
        finally:
            _run_core._ALLOW_DETERMINISTIC_SCHEDULING = saved_flag
            _run_core._r.setstate(saved_trio)
            random.setstate(saved_random)
            gc.set_threshold(*saved_gc)

    async def _host(self, main: Any) -> Any:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if not self._own_clock:  # under our clock, the clock wakes the pump
                self._service.on_push = self._poke_pump
            nursery.start_soon(self._pump)
            with trio.CancelScope() as self._main_scope:
                result = await outcome.acapture(self._body, main)
            nursery.cancel_scope.cancel()
        self._service.on_push = None
        self._service.abandon()
        self.trace.header["decisions"] = list(self.decisions.record)
        if self._failure is not None:
            raise self._failure
        return result.unwrap()

    async def _body(self, main: Any) -> Any:
        value = await (main() if callable(main) else main)
        if self.drain:
            await self.quiesce()
        return value

    # -- the public service surface ---------------------------------------------

    def dispatch(self, calls: Sequence[Call], *, caller: DispatchID | None = None) -> list[DispatchID]:
        """Dispatch `calls` without waiting; returns their DispatchIDs in order."""
        return self._service.dispatch(calls, caller)

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
            await self._await(lambda: rec.outcome is not None, rec.waiters)
        return _result_of(rec)

    async def call_result(self, call: Call, *, caller: DispatchID | None = None) -> CallResult:
        """Dispatch one call and wait for its outcome, as a CallResult (without raising)."""
        rec = self._service.dispatch_one(call, caller)
        if rec.outcome is None:
            await self._await(lambda: rec.outcome is not None, rec.waiters)
        return _result_of(rec)

    def memory(self, owner: str) -> dict[Any, Any]:
        """In-memory state an endpoint keeps for this run (lost with the run)."""
        memory = self._memory.get(owner)
        if memory is None:
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
        await self._await(self._quiet, self._waiting)

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

    # -- driving -----------------------------------------------------------------

    def _quiet(self) -> bool:
        return not self._service.heap and not self._running_foreign

    def _drive_state(self) -> int:
        """_DUE: the next action is due now; _LATER: it is due later and no
        other task is known to be runnable; _BLOCKED: leave it to others."""
        heap = self._service.heap
        if not heap or self._driving or self._failure is not None:
            return _BLOCKED
        due = heap[0][0]
        if due <= self._service.now:
            return _DUE
        stats = trio.lowlevel.current_statistics()
        if stats.tasks_runnable:
            return _BLOCKED
        if self._own_clock and due - self._service.now > stats.seconds_to_next_deadline:
            return _BLOCKED
        return _LATER

    async def _await(self, done: Callable[[], bool], waiters: list[trio.lowlevel.Task]) -> None:
        task = trio.lowlevel.current_task()
        service = self._service
        heap = service.heap
        while not done():
            # Only what is due now runs inline. Time moves in the clock: trio's
            # statistics do not show the other tasks of the batch it is
            # running, and those must run before time moves on.
            if heap and heap[0][0] <= service.now and not self._driving and self._failure is None:
                pending = self._act()
                if pending is not None:
                    await self._finish_pending(pending, pump=False)
                continue
            waiters.append(task)
            if self._own_clock and self._time_driver is None:
                # Volunteer: once time has moved, the clock wakes this task
                # (rather than the pump) to run what is due, saving a switch.
                self._time_driver = (task, waiters)

            def abort(_: Any) -> trio.lowlevel.Abort:
                waiters.remove(task)
                if self._time_driver is not None and self._time_driver[0] is task:
                    self._time_driver = None
                return trio.lowlevel.Abort.SUCCEEDED

            await trio.lowlevel.wait_task_rescheduled(abort)
            if self._time_driver is not None and self._time_driver[0] is task:
                self._time_driver = None  # woken by its call's outcome instead

    def _wake_driver(self, stalled: bool = False) -> bool:
        """Called by the clock: wake a waiting task, else the pump, to act at the new time."""
        driver = self._time_driver
        if driver is not None and not stalled:
            task, waiters = driver
            self._time_driver = None
            waiters.remove(task)
        elif self._parked_pump is not None:
            task, self._parked_pump = self._parked_pump, None
            self._stalled = stalled
        else:
            return False
        trio.lowlevel.reschedule(task)
        return True

    async def _step(self, pump: bool) -> bool:
        """Run the next due action; True if it made this task wait outside the simulation."""
        pending = self._act()
        if pending is None:
            return False
        await self._finish_pending(pending, pump)
        return True

    def _act(self) -> Awaitable[None] | None:
        """Run the next due action; returns what it must await outside the simulation, if anything."""
        service = self._service
        due, _, action, arg = heapq.heappop(service.heap)
        if due > self.max_virtual_time:
            self._livelock(f"virtual time passed max_virtual_time={self.max_virtual_time}s")
            return None
        if due > service.now:
            service.now = due
        self._events += 1
        if self._events > self.max_events:
            self._livelock(f"more than max_events={self.max_events} events")
            return None
        self._driving = True
        try:
            pending = action(arg)
        finally:
            self._driving = False
        if pending is None and self._waiting and not service.heap and not self._running_foreign:
            self._wake_quiet()
        return pending

    async def _finish_pending(self, pending: Awaitable[None], pump: bool) -> None:
        if pump:
            self._nursery.start_soon(self._pump)  # type: ignore[union-attr]
        self._running_foreign += 1
        try:
            await pending
        finally:
            self._running_foreign -= 1
        if self._waiting and not self._service.heap and not self._running_foreign:
            self._wake_quiet()

    def _wake_quiet(self) -> None:
        # Nothing is scheduled or running: whoever waits for quiescence goes on.
        for task in self._waiting:
            trio.lowlevel.reschedule(task)
        self._waiting.clear()

    def _poke_pump(self) -> None:
        task = self._parked_pump
        if task is not None:
            self._parked_pump = None
            trio.lowlevel.reschedule(task)

    async def _pump(self) -> None:
        self._pumps += 1
        try:
            if self._own_clock:
                await self._clock_pump()
            else:
                await self._idle_pump()
        finally:
            self._pumps -= 1

    async def _clock_pump(self) -> None:
        # Woken by the virtual clock once time has moved to the next action.
        while True:
            await self._park_pump(math.inf)
            if self._failure is not None:
                return
            if self._stalled:
                self._stalled = False
                if not self._service.heap:
                    self._deadlock()
                    return
            while self._drive_state() == _DUE:
                if await self._step(pump=True):
                    return  # a new pump took over while this one waited

    async def _idle_pump(self) -> None:
        # Under a clock that is not ours, the simulation's time is its own:
        # it moves whenever every task is blocked.
        quiet: tuple[int, float] | None = None
        while True:
            await trio.testing.wait_all_tasks_blocked()
            if self._failure is not None:
                return
            if self._service.heap:
                quiet = None
                while self._drive_state() != _BLOCKED:
                    if await self._step(pump=True):
                        return  # a new pump took over while this one waited
                continue
            stats = trio.lowlevel.current_statistics()
            if stats.tasks_runnable:
                quiet = None
                continue
            if stats.seconds_to_next_deadline == math.inf and self._blocked_waiters():
                # Tasks woken with this one (other idle waiters) are not
                # counted as runnable: a deadlock is only certain when a
                # second idle moment finds nothing changed.
                snapshot = (len(self.trace), self._service.now)
                if quiet != snapshot:
                    quiet = snapshot
                    continue
                self._deadlock()
                return
            await self._park_pump(stats.seconds_to_next_deadline)

    async def _park_pump(self, timeout: float) -> None:
        with trio.move_on_after(timeout):
            self._parked_pump = trio.lowlevel.current_task()

            def abort(_: Any) -> trio.lowlevel.Abort:
                self._parked_pump = None
                return trio.lowlevel.Abort.SUCCEEDED

            await trio.lowlevel.wait_task_rescheduled(abort)

    def _blocked_waiters(self) -> int:
        return len(self._waiting) + sum(len(r.waiters) for r in self._unfinished())

    def _unfinished(self) -> list[_Record]:
        return [r for r in self._service.records.values() if r.outcome is None]

    def _fail(self, failure: SimulationError) -> None:
        if self._failure is None:
            self._failure = failure
        self._service.heap.clear()
        if self._main_scope is not None:
            self._main_scope.cancel()

    def _deadlock(self) -> None:
        lines = [
            f"the simulation cannot progress at virtual time {self._service.now:.6f}s: "
            "nothing is scheduled and every task is blocked"
        ]
        for rec in self._unfinished()[:20]:
            what = {
                "running": "blocked in an await outside the simulation",
                "polling": f"waiting for {len(rec.suspension.outstanding) if rec.suspension else 0} calls",
            }.get(rec.state, rec.state)
            lines.append(f"  {rec.id} {rec.function} (attempt {rec.attempt}): {what}")
        if len(lines) == 1:
            lines.append("  no call is in flight: the test itself awaits something that never happens")
        self._fail(DeadlockError("\n".join(lines)))

    def _livelock(self, cap: str) -> None:
        busiest = sorted(self._service.records.values(), key=lambda r: (-r.attempt, r.id))[:5]
        calls = ", ".join(f"{r.id} {r.function} ({r.attempt} attempts)" for r in busiest)
        self._fail(
            LivelockError(
                f"the simulation exceeded its cap: {cap} (at virtual time "
                f"{self._service.now:.6f}s, {self._events} events); busiest calls: {calls}"
            )
        )
