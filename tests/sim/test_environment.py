"""Inside a run, user code reads a virtual wall clock and entropy from the seed; trio, pytest
and Hypothesis keep the real ones; everything is put back after the run, also on error;
threads and processes are refused at once, naming them (never a false deadlock)."""

from __future__ import annotations

import datetime
import os
import random
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import trio

import registry
import sim
from sim import OutsideWorldError, Simulation
from sim._environment import EPOCH

PROGRAM = Path(__file__).parent.parent / "programs" / "environment_workflow.py"


def sample() -> dict[str, Any]:
    return {
        "time": time.time(),
        "time_ns": time.time_ns(),
        "monotonic": time.monotonic(),
        "monotonic_ns": time.monotonic_ns(),
        "perf_counter": time.perf_counter(),
        "now": datetime.datetime.now(),
        "utcnow": datetime.datetime.utcnow(),
        "now_utc": datetime.datetime.now(datetime.timezone.utc),
        "today": datetime.date.today(),
        "uuid4": uuid.uuid4(),
        "urandom": os.urandom(8),
        "token": secrets.token_hex(8),
        "below": secrets.randbelow(10**9),
        "system": random.SystemRandom().random(),
    }


def in_run(seed: int, **options: Any) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        await trio.sleep(90)
        return sample()

    return Simulation(seed=seed, faults="none", **options).run(main)


def test_the_clock_is_virtual_inside_a_run() -> None:
    seen = in_run(1)
    assert seen["time"] == EPOCH + 90
    assert seen["time_ns"] == (EPOCH + 90) * 10**9
    assert seen["monotonic"] == seen["perf_counter"] == 90.0
    assert seen["monotonic_ns"] == 90 * 10**9
    assert seen["now_utc"] == datetime.datetime(2026, 1, 1, 0, 1, 30, tzinfo=datetime.timezone.utc)
    assert seen["utcnow"] == datetime.datetime(2026, 1, 1, 0, 1, 30)
    assert seen["today"] == datetime.datetime.fromtimestamp(EPOCH + 90).date()
    # Real classes, so the values mix with any others.
    assert type(seen["now"]) is type(datetime.datetime.now()) and type(seen["today"]) is datetime.date


def test_entropy_comes_from_the_seed() -> None:
    first, again, other = in_run(1), in_run(1), in_run(2)
    for name in ("uuid4", "urandom", "token", "below", "system"):
        assert first[name] == again[name], name
        assert first[name] != other[name], name
    assert first["uuid4"].version == 4


def test_the_opt_out_gives_the_real_clock_and_entropy() -> None:
    first = in_run(1, deterministic_environment=False)
    second = in_run(1, deterministic_environment=False)
    assert abs(first["time"] - time.time()) < 60
    assert first["urandom"] != second["urandom"]


def test_everything_is_put_back_after_a_run_and_after_an_error() -> None:
    originals = (time.time, time.monotonic, time.perf_counter, os.urandom, datetime.datetime, uuid.uuid4)
    in_run(1)

    async def failing() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError):
        Simulation(faults="none").run(failing)
    assert (time.time, time.monotonic, time.perf_counter, os.urandom, datetime.datetime, uuid.uuid4) == originals
    assert abs(time.time() - datetime.datetime.now().timestamp()) < 60
    assert os.urandom(16) != os.urandom(16)


def test_trio_and_other_tasks_of_a_host_run_keep_the_real_clock() -> None:
    # Simulation.main inside a trio run on the real clock: trio's deadlines and
    # the host's own tasks see real time; the simulation's context sees virtual time.
    seen: dict[str, float] = {}

    async def host() -> None:
        async def outside() -> None:
            await trio.sleep(0.01)
            seen["outside"] = time.time()

        async def inside() -> None:
            seen["inside"] = time.time()
            with trio.move_on_after(0.01):  # a real-clock deadline still fires
                await trio.sleep_forever()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(outside)
            await Simulation(faults="none").main(inside)

    trio.run(host)
    assert seen["inside"] == EPOCH
    assert abs(seen["outside"] - datetime.datetime.now().timestamp()) < 60


def test_isinstance_still_holds_for_datetimes_made_anywhere() -> None:
    before = datetime.datetime(2020, 1, 1)

    async def main() -> tuple[bool, bool, bool]:
        return (
            isinstance(before, datetime.datetime),
            isinstance(datetime.datetime.now(), datetime.datetime),
            issubclass(type(datetime.datetime(2021, 5, 5)), datetime.date),
        )

    assert Simulation(faults="none").run(main) == (True, True, True)


@pytest.mark.parametrize("off", [False, True])
def test_the_same_seed_gives_the_same_digest_across_processes(off: bool) -> None:
    def digest(hash_seed: str) -> str:
        args = [sys.executable, str(PROGRAM), "3"] + (["off"] if off else [])
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        return subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout.strip()

    digests = {digest(h) for h in ("1", "2", "3")}
    if off:  # the workflow really depends on the environment: without the fix, digests differ
        assert len(digests) > 1
    else:
        assert len(digests) == 1


# -- the outside world -----------------------------------------------------------------


def test_a_thread_in_the_test_fails_at_once_naming_it() -> None:
    def blocking_work() -> int:
        return 1

    async def main() -> None:
        await trio.to_thread.run_sync(blocking_work)

    with pytest.raises(OutsideWorldError, match=r"trio\.to_thread\.run_sync\(.*blocking_work\)"):
        Simulation(faults="none").run(main)


def test_a_process_in_a_function_fails_at_once_naming_it(reg: registry.Registry) -> None:
    @reg.function
    async def shell() -> None:
        try:
            await trio.run_process(["true"])
        except OutsideWorldError:
            pass  # swallowing it does not let the run go on as if nothing happened

    async def main() -> None:
        await shell()

    with pytest.raises(OutsideWorldError, match=r"trio\.run_process\(\['true'\]\)"):
        Simulation(faults="none").run(main)


def test_threads_work_again_after_the_run() -> None:
    with pytest.raises(OutsideWorldError):
        Simulation(faults="none").run(lambda: trio.to_thread.run_sync(int))

    async def outside() -> int:
        return await trio.to_thread.run_sync(int, "7")

    assert trio.run(outside) == 7
    assert sim.SimulationError  # the error is a SimulationError
    assert issubclass(OutsideWorldError, sim.SimulationError)


def test_a_clock_the_test_replaced_itself_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 42.0)

    async def main() -> tuple[float, float]:
        return time.time(), time.monotonic()

    assert Simulation(faults="none").run(main) == (42.0, 0.0)
    assert time.time() == 42.0


def test_a_run_seeds_its_generators_only_when_drawn_from(monkeypatch: pytest.MonkeyPatch) -> None:
    # Seeding a Mersenne Twister is a twentieth of an empty seed: the decisions' source and
    # the entropy are made on first use, trio's scheduler source on its first shuffle.
    made: list[object] = []

    class Counting(random.Random):
        def __init__(self, x: object = None) -> None:
            made.append(x)
            super().__init__(x)

    async def nothing() -> None:
        pass

    monkeypatch.setattr(random, "Random", Counting)
    Simulation(seed=5, faults="none").run(nothing)
    assert made == []
    assert in_run(5)["urandom"] == in_run(5)["urandom"]
    assert "dispatch-sim:5:entropy" in made


def test_every_replacement_is_in_place_during_a_run_and_the_originals_after() -> None:
    from sim import _environment

    def current() -> list[Any]:
        return [getattr(owner, name) for owner, name, _ in _environment._PATCHES]  # noqa: SLF001

    seen: list[list[Any]] = []

    async def main() -> None:
        seen.append(current())

    before = current()
    Simulation(faults="none").run(main)
    assert all(a is b for a, b in zip(seen[0], [r for _, _, r in _environment._PATCHES]))  # noqa: SLF001
    assert all(a is b for a, b in zip(current(), before))


def test_a_clock_replaced_by_the_test_stays_while_the_others_come_and_go(monkeypatch: pytest.MonkeyPatch) -> None:
    fixed = lambda: 42.0  # noqa: E731
    monkeypatch.setattr(time, "time", fixed)
    originals = (time.monotonic, os.urandom)

    async def main() -> tuple[Any, ...]:
        return time.time, time.monotonic is originals[0], os.urandom is originals[1]

    assert Simulation(faults="none").run(main) == (fixed, False, False)
    assert (time.time, time.monotonic, os.urandom) == (fixed, *originals)
