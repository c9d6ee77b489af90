"""The one seed runner: what a simulation test is, how to load one by id, how to run one seed.

`registry.test`'s decorators describe their test with a `SimulationTest`
(`mark_test`); everything that runs such tests afterwards finds it again with
`simulation_test`: the pytest plugin, ``python -m sim replay``, and sweeps.
`load_test` turns a test id (``path/test_x.py::test_y`` or
``path/test_x.py::TestClass::test_m``, as pytest prints it) into a
`LoadedTest`, refusing files outside the current directory tree, and
`run_seed` runs one seed of a test and returns a `SeedRun`: the simulation,
the error if it failed, and the failure's signature. A failing run's error
carries its simulation as ``__dispatch_sim__`` (set here, in one place), so
whoever catches it can save and describe the trace.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import os
import re
import sys
import traceback
import types
import unittest
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

import attrs

from ._faults import FaultProfile
from ._simulation import DEFAULT_SEED, Simulation

__all__ = [
    "LoadedTest",
    "SeedRun",
    "SimulationTest",
    "LoadTestError",
    "failure_of",
    "failure_signature",
    "load_hypothesis_test",
    "load_test",
    "mark_test",
    "recorded_run",
    "run_seed",
    "simulation_test",
    "test_id_of",
]

_MARK = "__dispatch_sim_test__"
"""The attribute of a decorated test that holds its `SimulationTest`."""

_FAILURE = "__dispatch_sim__"
"""The attribute of a failing run's exception that holds its `Simulation`."""

TestMain = Callable[[], Coroutine[Any, Any, Any]]


@attrs.frozen
class SimulationTest:
    """What a ``registry.test`` decorator knows of its test.

    `function` is the decorated coroutine function (for a method, it takes
    ``self``); `seeds` the seeds it runs by default; `faults` its fault
    profile as given (None: the default); `options` the other
    `Simulation` options; `require_sometimes` whether a sometimes/reachable
    that none of its seeds satisfied fails it.
    """

    function: Callable[..., Coroutine[Any, Any, Any]]
    seeds: tuple[int, ...]
    faults: str | FaultProfile | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=lambda o: types.MappingProxyType(dict(o)))
    require_sometimes: bool = False

    @property
    def takes_parameters(self) -> list[str]:
        """Names of the parameters only pytest can supply (fixtures, drawn values), `self` aside."""
        parameters = list(inspect.signature(self.function).parameters.values())
        if parameters and parameters[0].name == "self":
            parameters = parameters[1:]
        return [
            p.name
            for p in parameters
            if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]


def mark_test(wrapper: Any, test: SimulationTest) -> None:
    """Attach `test` to the plain function a decorator returns."""
    setattr(wrapper, _MARK, test)


def simulation_test(obj: object) -> SimulationTest | None:
    """The `SimulationTest` behind a decorated test function or method, or None."""
    found = getattr(obj, _MARK, None)
    return found if isinstance(found, SimulationTest) else None


def failure_of(exc: BaseException) -> Simulation | None:
    """The simulation whose run raised `exc`, when `run_seed` attached it."""
    found = getattr(exc, _FAILURE, None)
    return found if isinstance(found, Simulation) else None


def test_id_of(function: Callable[..., Any]) -> str:
    """The id a trace records for a test: its source file and qualified name."""
    return f"{inspect.getsourcefile(function) or function.__module__}::{function.__qualname__}"


# -- running one seed ---------------------------------------------------------------------


@attrs.frozen
class SeedRun:
    """The result of running one seed of a test.

    `error` is the exception the run raised (None when it passed); it carries
    `simulation` as ``__dispatch_sim__``.
    """

    seed: int
    simulation: Simulation
    error: Exception | None

    @property
    def ok(self) -> bool:
        """Whether the run passed."""
        return self.error is None

    @property
    def digest(self) -> str:
        """The digest of the run's trace."""
        return self.simulation.trace.digest()

    @property
    def signature(self) -> str | None:
        """The failure's signature (see `failure_signature`), None when the run passed."""
        return None if self.error is None else failure_signature(self.error)


def run_seed(
    main: TestMain,
    *,
    seed: int = DEFAULT_SEED,
    faults: str | FaultProfile | None = None,
    test_id: str | None = None,
    options: Mapping[str, Any] | None = None,
    simulation: Simulation | None = None,
) -> SeedRun:
    """Run ``main()`` in a fresh simulation of `seed` (or in `simulation`, e.g. one made
    by `Simulation.from_trace`) and return what happened.

    An Exception fails the run and is returned in the `SeedRun`, with a note
    naming the seed, profile, digest and faults; a BaseException that is not
    an Exception (KeyboardInterrupt, SystemExit) propagates.
    """
    __tracebackhide__ = True  # pytest: a failure shows the test's and the function's frames
    if simulation is None:
        simulation = Simulation(seed=seed, faults=faults, test_id=test_id, **dict(options or {}))
    try:
        simulation.run(main)
    except Exception as exc:
        setattr(exc, _FAILURE, simulation)
        # The trace keeps what went wrong, so that a replay can tell a reproduced
        # failure from a run that now passes (the digest covers events only).
        simulation.trace.header["failure"] = _failure_line(exc)
        counts = simulation.trace.fault_counts()
        injected = ", ".join(f"{k}={v}" for k, v in counts.items()) or "none"
        exc.add_note(
            f"dispatch-sim: failed with seed={simulation.seed} faults={simulation.faults.name} "
            f"digest={simulation.trace.digest()[:16]} faults injected: {injected}"
        )
        return SeedRun(simulation.seed, simulation, exc)
    return SeedRun(simulation.seed, simulation, None)


def recorded_run(
    header: Mapping[str, Any],
    main: TestMain | None,
    options: Mapping[str, Any] | None,
    root: Path | None,
) -> tuple[TestMain, dict[str, Any], list[Any]]:
    """What running a recorded trace again needs, from its `header`: the coroutine
    function (`main`, or the test the header names, loaded from `root`), the run options
    (`options` over that test's own) and the recorded draws.

    Raises ValueError when the trace records no draws (its run did not finish).
    """
    run_options = dict(options or {})
    if main is None:
        loaded = load_test(header.get("test_id"), root=root)
        main = loaded.make_main()
        run_options = {**loaded.test.options, **run_options}
    draws = header.get("decisions")
    if not isinstance(draws, list):
        raise ValueError("the trace records no decisions (was its run finished?)")
    return main, run_options, draws


def _failure_line(exc: BaseException) -> str:
    return f"{type(exc).__qualname__}: {exc}".splitlines()[0][:500]


_NUMBER = re.compile(r"0x[0-9a-fA-F]+|\d+(\.\d+)?")
_HARNESS = tuple(
    str(Path(p).resolve()) + os.sep
    for p in (
        Path(__file__).parent,  # sim
        Path(__file__).parent.parent / "registry",
        Path(unittest.__file__).parent.parent,  # the standard library
    )
)


def failure_signature(exc: BaseException) -> str:
    """What groups failures that are the same bug: the exception's type, its message with
    numbers masked, and the innermost frame of user code (file name and function)."""
    message = _NUMBER.sub("N", str(exc).splitlines()[0] if str(exc) else "")
    frame = _innermost_user_frame(exc)
    where = f" at {frame}" if frame else ""
    return f"{type(exc).__qualname__}: {message}{where}"


def _innermost_user_frame(exc: BaseException) -> str | None:
    found = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        name = _user_file(frame.f_code.co_filename)
        if name is not None:
            found = f"{name}:{frame.f_code.co_name}"
    return found


@functools.lru_cache(maxsize=4096)
def _user_file(filename: str) -> str | None:
    """The base name of `filename` when it is user code (not sim, registry, the standard
    library or an installed package), else None. Cached: a sweep signs thousands of
    failures through the same few files, and resolving a path costs system calls."""
    path = str(Path(filename).resolve()) if filename else ""
    if not path or path.startswith(_HARNESS) or "site-packages" in path:
        return None
    return Path(path).name


# -- loading a test by id ------------------------------------------------------------------


class LoadTestError(ValueError):
    """A test id that names no runnable simulation test here; the message says why."""


@attrs.frozen
class LoadedTest:
    """A simulation test found by its id, ready to run seed after seed.

    `owner` is the class of a test method (None for a function); `make_main`
    builds the coroutine of one run, with a fresh instance set up as pytest
    would (``setup_method`` / ``setUp``) and torn down after it.
    """

    test_id: str
    test: SimulationTest
    owner: type | None = None

    def make_main(self) -> TestMain:
        """A coroutine function running the test once (fresh instance for a method)."""
        if self.test.takes_parameters:
            raise LoadTestError(
                f"{self.test_id} takes parameters ({', '.join(self.test.takes_parameters)}): "
                "fixtures or drawn values that only pytest can supply; replay it with the "
                "pytest command its failure printed"
            )
        function, owner = self.test.function, self.owner
        if owner is None:
            return function
        name = function.__name__

        async def method_main() -> Any:
            instance = _instance(owner, name)
            _call_hook(instance, "setup_method", "setUp", function)
            try:
                return await function(instance)
            finally:
                _call_hook(instance, "teardown_method", "tearDown", function)

        return method_main


def _instance(owner: type, name: str) -> Any:
    if issubclass(owner, unittest.TestCase):
        return owner(name)
    return owner()


def _call_hook(instance: Any, pytest_name: str, unittest_name: str, method: Any) -> None:
    if isinstance(instance, unittest.TestCase):
        getattr(instance, unittest_name)()
    elif callable(hook := getattr(instance, pytest_name, None)):
        hook(method)


def load_test(test_id: object, *, root: Path | None = None) -> LoadedTest:
    """Import the file a test id names and find the simulation test in it.

    Only ``.py`` source files inside `root` (the current directory by default;
    symlinks resolved, so none escapes it) are imported; anything else raises
    `LoadTestError` before any code runs.
    """
    if not isinstance(test_id, str) or "::" not in test_id:
        raise LoadTestError(f"the trace names no test to replay (test id {test_id!r})")
    file, _, name = test_id.partition("::")
    parts = [p for p in re.split(r"::|\.", name) if p]
    if not parts or not all(p.isidentifier() for p in parts):
        raise LoadTestError(f"{test_id!r} does not name a test (expected path.py::test or path.py::Class::test)")
    base = (root or Path.cwd()).resolve()
    path = (base / file).resolve() if not Path(file).is_absolute() else Path(file).resolve()
    if not path.is_file():
        raise LoadTestError(f"the recorded test file {file!r} does not exist here")
    if not path.is_relative_to(base):
        raise LoadTestError(
            f"refusing to import {file!r}: it is outside the current directory {str(base)!r} "
            "(run the command from the project that holds the test)"
        )
    if path.suffix != ".py":
        raise LoadTestError(f"refusing to import {file!r}: only .py source files are run")
    owner, cls = _find(_import_file(path, base), file, parts)
    test = simulation_test(owner)
    if test is None:
        raise LoadTestError(f"{'.'.join(parts)!r} in {file!r} is not a registry.test function or method")
    shown = path.relative_to(base).as_posix()
    return LoadedTest(f"{shown}::{'::'.join(parts)}", test, cls if len(parts) > 1 else None)


def _find(module: types.ModuleType, file: str, parts: list[str]) -> tuple[Any, type | None]:
    owner: Any = module
    cls: type | None = None
    for part in parts:
        found = getattr(owner, part, None)
        if found is None:
            raise LoadTestError(f"{file!r} has no {'.'.join(parts)!r}")
        if inspect.isclass(found):
            cls = found
        owner = found
    return owner, cls


def load_hypothesis_test(test_id: object, *, root: Path | None = None) -> Callable[[Simulation], Any]:
    """The Hypothesis test a trace of a falsifying example names, as a function of the
    simulation to run it with (for ``python -m sim replay``).

    Only a test whose sole drawn argument is the simulation can be replayed from the
    trace; one that draws other values too raises `LoadTestError` saying to rerun it
    with pytest (Hypothesis' example database holds those values).
    """
    if not isinstance(test_id, str) or "::" not in test_id:
        raise LoadTestError(f"the trace names no test to replay (test id {test_id!r})")
    file, _, name = test_id.partition("::")
    parts = [p for p in re.split(r"::|\.", name) if p]
    if not parts or not all(p.isidentifier() for p in parts):
        raise LoadTestError(f"{test_id!r} does not name a test")
    base = (root or Path.cwd()).resolve()
    path = (base / file).resolve()
    if not path.is_file():
        raise LoadTestError(f"the recorded test file {file!r} does not exist here")
    if not path.is_relative_to(base) or path.suffix != ".py":
        raise LoadTestError(f"refusing to import {file!r}: only .py files inside {str(base)!r} are run")
    test, cls = _find(_import_file(path, base), file, parts)
    handle = getattr(test, "hypothesis", None)
    inner = getattr(handle, "inner_test", None)
    if inner is None:
        raise LoadTestError(f"{'.'.join(parts)!r} in {file!r} is not a Hypothesis test")
    drawn = [n for n, p in inspect.signature(inner).parameters.items()
             if n != "self" and p.default is p.empty]
    if len(drawn) != 1:
        raise LoadTestError(
            f"{test_id} draws more than the simulation ({', '.join(drawn)}); replay it with "
            f"pytest {test_id!r}: Hypothesis' database replays the example"
        )

    def run(simulation: Simulation) -> Any:
        args = (_instance(cls, parts[-1]),) if cls is not None else ()
        return inner(*args, **{drawn[0]: simulation})

    return run


def _import_file(path: Path, root: Path) -> types.ModuleType:
    # The test's own folder goes first on sys.path, as pytest's rootdir-relative imports
    # would find its neighbours (conftest helpers, sibling modules).
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = "_dispatch_sim_test_" + re.sub(r"\W", "_", path.relative_to(root).with_suffix("").as_posix())
    existing = sys.modules.get(name)
    if existing is not None:
        return existing
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadTestError(f"cannot import {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module

