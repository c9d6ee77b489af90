"""dispatch-sim's simulator: a Dispatch service on a virtual clock, with faults and traces.

`Simulation(seed, faults).run(main)` runs a coroutine under trio with a
virtual clock; every call it dispatches goes through attempts, retries and
polls on that clock, with faults chosen from the seed, and every step lands
in `Simulation.trace`. This package never imports `registry`.
"""

from ._codec import SerializationError
from ._errors import DeadlockError, LivelockError, OutsideWorldError, SimulationError
from ._faults import PROFILES, FaultProfile
from ._journal import Journal, JournalCall, JournalStep
from ._protocol import Arguments, Call, CallResult, CorrelationID, DispatchID, Error, Input, Output
from ._retry import RetryPolicy
from ._endpoints import (
    DEFAULT_ENDPOINT,
    TIMER_FUNCTION,
    Endpoint,
    register_endpoint,
    unregister_endpoint,
)
from ._simulation import DEFAULT_SEED, Simulation, current, now
from ._status import Status
from ._sweep import FailureGroup, SeedRecord, SweepResult, sweep
from ._shrink import ShrinkResult, shrink
from ._fork import ForkResult, fork
from ._trace import Event, Trace
from ._notes import note
from ._properties import PropertyFailed, always, reachable, sometimes, unreachable
from ._buggify import buggify
from ._script import Fault, FaultScript
from ._explore import ExploreGroup, ExploreResult, ExploreRun, explore
from ._sweep import SweepStartError
from ._sweep_result import SweepTotals

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_SEED",
    "PROFILES",
    "TIMER_FUNCTION",
    "Arguments",
    "Call",
    "CallResult",
    "CorrelationID",
    "DeadlockError",
    "DispatchID",
    "Endpoint",
    "Error",
    "Event",
    "ExploreGroup",
    "ExploreResult",
    "ExploreRun",
    "Fault",
    "FaultScript",
    "FailureGroup",
    "FaultProfile",
    "Input",
    "Journal",
    "JournalCall",
    "JournalStep",
    "LivelockError",
    "Output",
    "OutsideWorldError",
    "PropertyFailed",
    "RetryPolicy",
    "SeedRecord",
    "SerializationError",
    "ShrinkResult",
    "ForkResult",
    "Simulation",
    "SimulationError",
    "Status",
    "SweepResult",
    "Trace",
    "always",
    "buggify",
    "current",
    "note",
    "explore",
    "shrink",
    "fork",
    "now",
    "reachable",
    "register_endpoint",
    "sometimes",
    "sweep",
    "unreachable",
    "unregister_endpoint",
    "SweepStartError",
    "SweepTotals",
]
