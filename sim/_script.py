"""Fault scripts: an exact, readable list of the faults a run gets, and nothing else.

A script names each fault by where it happens, not by chance:

    response_lost charge#2 attempt 1; crash checkout before resume 3;
    endpoint_error reserve attempt 1 THROTTLED; buggify payments.py:41#2

``charge#2`` is the second call to ``charge`` (``#1`` may be left out), in
dispatch order; ``attempt N`` is that call's N-th attempt; ``before resume
N`` is the N-th time its suspended coroutine is resumed; ``buggify SITE#N``
makes the N-th evaluation of that `sim.buggify` call site fire. A function
is named as the trace names it or by its last dotted part (``debit`` for
``test_x.<locals>.debit``), or by a glob pattern (``*debit``). `str()` of
a script is its canonical text, and parses back to the same script.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from ._events import BUGGIFY, CRASH, ENDPOINT_ERROR, RESPONSE_LOST
from ._status import Status

__all__ = ["Fault", "FaultScript", "function_matches", "looks_like_script"]

_SCRIPT_KINDS = (ENDPOINT_ERROR, RESPONSE_LOST, CRASH, BUGGIFY)
_GLOB = frozenset("*?[")


def function_matches(pattern: str, function: str) -> bool:
    """Whether `pattern` names `function`: the same name, its last dotted parts, or a glob."""
    if function == pattern or function.endswith("." + pattern):
        return True
    return not _GLOB.isdisjoint(pattern) and fnmatch.fnmatchcase(function, pattern)


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Fault.{attribute.name} must be an int >= 1, got {value!r}")


def _target(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value or any(c.isspace() or c in ";#" for c in value):
        raise ValueError(f"Fault.target must be a name without spaces, ';' or '#', got {value!r}")


@attrs.frozen
class Fault:
    """One scripted fault. Build it with `endpoint_error`, `response_lost`, `crash` or `buggify`.

    `kind` is the fault; `target` the function (or pattern), or for
    ``buggify`` the call site (``file.py:LINE``); `call` which call to
    it (1 = the first, in dispatch order), or which evaluation of the site;
    `at` the attempt (endpoint_error, response_lost) or the resume (crash);
    `status` the status an endpoint error fails with.
    """

    kind: str = attrs.field(validator=attrs.validators.in_(_SCRIPT_KINDS))
    target: str = attrs.field(validator=_target)
    call: int = attrs.field(default=1, validator=_positive)
    at: int = attrs.field(default=1, validator=_positive)
    status: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.kind == ENDPOINT_ERROR:
            if self.status not in _ENDPOINT_STATUSES:
                raise ValueError(
                    f"an endpoint_error fails with an error status ({', '.join(_ENDPOINT_STATUSES)}), "
                    f"not {self.status!r}"
                )
        elif self.status is not None:
            raise ValueError(f"only endpoint_error takes a status, not {self.kind}")

    @classmethod
    def endpoint_error(cls, function: str, *, call: int = 1, attempt: int = 1, status: str = "TIMEOUT") -> Fault:
        """Attempt `attempt` of the `call`-th call to `function` fails before it runs, with `status`."""
        return cls(ENDPOINT_ERROR, function, call, attempt, status)

    @classmethod
    def response_lost(cls, function: str, *, call: int = 1, attempt: int = 1) -> Fault:
        """The response of attempt `attempt` of the `call`-th call to `function` is lost."""
        return cls(RESPONSE_LOST, function, call, attempt)

    @classmethod
    def crash(cls, function: str, *, call: int = 1, resume: int = 1) -> Fault:
        """The `call`-th call to `function` loses its coroutine before its `resume`-th resume."""
        return cls(CRASH, function, call, resume)

    @classmethod
    def buggify(cls, site: str, *, call: int = 1) -> Fault:
        """The `call`-th evaluation of the `sim.buggify` call site `site` (``file.py:LINE``) fires."""
        return cls(BUGGIFY, site, call)

    def __str__(self) -> str:
        where = self.target if self.call == 1 else f"{self.target}#{self.call}"
        if self.kind == ENDPOINT_ERROR:
            return f"{self.kind} {where} attempt {self.at} {self.status}"
        if self.kind == RESPONSE_LOST:
            return f"{self.kind} {where} attempt {self.at}"
        if self.kind == CRASH:
            return f"{self.kind} {where} before resume {self.at}"
        return f"{self.kind} {where}"


_ENDPOINT_STATUSES = tuple(s.name for s in Status if s not in (Status.OK, Status.UNSPECIFIED))


def _faults(value: Iterable[Fault]) -> tuple[Fault, ...]:
    faults = tuple(value)
    for f in faults:
        if not isinstance(f, Fault):
            raise TypeError(f"a FaultScript holds Fault records, not {type(f).__qualname__}")
    return faults


@attrs.frozen
class FaultScript:
    """An exact list of faults for a run: `faults=` takes it (and its text) anywhere a profile goes.

    Everything the script does not name is benign: no other fault, no
    latency, results delivered in order. `FaultProfile.coerce(script)` is
    the profile that runs it.
    """

    faults: tuple[Fault, ...] = attrs.field(default=(), converter=_faults)

    @classmethod
    def parse(cls, text: str) -> FaultScript:
        """Read a script (entries separated by ``;`` or new lines). Raises ValueError naming the entry."""
        if not isinstance(text, str):
            raise TypeError(f"a fault script is text, not {type(text).__qualname__}")
        entries = [e.strip() for e in text.replace("\n", ";").split(";")]
        return cls(tuple(_parse_entry(e, i) for i, e in enumerate((e for e in entries if e), 1)))

    def __str__(self) -> str:
        return "; ".join(str(f) for f in self.faults)

    def __iter__(self) -> Iterator[Fault]:
        return iter(self.faults)

    def __len__(self) -> int:
        return len(self.faults)


def _parse_entry(entry: str, index: int) -> Fault:
    def bad(why: str) -> ValueError:
        return ValueError(f"fault script entry {index} ({entry!r}): {why}")

    words = entry.split()
    kind = words[0]
    if kind not in _SCRIPT_KINDS:
        raise bad(f"unknown fault {kind!r}; known: {', '.join(_SCRIPT_KINDS)}")
    if len(words) < 2:
        raise bad("name the function (or the buggify site) after the fault")
    target, _, number = words[1].partition("#")
    call = _number(number, bad, "the call after '#'") if number else 1
    rest = words[2:]
    at = 1
    status: str | None = None
    if kind in (ENDPOINT_ERROR, RESPONSE_LOST):
        if rest[:1] == ["attempt"]:
            if len(rest) < 2:
                raise bad("'attempt' needs a number")
            at, rest = _number(rest[1], bad, "the attempt"), rest[2:]
        if kind == ENDPOINT_ERROR:
            status = "TIMEOUT"
            if rest:
                status, rest = rest[0], rest[1:]
                if status not in _ENDPOINT_STATUSES:
                    raise bad(f"{status!r} is not an error status ({', '.join(_ENDPOINT_STATUSES)})")
    elif kind == CRASH:
        if rest[:2] == ["before", "resume"]:
            if len(rest) < 3:
                raise bad("'before resume' needs a number")
            at, rest = _number(rest[2], bad, "the resume"), rest[3:]
        elif rest:
            raise bad("expected 'before resume N' after the function")
    if rest:
        raise bad(f"unexpected {' '.join(rest)!r}")
    try:
        return Fault(kind, target, call, at, status)
    except ValueError as exc:
        raise bad(str(exc)) from None


def _number(text: str, bad: Any, what: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise bad(f"{what} must be a number >= 1, got {text!r}")
    return int(text)


def looks_like_script(text: str) -> bool:
    """Whether a `faults=` string is a script rather than a profile name."""
    return text.split(None, 1)[0] in _SCRIPT_KINDS if text.strip() else False
