"""Simulations and shared trio runs in threads other than the main one (sim._host.hosting).

A thread's simulations share one trio run inside `hosting()` (a sweep's batch
opens one), and the run ends on that thread when the block does: a thread
never leaves a run behind when it ends, and never drives another thread's. A
seed runs the same there as in a fresh run and on the main thread, also with
several threads running seeds at once (simulations of a process take turns:
`sim._runtime.RUN_LOCK`), and a Dask worker's threads host their seeds.
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
import sniffio
import trio

import sim
from sim import _host
from tests.sim.test_host import ROOT, _fresh, _shared, run_program, workflow

T = TypeVar("T")


def in_thread(fn: Callable[[], T]) -> T:
    """`fn()` in a new thread (not the main one), its result or its exception here."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=120)


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def digests(seeds: Any, faults: str = "light") -> list[tuple[Any, str]]:
    return [_shared(seed, faults) for seed in seeds]


@pytest.fixture
def switch_often() -> Iterator[None]:
    # Threads take turns every few bytecodes rather than every 5 ms, so that
    # runs in several threads interleave inside a seed, not only between seeds.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def test_a_thread_has_a_host_only_inside_hosting_and_its_run_ends_with_the_block() -> None:
    def body() -> tuple[Any, ...]:
        outside = _host.host()
        fds = open_fds()
        with _host.hosting():
            inside = _host.host()
            assert inside is not None
            digests(range(3))
            running = inside._gen is not None  # parked between simulations, not ended
            thread_fds = open_fds() - fds  # its epoll fd and wakeup socket pair
        return outside, inside, running, thread_fds, open_fds() - fds, _host.host()

    main = _host.host()
    outside, inside, running, thread_fds, left, after = in_thread(body)
    assert outside is None and after is None  # outside the block: a fresh trio.run per simulation
    assert inside is not main and running and inside.runs == 3
    assert thread_fds  # the run held descriptors of its own...
    assert inside._gen is None and not left  # ...and the block's end closed them, on its thread


def test_off_the_main_thread_the_run_touches_no_signal_state_and_parks_per_thread_state() -> None:
    # trio installs a SIGINT handler and a signal wakeup fd on the main thread
    # only; a thread's run has neither, and parked it leaves its thread as a
    # thread without a trio run.
    sigint = signal.getsignal(signal.SIGINT)

    def body() -> tuple[Any, ...]:
        hooks = sys.get_asyncgen_hooks()
        with _host.hosting():
            digests([1])
            found = _host.host()
            assert found is not None
            runner = found._runner
            seen = (
                runner.ki_manager.handler,
                runner.entry_queue.wakeup.old_wakeup_fd,
                trio.lowlevel.in_trio_run(),  # parked
                sys.get_asyncgen_hooks() == hooks,
                signal.getsignal(signal.SIGINT) is sigint,
            )
            with pytest.raises(sniffio.AsyncLibraryNotFoundError):
                sniffio.current_async_library()
            return seen

    assert in_thread(body) == (None, None, False, True, True)
    assert signal.getsignal(signal.SIGINT) is sigint
    previous = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(previous)
    assert previous == -1


def test_the_main_thread_keeps_its_host_through_a_hosting_block() -> None:
    digests([1])
    main = _host.host()
    assert main is not None and main._gen is not None
    with _host.hosting():
        assert _host.host() is main
        digests([2])
    assert _host.host() is main and main._gen is not None  # not retired: it lives as long as the process


def test_an_inner_hosting_block_leaves_the_run_to_the_outer_one() -> None:
    def body() -> tuple[bool, bool, int]:
        with _host.hosting():
            digests([1])
            outer = _host.host()
            assert outer is not None
            with _host.hosting():
                assert _host.host() is outer
                digests([2])
            still = outer._gen is not None
            digests([3])
        return still, outer._gen is None, outer.runs

    assert in_thread(body) == (True, True, 3)


def test_a_failing_block_still_ends_its_run() -> None:
    def body() -> _host.TrioHost | None:
        found = None
        with pytest.raises(KeyError), _host.hosting():
            found = _host.host()
            digests([1])
            raise KeyError("boom")
        return found

    found = in_thread(body)
    assert found is not None and found._gen is None


@pytest.mark.parametrize("faults", ["none", "light", "heavy"])
def test_a_seed_runs_the_same_in_a_threads_host_as_fresh_and_on_the_main_thread(faults: str) -> None:
    seeds = (5, 3, 1, 0, 2, 4)
    fresh = [_fresh(seed, faults) for seed in seeds]
    main = digests(seeds, faults)

    def hosted() -> list[tuple[Any, str]]:
        with _host.hosting():
            return digests(seeds, faults)

    assert in_thread(hosted) == main == fresh


def test_several_threads_at_once_each_running_seeds_get_the_digests_of_fresh_runs(switch_often: None) -> None:
    seeds = range(8)
    fresh = [_fresh(seed, "light") for seed in seeds]
    started = threading.Barrier(4)

    def hosted(order: list[int]) -> tuple[_host.TrioHost | None, dict[int, tuple[Any, str]]]:
        started.wait()
        with _host.hosting():
            return _host.host(), {seed: _shared(seed, "light") for seed in order}

    def unhosted(order: list[int]) -> tuple[None, dict[int, tuple[Any, str]]]:
        started.wait()  # fresh trio.run per seed, beside the hosted threads
        return None, {seed: _shared(seed, "light") for seed in order}

    orders = [list(seeds), list(reversed(seeds)), [3, 1, 7, 5, 0, 2, 4, 6]]
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(hosted, order) for order in orders] + [pool.submit(unhosted, list(seeds))]
        results = [future.result(timeout=300) for future in futures]
    for _, got in results:
        assert [got[seed] for seed in seeds] == fresh
    hosts = [found for found, _ in results[:3]]
    assert len({id(found) for found in hosts}) == 3  # one host per thread
    assert all(found is not None and found.runs == len(seeds) and found._gen is None for found in hosts)


def test_threads_ending_leave_no_run_no_descriptor_and_no_warning() -> None:
    # A pool's threads each host seeds, then the pool shuts down; no
    # "Trio guest run got abandoned", no ResourceWarning for a socket, and the
    # process's descriptors are those it had before.
    program = textwrap.dedent(
        """
        import gc, os, sys, threading
        from concurrent.futures import ThreadPoolExecutor
        import sim, tests.sim.test_host as t
        from sim import _host

        def seeds(first):
            with _host.hosting():
                found = _host.host()
                for seed in range(first, first + 3):
                    s = sim.Simulation(seed=seed, faults="light")
                    s.run(t.workflow())
            return found

        t.workflow  # imported before the count: modules may open nothing after
        before = sorted(os.listdir("/proc/self/fd"))
        for _ in range(3):
            with ThreadPoolExecutor(3) as pool:
                hosts = list(pool.map(seeds, range(0, 18, 3)))
            assert all(h is not None and h._gen is None for h in hosts), hosts
            del hosts
        gc.collect()
        after = sorted(os.listdir("/proc/self/fd"))
        assert before == after, (before, after)
        assert threading.active_count() == 1
        print("ok")
        """
    )
    done = run_program(program, "-X", "dev", "-W", "always")
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")


def test_interpreter_exit_with_a_thread_inside_a_hosting_block_is_quiet() -> None:
    # A daemon thread still inside its block at exit (its run parked), the main
    # thread's host parked too: the process exits at once, with nothing on stderr.
    program = textwrap.dedent(
        """
        import threading
        import sim, tests.sim.test_host as t
        from sim import _host

        parked = threading.Event()

        def hold():
            with _host.hosting():
                sim.Simulation(seed=1, faults="light").run(t.workflow())
                parked.set()
                threading.Event().wait()

        threading.Thread(target=hold, daemon=True).start()
        assert parked.wait(60)
        sim.Simulation(seed=2, faults="light").run(t.workflow())
        print("exiting")
        """
    )
    done = run_program(program, "-X", "dev", "-W", "always")
    assert (done.returncode, done.stdout, done.stderr) == (0, "exiting\n", "")


def test_threads_give_the_same_digests_across_processes_and_hash_seeds() -> None:
    program = textwrap.dedent(
        """
        import sys
        from concurrent.futures import ThreadPoolExecutor
        import sim, tests.sim.test_host as t
        from sim import _host

        sys.setswitchinterval(1e-5)

        def seeds(order):
            with _host.hosting():
                out = {}
                for seed in order:
                    s = sim.Simulation(seed=seed, faults="light")
                    s.run(t.workflow())
                    out[seed] = s.trace.digest()
                return out

        with ThreadPoolExecutor(2) as pool:
            a, b = pool.map(seeds, [range(4), range(3, -1, -1)])
        assert a == b, (a, b)
        print(" ".join(a[seed] for seed in range(4)))
        """
    )
    outputs = [run_program(program, hash_seed=hash_seed).stdout.split() for hash_seed in ("0", "7")]
    assert outputs[0] == outputs[1] == [_fresh(seed, "light")[1] for seed in range(4)]


def test_a_simulation_in_a_trio_run_of_another_thread_still_refuses_and_hosts_nothing() -> None:
    async def nested() -> None:
        assert _host.host() is None
        sim.Simulation(seed=1, faults="none").run(workflow)

    def body() -> None:
        with _host.hosting():
            trio.run(nested)

    with pytest.raises(RuntimeError, match="inside a run"):
        in_thread(body)


def test_a_dask_workers_threads_host_its_seeds_with_the_local_results() -> None:
    distributed = pytest.importorskip("distributed")
    target = "tests/programs/sweep_program.py::test_seed_dependent"
    seeds = range(60)
    local = sim.sweep(target, seeds=seeds, jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Dask's own start-up notices
        cluster = distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
        )
        client = distributed.Client(cluster)
        try:
            remote = sim.sweep(target, seeds=seeds, executor=client.get_executor(), batch_size=5)
            # Run on the worker's event loop thread: sums the hosts of its task threads.
            hosted = client.run(lambda: sum(found.runs for found in _host._thread_hosts))
        finally:
            client.close()
            cluster.close()

    def rows(result: sim.SweepResult) -> list[tuple[Any, ...]]:
        return sorted((r.seed, r.ok, r.digest, r.signature) for r in result.records)

    assert rows(remote) == rows(local) and len(rows(local)) == len(seeds)
    assert list(hosted.values()) == [len(seeds)]  # every seed ran in a thread's host
