"""What the properties of one run counted: per property, its evaluations and how many were satisfied.

Kept apart from `_properties` so that the simulation, which owns one tally
per run, need not import the functions that fill it.
"""

from __future__ import annotations

__all__ = ["PropertyTally"]


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
