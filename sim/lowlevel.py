"""The public interface for endpoint authors and test runners, like `trio.lowlevel`.

`registry` is built on these names and on `sim`'s, and on nothing private:
an endpoint that serves calls (`Endpoint`, `register_endpoint`), the journal
a rebuilt coroutine replays (`Journal`, `replay_steps`), the frozen form of
values crossing a call (`freeze`, `thaw`, `same`), the run-wide
overrides a test runner sets (`overrides`), and the one seed runner that
registry.test, the pytest plugin, the CLI and sweeps share (`SimulationTest`,
`load_test`, `run_seed`), the hook that gives errors their status
(`set_error_classifier`), and how `sim.note`, properties and buggify find
the running call (`register_call_locator`), how an endpoint asks for
a polling call's next attempt early (`resume_early`), and how a client
awaits one call from a test without a CallResult (`call_value`, which
raises the exception the client makes of an Error, and `wait_value`, the
same for a call dispatched before). Names here may change more often
than `sim`'s; users writing tests never need them.
"""

from __future__ import annotations

from ._codec import freeze, same, thaw
from ._attempt import Answer, Attempt, PollRequest, decode_result, output_of
from ._direct import call_value, wait_value
from ._config import RunOverrides, overrides
from ._protocol import set_error_classifier
from ._tally import PropertyReport, property_reports
from ._tally import catalog as property_catalog
from ._journal import Journal, JournalCall, JournalStep, replay_steps
from ._journal import same_input
from ._endpoints import (
    DEFAULT_ENDPOINT,
    TIMER_FUNCTION,
    Endpoint,
    register_endpoint,
    unregister_endpoint,
)
from ._options import OPTIONS, check_options, check_seeds, unknown_option
from ._where import register_call_locator
from ._early import resume_early
from ._shrink import attach_shrunk, shrunk_of
from ._runner import (
    LoadedTest,
    SeedRun,
    SimulationTest,
    LoadTestError,
    failure_of,
    failure_signature,
    load_test,
    mark_test,
    run_seed,
    simulation_test,
    test_id_of,
)

__all__ = [
    "Answer",
    "Attempt",
    "PollRequest",
    "decode_result",
    "call_value",
    "wait_value",
    "output_of",
    "DEFAULT_ENDPOINT",
    "TIMER_FUNCTION",
    "Endpoint",
    "Journal",
    "LoadedTest",
    "JournalCall",
    "JournalStep",
    "OPTIONS",
    "RunOverrides",
    "SeedRun",
    "SimulationTest",
    "LoadTestError",
    "check_options",
    "check_seeds",
    "PropertyReport",
    "failure_of",
    "failure_signature",
    "freeze",
    "load_test",
    "mark_test",
    "overrides",
    "register_call_locator",
    "property_catalog",
    "property_reports",
    "register_endpoint",
    "replay_steps",
    "resume_early",
    "run_seed",
    "same",
    "set_error_classifier",
    "simulation_test",
    "test_id_of",
    "thaw",
    "unknown_option",
    "attach_shrunk",
    "shrunk_of",
    "unregister_endpoint",
    "same_input",
]
