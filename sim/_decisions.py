"""Every choice a simulation makes, taken from one random source and recorded.

Each decision maps the smallest draw to the benign outcome (no fault, no
delay, first in order), so a shrinker that minimises the draws minimises the
faults. The draws are recorded, so a run can be replayed from the record.
"""

from __future__ import annotations

import random
from typing import Any

from ._faults import FAULT_KINDS, FaultProfile
from ._status import Status

__all__ = ["Decisions", "ENDPOINT_FAULT_STATUSES", "RecordedRandom"]

# The ways an endpoint can fail before the function runs, in the order a
# shrinker should prefer them (the plainest first).
ENDPOINT_FAULT_STATUSES: tuple[Status, ...] = (
    Status.TIMEOUT,
    Status.THROTTLED,
    Status.HTTP_ERROR,
    Status.TCP_ERROR,
    Status.DNS_ERROR,
    Status.TLS_ERROR,
)


class Decisions:
    """The decision source of one simulation: a profile and a `random.Random`."""

    __slots__ = ("profile", "requested", "record", "_random")

    def __init__(self, profile: FaultProfile, rng: random.Random) -> None:
        self._random = rng.random
        self.record: list[float] = []
        self.requested = profile
        self.profile = self._swarm(profile) if profile.swarm else profile

    def _draw(self) -> float:
        u = self._random()
        self.record.append(u)
        return u

    def _chance(self, rate: float) -> bool:
        # Large draws mean trouble, so shrinking draws toward 0 removes faults.
        return rate > 0.0 and self._draw() >= 1.0 - rate

    def _swarm(self, profile: FaultProfile) -> FaultProfile:
        def pick(rate: float) -> float:
            return rate * self._draw() if self._chance(0.5) else 0.0

        # In field order: the draws of a recorded run depend on it.
        rates: dict[str, Any] = {kind: pick(getattr(profile, kind)) for kind in FAULT_KINDS}
        return FaultProfile(name=f"{profile.name}*", **rates)

    def endpoint_fault(self) -> Status | None:
        """The status of an injected endpoint failure, or None."""
        if not self._chance(self.profile.endpoint_error):
            return None
        n = len(ENDPOINT_FAULT_STATUSES)
        return ENDPOINT_FAULT_STATUSES[min(int(self._draw() * n), n - 1)]

    def response_lost(self) -> bool:
        """Whether the response of an attempt that ran is lost."""
        return self._chance(self.profile.response_lost)

    def crash(self) -> bool:
        """Whether a suspended coroutine loses its in-memory state before a resume."""
        return self._chance(self.profile.crash)

    def latency(self) -> float:
        """Virtual seconds a delivery takes."""
        top = self.profile.max_latency
        return top * self._draw() if top else 0.0

    def jitter(self) -> float:
        """Fraction of the jitter allowance a retry's backoff gets, in [0, 1)."""
        return self._draw()

    def reorder(self, ready: int) -> tuple[int, int] | None:
        """Out-of-order delivery: (index of the first result to hand over, batch size).

        None means in order, as many as the poll accepts.
        """
        if ready < 2 or not self._chance(self.profile.reorder):
            return None
        start = min(int(self._draw() * ready), ready - 1)
        size = 1 + min(int(self._draw() * ready), ready - 1)
        return start, size


class RecordedRandom(random.Random):
    """A `random.Random` that replays recorded draws, to re-run a simulation from its record.

    Past the end of the record it returns 0.0 (the benign choice) and sets
    `exhausted`, so a run that asks for more than was recorded still ends.
    """

    def __init__(self, draws: list[float] | tuple[float, ...]) -> None:
        super().__init__(0)
        self._draws = [float(d) for d in draws]
        self._next = 0
        self.exhausted = False

    def random(self) -> float:
        i = self._next
        if i < len(self._draws):
            self._next = i + 1
            return self._draws[i]
        self.exhausted = True
        return 0.0
