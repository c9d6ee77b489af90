"""Fault profiles: which faults a simulation injects, and how often."""

from __future__ import annotations

import math
from collections.abc import Iterable
from operator import attrgetter
from typing import Any

import attrs

from ._script import Fault, FaultScript, function_matches, looks_like_script

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


def _overrides(value: Iterable[Any]) -> tuple[tuple[str, FaultProfile], ...]:
    # From a trace header the overrides come back as [pattern, {fields}] lists.
    out = []
    for pattern, profile in value:
        out.append((str(pattern), profile if isinstance(profile, FaultProfile) else FaultProfile(**profile)))
    return tuple(out)


def _script(value: Iterable[Any] | None) -> tuple[Fault, ...] | None:
    # From a trace header the faults come back as dicts of Fault's fields.
    # None means no script; () an empty one (nothing injected, fault points listed).
    if value is None:
        return None
    return tuple(f if isinstance(f, Fault) else Fault(**f) for f in value)


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
    - `functions`: per-function overrides (see `for_function`).
    - `script`: exact faults (see `sim.FaultScript`); a scripted profile
      injects those and nothing else.
    """

    name: str = attrs.field(default="custom", validator=_name)
    endpoint_error: float = attrs.field(default=0.0, validator=_rate, metadata=_FAULT)
    response_lost: float = attrs.field(default=0.0, validator=_rate, metadata=_FAULT)
    crash: float = attrs.field(default=0.0, validator=_rate, metadata=_FAULT)
    max_latency: float = attrs.field(default=0.0, validator=_seconds, metadata=_FAULT)
    reorder: float = attrs.field(default=0.0, validator=_rate, metadata=_FAULT)
    swarm: bool = attrs.field(default=False, validator=_flag)
    functions: tuple[tuple[str, FaultProfile], ...] = attrs.field(default=(), converter=_overrides)
    script: tuple[Fault, ...] | None = attrs.field(default=None, converter=_script)

    @property
    def is_none(self) -> bool:
        """True when nothing is ever injected."""
        # Every simulation asks (its service, once): the rates are read by one C
        # call, where a generator over the kinds cost a hundred bytecodes.
        return (
            not any(_rates_of(self))
            and self.script is None
            and (not self.functions or all(p.is_none for _, p in self.functions))
        )

    def for_function(self, name: str, **rates: float) -> FaultProfile:
        """A new profile whose rates (and `max_latency`) differ for the functions `name` matches.

        `name` is a function's name as the trace shows it, its last dotted
        part (``debit`` for ``test_x.<locals>.debit``), or a glob pattern
        (``*.charge*``). Each keyword is one of the fault kinds; the others
        keep this profile's values. The latest override that matches wins.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"for_function needs a function name or pattern, got {name!r}")
        unknown = sorted(set(rates) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(
                f"for_function({name!r}): unknown rate {', '.join(unknown)}; known: {', '.join(FAULT_KINDS)}"
            )
        base = attrs.evolve(self, name=f"{self.name}[{name}]", swarm=False, functions=())
        changes: dict[str, Any] = dict(rates)
        override = attrs.evolve(base, **changes)
        shown = ",".join(f"{k}={v:g}" for k, v in sorted(rates.items()))
        return attrs.evolve(
            self, name=f"{self.name}+{name}:{shown}", functions=(*self.functions, (name, override))
        )

    def profile_for(self, function: str) -> FaultProfile:
        """The profile that applies to calls of `function` (this one, unless an override matches)."""
        for pattern, profile in reversed(self.functions):
            if function_matches(pattern, function):
                return profile
        return self

    def as_header(self) -> dict[str, Any]:
        """The profile as plain data for a trace header (`FaultProfile(**header)` rebuilds it).

        The fields of targeted and scripted faults appear only when used, so
        the header of a plain profile is what it always was.
        """
        data = attrs.asdict(self, filter=lambda a, v: a.name not in ("functions", "script"))
        if self.functions:
            data["functions"] = [[pattern, p.as_header()] for pattern, p in self.functions]
        if self.script is not None:
            data["script"] = [attrs.asdict(f) for f in self.script]
        return data

    @classmethod
    def named(cls, name: str) -> FaultProfile:
        """The preset called `name`: one of ``none``, ``light``, ``heavy``, ``swarm``."""
        try:
            return PROFILES[name]
        except KeyError:
            known = ", ".join(PROFILES)
            raise ValueError(f"unknown fault profile {name!r}; known profiles: {known}") from None

    @classmethod
    def _scripted(cls, script: FaultScript) -> FaultProfile:
        # The profile of a script is named by its text, so the name alone runs it again.
        return cls(name=str(script) or "script", script=script.faults)

    @classmethod
    def coerce(cls, faults: str | FaultProfile | FaultScript | Iterable[Fault] | None) -> FaultProfile:
        """A profile from a preset name, a profile, a `FaultScript` (or its text, or a list of
        `Fault` records), or None (meaning ``none``)."""
        if faults is None:
            return PROFILES["none"]
        if type(faults) is str and faults in PROFILES:  # a preset, as nearly every run gives: no script
            return PROFILES[faults]
        if isinstance(faults, FaultProfile):
            return faults
        if isinstance(faults, str):
            if looks_like_script(faults):
                return cls._scripted(FaultScript.parse(faults))
            return cls.named(faults)
        if isinstance(faults, FaultScript):
            return cls._scripted(faults)
        if isinstance(faults, list | tuple) and all(isinstance(f, Fault) for f in faults):
            return cls._scripted(FaultScript(faults))
        raise TypeError(
            f"faults must be a profile name or a FaultProfile, not {type(faults).__qualname__}"
        )


FAULT_KINDS: tuple[str, ...] = tuple(
    f.name for f in attrs.fields(FaultProfile) if f.metadata.get("fault_kind")
)
"""The names of FaultProfile's fault fields, in field order (each a rate, or max_latency)."""

_rates_of = attrgetter(*FAULT_KINDS)  # a profile's fault fields, as a tuple in FAULT_KINDS order

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
while what the call's rebuilds replayed (counting this one) stays within this many
times its journal, both measured in journaled calls and delivered results (what a
rebuild re-makes and re-delivers; a gather's one poll journals all its calls). So a
call's replay work is amortised O(1) per journaled step, where every crash replaying
the whole journal would make a long fan-out quadratic. A lost response of a resume is
retried from the journal too (the function ran past it), so the same budget decides it.
A fault the budget holds back is still drawn (the run's draws do not shift) and the
trace says so with a ``replay_budget`` event."""
