"""Dispatches made inside an async function are durable steps: a re-run does not send them again.

A function re-run from its start (a crash rebuild, a retry of its first
attempt) makes the same dispatches in the same order; the service hands
back the ids of the first time and sends nothing new. So a notification
workflow sends each notification once, whatever the faults.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import registry
import sim
from sim import FaultProfile, Input, Output

USERS = ["ada", "bob", "cy"]


def _dispatches(s: sim.Simulation, function: str) -> list[sim.Event]:
    return [e for e in s.trace if e.kind == "dispatch" and e.function == function]


@pytest.fixture
def notifications(reg: registry.Registry) -> Any:
    # Which calls (dispatch ids) delivered each notification: more than one id
    # for a notification is a duplicate send (retries of one call are not).
    delivered: dict[Any, set[str]] = {}

    @reg.primitive_function
    def send(inp: Input) -> Output:
        delivered.setdefault(tuple(inp.input), set()).add(inp.dispatch_id)
        return Output.value("sent")

    @reg.function
    def lookup(user: str) -> str:
        return f"{user}@example.com"

    @reg.function
    async def notify_all(users: list[str]) -> list[str]:
        ids = []
        for user in users:
            address = await lookup(user)  # a durable step between dispatches
            ids.append(await send.dispatch((address, "hello")))
        batch = reg.batch()
        for user in users:
            batch.add(send, (user, "batched"))
        ids.extend(await batch.dispatch())
        await registry.sleep(1)
        return ids

    return send, notify_all, delivered


def test_no_duplicate_sends_under_heavy_faults_over_300_seeds(notifications: Any) -> None:
    send, notify_all, delivered = notifications
    duplicated, completed = [], 0
    for seed in range(300):
        delivered.clear()
        s = sim.Simulation(seed=seed, faults="heavy")
        try:
            s.run(notify_all(USERS))
            completed += 1
        except Exception:
            pass  # a call may fail for good under heavy faults; what it sent still counts
        if any(len(ids) > 1 for ids in delivered.values()):
            duplicated.append(seed)
        sent = Counter(e.detail for e in _dispatches(s, send.name))
        assert sum(sent.values()) <= 2 * len(USERS), seed
    assert duplicated == []
    assert completed > 250  # the workflow mostly finishes: the check is not vacuous


def test_a_crash_rebuild_returns_the_first_ids(notifications: Any) -> None:
    send, notify_all, _ = notifications
    s = sim.Simulation(seed=1, faults=FaultProfile(crash=1.0))
    ids = s.run(notify_all(USERS))
    assert len(ids) == 2 * len(USERS) == len(set(ids))
    assert [e.dispatch_id for e in _dispatches(s, send.name)] == ids


def test_a_retried_first_attempt_does_not_send_again(reg: registry.Registry) -> None:
    tries: list[int] = []

    @reg.function
    def ping() -> str:
        return "pong"

    @reg.function
    async def flaky() -> str:
        pending = ping.dispatch()
        tries.append(1)
        if len(tries) == 1:
            raise registry.error.TemporaryError("first attempt fails after dispatching")
        return pending

    s = sim.Simulation(seed=0, faults="none")
    dispatch_id = s.run(flaky())
    assert len(tries) == 2
    assert [e.dispatch_id for e in _dispatches(s, ping.name)] == [dispatch_id]


def test_other_calls_under_the_same_key_are_an_error(reg: registry.Registry) -> None:
    tries: list[int] = []

    @reg.function
    def a() -> None:
        pass

    @reg.function
    def b() -> None:
        pass

    @reg.function
    async def unstable() -> str:
        tries.append(1)
        if len(tries) == 1:
            a.dispatch()
            raise registry.error.TemporaryError("retry me")
        return b.dispatch()

    s = sim.Simulation(seed=0, faults="none")
    with pytest.raises(ValueError, match="made dispatch 0 again with other calls"):
        s.run(unstable())


def test_a_tail_call_starts_counting_afresh(reg: registry.Registry) -> None:
    @reg.function
    def tick(n: int) -> int:
        return n

    @reg.function
    async def loop(n: int) -> int:
        tick.dispatch(0)  # the same call on every round: each round sends it
        if n < 3:
            raise registry.Reset(loop, n + 1)
        return n

    s = sim.Simulation(seed=0, faults="none")
    assert s.run(loop(0)) == 3
    assert len(_dispatches(s, tick.name)) == 4


def test_sync_functions_dispatch_at_least_once(reg: registry.Registry) -> None:
    # Only async functions are durable; a retried sync function sends again.
    tries: list[int] = []

    @reg.function
    def ping() -> None:
        pass

    @reg.function
    def fire() -> None:
        ping.dispatch()
        tries.append(1)
        if len(tries) == 1:
            raise registry.error.TemporaryError("again")

    s = sim.Simulation(seed=0, faults="none")
    s.run(fire())
    assert len(_dispatches(s, ping.name)) == 2
