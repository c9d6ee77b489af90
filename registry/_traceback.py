"""Failures that say where they happened: a function's traceback, and how its caller sees it.

When a registered function raises, the attempt's `Error` carries the
traceback of the raise, trimmed to the user's frames (the registry's and the
simulator's own frames say nothing about the bug) and headed with the
function's name, DispatchID and attempt. The text travels with the error to
whoever awaits the call, where `registry.error.exception_for_error` chains
it to the raised exception as its ``__cause__`` (a `FunctionTraceback`), the way `concurrent.futures` shows the
traceback of a worker. The text holds file paths, so it stays out of every
digest and comparison (see `sim.Error.traceback`).
"""

from __future__ import annotations

import os
import traceback

import sim

__all__ = ["format_failure"]

# Frames from these directories are the harness's, never the user's.
_HARNESS = (
    os.path.dirname(os.path.abspath(sim.__file__)) + os.sep,
    os.path.dirname(os.path.abspath(__file__)) + os.sep,
)


def _trim(te: traceback.TracebackException) -> None:
    # Drop harness frames in the exception and everything chained to it
    # (TracebackException has already cut any cycle in the chain).
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if not f.filename.startswith(_HARNESS)]
    )
    for chained in (te.__cause__, te.__context__):
        if chained is not None:
            _trim(chained)


def format_failure(exc: BaseException, function: str, dispatch_id: str, attempt: int) -> bytes:
    """The traceback of `exc`, raised by `function`, as UTF-8 text for `Error.traceback`."""
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
    _trim(te)
    body = "".join(te.format())
    return f"{function} raised (DispatchID {dispatch_id}, attempt {attempt}):\n{body}".encode()
