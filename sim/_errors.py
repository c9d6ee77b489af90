"""Errors the simulator raises about a run itself (not about a call)."""

from __future__ import annotations

__all__ = ["DeadlockError", "LivelockError", "SimulationError"]


class SimulationError(RuntimeError):
    """A simulation could not complete."""


class DeadlockError(SimulationError):
    """Nothing is scheduled and every task is blocked: the run cannot progress."""


class LivelockError(SimulationError):
    """The run exceeded its cap on events or virtual time."""
