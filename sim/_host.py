"""One trio run kept across simulations, so a seed does not pay for `trio.run`.

`trio.run` sets up a run loop (an epoll instance, a wakeup socket pair, the
SIGINT handler, the async generator hooks, the init and system tasks) and
tears it down again: about 215 µs, most of what an empty simulation costs.
A seed sweep pays that for every seed. `TrioHost` pays it once: it starts
trio's run loop (the generator trio's own `run` and guest mode step) and
steps it itself, running each simulation's main coroutine in a task of its
own. Between simulations the run loop is parked and everything a run
changes outside itself is put back as it was: trio's run context, sniffio's
library name, the async generator hooks, the SIGINT handler and the signal
wakeup fd. So code between simulations (another `trio.run`, asyncio, a
signal handler) sees no trio run.

Most simulations never wait in trio (durable calls move virtual time inline
when no other task is alive), so the host does not step trio's loop for
them at all: it takes the simulation task's first step itself, as the loop
would take it in a batch of one, and the runtime starts its pump task only
if that step yields to trio (`TrioHost._first_step`, `Runtime.host`).
Such a simulation also leaves its trio task to the next one: making and
ending a task costs trio more than the rest of an empty simulation, and a
task nothing refers to any more cannot be told from a new one
(`TrioHost.run`). trio's signal wakeup fd, there to wake trio's loop from
its wait for I/O when a signal comes, is set only once that loop steps.

A simulation's schedule does not change: `Runtime.enter_deterministic` seeds
trio's scheduler inside the simulation's task, and from then on every
batch trio runs holds only that simulation's tasks, as in a fresh run (the
run's own system tasks stay blocked). The task runs in a copy of the
caller's context, as a fresh run's main task does. Whenever a simulation
leaves anything behind in the run (a task still alive, an async generator
not finalized, a callback queued), the host is retired: its run ends as
`trio.run` ends, cancelling what is left, and the next simulation starts a
new one. `tests/sim/test_host.py` checks that a seed's trace is the same in
a shared run as in a fresh one, whatever ran before it.

Each thread has a host of its own (a thread never steps another's run). The
main thread's lives as long as the process; another thread's lives for a
`hosting()` block, a sweep's batch on a Dask worker's thread, and its run
ends on that thread when the block does (see `hosting` for why not later).
Simulations of several threads take turns (`_runtime.RUN_LOCK`), and
`tests/sim/test_host_threads.py` checks their traces against fresh runs.
"""

from __future__ import annotations

import _signal
import atexit
import contextlib
import contextvars
import signal
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import attrs
import outcome
import sniffio
import trio

from ._runtime import RUN_LOCK, Runtime, VirtualClock

__all__ = ["HOST_TRIO_INTERNALS", "TrioHost", "host", "hosting"]

# The private parts of trio the host drives, each used for the reason given
# where it is. tests/sim/test_runtime.py checks that every one still exists.
_run_core: Any = trio._core._run
_traps: Any = trio._core._traps  # the messages a task yields to trio's loop
# Task counters order each batch of runnable tasks before trio's seeded
# shuffle; a pump started late takes the one it would have had (see run).
_next_task_counter: Callable[[], int] = attrs.fields(_run_core.Task)._counter.default.factory
_RUNNER = "trio._core._run.GLOBAL_RUN_CONTEXT.runner"  # only inside a run
_TASK = "trio._core._run.GLOBAL_RUN_CONTEXT.task"  # only inside a run
_RETURNED: outcome.Outcome[None] = outcome.Value(None)  # how a simulation's task ends, never unwrapped
# Tasks whose end breaks parking lots (trio.lowlevel.add_parking_lot_breaker): a
# task's end checks it (see TrioHost._first_step).
_parking_lot_breakers: Any = _run_core.GLOBAL_PARKING_LOT_BREAKER
HOST_TRIO_INTERNALS: tuple[tuple[str, str], ...] = (
    ("trio._core._run", "setup_runner"),  # what trio.run does before its loop
    ("trio._core._run", "unrolled_run"),  # trio's run loop, as a generator (guest mode steps it too)
    ("trio._core._run", "in_trio_run"),
    ("trio._core._run", "GLOBAL_RUN_CONTEXT"),  # the thread's run and task, saved while parked
    ("trio._core._run.Runner", "spawn_impl"),  # start a task in a nursery, with a given context
    (_RUNNER, "runq"),  # nothing runnable: a moment the loop may park
    (_RUNNER, "tasks"),  # tasks left behind by a simulation
    (_RUNNER, "main_task_outcome"),
    (_RUNNER, "io_manager"),
    (_RUNNER, "entry_queue"),
    (_RUNNER, "asyncgens"),
    (_RUNNER, "ki_manager"),
    (f"{_RUNNER}.io_manager", "get_events"),  # what trio.run calls between loop steps
    (f"{_RUNNER}.entry_queue", "queue"),  # callbacks left behind
    (f"{_RUNNER}.entry_queue", "idempotent_queue"),
    (f"{_RUNNER}.entry_queue", "wakeup"),
    (f"{_RUNNER}.entry_queue.wakeup", "old_wakeup_fd"),  # the world's signal wakeup fd
    (f"{_RUNNER}.entry_queue.wakeup", "write_sock"),  # the run's
    (f"{_RUNNER}.asyncgens", "alive"),  # async generators left behind
    (f"{_RUNNER}.asyncgens", "prev_hooks"),  # the world's hooks, restored when the run ends
    (f"{_RUNNER}.ki_manager", "handler"),  # the run's SIGINT handler, if it installed one
    # A seed's first step, taken as trio's loop takes a task's step (see TrioHost._first_step):
    (_RUNNER, "instruments"),
    ("trio._core._run.Runner", "reschedule"),
    ("trio._core._run.Runner", "task_exited"),
    (_TASK, "_next_send_fn"),
    (_TASK, "_next_send"),
    (_TASK, "_schedule_points"),
    (_TASK, "_cancel_points"),
    (_TASK, "_abort_func"),
    (_TASK, "_attempt_delivery_of_any_pending_cancel"),
    (_TASK, "_counter"),
    ("trio._core._traps", "CancelShieldedCheckpoint"),
    ("trio._core._traps", "WaitTaskRescheduled"),
    ("trio._core._traps", "PermanentlyDetachCoroutineObject"),
    # A seed's task reused, set up and ended as trio sets up and ends one (see TrioHost.run, _first_step):
    ("trio._core._run", "GLOBAL_PARKING_LOT_BREAKER"),
    (f"{_RUNNER}.instruments", "data"),  # the hooks installed, read without UserDict's frame
    (_TASK, "_parent_nursery"),
    (_TASK, "_cancel_status"),
    (_TASK, "_child_nurseries"),
    (f"{_TASK}._cancel_status", "_tasks"),
    (f"{_TASK}._cancel_status", "abandoned_by_misnesting"),
    (f"{_TASK}._parent_nursery", "_children"),
    (f"{_TASK}._parent_nursery", "_nested_child_running"),
    (f"{_TASK}._parent_nursery", "_cancel_status"),
    ("trio._core._run.CancelScope", "_cancel_called"),  # cancel_called, without asking the clock for the time
)


_run_context: Any = _run_core.GLOBAL_RUN_CONTEXT  # per thread: the run and task trio functions see
_getrefcount = sys.getrefcount
_getweakrefcount = weakref.getweakrefcount


def _alone() -> int:
    task = object()
    return _getrefcount(task)


# What `_getrefcount(task)` gives where a local variable is all that holds
# `task` (measured, as the count depends on how the interpreter passes it).
_ALONE = _alone()
_REGISTERED = _ALONE + 3  # and the sets of the run's tasks, its nursery's and its cancel status's

# signal.getsignal and signal.signal wrap these in enum conversions that cost
# more than the rest of parking; the handlers they return are the same objects.
_getsignal, _setsignal = _signal.getsignal, _signal.signal
_SIGINT = int(signal.SIGINT)
_default_int_handler = signal.default_int_handler
_get_hooks, _set_hooks = sys.get_asyncgen_hooks, sys.set_asyncgen_hooks
_sniffio: Any = sniffio.thread_local  # per thread: the name sniffio reports


class _SharedClock(VirtualClock):
    """The host run's clock: the virtual clock of the simulation running, if any.

    It also stands in for the simulation's watchdog instrument: trio's
    add_instrument walks the instrument's `dir()` (a tenth of an empty seed),
    so the host installs one instrument for its whole run (`_ForwardingWatchdog`)
    and a simulation only sets `watchdog` here.
    """

    def __init__(self) -> None:
        self.runtime = None  # type: ignore[assignment]
        self.watchdog: trio.abc.Instrument | None = None

    def add_watchdog(self, watchdog: trio.abc.Instrument) -> None:
        self.watchdog = watchdog

    def remove_watchdog(self, watchdog: trio.abc.Instrument) -> None:
        self.watchdog = None

    def attach(self, runtime: Runtime | None) -> None:
        """Follow `runtime`'s virtual time (None: parked, no simulation running)."""
        self.runtime = runtime  # type: ignore[assignment]
        if runtime is None:
            self.watchdog = None

    def current_time(self) -> float:
        if self.runtime is None:
            return 0.0  # parked: no deadline is left in the run
        return self.runtime._service.now

    def deadline_to_sleep_time(self, deadline: float) -> float:
        if self.runtime is None:
            return float("inf")  # parked: nothing of a simulation is left to run
        return super().deadline_to_sleep_time(deadline)


class _ForwardingWatchdog(trio.abc.Instrument):
    """The host run's one instrument: calls the running simulation's watchdog, if any."""

    def __init__(self, clock: _SharedClock) -> None:
        self.clock = clock

    def before_io_wait(self, timeout: float) -> None:
        watchdog = self.clock.watchdog
        if watchdog is not None:
            watchdog.before_io_wait(timeout)


class TrioHost:
    """A trio run loop stepped by hand, parked between simulations (see the module docstring)."""

    def __init__(self) -> None:
        self._clock = _SharedClock()
        self._runner: Any = None
        self._gen: Any = None
        self._nursery: trio.Nursery | None = None  # where pumps start
        self._seeds: Any = None  # the trio.Nursery where simulations start (see _idle)
        self._stop: trio.Event | None = None
        self._saved: dict[str, Any] = {}  # trio's run context while parked
        self._outside: tuple[Any, ...] | None = None  # the world's state, saved while running (not parked)
        # Of the run, set when it starts: trio's async generator hooks (off while
        # parked), its SIGINT handler (if it installed one) and its signal wakeup
        # socket pair (whose fd trio sets on the main thread only).
        self._trio_hooks: Any = None
        self._ki_handler: Any = None
        self._asyncgens: Any = None
        self._wakeup: Any = None
        self._signals = False  # whether trio sets the wakeup fd in this thread
        # The simulation's (value, None) or (None, exception), from its task (see run).
        self._result: tuple[Any, BaseException | None] | None = None
        self._spare: Any = None  # while parked: a seed's trio task, ended and kept for the next (see run)
        self._baseline = 0  # tasks alive in a parked run: init, the run_sync_soon task, idle
        self.runs = 0  # simulations this run has hosted

    # -- the run's life ------------------------------------------------------------

    def _start(self) -> None:
        self._enter_world()
        # What trio.run does first; trio keeps no public way to start a run it does not drive.
        runner = self._runner = _run_core.setup_runner(self._clock, (), False, True)
        self._trio_hooks = sys.get_asyncgen_hooks()  # installed by setup_runner
        self._ki_handler = runner.ki_manager.handler
        self._asyncgens = runner.asyncgens
        self._wakeup = runner.entry_queue.wakeup
        self._gen = _run_core.unrolled_run(runner, self._idle, ())
        self._drive(lambda: self._seeds is not None, first=True)
        self._signals = self._wakeup.old_wakeup_fd is not None  # the loop's start set it (main thread only)
        self._baseline = len(runner.tasks)
        self._park()

    async def _idle(self) -> None:
        # The run's main task: holds the nurseries tasks start in. A
        # simulation's task starts in `_seeds`, whose cancel scope is the one
        # its runtime cancels when the run fails (Runtime._fail): one scope
        # entered here for many simulations, where a scope of its own would cost
        # each simulation more than the rest of its trio machinery. A cancelled
        # one is replaced by a new one when its simulation has ended.
        self._stop = trio.Event()
        trio.lowlevel.add_instrument(_ForwardingWatchdog(self._clock))
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            while not self._stop.is_set():
                async with trio.open_nursery() as seeds:
                    self._seeds = seeds  # (no spare task is left in the one before: see run)
                    await self._stop.wait()
            nursery.cancel_scope.cancel()

    def retire(self) -> None:
        """End the run as trio.run would end it; the next simulation starts a new one."""
        if self._gen is None:
            return
        if self._outside is None:  # parked
            self._unpark()
        try:
            if self._spare is not None:
                self._let_go(self._spare)
            assert self._stop is not None
            self._stop.set()
            self._drive(lambda: False)
        finally:
            self._gen = self._runner = self._nursery = self._seeds = self._stop = self._spare = None
            self._clock.attach(None)
            self._leave_world()

    def _drive(self, done: Callable[[], bool], first: bool = False) -> None:
        """Step trio's loop until `done()` at a moment nothing is runnable, or the run ends."""
        __tracebackhide__ = True  # pytest: a failure shows the test's and the function's frames
        gen, runner = self._gen, self._runner
        get_events = runner.io_manager.get_events
        # A fresh loop takes None first; a parked one was left waiting for I/O
        # events, with a timeout computed before this simulation's task existed.
        if first:
            events = None
        else:
            self._wake_on_signals()
            events = get_events(0)
        try:
            while True:
                timeout = gen.send(events)
                if not runner.runq and done():
                    return
                events = get_events(timeout)
        except StopIteration:
            self._gen = None  # the run ended (retire, or trio ended it)
            main = runner.main_task_outcome
            if isinstance(main, outcome.Error):
                raise main.error from None
        except BaseException:
            self._broken()
            raise

    def _broken(self) -> None:
        # Something escaped trio's loop (KeyboardInterrupt in our own code, a
        # TrioInternalError): drop the run and put the world back.
        gen, self._gen = self._gen, None
        self._runner = self._nursery = self._seeds = self._stop = self._spare = None
        self._clock.attach(None)
        if gen is not None:
            try:
                gen.close()
            except BaseException:  # noqa: S110 - the original error is the one to report
                pass
        _run_context.__dict__.clear()
        self._leave_world()

    # -- parking: what a run changes outside itself --------------------------------

    def _enter_world(self) -> None:
        self._outside = (_sniffio.name, _get_hooks(), _getsignal(_SIGINT))
        _sniffio.name = "trio"

    def _leave_world(self) -> None:
        if self._outside is None:
            return
        library, hooks, _ = self._outside
        _sniffio.name = library
        _set_hooks(*hooks)
        self._outside = None

    def _park(self) -> None:
        context = _run_context.__dict__
        self._saved = context.copy()
        context.clear()
        library, hooks, sigint = self._outside  # type: ignore[misc]
        _sniffio.name = library
        _set_hooks(*hooks)
        handler = self._ki_handler
        if handler is not None and _getsignal(_SIGINT) is handler:
            _setsignal(_SIGINT, sigint)
        wakeup = self._wakeup
        if wakeup.old_wakeup_fd is not None:  # trio's loop stepped (see _wake_on_signals)
            signal.set_wakeup_fd(wakeup.old_wakeup_fd)
            wakeup.old_wakeup_fd = None  # as trio has it where it set none: its run's end leaves the fd alone
        self._outside = None

    def _unpark(self) -> None:
        hooks = _get_hooks()
        sigint = _getsignal(_SIGINT)
        self._outside = (_sniffio.name, hooks, sigint)
        _sniffio.name = "trio"
        self._asyncgens.prev_hooks = hooks  # what trio restores when the run ends is what the world has now
        _set_hooks(*self._trio_hooks)
        handler = self._ki_handler
        if handler is not None and sigint is _default_int_handler:
            _setsignal(_SIGINT, handler)
        _run_context.__dict__.update(self._saved)

    def _wake_on_signals(self) -> None:
        # trio's signal wakeup fd, set (on the main thread) only once trio's
        # loop steps: it wakes the loop from its wait for I/O when a signal
        # comes, and a simulation that never waits in trio never waits there.
        wakeup = self._wakeup
        if self._signals and wakeup.old_wakeup_fd is None:
            wakeup.old_wakeup_fd = signal.set_wakeup_fd(wakeup.write_sock.fileno(), warn_on_full_buffer=False)

    # -- hosting one simulation ----------------------------------------------------

    def run(self, clock_runtime: Runtime, body: Callable[[], Awaitable[Any]]) -> tuple[Any, BaseException | None]:
        """Run `body()` in a task of the host run, on `clock_runtime`'s virtual clock.

        Returns what it returned or raised, as ``(value, None)`` or ``(None, exception)``
        (a pair, as `Runtime.host` gives: cheaper to make than an outcome).

        The task takes its first step here, as trio's loop would take it in a
        batch of one (see `_first_step`): a simulation that never waits in
        trio ends within it, and trio's loop is not stepped at all. Only when
        the task yields to trio does the loop run, and the runtime start its
        pump (see `Runtime.host`).

        A trio task costs more to make and to end than such a simulation
        costs to run, so the task it ran in is kept for the next simulation's
        (`_spare`), when nothing else refers to it: no code can tell it from a
        new one then. It ended as trio ends a task, and is set up again as
        trio sets up a new one: what differs is only what `_first_step` does
        not leave as a new task has it (its coroutine, context and counter,
        and what a simulation may set: its name and sleep data).
        """
        __tracebackhide__ = True  # pytest: a failure shows the test's and the function's frames
        if self._gen is None:
            self._start()
        context = contextvars.copy_context()  # the caller's, as trio.run gives its main task
        self._unpark()
        self._clock.runtime = clock_runtime  # the run's time is its virtual time (see _SharedClock)
        try:
            runner = self._runner
            seeds = self._seeds
            task = self._spare
            self._spare = None
            hooks = runner.instruments.data  # what `in instruments` looks in, without UserDict's frame
            if task is not None and "task_spawned" not in hooks and "task_scheduled" not in hooks:
                # Set up as spawn_impl sets up a task (it is in the run, its
                # nursery and its cancel status already), and taken off the run
                # queue as `_first_step` takes it (a parked run has nothing
                # else runnable: see the end of `run`).
                coro = self._seed(body)
                task.coro = coro
                task.context = context
                task._counter = _next_task_counter()
                send = coro.send
            else:
                if task is not None:
                    self._let_go(task)
                task = runner.spawn_impl(self._seed, (body,), seeds, "simulation", context=context)
                send = None
                if len(runner.runq) == 1:  # only the seed's task: as a parked run is
                    runner.runq.remove(task)
                    send, task._next_send_fn = task._next_send_fn, None
            if send is not None:
                # The pump's place in trio's task order is the one it had when it
                # was spawned right after this task: its counter is taken now.
                clock_runtime.hosted(self._spawn, _next_task_counter(), seeds.cancel_scope)
                if self._first_step(task, send, seeds, clock_runtime.yielded_to_trio):
                    # It ended, and is left in the run as when it started. Kept if
                    # nothing else refers to it, and its nursery stays (see _idle).
                    if (
                        _getrefcount(task) == _REGISTERED
                        and not _getweakrefcount(task)
                        and not seeds.cancel_scope._cancel_called
                    ):
                        task.coro = task.context = task.custom_sleep_data = None  # nothing of this simulation kept
                        task.name = "simulation"
                        self._spare = task
                    else:
                        self._let_go(task)
            if self._result is None:  # waiting in trio; or the task broke and the run ends
                self._drive(lambda: self._result is not None)
            # `_seeds` has no deadline: its scope is cancelled only by cancel(), as the run fails.
            if seeds.cancel_scope._cancel_called and self._gen is not None:
                self._drive(lambda: self._seeds is not seeds)  # the run failed: a new scope
        except BaseException:
            if self._gen is not None:
                self._broken()
            raise
        finally:
            result, self._result = self._result, None
        self.runs += 1
        # Anything the simulation left in the run could act during the next one
        # (written out: once per seed). `alive` is a WeakSet: its `data` is empty
        # when it is, read without its __len__ frame.
        queue = runner.entry_queue
        alive = self._asyncgens.alive
        if (
            len(runner.tasks) != self._baseline + (self._spare is not None)  # and the kept task
            or runner.runq
            or (alive.data and alive)
            or queue.queue
            or queue.idempotent_queue
        ):
            self.retire()
        else:
            self._park()
        return result  # type: ignore[return-value] # set by the task, or it raised

    def _let_go(self, task: Any) -> None:
        # What trio's task_exited does with a seed's task that ended as
        # `_first_step` lets one end: out of its cancel status, the run and its nursery.
        task._cancel_status._tasks.remove(task)
        task._cancel_status = None
        self._runner.tasks.remove(task)
        self._seeds._children.remove(task)

    async def _seed(self, body: Callable[[], Awaitable[Any]]) -> None:
        # The simulation's task: its outcome goes to `run`, never to trio (its nursery is the host's).
        __tracebackhide__ = True  # pytest: a failure shows the test's and the function's frames
        # Caught here rather than by outcome.acapture, whose frame would show in
        # tracebacks; a pair rather than an outcome.Value/Error to make.
        try:
            self._result = (await body(), None)
        except BaseException as exc:
            self._result = (None, exc)
        finally:
            clock = self._clock
            clock.runtime = clock.watchdog = None  # type: ignore[assignment] # no simulation running (see attach)

    def _spawn(
        self, async_fn: Callable[[], Awaitable[Any]], context: contextvars.Context, counter: int | None
    ) -> None:
        # A runtime's pump, in the host's nursery; `counter` puts it where it
        # would have been in trio's task order (see `run`).
        task = self._runner.spawn_impl(async_fn, (), self._nursery, async_fn, context=context)
        if counter is not None:
            task._counter = counter

    def _first_step(self, task: Any, send: Callable[[Any], Any], seeds: Any, on_yield: Callable[[], None]) -> bool:
        """Step the just-spawned `task` (`send` starts its coroutine) as trio's loop would.

        When it does not end, `on_yield()` is called before trio sees what it
        yielded. True when it ended and trio's `task_exited` would only take it
        out of the run (see below): left in the run as it started, for `run`.

        Nothing else is runnable in a parked run, so the loop's next batch
        would hold this task alone, drawing nothing from the scheduler's
        random source: stepping it here runs the same code in the same run
        context, one loop trip (an epoll call, the clock, the deadlines)
        cheaper. What the task yields is handled as the loop handles it
        (trio's `unrolled_run`, which has no public way to step one task);
        an ended task leaves the run as the loop would have it leave.
        """
        __tracebackhide__ = True  # pytest: a failure shows the test's and the function's frames
        runner = self._runner
        hooks = runner.instruments.data  # what `in instruments` looks in, without UserDict's frame
        _run_context.task = task
        if "before_task_step" in hooks:
            runner.instruments.call("before_task_step", task)
        try:
            message = task.context.run(send, None)
        except StopIteration:
            ended: outcome.Outcome[Any] | None = _RETURNED  # its nursery only checks the kind
        except BaseException as exc:
            ended = outcome.Error(exc)  # the run ends with it, as when the loop steps the task
        else:
            ended = None
        try:
            if ended is _RETURNED:
                status = task._cancel_status
                if (
                    "task_exited" not in hooks
                    and "after_task_step" not in hooks
                    and status is seeds._cancel_status
                    and not status.abandoned_by_misnesting
                    and not task._child_nurseries
                    and task not in _parking_lot_breakers
                    and seeds._nested_child_running
                ):
                    # What runner.task_exited would do with it: every check it
                    # makes finds nothing (no task hook, no scope misnested, no
                    # nursery left open, no parking lot to break, a nursery
                    # still open whose end it need not check), so it would only
                    # take it out of the run (`run` does, or keeps it: _let_go).
                    return True
            if ended is not None:
                runner.task_exited(task, ended)
                return False
            on_yield()
            task._schedule_points += 1
            kind = type(message)
            if message is _traps.CancelShieldedCheckpoint:
                runner.reschedule(task)
            elif kind is _traps.WaitTaskRescheduled:
                task._cancel_points += 1
                task._abort_func = message.abort_func
                task._attempt_delivery_of_any_pending_cancel()
            elif kind is _traps.PermanentlyDetachCoroutineObject:
                runner.task_exited(task, message.final_outcome)
            else:
                # Not a trio trap (an asyncio future, say): thrown back in, as trio's loop does.
                runner.reschedule(
                    task,
                    TypeError(
                        f"a simulation awaited {message!r}, which is not trio's: only trio "
                        "and the simulation's own awaitables work in a simulation"
                    ),
                )
                task._next_send_fn = task.coro.throw
            return False
        finally:
            if "after_task_step" in hooks:
                runner.instruments.call("after_task_step", task)
            del _run_context.task


_hosts = threading.local()  # per thread: `host` (while it has one), `idle` (another thread's, between blocks)
_thread_hosts: weakref.WeakSet[TrioHost] = weakref.WeakSet()  # every thread's but the main one's (tests read `runs`)


def host() -> TrioHost | None:
    """This thread's host, or None where a simulation must start its own trio run.

    The main thread keeps one as long as the process (its run ends at exit);
    another thread has one inside `hosting()` only. Never inside a trio run
    (where trio.run would refuse to start).
    """
    if hasattr(_run_context, "runner"):  # trio's in_trio_run(), without its frame
        return None
    found: TrioHost | None = getattr(_hosts, "host", None)
    if found is None and threading.current_thread() is threading.main_thread():
        found = _hosts.host = TrioHost()
        atexit.register(found.retire)
    return found


@contextlib.contextmanager
def hosting() -> Iterator[None]:
    """Within the block, this thread's simulations share one trio run, ended on leaving it.

    A thread other than the main one must end its run itself, before it ends
    (a run's end is trio code, stepped by the thread whose run it is), and
    nothing runs on a thread once it is ending: a `threading.local`'s
    finalizer runs while the interpreter dismantles the thread's state, where
    trio's thread-local run context and sniffio's are gone already and come
    back as fresh dicts never freed (measured: about 750 bytes per thread), and
    at interpreter exit only the main thread runs. So a thread hosts its
    simulations for a block, a sweep's batch (about a second of seeds), and
    starting a run per block costs a trio.run per batch instead of one per seed.

    Off the main thread trio installs no SIGINT handler and no signal wakeup fd
    (it does both on the main thread only), so parking puts back the run
    context, sniffio's name and the async generator hooks, all per thread. On
    the main thread, and in a block inside another, this does nothing: the
    main thread's host lives on, and the outer block ends the run.
    """
    if threading.current_thread() is threading.main_thread() or getattr(_hosts, "host", None) is not None:
        yield
        return
    found: TrioHost | None = getattr(_hosts, "idle", None)
    if found is None:
        found = _hosts.idle = TrioHost()  # kept for the thread's next block (its `runs` add up)
        _thread_hosts.add(found)
    _hosts.host = found
    try:
        yield
    finally:
        del _hosts.host
        with RUN_LOCK:  # the run's end steps trio's loop, whose batches draw from `_r`
            found.retire()
