"""Fault profiles: which faults a simulation injects, and how often."""

from __future__ import annotations

import math

import attrs

__all__ = ["FAULT_KINDS", "FaultProfile", "PROFILES", "REPLAY_FACTOR", "REPLAY_FREE_STEPS"]

# Marks a FaultProfile field as a kind of fault: everything that lists the
# kinds (is_none, swarm, the tests) reads them from the fields, so a new kind
# is one field here plus its decision and the site that injects it.
_FAULT = {"fault_kind": True}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _rate(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (_number(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"FaultProfile.{attribute.name} must be within [0, 1], got {value!r}")


def _seconds(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (_number(value) and 0.0 <= value < math.inf):
        raise ValueError(
            f"FaultProfile.{attribute.name} must be a finite number of seconds >= 0, got {value!r}"
        )


def _flag(instance: object, attribute: attrs.Attribute[bool], value: bool) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"FaultProfile.{attribute.name} must be True or False, got {value!r}")


def _name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"FaultProfile.{attribute.name} must be a str, got {value!r}")


@attrs.frozen
class FaultProfile:
    """What the simulator may inject, each kind with the rate at which it happens.

    - `endpoint_error`: before the function runs, the endpoint is unreachable
      or refuses (DNS, TCP, TLS, HTTP error, THROTTLED, TIMEOUT); the function
      does not run and the attempt is retried.
    - `response_lost`: the function ran but its response is lost (TIMEOUT);
      the attempt is retried, so the function runs again (at-least-once).
    - `crash`: a suspended coroutine's in-memory state is lost before a
      resume; it is rebuilt by replaying its journal.
    - `max_latency`: each delivery (an attempt, a result to a poll) takes a
      virtual delay of up to this many seconds.
    - `reorder`: the rate at which results handed to a poll are delivered
      out of completion order and in smaller batches.
    - `swarm`: each seed turns on a random subset of the kinds above, each
      with a random rate up to the one given here.
    """

    name: str = attrs.field(default="custom", validator=_name)
    endpoint_error: float = attrs.field(default=0.0, validator=_rate, metadata=_FAULT)
    response_lost: float = attrs.field(default=0.0, validator=_rate, metadata=_FAULT)
    crash: float = attrs.field(default=0.0, validator=_rate, metadata=_FAULT)
    max_latency: float = attrs.field(default=0.0, validator=_seconds, metadata=_FAULT)
    reorder: float = attrs.field(default=0.0, validator=_rate, metadata=_FAULT)
    swarm: bool = attrs.field(default=False, validator=_flag)

    @property
    def is_none(self) -> bool:
        """True when nothing is ever injected."""
        return not any(getattr(self, kind) for kind in FAULT_KINDS)

    @classmethod
    def named(cls, name: str) -> FaultProfile:
        """The preset called `name`: one of ``none``, ``light``, ``heavy``, ``swarm``."""
        try:
            return PROFILES[name]
        except KeyError:
            known = ", ".join(PROFILES)
            raise ValueError(f"unknown fault profile {name!r}; known profiles: {known}") from None

    @classmethod
    def coerce(cls, faults: str | FaultProfile | None) -> FaultProfile:
        """A profile from a preset name, a profile, or None (meaning ``none``)."""
        if faults is None:
            return PROFILES["none"]
        if isinstance(faults, FaultProfile):
            return faults
        if isinstance(faults, str):
            return cls.named(faults)
        raise TypeError(
            f"faults must be a profile name or a FaultProfile, not {type(faults).__qualname__}"
        )


FAULT_KINDS: tuple[str, ...] = tuple(
    f.name for f in attrs.fields(FaultProfile) if f.metadata.get("fault_kind")
)
"""The names of FaultProfile's fault fields, in field order (each a rate, or max_latency)."""

PROFILES: dict[str, FaultProfile] = {
    "none": FaultProfile("none"),
    "light": FaultProfile(
        "light", endpoint_error=0.02, response_lost=0.01, crash=0.02, max_latency=0.05, reorder=0.1
    ),
    "heavy": FaultProfile(
        "heavy", endpoint_error=0.15, response_lost=0.1, crash=0.15, max_latency=0.5, reorder=0.5
    ),
    "swarm": FaultProfile(
        "swarm",
        endpoint_error=0.3,
        response_lost=0.2,
        crash=0.3,
        max_latency=1.0,
        reorder=0.8,
        swarm=True,
    ),
}


REPLAY_FREE_STEPS = 64
"""The replay budget, part one: a crash of a call whose journal has at most this many
steps (polls) is always injected; rebuilding it costs little."""

REPLAY_FACTOR = 2
"""The replay budget, part two: past REPLAY_FREE_STEPS, a drawn crash is injected only
while the steps the call's rebuilds replayed (counting this one) stay within this many
times its journal. So a call's replay work is amortised O(1) per journaled step, where
every crash replaying the whole journal would make a long fan-out quadratic. A lost
response of a resume is retried from the journal too (the function ran past it), so
the same budget decides it. A fault the budget holds back is still drawn (the run's
draws do not shift) and the trace says so with a ``replay_budget`` event."""
