"""What properties counted: per run (`PropertyTally`), and added up over seeds (`PropertyReport`).

Kept apart from `_properties` so that the simulation, which owns one tally
per run, and the sweep, which adds them up, need not import the functions
that fill it.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterable
from typing import Any

import attrs

__all__ = ["PropertyReport", "PropertyTally", "catalog", "property_reports"]


class PropertyTally:
    """Per property (kind, message): how often it was evaluated and how often satisfied, in one run."""

    __slots__ = ("counts", "failure")

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], list[int]] = {}
        self.failure: AssertionError | None = None  # the first failed property: it fails the run

    def add(self, kind: str, message: str, satisfied: bool) -> None:
        """Count one evaluation."""
        counts = self.counts.get((kind, message))
        if counts is None:
            counts = self.counts[(kind, message)] = [0, 0]
        counts[0] += 1
        counts[1] += satisfied

    def rows(self) -> tuple[tuple[str, str, int, int], ...]:
        """(kind, message, evaluations, satisfied), sorted: plain data for a sweep's record."""
        return tuple(sorted((k, m, c[0], c[1]) for (k, m), c in self.counts.items()))


Row = tuple[str, str, int, int]
"""(kind, message, evaluations, satisfied) of one property in one run."""


@attrs.frozen
class PropertyReport:
    """One property over many seeds: in how many it was evaluated, held, failed.

    For ``always``, a seed held when every evaluation was true and failed
    when one was false; ``sometimes`` and ``reachable`` held in a seed where
    they were satisfied once (they never fail a seed); ``unreachable``
    failed in every seed that reached it. `seeds` is how many seeds ran.
    """

    kind: str
    message: str
    evaluated: int
    held: int
    failed: int
    seeds: int

    @property
    def never_reached(self) -> bool:
        """A ``sometimes`` or ``reachable`` that no seed satisfied."""
        return self.kind in ("sometimes", "reachable") and self.held == 0

    def line(self) -> str:
        """``sometimes 'big total': never reached in 50 seeds (evaluated in 50)`` and the like."""
        head = f"{self.kind} {self.message!r}"
        if self.never_reached:
            return f"{head}: never reached in {self.seeds} seeds (evaluated in {self.evaluated})"
        return (
            f"{head}: evaluated in {self.evaluated} of {self.seeds} seeds, "
            f"held in {self.held}, failed in {self.failed}"
        )


def property_reports(
    per_seed: Iterable[Iterable[Row]], known: Iterable[tuple[str, str]] = ()
) -> list[PropertyReport]:
    """Add up the rows of each seed's tally; `known` properties (kind, message) that no seed
    evaluated are listed too, with zero counts. Sorted by kind, then message."""
    counts: dict[tuple[str, str], list[int]] = {key: [0, 0, 0] for key in known}
    seeds = 0
    for rows in per_seed:
        seeds += 1
        for kind, message, evaluations, satisfied in rows:
            c = counts.setdefault((kind, message), [0, 0, 0])
            c[0] += evaluations > 0
            if kind == "always":
                c[1] += satisfied == evaluations
                c[2] += satisfied < evaluations
            elif kind == "unreachable":
                c[2] += evaluations > 0
            else:
                c[1] += satisfied > 0
    return [PropertyReport(k, m, c[0], c[1], c[2], seeds) for (k, m), c in sorted(counts.items())]


def catalog(function: Callable[..., Any] | None) -> list[tuple[str, str]]:
    """The properties written in `function`'s own source with a literal message: (kind, message).

    A ``reachable`` that no run reaches is never evaluated; reading the
    test function is how a sweep knows of it all the same. Only the test's
    own body is read: a file may hold other tests, whose properties are not
    this test's to reach.
    """
    if function is None:
        return []
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError, ValueError):
        return []
    found: dict[tuple[str, str], None] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name not in _POSITION:
            continue
        message: ast.expr | None = next((k.value for k in node.keywords if k.arg == "message"), None)
        if message is None and len(node.args) > _POSITION[name]:
            message = node.args[_POSITION[name]]
        if isinstance(message, ast.Constant) and isinstance(message.value, str):
            found[(name, message.value)] = None
    return list(found)


_POSITION = {"always": 1, "sometimes": 1, "reachable": 0, "unreachable": 0}
