"""Properties in Antithesis' vocabulary: always, sometimes, reachable, unreachable.

Each evaluation inside a simulation is a ``property`` event in the trace and
is tallied on the simulation (`PropertyTally`), which a sweep adds up over
its seeds: where each property was evaluated, held, failed, and which
``sometimes``/``reachable`` no seed ever satisfied. A failing ``always`` or
a reached ``unreachable`` raises `PropertyFailed` at once, naming the
message, the details, the call and the seed. Outside a simulation
``always`` is an ``assert`` and the others do nothing.
"""

from __future__ import annotations

from typing import Any

from . import _codec
from ._events import PROPERTY
from ._simulation import _current
from ._tally import PropertyTally
from ._where import here

__all__ = [
    "ALWAYS",
    "REACHABLE",
    "SOMETIMES",
    "UNREACHABLE",
    "PropertyFailed",
    "PropertyTally",
    "always",
    "reachable",
    "sometimes",
    "unreachable",
]

ALWAYS, SOMETIMES, REACHABLE, UNREACHABLE = "always", "sometimes", "reachable", "unreachable"
HELD, FAILED, UNMET, REACHED = "HELD", "FAILED", "UNMET", "REACHED"


class PropertyFailed(AssertionError):
    """A `sim.always` was false or a `sim.unreachable` was reached.

    `kind`, `message`, `details`, `call` (``d3 checkout attempt 2``, or
    ``the test body``) and `seed` say which and where.
    """

    def __init__(self, kind: str, message: str, details: Any, call: str, seed: int | None) -> None:
        self.kind, self.message, self.details, self.call, self.seed = kind, message, details, call, seed
        what = "was false" if kind == ALWAYS else "was reached"
        shown = f" (details: {_shown(details)})" if details is not None else ""
        where = f" in {call}" if seed is None else f" in {call}, seed {seed}"
        super().__init__(f"{kind}({message!r}) {what}{shown}{where}")


def _shown(details: Any) -> str:
    # Through the canonical encoding (which must accept the details), then written out with
    # sets in the order of their members' encodings: a set of strings iterates in an order
    # that depends on PYTHONHASHSEED, and the trace must not.
    try:
        value = _codec.loads(_codec.dumps(details, where="property details"))
    except (_codec.SerializationError, ValueError, TypeError):
        return f"<{type(details).__qualname__} that cannot be serialized>"
    return _render(value)


def _render(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_render(k)}: {_render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_render(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, set | frozenset):
        members = sorted(value, key=lambda v: _codec.dumps(v))
        inner = ", ".join(_render(v) for v in members)
        if isinstance(value, frozenset):
            return f"frozenset({{{inner}}})"
        return "{" + inner + "}" if members else "set()"
    return repr(value)


def _check_message(message: object) -> None:
    if not isinstance(message, str) or not message:
        raise TypeError(f"a property's message must be a non-empty str, got {message!r}")


def _evaluate(kind: str, message: str, satisfied: bool, status: str, details: Any) -> None:
    simulation = _current.get()
    if simulation is None:
        return
    did, function, attempt = here(simulation)
    detail = f"{kind}: {message}" + (f" {_shown(details)}" if details is not None else "")
    service = simulation._service  # the façade's own service: its clock and event sink
    service._event((PROPERTY, service.now, did, function, attempt, status, detail, None))
    simulation.properties.add(kind, message, satisfied)
    if status == FAILED:
        call = f"{did} {function} attempt {attempt}" if did else "the test body"
        failure = PropertyFailed(kind, message, details, call, simulation.seed)
        if simulation.properties.failure is None:
            simulation.properties.failure = failure
        raise failure


def always(condition: object, message: str, details: Any = None) -> None:
    """Assert that `condition` is true every time; a false one fails the run with `PropertyFailed`."""
    _check_message(message)
    if _current.get() is None:
        if not condition:
            raise PropertyFailed(ALWAYS, message, details, "no simulation", None)
        return
    _evaluate(ALWAYS, message, bool(condition), HELD if condition else FAILED, details)


def sometimes(condition: object, message: str, details: Any = None) -> None:
    """Say that `condition` should be true in some run; a sweep reports it if it never is."""
    _check_message(message)
    _evaluate(SOMETIMES, message, bool(condition), HELD if condition else UNMET, details)


def reachable(message: str, details: Any = None) -> None:
    """Say that some run should get here; a sweep reports it if none does."""
    _check_message(message)
    _evaluate(REACHABLE, message, True, REACHED, details)


def unreachable(message: str, details: Any = None) -> None:
    """Say that no run may get here: reaching it fails the run with `PropertyFailed`."""
    _check_message(message)
    _evaluate(UNREACHABLE, message, False, FAILED, details)
