"""Scheduling policies: the order of what could run next, uniform random or PCT.

The default (``schedule="uniform"``) keeps what a simulation always did: trio
shuffles each batch of runnable tasks with its seeded random source, and the
service runs actions due at the same virtual time in the order they were
scheduled. ``schedule="pct"`` is the randomized scheduler of Burckhardt,
Kothari, Musuvathi and Nagarakatte (ASPLOS 2010, "probabilistic concurrency
testing"): every thread gets a random priority the first time it is seen,
the highest-priority thread that can run goes first, and at d-1 steps drawn
at random from the first k the thread taking that step drops below every
other. A bug that needs d ordering constraints between n threads is then hit
with probability at least 1/(n*k^(d-1)) per run.

Threads here are trio tasks and calls. Tasks: trio runs each batch of
runnable tasks in the order its module-level random source leaves them
(deterministic mode sorts them, then calls its ``shuffle``); `PCTSchedule`
hands trio a random source whose ``shuffle`` sorts the batch by priority.
Calls: among the service's actions due at the same virtual time, the one of
the call with the highest priority runs first (time itself is never
reordered: latency decides what is due when). Every task step and every
action is a step.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Awaitable
from typing import Any

from ._service import Service

__all__ = ["DEFAULT_DEPTH", "DEFAULT_STEPS", "SCHEDULES", "PCTSchedule"]

SCHEDULES = ("uniform", "pct")
"""The scheduling policies a simulation accepts."""

DEFAULT_DEPTH = 2
"""PCT's bug depth when none is given: one change point, for bugs of two ordering constraints."""

DEFAULT_STEPS = 100
"""PCT's k when none is given: the steps the change points are drawn from."""


class _PriorityOrder(random.Random):
    """trio's random source under PCT: its ``shuffle`` orders a batch by priority."""

    def __init__(self, schedule: PCTSchedule, seed: str) -> None:
        super().__init__(seed)  # other uses of trio's source (none under our clock) stay seeded
        self._schedule = schedule

    def shuffle(self, x: list[Any]) -> None:  # type: ignore[override]
        # trio runs the batch from its end: the highest priority goes last. The
        # sort is stable and trio sorted the batch by spawn order before, so ties
        # (none in practice: priorities are random floats) stay deterministic.
        schedule = self._schedule
        x.sort(key=schedule.priority)
        for task in reversed(x):
            schedule.took_step(task)


class PCTSchedule:
    """The PCT policy of one simulation: priorities, change points and a step count.

    `depth` is d (at least 1; d-1 change points), `steps` is k, the number of
    steps the change points are drawn from (a run that takes fewer steps may
    not reach them all). Draws come from their own source, seeded from the
    simulation's seed, so the decision record is the same shape as under the
    uniform schedule.
    """

    def __init__(self, seed: int, depth: int = DEFAULT_DEPTH, steps: int = DEFAULT_STEPS) -> None:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be an int >= 1, got {depth!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"pct_steps must be an int >= 1, got {steps!r}")
        self.depth, self.steps = depth, steps
        self._random = random.Random(f"dispatch-sim:{seed}:pct")
        points = [self._random.randint(1, steps) for _ in range(depth - 1)]
        # The i-th change point (in step order) drops its thread to d - i: below
        # every initial priority (d + a fraction) and below earlier drops.
        self._changes: dict[int, float] = {}
        for i, step in enumerate(sorted(points), start=1):
            self._changes.setdefault(step, float(depth - i))
        self._priorities: dict[Any, float] = {}
        self.taken = 0
        self.header: dict[str, Any] = {"name": "pct", "depth": depth, "steps": steps, "taken": 0}
        """What the trace header records of the schedule; `taken` is the steps taken so far."""
        self.task_order = _PriorityOrder(self, f"dispatch-sim:{seed}:trio")

    def priority(self, thread: Any) -> float:
        """The thread's priority (drawn the first time it is asked for)."""
        found = self._priorities.get(thread)
        if found is None:
            found = self._priorities[thread] = self.depth + self._random.random()
        return found

    def took_step(self, thread: Any) -> None:
        """Count a step of `thread`; at a change point, drop its priority."""
        self.taken += 1
        self.header["taken"] = self.taken
        dropped = self._changes.get(self.taken)
        if dropped is not None:
            self.priority(thread)
            self._priorities[thread] = dropped

    def install(self, service: Service) -> None:
        """Make `service` run, among its actions due at the same time, the highest-priority call's first."""
        plain = Service.step.__get__(service)
        heap = service.heap

        def step() -> Awaitable[None] | None:
            if len(heap) > 1:
                due = heap[0][0]
                tied = []
                while heap and heap[0][0] == due:
                    tied.append(heapq.heappop(heap))
                best = max(tied, key=lambda entry: (self.priority(_thread_of(entry[3])), -entry[1]))
                for entry in tied:
                    if entry is not best:
                        heapq.heappush(heap, entry)
                # Back on top (seq 0 sorts before every scheduled action due then).
                heapq.heappush(heap, (due, 0, best[2], best[3]))
                self.took_step(_thread_of(best[3]))
            elif heap:
                self.took_step(_thread_of(heap[0][3]))
            return plain()

        # An attribute of this one service: the uniform schedule's class method,
        # and its hot path, stay as they are.
        service.step = step  # type: ignore[method-assign]


def _thread_of(arg: Any) -> Any:
    # An action's argument is its call's record, or (record, generation) for a poll timeout.
    record = arg[0] if isinstance(arg, tuple) else arg
    return getattr(record, "id", record)

