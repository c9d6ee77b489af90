"""Every choice a simulation makes, taken from one random source and recorded.

Each decision maps the smallest draw to the benign outcome (no fault, no
delay, first in order), so a shrinker that minimises the draws minimises the
faults. The draws are recorded, so a run can be replayed from the record.
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Callable
from typing import Any

from ._faults import FAULT_KINDS, FaultProfile
from ._events import BUGGIFY, CRASH, ENDPOINT_ERROR, RESPONSE_LOST
from ._script import Fault, function_matches
from ._status import Status

__all__ = [
    "BUGGIFY_ACTIVATION",
    "Decisions",
    "ENDPOINT_FAULT_STATUSES",
    "RecordedRandom",
    "ScriptedDecisions",
    "TargetedDecisions",
    "decisions_for",
]

BUGGIFY_ACTIVATION = 0.25
"""The chance that a `sim.buggify` call site is active in a run."""

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


class _FirstDraw:
    """A decision source's `random.Random(text).random`, seeded on the first draw.

    Seeding a Mersenne Twister from text costs about 40,000 instructions, a
    twentieth of an empty seed, and a run without faults may never draw. The
    first draw puts the real generator's `random` in its owner's place, so
    later draws cost what they did; the owner is held weakly (a `Decisions`
    holding this, and this the `Decisions`, would be a reference cycle).
    """

    __slots__ = ("_owner", "_text", "_real")

    def __init__(self, owner: Decisions, text: str) -> None:
        self._owner = weakref.ref(owner)
        self._text = text
        self._real: Callable[[], float] | None = None

    def __call__(self) -> float:
        real = self._real
        if real is None:
            real = self._real = random.Random(self._text).random
            owner = self._owner()
            if owner is not None:
                owner._random = real
        return real()


class Decisions:
    """The decision source of one simulation: a profile and a `random.Random`.

    `rng` may instead be the seed text of a `random.Random`, which is then
    made on the first draw (`_FirstDraw`): the same draws, for nothing when
    there are none.
    """

    __slots__ = ("profile", "requested", "record", "_random", "__weakref__")

    def __init__(self, profile: FaultProfile, rng: random.Random | str) -> None:
        self._random: Any = _FirstDraw(self, rng) if isinstance(rng, str) else rng.random
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

    # The fault decisions take the call's record (`rec`): the base source ignores
    # it, targeted and scripted sources read its function, id and attempt.

    def endpoint_fault(self, rec: Any = None) -> Status | None:
        """The status of an injected endpoint failure, or None."""
        if not self._chance(self.profile.endpoint_error):
            return None
        n = len(ENDPOINT_FAULT_STATUSES)
        return ENDPOINT_FAULT_STATUSES[min(int(self._draw() * n), n - 1)]

    def response_lost(self, rec: Any = None) -> bool:
        """Whether the response of an attempt that ran is lost."""
        return self._chance(self.profile.response_lost)

    def crash(self, rec: Any = None) -> bool:
        """Whether a suspended coroutine loses its in-memory state before a resume."""
        return self._chance(self.profile.crash)

    def latency(self, rec: Any = None) -> float:
        """Virtual seconds a delivery takes."""
        top = self.profile.max_latency
        return top * self._draw() if top else 0.0

    def jitter(self) -> float:
        """Fraction of the jitter allowance a retry's backoff gets, in [0, 1)."""
        return self._draw()

    def reorder(self, ready: int, rec: Any = None) -> tuple[int, int] | None:
        """Out-of-order delivery: (index of the first result to hand over, batch size).

        None means in order, as many as the poll accepts.
        """
        if ready < 2 or not self._chance(self.profile.reorder):
            return None
        start = min(int(self._draw() * ready), ready - 1)
        size = 1 + min(int(self._draw() * ready), ready - 1)
        return start, size


    def buggify_active(self, site: str) -> bool:
        """Whether the `sim.buggify` call site `site` is active in this run (asked once per site)."""
        return self._chance(BUGGIFY_ACTIVATION)

    def buggify_fires(self, site: str, probability: float) -> bool:
        """Whether an active buggify site fires this time."""
        return self._chance(probability)


class _PlainDecisions(Decisions):
    """`Decisions` with each draw written out in the decisions a run asks most.

    The same draws, in the same order, with the same results as the base
    class's methods (a test compares them): only the calls to `_draw` and
    `_chance` are saved, a fifth of what a lightly faulted call spends on its
    decisions. A separate class because a subclass may draw its own way (the
    shrinker's planned source overrides `_draw`, and its decisions reach the
    base methods through super()): `decisions_for` hands this one out for
    plain profiles only.
    """

    # Each rate's threshold, taken once from the run's profile (fixed from here
    # on: frozen, and a swarm's drawn in Decisions.__init__): ``1.0 - rate``,
    # at or above which a draw injects the fault, or None when the rate is not
    # positive (nothing is drawn). The same float the base class computes at
    # each decision, so the same draws decide the same.
    __slots__ = ("_endpoint_error_at", "_response_lost_at", "_crash_at", "_max_latency")

    def __init__(self, profile: FaultProfile, rng: random.Random | str) -> None:
        super().__init__(profile, rng)
        chosen = self.profile
        self._endpoint_error_at = _threshold(chosen.endpoint_error)
        self._response_lost_at = _threshold(chosen.response_lost)
        self._crash_at = _threshold(chosen.crash)
        self._max_latency = chosen.max_latency

    def endpoint_fault(self, rec: Any = None) -> Status | None:
        at = self._endpoint_error_at
        if at is None:
            return None
        u = self._random()
        record = self.record
        record.append(u)
        if u < at:
            return None
        u = self._random()
        record.append(u)
        n = len(ENDPOINT_FAULT_STATUSES)
        return ENDPOINT_FAULT_STATUSES[min(int(u * n), n - 1)]

    def response_lost(self, rec: Any = None) -> bool:
        at = self._response_lost_at
        if at is None:
            return False
        u = self._random()
        self.record.append(u)
        return u >= at

    def crash(self, rec: Any = None) -> bool:
        at = self._crash_at
        if at is None:
            return False
        u = self._random()
        self.record.append(u)
        return u >= at

    def latency(self, rec: Any = None) -> float:
        top = self._max_latency
        if not top:
            return 0.0
        u = self._random()
        self.record.append(u)
        return top * u

    def jitter(self) -> float:
        u = self._random()
        self.record.append(u)
        return u


def _threshold(rate: float) -> float | None:
    # _PlainDecisions' form of a rate: what `Decisions._chance` compares a draw with.
    return 1.0 - rate if rate > 0.0 else None


class TargetedDecisions(Decisions):
    """Decisions for a profile with per-function overrides (`FaultProfile.for_function`).

    A separate class, so that plain profiles pay nothing for the lookup.
    """

    __slots__ = ("_by_function",)

    def __init__(self, profile: FaultProfile, rng: random.Random | str) -> None:
        super().__init__(profile, rng)
        self._by_function: dict[str, FaultProfile] = {}

    def _for(self, rec: Any) -> FaultProfile:
        if rec is None:
            return self.profile
        function = rec.function
        found = self._by_function.get(function)
        if found is None:
            found = self.requested.profile_for(function)
            if found is self.requested:
                found = self.profile  # the swarm's choice, when the base profile swarms
            self._by_function[function] = found
        return found

    def endpoint_fault(self, rec: Any = None) -> Status | None:
        if not self._chance(self._for(rec).endpoint_error):
            return None
        n = len(ENDPOINT_FAULT_STATUSES)
        return ENDPOINT_FAULT_STATUSES[min(int(self._draw() * n), n - 1)]

    def response_lost(self, rec: Any = None) -> bool:
        return self._chance(self._for(rec).response_lost)

    def crash(self, rec: Any = None) -> bool:
        return self._chance(self._for(rec).crash)

    def latency(self, rec: Any = None) -> float:
        top = self._for(rec).max_latency
        return top * self._draw() if top else 0.0

    def reorder(self, ready: int, rec: Any = None) -> tuple[int, int] | None:
        if ready < 2 or not self._chance(self._for(rec).reorder):
            return None
        start = min(int(self._draw() * ready), ready - 1)
        size = 1 + min(int(self._draw() * ready), ready - 1)
        return start, size


class ScriptedDecisions(Decisions):
    """Decisions for a fault script: exactly the scripted faults, everything else benign.

    It also lists every fault point the run met (`points`): each question a
    fault decision asked, as the `Fault` that would have injected it there.
    Exploration runs a script once per point. Functions are counted per
    exact name for the points and per pattern for the script.
    """

    __slots__ = ("script", "points", "applied", "_calls", "_ordinal", "_resumes", "_evaluations", "_patterns")

    def __init__(self, profile: FaultProfile, rng: random.Random | str) -> None:
        super().__init__(profile, rng)
        self.script: tuple[Fault, ...] = profile.script or ()
        self.points: list[Fault] = []
        self.applied: list[Fault] = []
        self._calls: dict[str, int] = {}  # calls seen per exact function name and per pattern
        self._ordinal: dict[tuple[str, str], int] = {}  # (name or pattern, dispatch id) -> n
        self._resumes: dict[str, int] = {}
        self._evaluations: dict[str, int] = {}
        self._patterns = tuple(dict.fromkeys(f.target for f in self.script if f.kind != BUGGIFY))

    def _count(self, key: str, did: str) -> None:
        n = self._calls.get(key, 0) + 1
        self._calls[key] = n
        self._ordinal[(key, did)] = n

    def _seen(self, rec: Any) -> None:
        # Calls are numbered in dispatch order: the first question about a
        # call (its latency, asked when it is admitted) numbers it.
        exact = "\0" + rec.function  # exact names apart from patterns, which may be the same text
        if (exact, rec.id) in self._ordinal:
            return
        self._count(exact, rec.id)
        for pattern in self._patterns:
            if function_matches(pattern, rec.function):
                self._count(pattern, rec.id)

    def _scripted(self, kind: str, rec: Any, at: int) -> Fault | None:
        self._seen(rec)
        self.points.append(Fault(kind, rec.function, self._ordinal[("\0" + rec.function, rec.id)], at,
                                 "TIMEOUT" if kind == ENDPOINT_ERROR else None))
        for fault in self.script:
            if (
                fault.kind == kind
                and fault.at == at
                and self._ordinal.get((fault.target, rec.id)) == fault.call
            ):
                self.applied.append(fault)
                return fault
        return None

    def endpoint_fault(self, rec: Any = None) -> Status | None:
        fault = self._scripted(ENDPOINT_ERROR, rec, rec.attempt)
        return None if fault is None else Status[fault.status or "TIMEOUT"]

    def response_lost(self, rec: Any = None) -> bool:
        return self._scripted(RESPONSE_LOST, rec, rec.attempt) is not None

    def crash(self, rec: Any = None) -> bool:
        n = self._resumes.get(rec.id, 0) + 1
        self._resumes[rec.id] = n
        return self._scripted(CRASH, rec, n) is not None

    def latency(self, rec: Any = None) -> float:
        if rec is not None:
            self._seen(rec)
        return 0.0

    def reorder(self, ready: int, rec: Any = None) -> tuple[int, int] | None:
        return None

    def buggify_active(self, site: str) -> bool:
        return True  # whether it fires is the script's to say, evaluation by evaluation

    def buggify_fires(self, site: str, probability: float) -> bool:
        n = self._evaluations.get(site, 0) + 1
        self._evaluations[site] = n
        self.points.append(Fault(BUGGIFY, site, n))
        for fault in self.script:
            if fault.kind == BUGGIFY and fault.call == n and function_matches(fault.target, site):
                self.applied.append(fault)
                return True
        return False


def decisions_for(profile: FaultProfile, rng: random.Random | str) -> Decisions:
    """The decision source for `profile`: scripted, targeted, or the plain one."""
    if profile.script is not None:
        return ScriptedDecisions(profile, rng)
    if profile.functions:
        return TargetedDecisions(profile, rng)
    return _PlainDecisions(profile, rng)


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
