"""Failures say where they happened: a function's traceback reaches its caller, chained as the cause."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import registry
import registry.test
import sim
from registry.error import FunctionTraceback

ROOT = Path(__file__).resolve().parent.parent.parent
HERE = Path(__file__).resolve()


def _line_of(text: str) -> int:
    """The line of this file that holds `text` (once)."""
    lines = HERE.read_text().splitlines()
    [number] = [i + 1 for i, line in enumerate(lines) if line.rstrip().endswith(text)]
    return number


def test_the_caller_sees_the_function_traceback_as_the_cause(reg: registry.Registry) -> None:
    @reg.function
    def leaf(x: int) -> int:
        raise LookupError(f"no item {x}")  # MARK-LEAF

    @reg.function
    async def middle(x: int) -> int:
        return await leaf(x)  # MARK-MIDDLE

    async def main() -> Any:
        return await middle(7)

    with pytest.raises(LookupError, match="no item 7") as info:
        registry.test.run(main(), faults="none")
    cause = info.value.__cause__
    assert isinstance(cause, FunctionTraceback)
    text = cause.text
    # The caller's cause is middle's traceback, which holds leaf's as its own cause.
    assert text.startswith(f"{middle.name} raised (DispatchID ")
    assert f"{leaf.name} raised (DispatchID " in text
    assert re.search(r"attempt \d+\):", text)
    leaf_line, middle_line = _line_of("# MARK" + "-LEAF"), _line_of("# MARK" + "-MIDDLE")
    assert f'File "{HERE}", line {leaf_line}, in leaf' in text
    assert f'File "{HERE}", line {middle_line}, in middle' in text
    # The harness's own frames are left out.
    assert "registry/" not in text.replace(str(HERE), "")
    assert "sim/_" not in text


def test_the_traceback_travels_in_the_error(reg: registry.Registry) -> None:
    @reg.function
    def fails() -> None:
        raise ValueError("nope")

    async def main() -> sim.CallResult:
        return await sim.current().call_result(fails.build_call())

    result = registry.test.run(main(), faults="none")
    assert result.error is not None
    traceback = result.error.traceback
    assert isinstance(traceback, bytes)
    decoded = traceback.decode()
    assert f"{fails.name} raised (DispatchID {result.dispatch_id}, attempt 1):" in decoded
    assert decoded.rstrip().endswith("ValueError: nope")


def test_the_traceback_names_the_attempt_that_failed(reg: registry.Registry) -> None:
    tries: list[int] = []

    @reg.function
    def third_time_unlucky() -> None:
        tries.append(1)
        if len(tries) < 3:
            raise registry.error.TemporaryError("still down")
        raise KeyError("gone")

    async def main() -> Any:
        return await third_time_unlucky()

    with pytest.raises(KeyError) as info:
        registry.test.run(main(), faults="none")
    cause = info.value.__cause__
    assert isinstance(cause, FunctionTraceback)
    assert ", attempt 3):" in cause.text
    assert "KeyError: 'gone'" in cause.text


_PROGRAM = textwrap.dedent(
    """
    import registry, registry.test, sim

    reg = registry.Registry("paths")

    @reg.function
    def boom(x):
        raise ValueError(f"boom {x}")

    @reg.function
    async def outer(x):
        return await boom(x)

    async def main():
        try:
            await outer(1)
        except ValueError:
            pass

    s = sim.Simulation(seed=3, faults="heavy")
    s.run(main())
    print(s.trace.digest())
    """
)


def test_tracebacks_stay_out_of_the_digest(tmp_path: Path) -> None:
    # The same program from two checkouts' worth of paths: tracebacks differ, digests do not.
    digests = []
    for name in ("one", "a-much-longer-directory-name"):
        where = tmp_path / name
        where.mkdir()
        (where / "prog.py").write_text(_PROGRAM)
        env = dict(os.environ, PYTHONHASHSEED=str(len(name)))
        done = subprocess.run(
            [sys.executable, "prog.py"], cwd=where, capture_output=True, text=True, env=env, timeout=120
        )
        assert done.returncode == 0, done.stderr
        digests.append(done.stdout.strip())
    assert digests[0] == digests[1]


_TEST_MODULE = textwrap.dedent(
    """
    import registry
    import registry.test

    reg = registry.Registry(__name__)


    @reg.function
    def charge(amount):
        if amount > 100:
            raise ValueError(f"amount too large: {amount}")
        return amount


    @reg.function
    async def checkout(amount):
        return await charge(amount)


    @registry.test.function(faults="none")
    async def test_checkout():
        assert await checkout(500) == 500
    """
)


def test_pytest_failure_output_shows_the_function_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "test_where.py").write_text(_TEST_MODULE)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_where.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    raise_line = f'File "{tmp_path / "test_where.py"}", line 11, in charge'
    await_line = f'File "{tmp_path / "test_where.py"}", line 17, in checkout'
    assert raise_line in out and await_line in out, out
    # The user's lines come first, before the test's own frame; no harness frame shows.
    assert out.index(raise_line) < out.index(await_line) < out.index("async def test_checkout")
    assert "registry/_client.py" not in out
    assert "outcome/_impl.py" not in out
    assert "FunctionTraceback" in out
    assert "charge raised (DispatchID " in out
