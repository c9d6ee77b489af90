"""The `random` module's state, saved before a run and put back after it, exactly and cheaply.

A run seeds the `random` module for its user code (names bound with ``from
random import randint`` before the run included: they are methods of the
same generator), and afterwards the module draws what it would have drawn
had the run never happened. `random.getstate` builds a tuple of 625 ints and
`random.setstate` reads them back: 15 µs a run, a seventh of an empty seed.

On CPython the generator's state is a fixed block of bytes inside the
object (``int index; uint32_t state[624]`` after the object header), so
`save` copies the block into a bytes object and `restore` copies it back
(ctypes, about 1.5 µs for both), with `gauss_next`, the one other part of the
state `getstate` returns. The copy is used only where it is proven exact
when this module is imported: the block has the size of those fields, and a
generator given another's bytes then draws what the other draws, across a
regeneration of the block. Anywhere else (another interpreter, another
layout, a build without the GIL) `save` and `restore` are `random.getstate`
and `random.setstate`.
`tests/sim/test_random_state.py` checks both ways.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["BYTE_COPY", "restore", "save"]

# The generator behind the module's functions (`random._inst`).
_MODULE: random.Random = random.random.__self__  # type: ignore[attr-defined]

_FIELDS = 4 + 624 * 4  # CPython's `int index; uint32_t state[624]` (random's RandomObject)

# What `save` returns is opaque: getstate's tuple, or the byte copy's.
save: Callable[[], Any] = random.getstate
restore: Callable[[Any], None] = random.setstate
BYTE_COPY = False
"""Whether `save` and `restore` copy the state's bytes (else getstate and setstate)."""


_Copy = tuple[Callable[[], Any], Callable[[Any], None]]


def _byte_copier() -> Callable[[random.Random], _Copy] | None:
    """What makes (save, restore) of a generator's state as bytes, or None where that is not
    proven exact."""
    if sys.implementation.name != "cpython":
        return None
    if not getattr(sys, "_is_gil_enabled", lambda: True)():
        return None  # free-threaded: another thread's draw could tear the copy (getstate locks)
    try:
        import _random
        import ctypes
    except ImportError:
        return None
    start = object.__basicsize__  # the C fields follow the object header
    size = _random.Random.__basicsize__ - start
    if not _FIELDS <= size < _FIELDS + 8:  # the two fields and their padding, nothing more
        return None
    string_at = ctypes.string_at
    # A memmove that holds the GIL (ctypes.memmove releases it): no thread sees half a state.
    found = ctypes.cast(ctypes.memmove, ctypes.c_void_p).value
    if not found:
        return None
    memmove = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)(found)

    def copier(generator: random.Random) -> _Copy:
        address = id(generator) + start  # a CPython object never moves

        def save_state() -> Any:
            """The generator's state (opaque: for `restore`)."""
            return string_at(address, size), generator.gauss_next  # type: ignore[attr-defined]

        def restore_state(saved: Any) -> None:
            """Put back the generator's state `save` returned."""
            memmove(address, saved[0], size)
            generator.gauss_next = saved[1]  # type: ignore[attr-defined]

        return save_state, restore_state

    # Proven on two generators of its own before the module's is touched: the
    # second, given the first's bytes, has its state and draws what it draws,
    # past the regeneration of the block (every 624 words).
    first, second = random.Random("dispatch-sim:first"), random.Random("dispatch-sim:second")
    first.random()
    first.gauss(0.0, 1.0)  # leaves a gauss_next
    copier(second)[1](copier(first)[0]())
    if second.getstate() != first.getstate():
        return None
    if [second.random() for _ in range(700)] != [first.random() for _ in range(700)]:
        return None
    return copier


_copier = _byte_copier()
if _copier is not None:
    save, restore = _copier(_MODULE)
    BYTE_COPY = True
