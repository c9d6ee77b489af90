"""The options of a run, checked where they are written: names, types and ranges, said once.

`Simulation(...)` and the ``registry.test`` decorators both check their
options here, so a misspelled name or a wrong type fails when the test is
defined, with a one-line error naming the bad value and the valid ones.
"""

from __future__ import annotations

import difflib
import math
import random
from collections.abc import Iterable, Mapping, Sized
from typing import Any

from ._faults import FaultProfile
from ._retry import RetryPolicy

__all__ = ["MAX_SEEDS", "OPTIONS", "check_options", "check_seeds", "unknown_option"]

OPTIONS: tuple[str, ...] = (
    "seed",
    "faults",
    "rng",
    "retry",
    "max_events",
    "max_virtual_time",
    "max_live_calls",
    "max_memory",
    "max_stalled_rounds",
    "deterministic_environment",
    "drain",
    "test_id",
    "schedule",
    "depth",
    "pct_steps",
)
"""The names `Simulation` takes (the test decorators add ``seeds``)."""

MAX_SEEDS = 1_000_000
"""The most seeds one test may list (`seeds=`): more is a mistake, not a test."""


def unknown_option(name: str, known: Iterable[str] = OPTIONS) -> TypeError:
    """The error for an option nobody takes, with the closest valid name."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"valid options: {', '.join(known)}"
    return TypeError(f"unknown option {name!r}; {hint}")


def _type_name(value: object) -> str:
    return type(value).__qualname__


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int, got {value!r} ({_type_name(value)})")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_options(options: Mapping[str, Any], known: Iterable[str] = OPTIONS) -> None:
    """Raise TypeError/ValueError naming the first option in `options` that is wrong.

    Checks names (against `known`) and each value's type and range; a fault
    profile name must be a known one. None is accepted where the option
    takes it (``faults=None`` means no faults, as ``"none"`` does). The
    schedule options (``schedule``, ``depth``, ``pct_steps``) are checked by
    `Simulation` itself, with the schedule.
    """
    known = tuple(known)
    for name in options:
        if name not in known:
            raise unknown_option(name, known)
    for name, value in options.items():
        _check(name, value)


def _check(name: str, value: Any) -> None:
    if name == "seed":
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"seed must be an int, got {value!r} ({_type_name(value)})")
    elif name == "faults":
        FaultProfile.coerce(value)  # names the bad value and the known profiles
    elif name == "rng":
        if value is not None and not isinstance(value, random.Random):
            raise TypeError(f"rng must be a random.Random (or None), got {value!r} ({_type_name(value)})")
    elif name == "retry":
        if value is not None and not isinstance(value, RetryPolicy):
            raise TypeError(
                f"retry must be a sim.RetryPolicy (or None), got {value!r} ({_type_name(value)})"
            )
    elif name in ("max_events", "max_live_calls", "max_memory", "max_stalled_rounds"):
        _positive_int(name, value)
    elif name == "max_virtual_time":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(
                f"max_virtual_time must be a number of seconds, got {value!r} ({_type_name(value)})"
            )
        if math.isnan(value) or not value > 0:
            raise ValueError(f"max_virtual_time must be > 0, got {value!r}")
    elif name in ("drain", "deterministic_environment"):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, got {value!r} ({_type_name(value)})")
    elif name == "test_id":
        if value is not None and not isinstance(value, str):
            raise TypeError(f"test_id must be a str (or None), got {value!r} ({_type_name(value)})")


def check_seeds(seeds: object) -> tuple[int, ...]:
    """The seeds of `seeds=` as a tuple, or a one-line error saying what was wrong.

    `seeds` must be a collection with a length (a range, list or tuple) of at
    most `MAX_SEEDS` ints: an int or an endless iterator is refused.
    """
    if isinstance(seeds, bool) or isinstance(seeds, int):
        raise TypeError(f"seeds={seeds!r} is an int: give an iterable such as range({seeds})")
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Iterable):
        raise TypeError(
            f"seeds must be an iterable of ints such as range(5), got {seeds!r} ({_type_name(seeds)})"
        )
    if not isinstance(seeds, Sized):
        raise TypeError(
            f"seeds must have a length (a range, list or tuple), got {_type_name(seeds)}: "
            "an iterator may never end; use e.g. range(100) or list(itertools.islice(it, 100))"
        )
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"seeds has {len(seeds)} seeds; at most {MAX_SEEDS} are allowed")
    chosen = tuple(seeds)
    if not chosen:
        raise ValueError("seeds= is empty: give at least one seed")
    for s in chosen:
        if isinstance(s, bool) or not isinstance(s, int):
            raise TypeError(f"seeds must be ints, got {s!r} ({_type_name(s)})")
    return chosen
