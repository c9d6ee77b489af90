"""Errors the simulator raises about a run itself (not about a call)."""

from __future__ import annotations

__all__ = ["DeadlockError", "LivelockError", "OutsideWorldError", "SimulationError"]


class SimulationError(RuntimeError):
    """A simulation could not complete."""


class DeadlockError(SimulationError):
    """Nothing is scheduled and every task is blocked: the run cannot progress."""


class LivelockError(SimulationError):
    """The run exceeded a cap: events, virtual time, stalled trio rounds, live calls or memory."""


class OutsideWorldError(SimulationError):
    """A run awaited real work outside the simulation (a thread, a process): refused at once."""
