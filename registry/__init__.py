"""dispatch-sim's programming model: the Dispatch SDK's surface, over the simulator.

Register functions with `function` (or a `Registry`), call them with
``await fn(x)``, combine calls with `gather`, `any` and `race`, and test it
all with ``@registry.test.function``. Protocol types come from `sim`.
"""

from sim import Arguments, Call, CallResult, DispatchID, Error, Input, Output, Status

from . import error, test
from ._client import Batch, Client, ClientError
from ._function import Function, PrimitiveFunction
from ._registry import Registry, batch, default_registry, function, set_default_registry
from ._steps import AnyException, Reset, all, any, call, gather, race, sleep
from ._status import register_error_type, register_output_type, status_for_error, status_for_output

__all__ = [
    "AnyException",
    "Arguments",
    "Batch",
    "Call",
    "CallResult",
    "Client",
    "ClientError",
    "DispatchID",
    "Error",
    "Function",
    "Input",
    "Output",
    "PrimitiveFunction",
    "Registry",
    "Reset",
    "Status",
    "all",
    "any",
    "batch",
    "call",
    "default_registry",
    "error",
    "function",
    "gather",
    "race",
    "register_error_type",
    "register_output_type",
    "set_default_registry",
    "sleep",
    "status_for_error",
    "status_for_output",
    "test",
]
