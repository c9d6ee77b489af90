"""The shared trio run (sim._host): a seed runs the same in it as in a fresh trio.run,
whatever ran before; between simulations nothing shows that a trio run exists; a
simulation that leaves something behind retires the run."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import sniffio
import trio

import registry
import sim
from sim import _host
from sim._host import HOST_TRIO_INTERNALS
from sim._runtime import VirtualClock
from tests.sim.test_runtime import _resolve

reg = registry.Registry("test-host")


@reg.function
def double(x: int) -> int:
    return 2 * x


@reg.function
async def fan(n: int) -> int:
    await trio.sleep(0.5)  # trio inside a function: virtual time
    values = await registry.gather(*(double(i) for i in range(n)))
    return sum(values)


async def workflow() -> list[int]:
    # trio tasks of the test's own beside durable calls: their order is trio's
    # scheduler's, which the seed decides.
    out: list[int] = []

    async def branch(i: int) -> None:
        await trio.sleep(0.01 * (i % 3))
        out.append(await fan(3 + i))

    async with trio.open_nursery() as nursery:
        for i in range(6):
            nursery.start_soon(branch, i)
    event = trio.Event()
    event.set()
    await event.wait()
    return out


def _fresh(seed: int, faults: str) -> tuple[Any, str]:
    # trio.run of its own, as Simulation.run did before the shared run.
    simulation = sim.Simulation(seed=seed, faults=faults)
    result = trio.run(simulation.main, workflow(), clock=VirtualClock(simulation._runtime))
    return result, simulation.trace.digest()


def _shared(seed: int, faults: str) -> tuple[Any, str]:
    simulation = sim.Simulation(seed=seed, faults=faults)
    result = simulation.run(workflow())
    return result, simulation.trace.digest()


@pytest.mark.parametrize("faults", ["none", "light", "heavy"])
def test_a_seed_runs_the_same_in_the_shared_run_as_in_a_fresh_one(faults: str) -> None:
    fresh = [_fresh(seed, faults) for seed in range(6)]
    # In another order, with other runs between: each seed still runs as when fresh.
    shared = {seed: _shared(seed, faults) for seed in (5, 3, 1, 0, 2, 4)}
    for seed in range(6):
        assert shared[seed] == fresh[seed], f"seed {seed} under {faults}"
    assert len({digest for _, digest in fresh}) > 1  # the seeds do differ


def test_between_simulations_no_trio_run_shows() -> None:
    hooks = sys.get_asyncgen_hooks()
    sigint = signal.getsignal(signal.SIGINT)
    sim.Simulation(seed=1, faults="none").run(workflow())
    assert _host.host() is not None and _host.host()._gen is not None  # parked, not ended
    assert not trio._core._run.in_trio_run()  # noqa: SLF001 - what trio functions check
    with pytest.raises(sniffio.AsyncLibraryNotFoundError):
        sniffio.current_async_library()
    assert sys.get_asyncgen_hooks() == hooks
    assert signal.getsignal(signal.SIGINT) is sigint
    previous = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(previous)
    assert previous == -1

    async def plain() -> str:
        await trio.sleep(0)
        return sniffio.current_async_library()

    assert trio.run(plain) == "trio"  # another trio run starts and ends as usual
    assert sim.Simulation(seed=1, faults="none").run(workflow()) == _fresh(1, "none")[0]


def test_exceptions_and_failures_come_out_as_from_a_fresh_run() -> None:
    async def boom() -> None:
        await double(1)
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        sim.Simulation(seed=1, faults="none").run(boom())

    async def stuck() -> None:
        await trio.Event().wait()

    with pytest.raises(sim.DeadlockError):
        sim.Simulation(seed=1, faults="none").run(stuck())
    assert sim.Simulation(seed=2, faults="light").run(workflow()) == _fresh(2, "light")[0]


def test_a_simulation_that_leaves_a_task_behind_retires_the_run() -> None:
    async def leak() -> None:
        async def forever() -> None:
            await trio.sleep_forever()

        trio.lowlevel.spawn_system_task(forever)
        await double(2)

    sim.Simulation(seed=1, faults="none").run(workflow())
    before = _host.host()
    assert before is not None
    runs = before.runs
    sim.Simulation(seed=1, faults="none").run(leak())
    assert before._gen is None  # retired: its run ended, the leaked task cancelled
    assert not trio._core._run.in_trio_run()  # noqa: SLF001
    assert sim.Simulation(seed=3, faults="light").run(workflow()) == _fresh(3, "light")[0]
    assert before.runs == runs + 2  # the same host started a new run


def test_inside_a_trio_run_a_simulation_still_refuses_as_trio_run_does() -> None:
    async def nested() -> None:
        sim.Simulation(seed=1, faults="none").run(workflow)

    with pytest.raises(RuntimeError, match="inside a run"):
        trio.run(nested)


def test_a_fresh_process_gives_the_same_digests(tmp_path: Path) -> None:
    # Determinism across processes and hash seeds, with the shared run.
    program = textwrap.dedent(
        """
        import sim, tests.sim.test_host as t
        for seed in range(4):
            s = sim.Simulation(seed=seed, faults="light")
            s.run(t.workflow())
            print(s.trace.digest())
        """
    )
    outputs = [run_program(program, hash_seed=hash_seed).stdout.split() for hash_seed in ("0", "7")]
    assert outputs[0] == outputs[1] == [_fresh(seed, "light")[1] for seed in range(4)]


ROOT = Path(__file__).resolve().parents[2]


def run_program(program: str, *flags: str, hash_seed: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `program` in a fresh Python (with `flags`, and a PYTHONHASHSEED if given) from the
    project root; with a hash seed, it must succeed."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    if hash_seed is not None:
        env["PYTHONHASHSEED"] = hash_seed
    done = subprocess.run(
        [sys.executable, *flags, "-c", program], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    if hash_seed is not None:
        assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize(
    ("owner", "attribute"), HOST_TRIO_INTERNALS, ids=[f"{o}.{a}" for o, a in HOST_TRIO_INTERNALS]
)
def test_trio_still_has_the_internal_the_host_uses(owner: str, attribute: str) -> None:
    found: list[bool] = []

    async def look() -> None:  # some of them exist only inside a run
        found.append(hasattr(_resolve(owner), attribute))

    trio.run(look)
    assert found == [True], f"trio {trio.__version__} has no {owner}.{attribute}: sim._host relies on it"


async def deadlines_and_calls() -> list[Any]:
    # Trio deadlines beside durable calls whose latency moves time: the clock
    # must still expire each deadline before any later action runs.
    out: list[Any] = []
    for i in range(8):
        with trio.move_on_after(0.02 * i) as scope:
            out.append(await double(i))
            out.append(await fan(2))
        out.append(scope.cancelled_caught)
        out.append(round(sim.now(), 9))
    return out


async def calls_only() -> list[int]:
    return [await double(i) for i in range(30)] + [await fan(5)]


# What a sync function run inline reaches in trio (kept by the test that runs it).
_trio_handles: dict[str, Any] = {}


@reg.function
def spawn_or_deadline(i: int) -> int:
    # Run inline, in the middle of a turn of driving in which no other task
    # was alive: a task spawned, a trio deadline set, each must stop time
    # moving inline (the clock runs the new task, or the deadline, first).
    out = _trio_handles["out"]
    if i % 2 == 0:

        async def note() -> None:
            out.append(("spawned", i, round(sim.now(), 9)))

        _trio_handles["nursery"].start_soon(note)
    else:
        _trio_handles["scope"].deadline = trio.current_time() + 0.0005 * i
    return i


@reg.function
async def chain(i: int) -> int:
    return await double(i) + await spawn_or_deadline(i) + await double(i + 1) + await double(i + 2)


async def trio_changed_inline() -> list[Any]:
    out: list[Any] = []
    _trio_handles["out"] = out
    async with trio.open_nursery() as nursery:
        _trio_handles["nursery"] = nursery
        for i in range(8):
            with trio.CancelScope() as scope:
                _trio_handles["scope"] = scope
                out.append(await chain(i))
            out.append((scope.cancelled_caught, round(sim.now(), 9)))
            await trio.sleep(0.001)  # the spawned task has ended: alone again
    _trio_handles.clear()
    return out


@pytest.mark.parametrize("main", [calls_only, workflow, deadlines_and_calls, trio_changed_inline])
@pytest.mark.parametrize("faults", ["light", "heavy"])
def test_time_moved_inline_runs_as_time_moved_by_the_clock(
    main: Any, faults: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run_all() -> list[tuple[Any, str]]:
        runs = []
        for seed in range(4):
            simulation = sim.Simulation(seed=seed, faults=faults)
            runs.append((simulation.run(main), simulation.trace.digest()))
        return runs

    inline = run_all()
    # Time moved only by the clock, as before Runtime._alone_in_trio.
    monkeypatch.setattr("sim._runtime.Runtime._alone_in_trio", lambda self, due: False)
    assert run_all() == inline


# -- a seed steps trio's loop only once it waits in trio ---------------------------------------


def _count_pumps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    started: list[int] = []
    pump = sim._runtime.Runtime._pump  # noqa: SLF001 - what a seed starts only when it waits in trio

    async def counted(self: Any) -> None:
        started.append(1)
        await pump(self)

    monkeypatch.setattr("sim._runtime.Runtime._pump", counted)
    return started


@pytest.mark.parametrize("faults", ["none", "light", "heavy"])
def test_a_seed_that_never_waits_in_trio_starts_no_pump_and_steps_no_loop(
    faults: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def durable_only() -> list[int]:  # calls, fan-outs, durable latency: no trio primitive
        return [await double(i) for i in range(5)] + [await plain_fan(4)]

    pumps = _count_pumps(monkeypatch)
    shared = _host.host()
    assert shared is not None
    sim.Simulation(seed=0, faults="none").run(durable_only())  # the host is started and parked
    steps: list[int] = []
    drive = shared._drive  # noqa: SLF001 - the one place trio's loop is stepped

    def counted_drive(*args: Any, **kwargs: Any) -> None:
        steps.append(1)
        drive(*args, **kwargs)

    monkeypatch.setattr(shared, "_drive", counted_drive)
    pumps.clear()
    for seed in range(5):
        assert sim.Simulation(seed=seed, faults=faults).run(durable_only()) == [0, 2, 4, 6, 8, 12]
    assert (pumps, steps) == ([], [])
    # Waiting in trio (here a function's trio.sleep) brings the loop and the pump in.
    assert sim.Simulation(seed=1, faults=faults).run(calls_only()) == calls_only_result()
    assert pumps and steps


@reg.function
async def plain_fan(n: int) -> int:
    return sum(await registry.gather(*(double(i) for i in range(n))))


def calls_only_result() -> list[int]:
    return [2 * i for i in range(30)] + [20]


async def in_cancelled_scopes() -> list[Any]:
    # A wait is a checkpoint once its scope is cancelled: the call is not awaited
    # inline to its end (it still runs to its outcome, drained after the test).
    out: list[Any] = []
    with trio.CancelScope() as scope:
        scope.cancel()
        out.append(await double(1))
    out.append(scope.cancelled_caught)
    with trio.move_on_after(0) as scope:  # deadline already passed: cancelled on entry
        out.append(await double(2))
    out.append(scope.cancelled_caught)
    out.append(await double(3))
    with trio.CancelScope() as scope:
        scope.cancel()
        with trio.CancelScope(shield=True):  # a shield keeps the wait going
            out.append(await double(4))
    out.append(scope.cancelled_caught)
    return out


@pytest.mark.parametrize("faults", ["none", "light"])
def test_a_call_awaited_in_a_cancelled_scope_is_cancelled_in_a_fresh_and_a_shared_run(faults: str) -> None:
    for seed in range(4):
        simulation = sim.Simulation(seed=seed, faults=faults)
        fresh = trio.run(simulation.main, in_cancelled_scopes(), clock=VirtualClock(simulation._runtime))
        assert fresh == [True, True, 6, 8, False]
        shared = sim.Simulation(seed=seed, faults=faults)
        assert shared.run(in_cancelled_scopes()) == fresh
        assert shared.trace.digest() == simulation.trace.digest()
        outcomes = [e for e in shared.trace if e.kind == "outcome"]
        assert len(outcomes) == 4  # the cancelled waits' calls ran to their outcome too


@pytest.mark.parametrize("main", [deadlines_and_calls, in_cancelled_scopes])
@pytest.mark.parametrize("faults", ["none", "light", "heavy"])
def test_trio_scopes_beside_calls_run_the_same_in_a_fresh_and_a_shared_run(main: Any, faults: str) -> None:
    for seed in range(4):
        fresh = sim.Simulation(seed=seed, faults=faults)
        fresh_result = trio.run(fresh.main, main(), clock=VirtualClock(fresh._runtime))
        shared = sim.Simulation(seed=seed, faults=faults)
        assert (shared.run(main()), shared.trace.digest()) == (fresh_result, fresh.trace.digest())


def test_a_pump_that_dies_ends_the_shared_run_with_its_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    # What kills a pump (here planted; in life a KeyboardInterrupt from a call
    # nobody awaits) ends the run with that exception, as a fresh run's nursery does.
    async def dying(self: Any) -> None:
        raise KeyboardInterrupt

    async def waits_in_trio() -> None:
        await trio.sleep(1)
        await double(1)

    monkeypatch.setattr("sim._runtime.Runtime._pump", dying)
    with pytest.raises(KeyboardInterrupt):
        sim.Simulation(seed=1, faults="none").run(waits_in_trio())
    monkeypatch.undo()
    assert not trio._core._run.in_trio_run()  # noqa: SLF001
    assert sim.Simulation(seed=2, faults="light").run(workflow()) == _fresh(2, "light")[0]


def test_a_run_that_fails_keeps_the_shared_run_for_the_next_simulation() -> None:
    # A deadlock or livelock cancels the scope the simulation's task started in;
    # the host opens a new one, and the next simulation runs in the same trio run.
    sim.Simulation(seed=1, faults="none").run(workflow())
    shared = _host.host()
    assert shared is not None
    gen, runs = shared._gen, shared.runs  # noqa: SLF001 - the trio run itself

    async def stuck() -> None:
        await double(1)
        await trio.Event().wait()

    async def spins() -> None:  # a livelock found inline, before the run ever waits in trio
        while True:
            await double(1)

    with pytest.raises(sim.DeadlockError):
        sim.Simulation(seed=1, faults="none").run(stuck())
    with pytest.raises(sim.LivelockError):
        sim.Simulation(seed=1, faults="none", max_events=50).run(spins())
    assert sim.Simulation(seed=2, faults="light").run(workflow()) == _fresh(2, "light")[0]
    assert (shared._gen, shared.runs) == (gen, runs + 3)  # noqa: SLF001


# -- a seed's task, reused by the next seed when nothing refers to it ---------------------------


async def nothing() -> None:
    pass


async def durable_calls() -> list[int]:  # no trio primitive: it ends in its first step
    return [await double(i) for i in range(5)] + [await plain_fan(4)]


def _host_run() -> tuple[Any, Any, Any]:
    shared = _host.host()
    assert shared is not None and shared._runner is not None  # noqa: SLF001
    return shared, shared._runner, shared._saved  # noqa: SLF001


def _count_seed_tasks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    made: list[int] = []
    spawn = trio._core._run.Runner.spawn_impl  # noqa: SLF001 - where trio makes a task

    def counted(self: Any, fn: Any, args: Any, nursery: Any, name: Any, **kwargs: Any) -> Any:
        if name == "simulation":
            made.append(1)
        return spawn(self, fn, args, nursery, name, **kwargs)

    monkeypatch.setattr(trio._core._run.Runner, "spawn_impl", counted)  # noqa: SLF001
    return made


def test_a_seed_that_ends_in_its_first_step_leaves_its_task_to_the_next_seed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim.Simulation(seed=0, faults="none").run(nothing())
    made = _count_seed_tasks(monkeypatch)
    for seed in range(3):
        sim.Simulation(seed=seed, faults="none").run(nothing())
        sim.Simulation(seed=seed, faults="light").run(durable_calls())  # durable calls, inline
    assert made == []  # each ran in the task the seed before left
    # While parked, it is in the run as a task just spawned in the seeds' nursery is.
    shared, runner, _ = _host_run()
    spare, seeds = shared._spare, shared._seeds  # noqa: SLF001
    assert spare is not None
    assert spare in runner.tasks and len(runner.tasks) == shared._baseline + 1  # noqa: SLF001
    assert spare in seeds._children and spare.parent_nursery is seeds  # noqa: SLF001
    assert spare._cancel_status is seeds._cancel_status and spare in seeds._cancel_status._tasks  # noqa: SLF001
    assert (spare.coro, spare.context, spare.name) == (None, None, "simulation")  # nothing of the last simulation
    assert not runner.runq
    # Held here, it is not kept once the next seed has run in it: it leaves the
    # run as an ended task does, and the one after gets a new task.
    sim.Simulation(seed=9, faults="none").run(nothing())
    assert made == [] and shared._spare is None  # noqa: SLF001
    assert spare not in runner.tasks and spare not in seeds._children and spare._cancel_status is None  # noqa: SLF001
    assert len(runner.tasks) == shared._baseline  # noqa: SLF001
    sim.Simulation(seed=10, faults="none").run(nothing())
    assert made == [1] and shared._spare is not None  # noqa: SLF001


def test_a_run_with_a_task_kept_ends_as_any(monkeypatch: pytest.MonkeyPatch) -> None:
    # The kept task leaves the run before it ends (its nursery would wait for it).
    sim.Simulation(seed=0, faults="none").run(nothing())
    shared, runner, _ = _host_run()
    assert shared._spare is not None  # noqa: SLF001
    shared.retire()
    assert shared._gen is None and not trio._core._run.in_trio_run()  # noqa: SLF001
    # A seed that leaves a task behind retires the run it kept a task in.
    sim.Simulation(seed=1, faults="none").run(nothing())

    async def leak() -> None:
        async def forever() -> None:
            await trio.sleep_forever()

        trio.lowlevel.spawn_system_task(forever)

    runs = shared.runs
    sim.Simulation(seed=2, faults="none").run(leak())
    assert shared._gen is None and shared.runs == runs + 1  # noqa: SLF001
    assert _shared(3, "light") == _fresh(3, "light")


def test_a_reused_task_carries_nothing_from_the_seed_before() -> None:
    var: Any = __import__("contextvars").ContextVar("leak", default="unset")
    seen: list[Any] = []

    async def look() -> None:
        task = trio.lowlevel.current_task()
        seen.append(
            (
                var.get(),
                task.name,
                task.custom_sleep_data,
                task._cancel_status is task.parent_nursery._cancel_status,  # noqa: SLF001
                task._cancel_status.effectively_cancelled,  # noqa: SLF001
                trio.current_effective_deadline(),
                task.child_nurseries,
                id(task),
            )
        )

    async def dirty() -> None:
        await look()
        var.set("set by the seed before")
        task = trio.lowlevel.current_task()
        task.name = "renamed"
        task.custom_sleep_data = "left"
        with trio.CancelScope(deadline=5) as scope:
            scope.cancel()
        with trio.CancelScope():
            async with trio.open_nursery():
                pass

    shared, _, _ = _host_run()
    sim.Simulation(seed=1, faults="none").run(look())
    sim.Simulation(seed=2, faults="none").run(dirty())
    sim.Simulation(seed=3, faults="none").run(look())
    clean = ("unset", "simulation", None, True, False, float("inf"), [])
    assert [s[:-1] for s in seen] == [clean, clean, clean]
    assert shared._spare is not None  # noqa: SLF001 - the clean seed's task is kept again

    # A seed that keeps its task (here in a list) keeps it for itself: the next gets another.
    kept: list[Any] = []

    async def keep() -> None:
        kept.append(trio.lowlevel.current_task())

    sim.Simulation(seed=4, faults="none").run(keep())
    assert shared._spare is None  # noqa: SLF001
    seen.clear()
    sim.Simulation(seed=5, faults="none").run(look())
    assert seen[0][:-1] == clean and seen[0][-1] != id(kept[0])
    assert kept[0].name == "simulation" and kept[0].coro is not None  # an ended task, left as trio leaves one


def test_a_seed_that_waits_in_trio_after_a_reused_task_runs_as_in_a_fresh_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The reused task becomes a task of the run (it waits in trio's loop), and
    # its place in trio's task order is a new task's: the seed runs as fresh.
    made = _count_seed_tasks(monkeypatch)
    for seed in range(4):
        sim.Simulation(seed=seed, faults="none").run(nothing())
        made.clear()
        assert _shared(seed, "light") == _fresh(seed, "light")
        assert made == []  # it ran in the task the empty seed left
        assert _host_run()[0]._spare is None  # noqa: SLF001 - it ended in trio's loop: not reused


def test_trios_signal_wakeup_fd_is_set_only_while_its_loop_steps_and_the_worlds_comes_back() -> None:
    # trio's wakeup fd wakes its loop from the wait for I/O when a signal comes:
    # set for a seed that waits in trio, never for one that does not, and the
    # world's fd (here a socket of the test's own) is back after either, and
    # after the run ends.
    import socket

    sim.Simulation(seed=0, faults="none").run(nothing())  # the host's run is started and parked
    shared = _host_run()[0]
    trio_fd = shared._wakeup.write_sock.fileno()  # noqa: SLF001
    world, other = socket.socketpair()
    world.setblocking(False)
    seen: list[int] = []

    def swap() -> None:  # what the fd is now, left as it was
        fd = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
        seen.append(fd)

    async def waits() -> None:
        await trio.sleep(1)
        swap()

    async def never_waits() -> None:
        swap()

    previous = signal.set_wakeup_fd(world.fileno())
    try:
        sim.Simulation(seed=1, faults="none").run(waits())
        swap()
        sim.Simulation(seed=2, faults="none").run(never_waits())
        swap()
        shared.retire()
        swap()
        assert seen == [trio_fd, world.fileno(), world.fileno(), world.fileno(), world.fileno()]
    finally:
        signal.set_wakeup_fd(previous)
        world.close()
        other.close()
