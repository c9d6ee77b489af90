"""The trio side of a simulation: the virtual clock, the inline driver, pumps, waking.

trio hosts the run. When `Simulation.run` owns the trio run, trio's clock is
the simulation's virtual clock, so `trio.sleep` in tests and functions costs
no wall time. A task waiting for a call runs what is due now inline, with no
task switch. Time moves only in the clock, when trio finds no task runnable:
it jumps to the next simulated action (or trio deadline) and wakes a waiting
task, or else a background pump task, to run it. When every task is blocked
and nothing is scheduled, the run stops with `DeadlockError` instead of
hanging. Under another trio clock the pump moves the simulation's own time
whenever every task is blocked. In the shared run of `_host`, the pump starts
only once the body first waits in trio; a run that never does costs trio no
task switch at all.

The service (`_service`) knows nothing of this: the runtime installs its
`wake` and `on_push` hooks and runs its actions with `Service.step()`.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import os
import random
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import outcome
import trio

from . import _environment
from ._errors import DeadlockError, LivelockError, SimulationError
from ._records import POLLING, RUNNING, _Record
from ._service import Service
from ._trace import Trace

__all__ = ["RUN_LOCK", "TRIO_INTERNALS", "Runtime", "VirtualClock"]

# The private parts of trio the runtime reaches into, each for a reason given
# where it is used. tests/sim/test_runtime.py checks that every one still
# exists, so a trio upgrade that drops one fails there, naming it.
_run_core: Any = trio._core._run  # the module holding trio's run loop and its scheduler state
TRIO_INTERNALS: tuple[tuple[str, str], ...] = (
    ("trio._core._run", "_ALLOW_DETERMINISTIC_SCHEDULING"),
    ("trio._core._run", "_r"),
    ("trio._core._run", "GLOBAL_RUN_CONTEXT"),
    ("trio._core._run.GLOBAL_RUN_CONTEXT", "runner"),  # only inside a run
    ("trio._core._run.GLOBAL_RUN_CONTEXT", "task"),  # only inside a run
    ("trio._core._run.GLOBAL_RUN_CONTEXT.task", "_cancel_status"),  # only inside a run
    ("trio._core._run.GLOBAL_RUN_CONTEXT.runner", "waiting_for_idle"),  # only inside a run
    ("trio._core._run.GLOBAL_RUN_CONTEXT.runner", "runq"),  # only inside a run
    ("trio._core._run.GLOBAL_RUN_CONTEXT.runner", "tasks"),  # only inside a run
    ("trio._core._run.GLOBAL_RUN_CONTEXT.runner", "deadlines"),  # only inside a run
    ("trio._core._run.GLOBAL_RUN_CONTEXT.runner", "current_time"),  # only inside a run
    ("trio._core._run.GLOBAL_RUN_CONTEXT.runner.deadlines", "next_deadline"),  # only inside a run
    ("trio._core._run.GLOBAL_RUN_CONTEXT.runner.deadlines", "_heap"),  # only inside a run
)

_BLOCKED, _DUE, _LATER = 0, 1, 2
_INF = math.inf

# The simulations of a process take turns, one at a time whatever thread runs
# them (a Dask worker's threads, a sweep on a ThreadPoolExecutor): what makes a
# run deterministic is process-wide (trio's scheduler source `_r` and its
# deterministic flag, the `random` module, the environment's patches), and a
# trio loop stepped in another thread meanwhile shuffles its own batches with
# this run's `_r`. Held from `Runtime.enter_deterministic` to its
# `leave_deterministic`, around all of `Simulation.run` (the trio loop stepped
# before and after it too), and while a thread's shared run ends
# (sim._host.hosting). Reentrant: a thread nests it.
RUN_LOCK = threading.RLock()

_Saved = tuple[bool, Any, "_environment.SavedState | None"]
"""What `Runtime.enter_deterministic` changed: trio's flag and source, and the saved state."""


class VirtualClock(trio.abc.Clock):
    """trio's clock during `Simulation.run`: the simulation's virtual time.

    trio asks how long to sleep only when no task is runnable and the last
    batch of tasks has run: the one moment when time may move. Tasks waiting
    in `wait_all_tasks_blocked` are woken first, at the current time. Then,
    if the simulation's next action comes no later than trio's next deadline,
    time jumps to it and the parked pump task runs it; otherwise time jumps to
    trio's deadline. With neither, nothing can ever happen: the pump reports
    the deadlock.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def start_clock(self) -> None:
        pass

    def add_watchdog(self, watchdog: trio.abc.Instrument) -> None:
        """Install the runtime's watchdog for the run (see `_Watchdog`)."""
        trio.lowlevel.add_instrument(watchdog)

    def remove_watchdog(self, watchdog: trio.abc.Instrument) -> None:
        """Take the watchdog `add_watchdog` installed out of the run."""
        trio.lowlevel.remove_instrument(watchdog)

    def current_time(self) -> float:
        return self.runtime._service.now

    def deadline_to_sleep_time(self, deadline: float) -> float:
        runtime = self.runtime
        service = runtime._service
        if deadline <= service.now:
            return 0.0
        # trio's public API cannot say whether tasks wait in
        # wait_all_tasks_blocked; they must be woken before time moves.
        if _run_core.GLOBAL_RUN_CONTEXT.runner.waiting_for_idle:
            return math.inf  # trio wakes them now, before time moves
        heap = service.heap
        if heap and heap[0][0] <= deadline and runtime._wake_driver():
            service.now = max(service.now, heap[0][0])
            return 0.0
        if deadline == math.inf:
            if not heap and runtime._wake_driver(stalled=True):
                return 0.0
            return math.inf
        if deadline > service.max_virtual_time:
            # A trio-level wait (trio.sleep, a timeout) past the cap: the run
            # ends here rather than living on in trio time.
            runtime._trio_time_cap(deadline)
            return 0.0
        service.now = deadline
        return 0.0


class _LazyTaskOrder:
    """trio's scheduler source for one run: `random.Random(text)`, made on the first draw.

    Seeding a Mersenne Twister is a fifth of an empty seed's setup, and most
    runs never draw from this one: trio shuffles every batch of runnable
    tasks, but a batch of one task shuffles without drawing (as
    `random.Random.shuffle` does), and batches of one are the usual case.
    """

    __slots__ = ("_real", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._real: random.Random | None = None

    def _source(self) -> random.Random:
        real = self._real
        if real is None:
            real = self._real = random.Random(self._text)
        return real

    def shuffle(self, batch: list[Any]) -> None:
        """Shuffle `batch` in place, as `random.Random(text).shuffle` would."""
        if len(batch) > 1:
            self._source().shuffle(batch)

    def __getattr__(self, name: str) -> Any:
        # Anything else trio draws (uniform for a SystemClock's offset, random()).
        return getattr(self._source(), name)


class _Quiescence:
    """What `Runtime.wait_quiet` waits on, read as a call's record is: its outcome
    is there (True) while the run is quiet, and its waiters are the runtime's."""

    __slots__ = ("_runtime", "waiters")

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.waiters = runtime._waiting

    @property
    def outcome(self) -> bool | None:
        runtime = self._runtime  # quiet(), written out: read once per action of the wait
        return None if runtime._service.heap or runtime._running_foreign else True


class Runtime:
    """Drives one `Service` from inside a trio run, and reports runs that cannot end."""

    _watchdog: _Watchdog | None = None  # in a shared run, installed once the body waits in trio

    def __init__(self, service: Service, trace: Trace, max_stalled_rounds: int = 100_000) -> None:
        self._service = service
        self._max_stalled_rounds = max_stalled_rounds
        self._trace = trace
        self._driving = False
        self._running_foreign = 0
        self._waiting: list[trio.lowlevel.Task] = []  # tasks waiting for quiescence
        self._parked_pump: trio.lowlevel.Task | None = None
        self._pumps = 0
        self._pumps_stop = False  # the body is done: a pump that starts or wakes returns
        self._own_clock = False
        self.failure: SimulationError | None = None
        self._stalled = False
        self._time_driver: tuple[trio.lowlevel.Task, list[trio.lowlevel.Task]] | None = None
        self._main_scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._alone = -1  # tasks alive in the run when only its own are (see _alone_in_trio)
        self._runner: Any = None  # trio's runner, while hosting (see _alone_in_trio)
        # In a shared run (sim._host), pumps start only once the run waits in trio:
        self._spawn: Callable[[Callable[[], Awaitable[None]], contextvars.Context, int | None], None] | None = None
        self._pump_counter: int | None = None  # the first pump's place in trio's task order
        self._pump_context: contextvars.Context | None = None  # and its context
        self._pump_scopes: list[trio.CancelScope] = []  # pumps alive, each in a scope of its own
        self._pump_failure: BaseException | None = None  # what killed a pump
        self._pumps_gone: trio.Event | None = None  # set when the last pump has ended
        service.wake = _wake_waiters

    # -- hosting -------------------------------------------------------------------

    def enter_deterministic(self, seed: int, task_order: random.Random | None = None) -> _Saved:
        """Make trio's task order, and the `random` module, a function of `seed`.

        `task_order` replaces trio's random source for the run instead (a PCT
        schedule's, or one Hypothesis draws from): trio orders each batch of
        runnable tasks with its ``shuffle``. Holds `RUN_LOCK` until
        `leave_deterministic(saved)` puts back what this returns (`saved`),
        which the caller does in a ``finally``: a pair of calls rather than a
        context manager, whose generator and its entering and leaving cost a
        run as much again.
        """
        # trio shuffles each batch of runnable tasks with its module-level
        # random `_r`; seeding it and turning on its deterministic mode (the
        # hook trio keeps for Hypothesis, `_ALLOW_DETERMINISTIC_SCHEDULING`)
        # makes task order a function of the seed. Neither has a public API.
        # User code that calls the `random` module is seeded the same way.
        RUN_LOCK.acquire()  # another thread's simulation waits for this one to end (see RUN_LOCK)
        try:
            # trio's generator is swapped for a seeded one rather than re-seeded and
            # restored: trio looks `_r` up on each use, and saving and restoring a
            # Mersenne Twister's state costs more than making one.
            # The `random` module's state, put back afterwards, and a higher gc
            # threshold (see `_environment.save_state`); in a `held` block (a
            # sweep's batch) the block saved them once for all its runs.
            saved = (
                _run_core._ALLOW_DETERMINISTIC_SCHEDULING,
                _run_core._r,
                None if _environment.holding() else _environment.save_state(),
            )
            _run_core._ALLOW_DETERMINISTIC_SCHEDULING = True
            # trio reads the module global at each batch.
            _run_core._r = _LazyTaskOrder(f"dispatch-sim:{seed}:trio") if task_order is None else task_order
            random.seed(f"dispatch-sim:{seed}:user")
        except BaseException:
            RUN_LOCK.release()
            raise
        return saved

    def leave_deterministic(self, saved: _Saved) -> None:
        """Put back what `enter_deterministic` changed, and release `RUN_LOCK`."""
        try:
            _run_core._ALLOW_DETERMINISTIC_SCHEDULING, _run_core._r, state = saved
            if state is not None:
                _environment.restore_state(state)
        finally:
            RUN_LOCK.release()

    def hosted(
        self,
        spawn: Callable[[Callable[[], Awaitable[None]], contextvars.Context, int | None], None],
        counter: int,
        scope: trio.CancelScope,
    ) -> None:
        """Called by a shared run (sim._host) before `host` runs in it: pumps are
        started with `spawn(pump, context, counter)`, and only once the run waits
        in trio; `scope` (around the body's task) is the one a failure cancels."""
        self._spawn = spawn
        self._pump_counter = counter
        self._main_scope = scope

    def yielded_to_trio(self) -> None:
        """Called by a shared run when the body first waits in trio: the pump starts now.

        It starts as the pump `host` starts at once elsewhere would: with the
        context the body had when it began, and that pump's place in trio's
        task order (its spawn counter), so every batch of tasks trio shuffles
        holds the same tasks in the same order, and the run is the same.
        """
        if self._pump_context is None or self._pump_counter is None:
            return
        counter, self._pump_counter = self._pump_counter, None
        # Only a run that waits in trio has scheduling rounds for the watchdog
        # to count: made now, it starts as one made when the body began would.
        self._watchdog = _Watchdog(self)
        trio.lowlevel.current_clock().add_watchdog(self._watchdog)  # type: ignore[attr-defined]
        self._start_pump(self._pump_context, counter)
        self._alone += 1

    async def host(self, body: Callable[[], Awaitable[Any]]) -> tuple[Any, BaseException | None]:
        """Run `body` with the pump beside it, in the current trio run; what it
        returned and what it raised, as ``(value, None)`` or ``(None, exception)``.

        Checks the clock first: under the runtime's own `VirtualClock`, the
        clock moves time; under any other, the pump does. In a shared run
        (`hosted`), the pump waits until the body first waits in trio.
        """
        if self._spawn is not None:
            # A shared run: the host attached its clock to this runtime before
            # the body's task started, so the clock is ours, as checked below.
            self._own_clock = True
            return await self._host_lazily(body)
        clock = trio.lowlevel.current_clock()
        self._own_clock = isinstance(clock, VirtualClock) and clock.runtime is self
        watchdog = _Watchdog(self) if self._own_clock else None
        if watchdog is not None:
            clock.add_watchdog(watchdog)  # type: ignore[attr-defined]
        # Read directly where trio.lowlevel.current_statistics() would build a
        # statistics record (and ask epoll for its own) on every inline action.
        self._runner = _run_core.GLOBAL_RUN_CONTEXT.runner
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if not self._own_clock:  # under our clock, the clock wakes the pump
                    self._service.on_push = self._poke_pump
                nursery.start_soon(self._pump)
                self._alone = len(self._runner.tasks)
                with trio.CancelScope() as self._main_scope:
                    try:
                        result: tuple[Any, BaseException | None] = (await body(), None)
                    except BaseException as exc:
                        result = (None, exc)
                self._stop_pumps(nursery)
        except BaseExceptionGroup as group:
            # A pump task died (an exception that is not an Exception, such as
            # KeyboardInterrupt, from a call nobody awaits; or an internal error):
            # the caller gets that exception itself, not trio's group.
            leaf = _one_of(group)
            raise leaf from leaf.__cause__
        finally:
            if watchdog is not None:
                clock.remove_watchdog(watchdog)  # type: ignore[attr-defined]
            self._runner = None
        self._service.on_push = None
        return result

    async def _host_lazily(self, body: Callable[[], Awaitable[Any]]) -> tuple[Any, BaseException | None]:
        # `host` in a shared run: no nursery, and no pump or watchdog until the
        # body waits in trio (see `yielded_to_trio`). A body that never does (no
        # trio primitive awaited, time moved inline) costs trio nothing more.
        __tracebackhide__ = True  # pytest: a failure shows the test's and the function's frames
        runner = self._runner = _run_core.GLOBAL_RUN_CONTEXT.runner
        self._pump_context = contextvars.copy_context()  # what a pump started now would get
        self._alone = len(runner.tasks)
        try:
            # Caught here rather than by outcome.acapture, whose frame would show
            # in tracebacks; a pair rather than an outcome.Value/Error to make.
            try:
                result: tuple[Any, BaseException | None] = (await body(), None)
            except BaseException as exc:
                result = (None, exc)
            if self._pump_counter is None:  # a pump started (else none will: `_spawn` goes below)
                self._stop_pumps(None)
            if self._pump_scopes:  # told to end: wait until they have, as a nursery's end would
                self._pumps_gone = trio.Event()
                with trio.CancelScope(shield=True):  # the body's scope may be cancelled (_fail)
                    await self._pumps_gone.wait()
        finally:
            if self._watchdog is not None:
                trio.lowlevel.current_clock().remove_watchdog(self._watchdog)  # type: ignore[attr-defined]
                self._watchdog = None
            # The context holds the simulation (sim.current()): kept past the run,
            # it would tie the simulation to whatever keeps this runtime.
            self._runner = self._pump_context = self._spawn = None
        failure = self._pump_failure
        if failure is not None:
            raise failure from failure.__cause__
        return result

    def _start_pump(self, context: contextvars.Context | None = None, counter: int | None = None) -> None:
        if self._spawn is None:
            self._nursery.start_soon(self._pump)  # type: ignore[union-attr]
            return
        scope = trio.CancelScope()
        self._pump_scopes.append(scope)  # from now until it ends: the body waits for it
        self._spawn(functools.partial(self._hosted_pump, scope), context or contextvars.copy_context(), counter)

    async def _hosted_pump(self, scope: trio.CancelScope) -> None:
        # A pump in the shared run's nursery: what would end it or escape it
        # (cancelled by _stop_pumps; an exception that kills it) stays here,
        # and what kills it ends the run, as it would from the body's nursery.
        try:
            with scope:
                await self._pump()
        except BaseException as exc:
            if self._pump_failure is None:
                self._pump_failure = exc
            if self._main_scope is not None:
                self._main_scope.cancel()
        finally:
            self._pump_scopes.remove(scope)
            if not self._pump_scopes and self._pumps_gone is not None:
                self._pumps_gone.set()

    # -- waiting -------------------------------------------------------------------

    def quiet(self) -> bool:
        """Nothing is scheduled and no attempt awaits anything outside the simulation."""
        return not self._service.heap and not self._running_foreign

    async def wait_quiet(self) -> None:
        """Return once the simulation is quiet (see `quiet`)."""
        if self._service.heap or self._running_foreign:  # not quiet(), written out: most runs end quiet
            await self.wait_until(_Quiescence(self))

    async def wait_until(self, target: _Record | _Quiescence) -> None:
        """Run what is due now inline until `target` has its outcome, parking in its `waiters` between.

        `target` is a call's record, or a `_Quiescence` (whose outcome is
        there while the run is quiet): an object read for its end, rather
        than a test made per wait and called per action.

        In a cancelled scope it parks at once, so trio raises Cancelled: a wait
        is a checkpoint when its scope is cancelled (trio's
        `checkpoint_if_cancelled`), whether or not its call could end inline.
        """
        service = self._service
        heap = service.heap
        # Read from trio's current task where checkpoint_if_cancelled() would
        # cost a coroutine per wait; nothing that runs inline cancels a scope.
        cancelled = _run_core.GLOBAL_RUN_CONTEXT.task._cancel_status.effectively_cancelled
        while target.outcome is None:
            # What is due now runs inline. Time moves in the clock (trio's
            # statistics do not show the other tasks of the batch it is
            # running, and those must run before time moves on), or here when
            # no task but the simulation's own is alive (see _alone_in_trio).
            # (The cheap tests first; none of them has an effect.)
            if not cancelled and heap and not self._driving and self.failure is None:
                due = heap[0][0]
                if due <= service.now or self._alone_in_trio(due):
                    # _act(), written out: this runs once per action of most runs.
                    # The actions that follow while none hands back an awaitable
                    # run in the same turn of driving: the tests of the outer
                    # loop made again, but for those no action changes (the scope
                    # was not cancelled, this task is the one driving).
                    self._driving = True
                    alone = False  # _alone_in_trio held in this turn (see below)
                    runq: Any
                    deadlines: list[Any]
                    try:
                        while True:
                            pending = service.step()
                            if pending is not None:
                                break
                            if not heap:  # the quiescence waiters can go on only now
                                if self._waiting and not self._running_foreign:
                                    self._wake_quiet()
                                if target.outcome is not None:
                                    return  # (the finally ends the turn of driving)
                                break
                            if target.outcome is not None:
                                return
                            if self.failure is not None:
                                break
                            due = heap[0][0]
                            if due <= service.now:
                                continue
                            # Once _alone_in_trio has held in this turn, only what
                            # an action run inline (a function's code) can change
                            # is tested again: a task woken or spawned (a spawned
                            # task is runnable at once, and only trio's loop takes
                            # a task off its run queue or ends one: the count of
                            # tasks cannot change inline while the queue is
                            # empty), a trio deadline set (with trio's deadline
                            # heap empty: only a set deadline grows it inline).
                            # Its other inputs (the clock, awaits outside the
                            # simulation, a volunteer time driver) change only in
                            # an await, which ends the turn. tests/sim/test_host.py's
                            # trio_changed_inline spawns and sets deadlines inline.
                            if alone and not runq and not deadlines and due < _INF:
                                continue
                            if not self._alone_in_trio(due):
                                break
                            runner = self._runner
                            runq, deadlines = runner.runq, runner.deadlines._heap
                            alone = True
                    except LivelockError as exc:
                        self._fail(exc)
                        continue
                    finally:
                        self._driving = False
                    if pending is not None:
                        await self._finish_pending(pending, pump=False)
                    continue
            task = trio.lowlevel.current_task()  # here: most waits end inline, without parking
            waiters = target.waiters
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

    def _alone_in_trio(self, due: float) -> bool:
        """Whether time may move to `due` in this task, without a trip through trio's loop.

        Only under our clock, with nothing awaited outside the simulation, no
        task alive but the run's own (its system tasks, the pump and this
        one: counted when the pump started), none runnable and no trio
        deadline up to `due`. Then no other task can be in the batch trio is
        running, and the clock would do exactly this: move time to `due` and
        wake this task (a batch of one, which draws nothing from trio's
        scheduler), so the run is the same, one loop trip cheaper.
        """
        if not self._own_clock or self._running_foreign or self._time_driver is not None:
            return False
        # What current_statistics() reports as tasks_living, tasks_runnable and
        # seconds_to_next_deadline (under our clock trio's time is service.now),
        # read from trio's runner without building the record: this runs per action.
        runner = self._runner
        if len(runner.tasks) != self._alone or runner.runq:
            return False
        deadlines = runner.deadlines
        if not deadlines._heap:  # no trio deadline (the usual case): next_deadline() is inf
            return due < _INF  # the test below, reduced
        deadline = deadlines.next_deadline()
        if deadline == _INF:  # (the heap held only deadlines no longer set)
            return due < deadline
        now = self._service.now
        return due - now < deadline - now

    # -- driving -------------------------------------------------------------------

    def _drive_state(self) -> int:
        """_DUE: the next action is due now; _LATER: it is due later and no
        other task is known to be runnable; _BLOCKED: leave it to others."""
        heap = self._service.heap
        if not heap or self._driving or self.failure is not None:
            return _BLOCKED
        due = heap[0][0]
        if due <= self._service.now:
            return _DUE
        # current_statistics()'s tasks_runnable and seconds_to_next_deadline,
        # read from trio's runner without building the record (see _alone_in_trio).
        runner = self._runner
        if runner.runq:
            return _BLOCKED
        if self._own_clock and due - self._service.now > runner.deadlines.next_deadline() - runner.current_time():
            return _BLOCKED
        return _LATER

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
        self._driving = True
        try:
            pending = service.step()
        except LivelockError as exc:
            self._fail(exc)
            return None
        finally:
            self._driving = False
        if pending is None and self._waiting and not service.heap and not self._running_foreign:
            self._wake_quiet()
        return pending

    async def _finish_pending(self, pending: Awaitable[None], pump: bool) -> None:
        if pump:
            self._start_pump()
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

    # -- pumps ---------------------------------------------------------------------

    def _poke_pump(self) -> None:
        task = self._parked_pump
        if task is not None:
            self._parked_pump = None
            trio.lowlevel.reschedule(task)

    def _stop_pumps(self, nursery: trio.Nursery | None) -> None:
        # The body is done: the pumps must end. The usual case (one pump, parked
        # or not yet started) is told to return, which costs trio no Cancelled
        # raised through the pump, and one loop trip fewer when it never ran.
        # A pump in an await outside the simulation is cancelled, as before.
        # (`nursery` is None in a shared run: each pump has a scope of its own.)
        self._pumps_stop = True
        if self._pumps == 0:
            return  # the one pump host() started has not run yet: it returns at once
        if self._pumps == 1 and self._parked_pump is not None:
            self._poke_pump()  # wakes in _clock_pump/_idle_pump, sees the flag, returns
            return
        if nursery is not None:
            nursery.cancel_scope.cancel()
        for scope in self._pump_scopes:
            scope.cancel()

    async def _pump(self) -> None:
        if self._pumps_stop:
            return
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
            if self.failure is not None or self._pumps_stop:
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
        # Imported here, not with the module: trio.testing imports pytest (a
        # tenth of a second). Only a run under another clock needs it; every
        # sweep worker, the CLI and any script importing sim would pay for it.
        import trio.testing

        quiet: tuple[int, float] | None = None
        while True:
            await trio.testing.wait_all_tasks_blocked()
            if self.failure is not None:
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
                snapshot = (len(self._trace), self._service.now)
                if quiet != snapshot:
                    quiet = snapshot
                    continue
                self._deadlock()
                return
            await self._park_pump(stats.seconds_to_next_deadline)
            if self._pumps_stop:
                return

    async def _park_pump(self, timeout: float) -> None:
        if timeout == math.inf:  # always, under our clock: a scope with no deadline does nothing
            await self._park_pump_until_woken()
            return
        with trio.move_on_after(timeout):
            await self._park_pump_until_woken()

    async def _park_pump_until_woken(self) -> None:
        self._parked_pump = trio.lowlevel.current_task()

        def abort(_: Any) -> trio.lowlevel.Abort:
            self._parked_pump = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    # -- runs that cannot end ------------------------------------------------------

    def _blocked_waiters(self) -> int:
        return len(self._waiting) + sum(len(r.waiters) for r in self._unfinished())

    def _unfinished(self) -> list[_Record]:
        return [r for r in self._service.records.values() if r.outcome is None]

    def _fail(self, failure: SimulationError) -> None:
        if self.failure is None:
            self.failure = failure
        self._service.heap.clear()
        if self._main_scope is not None:
            self._main_scope.cancel()

    def refuse(self, error: BaseException) -> None:
        """End the run with `error` (it is also raised where it happened)."""
        if isinstance(error, SimulationError):
            self._fail(error)

    def _trio_time_cap(self, deadline: float) -> None:
        if self.failure is not None:
            return
        service = self._service
        tasks = self._awaiting_trio() + _describe(_all_tasks()) or ["the test's own code"]
        self._fail(
            service._livelock(
                f"virtual time passed max_virtual_time={service.max_virtual_time}s in a trio-level "
                f"wait (trio.sleep or a timeout due at {deadline:.6f}s); waiting: {'; '.join(tasks)}"
            )
        )

    def _awaiting_trio(self) -> list[str]:
        # Calls whose attempt is in an await outside the simulation (trio's),
        # where a trio-level loop in a function spins or sleeps.
        running = [r for r in self._unfinished() if r.state is RUNNING][:5]
        return [f"call {r.id} {r.function} (attempt {r.attempt}, awaiting trio)" for r in running]

    def _stalled_rounds(self) -> None:
        if self.failure is not None:
            return
        runnable = list(_run_core.GLOBAL_RUN_CONTEXT.runner.runq)  # trio has no public view of it
        tasks = self._awaiting_trio() + _describe(runnable) or ["a task of the simulation itself"]
        self._fail(
            self._service._livelock(
                f"more than max_stalled_rounds={self._max_stalled_rounds} trio scheduling rounds "
                "in which neither virtual time moved nor the simulation acted (a loop of "
                f"trio.lowlevel.checkpoint() or trio.sleep(0)?); looping: {'; '.join(tasks)}"
            )
        )

    def _deadlock(self) -> None:
        lines = [
            f"the simulation cannot progress at virtual time {self._service.now:.6f}s: "
            "nothing is scheduled and every task is blocked"
        ]
        for rec in self._unfinished()[:20]:
            if rec.state is RUNNING:
                what = "blocked in an await outside the simulation"
            elif rec.state is POLLING:
                what = f"waiting for {len(rec.suspension.outstanding) if rec.suspension else 0} calls"
            else:
                what = str(rec.state)
            lines.append(f"  {rec.id} {rec.function} (attempt {rec.attempt}): {what}")
        if len(lines) == 1:
            lines.append(
                "  no call is in flight: the test itself awaits something that never happens "
                "(or something outside the simulation, such as a socket or a file through trio: "
                "the simulation does not wait for the outside world)"
            )
        self._fail(DeadlockError("\n".join(lines)))


class _Watchdog(trio.abc.Instrument):
    """Counts trio's scheduling rounds in which the simulation made no progress.

    trio calls `before_io_wait` once per round; a round in which virtual time
    did not move and the service ran no action is a stalled one. Too many in a
    row (tasks spinning on checkpoints) end the run with LivelockError.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.service = runtime._service
        self.cap = runtime._max_stalled_rounds
        self.rounds = 0
        self.now = -1.0
        self.budget = -1

    def before_io_wait(self, timeout: float) -> None:
        service = self.service
        if service.now != self.now or service._budget != self.budget:
            self.now, self.budget, self.rounds = service.now, service._budget, 0
            return
        self.rounds += 1
        if self.rounds > self.cap:
            self.rounds = 0
            self.runtime._stalled_rounds()


# Where the harness's code lives (sim, its sibling registry, trio, outcome,
# contextlib): frames there are not where user code waits.
_SIM_DIR = os.path.dirname(os.path.abspath(__file__))
_HARNESS_PARTS = tuple(
    os.path.dirname(path) + os.sep
    for path in (
        __file__,
        os.path.join(os.path.dirname(_SIM_DIR), "registry", "__init__.py"),
        trio.__file__,
        outcome.__file__,
    )
) + (contextlib.__file__,)


def _where(task: trio.lowlevel.Task) -> str | None:
    # The innermost frame of the task's await chain that is not the harness's
    # (trio, sim, registry): where user code waits or loops.
    found = None
    obj: Any = task.coro
    while obj is not None:
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None)
        if frame is not None and not frame.f_code.co_filename.startswith(_HARNESS_PARTS):
            found = f"{frame.f_code.co_qualname} at {os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"
        obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None)
    return found


def _describe(tasks: list[trio.lowlevel.Task]) -> list[str]:
    return sorted({w for w in map(_where, tasks) if w is not None})[:5]


def _all_tasks() -> list[trio.lowlevel.Task]:
    tasks = []
    todo = [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        if task is None:
            continue
        tasks.append(task)
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return tasks


def _one_of(group: BaseExceptionGroup) -> BaseException:
    # The exception to raise for a group of them: one that is not an
    # Exception first (KeyboardInterrupt, SystemExit), then the first other;
    # trio's Cancelled only when there is nothing else.
    leaves: list[BaseException] = []
    todo: list[BaseException] = [group]
    while todo:
        exc = todo.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            todo[:0] = list(exc.exceptions)
        else:
            leaves.append(exc)
    real = [e for e in leaves if not isinstance(e, trio.Cancelled)] or leaves
    chosen = next((e for e in real if not isinstance(e, Exception)), real[0])
    others = [e for e in real if e is not chosen]
    if others:
        chosen.add_note(
            "dispatch-sim: the run also raised " + ", ".join(type(e).__qualname__ for e in others)
        )
    return chosen


def _wake_waiters(rec: _Record) -> None:
    # The service's `wake` hook: the tasks parked on the call go on.
    for task in rec.waiters:
        trio.lowlevel.reschedule(task)
    rec.waiters.clear()
