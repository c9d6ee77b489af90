"""The world user code sees inside a run: a virtual wall clock, seeded entropy, no threads.

While a simulation runs, the clock and entropy functions of the standard
library answer from the simulation for code running in its context (the test,
its tasks, the functions it calls): `time.time`, `time.monotonic` and
`time.perf_counter` (and their ``_ns`` forms) give virtual time,
`datetime.datetime.now`/`utcnow`/`today` and `datetime.date.today` the
virtual date, and `os.urandom` (hence `uuid.uuid4`) and `random.SystemRandom`
(hence `secrets`) draw from a generator seeded by the run's seed. Awaiting
real work outside the simulation (`trio.to_thread.run_sync`,
`trio.run_process`, `trio.open_process`) fails at once with
`OutsideWorldError`: its timing is not the simulation's to decide.

A function the test has replaced itself (with pytest's monkeypatch, say) is
left as it is. The others are replaced once, while at least one simulation runs, by
wrappers that look up the simulation of the calling context (a ContextVar);
anywhere else (trio's scheduler, pytest, Hypothesis, another task of a host
trio run) they behave as the originals. trio's own clock is unaffected: it
binds `time.perf_counter` when imported. What cannot be made deterministic
this way (hash order of str sets, `id()`, names bound with ``from datetime
import datetime`` before the run, threads started by hand) is listed in the
README, and `sim sweep --check-determinism` catches it.
"""

from __future__ import annotations

import contextlib
import datetime as _datetime
import gc
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from typing import Any

import trio

from . import _random_state
from ._errors import OutsideWorldError

__all__ = [
    "EPOCH", "RunEnvironment", "active", "enter", "environment", "held", "holding", "leave", "restore_state",
    "save_state",
]  # fmt: skip

EPOCH = 1_767_225_600.0
"""What `time.time()` returns at virtual time 0: 2026-01-01 00:00:00 UTC."""


class RunEnvironment:
    """What the replaced functions answer in the context of one run.

    `now` gives the run's virtual time; `deterministic` is False when the run
    opted out (the clock and entropy are then the real ones); `refuse` ends
    the run with an error (the outside-world guard).
    """

    def __init__(
        self,
        now: Callable[[], float],
        seed: int,
        deterministic: bool,
        refuse: Callable[[BaseException], None],
    ) -> None:
        self.now = now
        self.deterministic = deterministic
        self.refuse = refuse
        self._seed = seed
        self._entropy: random.Random | None = None

    @property
    def entropy(self) -> random.Random:
        """The run's seeded source of `os.urandom`'s bytes.

        Made on first use: seeding a Mersenne Twister costs a twentieth of an
        empty seed, and most runs never ask for entropy.
        """
        entropy = self._entropy
        if entropy is None:
            entropy = self._entropy = random.Random(f"dispatch-sim:{self._seed}:entropy")
        return entropy


_active: ContextVar[RunEnvironment | None] = ContextVar("dispatch_sim_environment", default=None)


def active() -> RunEnvironment | None:
    """The environment of the run in this context, if it makes the world deterministic."""
    env = _active.get()
    return env if env is not None and env.deterministic else None


# -- the replacements -------------------------------------------------------------

_real_time = time.time
_real_time_ns = time.time_ns
_real_monotonic = time.monotonic
_real_monotonic_ns = time.monotonic_ns
_real_perf_counter = time.perf_counter
_real_perf_counter_ns = time.perf_counter_ns
_real_urandom = os.urandom
_real_datetime = _datetime.datetime
_real_date = _datetime.date


def _time() -> float:
    env = active()
    return _real_time() if env is None else EPOCH + env.now()


def _time_ns() -> int:
    env = active()
    return _real_time_ns() if env is None else round((EPOCH + env.now()) * 1e9)


def _monotonic() -> float:
    env = active()
    return _real_monotonic() if env is None else env.now()


def _monotonic_ns() -> int:
    env = active()
    return _real_monotonic_ns() if env is None else round(env.now() * 1e9)


def _perf_counter() -> float:
    env = active()
    return _real_perf_counter() if env is None else env.now()


def _perf_counter_ns() -> int:
    env = active()
    return _real_perf_counter_ns() if env is None else round(env.now() * 1e9)


def _urandom(size: int) -> bytes:
    env = active()
    if env is None:
        return _real_urandom(size)
    if not isinstance(size, int) or size < 0:  # the original's errors, for the same input
        return _real_urandom(size)
    return env.entropy.randbytes(size)


class _RealInstances(type):
    # The replacement classes stand for the real ones: isinstance() and
    # issubclass() answer for the real class, so values made before, during
    # and after a run compare alike.
    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, cls.__real__)  # type: ignore[attr-defined]

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls.__real__)  # type: ignore[attr-defined]


class _VirtualDatetime(_real_datetime, metaclass=_RealInstances):
    """`datetime.datetime` during a run: `now`, `utcnow` and `today` read virtual time."""

    __real__ = _real_datetime

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # Instances are always real datetimes (the codec, pickle and == see no difference).
        return _real_datetime(*args, **kwargs)

    @classmethod
    def now(cls, tz: _datetime.tzinfo | None = None) -> Any:
        env = active()
        if env is None:
            return _real_datetime.now(tz)
        return _real_datetime.fromtimestamp(EPOCH + env.now(), tz)

    @classmethod
    def utcnow(cls) -> Any:
        env = active()
        if env is None:
            return _real_datetime.utcnow()
        utc = _real_datetime.fromtimestamp(EPOCH + env.now(), _datetime.timezone.utc)
        return utc.replace(tzinfo=None)

    @classmethod
    def today(cls) -> Any:
        return cls.now()


class _VirtualDate(_real_date, metaclass=_RealInstances):
    """`datetime.date` during a run: `today` reads virtual time."""

    __real__ = _real_date

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return _real_date(*args, **kwargs)

    @classmethod
    def today(cls) -> Any:
        env = active()
        if env is None:
            return _real_date.today()
        return _real_date.fromtimestamp(EPOCH + env.now())


def _outside(what: str, original: Callable[..., Any]) -> Callable[..., Any]:
    async def refuse(*args: Any, **kwargs: Any) -> Any:
        env = _active.get()
        if env is None:
            return await original(*args, **kwargs)
        target = args[0] if args else kwargs.get("sync_fn", kwargs.get("command", "?"))
        name = getattr(target, "__qualname__", None) or repr(target)
        error = OutsideWorldError(
            f"{what}({name}) inside a simulation: a thread or process runs outside the "
            "virtual clock, so the run could not be deterministic; do that work in the "
            "function's caller, or give the function a fake that does not leave the process"
        )
        env.refuse(error)
        raise error

    refuse.__name__ = refuse.__qualname__ = getattr(original, "__name__", what)
    refuse.__doc__ = original.__doc__
    return refuse


# (owner, attribute, replacement): what is replaced while a run is active.
_PATCHES: tuple[tuple[Any, str, Any], ...] = (
    (time, "time", _time),
    (time, "time_ns", _time_ns),
    (time, "monotonic", _monotonic),
    (time, "monotonic_ns", _monotonic_ns),
    (time, "perf_counter", _perf_counter),
    (time, "perf_counter_ns", _perf_counter_ns),
    (os, "urandom", _urandom),
    # random.SystemRandom (and so `secrets`) reads os.urandom through this
    # private alias, bound when `random` was imported.
    (random, "_urandom", _urandom),
    (_datetime, "datetime", _VirtualDatetime),
    (_datetime, "date", _VirtualDate),
    (trio.to_thread, "run_sync", _outside("trio.to_thread.run_sync", trio.to_thread.run_sync)),
    (trio, "run_process", _outside("trio.run_process", trio.run_process)),
    (trio.lowlevel, "open_process", _outside("trio.lowlevel.open_process", trio.lowlevel.open_process)),
)

_ORIGINALS: tuple[Any, ...] = tuple(getattr(owner, name) for owner, name, _ in _PATCHES)

_installed = 0  # runs in progress (the replacements stay while any is)
# The indexes in _PATCHES replaced by this installation: `_ALL` itself when all
# of them were (the usual case, told by an identity test).
_replaced: tuple[int, ...] = ()
# The same, as columns: installed (and put back) all at once by map(setattr, ...)
# in C, in the usual case where nothing was replaced before us; runs install
# and uninstall once per seed outside a `held` block.
_OWNERS = tuple(owner for owner, _, _ in _PATCHES)
_NAMES = tuple(name for _, name, _ in _PATCHES)
_REPLACEMENTS = tuple(replacement for _, _, replacement in _PATCHES)
_ALL = tuple(range(len(_PATCHES)))


def _install() -> None:
    global _installed, _replaced
    if not _installed:
        if tuple(map(getattr, _OWNERS, _NAMES)) == _ORIGINALS:  # identity first: functions and classes
            _replaced = _ALL
            any(map(setattr, _OWNERS, _NAMES, _REPLACEMENTS))  # setattr returns None: all of them run
        else:
            # A function the test has already replaced itself (a monkeypatched
            # clock) is its own decision: it stays as it is.
            _replaced = tuple(
                i for i, (owner, name, _) in enumerate(_PATCHES) if getattr(owner, name) is _ORIGINALS[i]
            )
            for i in _replaced:
                owner, name, replacement = _PATCHES[i]
                setattr(owner, name, replacement)
    _installed += 1


def _uninstall() -> None:
    global _installed, _replaced
    _installed -= 1
    if not _installed:
        if _replaced is _ALL:
            any(map(setattr, _OWNERS, _NAMES, _ORIGINALS))
        else:
            for i in _replaced:
                owner, name, _ = _PATCHES[i]
                setattr(owner, name, _ORIGINALS[i])
        _replaced = ()


def enter(env: RunEnvironment) -> Token[RunEnvironment | None]:
    """Make `env` the environment of this context (and of tasks started in it) until `leave`.

    The replacements are installed by the first run to enter and put back by
    the last one to leave. A run calls `leave(token)` with what this returns,
    in a ``finally``: a pair of calls rather than a context manager, whose
    generator costs a run as much as the two.
    """
    _install()
    return _active.set(env)


def leave(token: Token[RunEnvironment | None]) -> None:
    """End what `enter` began: the context's environment, and the replacements with the last run."""
    try:
        _active.reset(token)
    finally:
        _uninstall()


@contextlib.contextmanager
def environment(env: RunEnvironment) -> Iterator[None]:
    """`enter` and `leave` around the block, as a context manager."""
    token = enter(env)
    try:
        yield
    finally:
        leave(token)


# -- what a run changes outside itself, and puts back --------------------------------

_RUN_GC_THRESHOLD = 50_000
"""The collector's first threshold while a run is in progress (at least)."""
_get_threshold, _set_threshold = gc.get_threshold, gc.set_threshold  # bound once: read twice per run

SavedState = tuple[Any, tuple[int, ...]]
"""The `random` module's state and the collector's thresholds, as `save_state` took them."""


def save_state() -> SavedState:
    """Save the `random` module's state and the collector's thresholds, and raise the first.

    A run seeds the `random` module for its user code, so the module's state
    is put back afterwards (`restore_state`). A run allocates a few dozen
    short-lived objects per call; with the default threshold of 700 the
    collector runs every few calls (a quarter of the time of a 100k-call
    fan-out), so it runs with a higher one.
    """
    threshold = _get_threshold()
    if threshold[0] < _RUN_GC_THRESHOLD:
        _set_threshold(_RUN_GC_THRESHOLD, threshold[1], threshold[2])
    return _random_state.save(), threshold  # exact, and cheaper than random.getstate


def restore_state(saved: SavedState) -> None:
    """Put back what `save_state` saved."""
    _random_state.restore(saved[0])
    _set_threshold(*saved[1])


_held_by: int | None = None  # the thread in a `held` block, if any


def holding() -> bool:
    """Whether this thread is in a `held` block: its runs leave the saving and restoring to it."""
    return _held_by is not None and _held_by == threading.get_ident()


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Run simulations back to back in the block (a sweep's batch) for less per run.

    Each run seeds the `random` module as ever (its user code draws what it
    would alone), but the module's state and the collector's thresholds are
    saved when the block starts and put back when it ends, not around every
    run (where the state cannot be copied as bytes, see `_random_state`,
    saving and restoring it is a seventh of an empty seed); and the
    replacements stay installed from the first run to the end of the
    block. Code between the runs sees the real clock and
    entropy (no run is active), but the `random` module as the last run left
    it: only a loop that runs nothing else between seeds should hold. One
    thread holds at a time; a nested block, or one in another thread while
    one holds, changes nothing.
    """
    global _held_by
    if _held_by is not None:
        yield
        return
    saved = save_state()
    _held_by = threading.get_ident()
    _install()
    try:
        yield
    finally:
        _uninstall()
        _held_by = None
        restore_state(saved)
