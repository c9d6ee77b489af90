"""sim._runner: loading a simulation test by id (safely), and running one seed of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import registry
import registry.test
from sim.lowlevel import (
    LoadTestError,
    failure_of,
    failure_signature,
    load_test,
    run_seed,
    simulation_test,
)

PROGRAM = '''
import unittest
from pathlib import Path

import registry
import registry.test

reg = registry.Registry("runner-program-" + __name__)
log = []


@reg.function
def echo(x):
    return x


@registry.test.function(seeds=range(3), faults="none")
async def test_plain():
    assert await echo(2) == 2


class TestWithSetup:
    def setup_method(self, method):
        self.base = 40
        log.append(("setup", method.__name__))

    def teardown_method(self, method):
        log.append(("teardown", method.__name__))

    @registry.test.method(faults="none")
    async def test_uses_setup(self):
        assert await echo(self.base) + 2 == 42


class TestUnittest(unittest.TestCase):
    def setUp(self):
        self.base = 1

    @registry.test.method(faults="none")
    async def test_uses_setup(self):
        self.assertEqual(await echo(self.base), 1)


def not_a_simulation_test():
    pass
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_program.py").write_text(PROGRAM)
    monkeypatch.chdir(root)
    return root


def test_loads_a_function_by_pytest_id(project: Path) -> None:
    loaded = load_test("tests/test_program.py::test_plain")
    assert loaded.test_id == "tests/test_program.py::test_plain"
    assert loaded.owner is None
    assert loaded.test.seeds == (0, 1, 2)
    assert loaded.test.faults == "none"
    assert run_seed(loaded.make_main(), seed=1, faults="none").ok


@pytest.mark.parametrize(
    "test_id",
    ["tests/test_program.py::TestWithSetup::test_uses_setup", "tests/test_program.py::TestWithSetup.test_uses_setup"],
)
def test_a_method_runs_with_a_fresh_instance_set_up_as_pytest_would(project: Path, test_id: str) -> None:
    loaded = load_test(test_id)
    assert loaded.test_id == "tests/test_program.py::TestWithSetup::test_uses_setup"
    assert loaded.owner is not None and loaded.owner.__name__ == "TestWithSetup"
    run = run_seed(loaded.make_main(), seed=0, faults="none")
    assert run.ok, run.error
    import sys

    module = sys.modules[loaded.test.function.__module__]
    assert module.log[-2:] == [("setup", "test_uses_setup"), ("teardown", "test_uses_setup")]


def test_a_unittest_method_gets_set_up(project: Path) -> None:
    loaded = load_test(f"{project}/tests/test_program.py::TestUnittest::test_uses_setup")
    run = run_seed(loaded.make_main(), seed=0, faults="none")
    assert run.ok, run.error


def test_refuses_what_is_not_a_simulation_test(project: Path) -> None:
    with pytest.raises(LoadTestError, match="not a registry.test function"):
        load_test("tests/test_program.py::not_a_simulation_test")
    with pytest.raises(LoadTestError, match="has no 'missing'"):
        load_test("tests/test_program.py::missing")
    with pytest.raises(LoadTestError, match="does not name a test"):
        load_test("tests/test_program.py::os.system('x')")
    with pytest.raises(LoadTestError, match="names no test"):
        load_test(42)


def _trap(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"open({str(marker)!r}, 'w').close()\n")


def test_never_imports_a_file_outside_the_current_directory(project: Path, tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    outside = tmp_path / "outside" / "evil.py"
    _trap(outside, marker)
    (project / "tests" / "link.py").symlink_to(outside)
    for test_id in (
        f"{outside}::test_x",
        "../outside/evil.py::test_x",
        "tests/../../outside/evil.py::test_x",
        "tests/link.py::test_x",
        f"{os.__file__}::test_x",
    ):
        with pytest.raises(LoadTestError, match="outside the current directory"):
            load_test(test_id)
    assert not marker.exists()


def test_only_imports_python_source(project: Path, tmp_path: Path) -> None:
    for name in ("compiled.pyc", "native.so", "script.sh"):
        (project / name).write_bytes(b"\x00")
        with pytest.raises(LoadTestError, match="only .py source"):
            load_test(f"{name}::test_x")


def test_run_seed_returns_the_failure_with_its_simulation() -> None:
    reg = registry.Registry("test-runner-failing")

    @reg.function
    def count(n: int) -> int:
        return n

    async def main() -> None:
        assert await count(41) == 42, "count is 41, expected 42"

    run = run_seed(main, seed=5, faults="none")
    assert not run.ok and isinstance(run.error, AssertionError)
    assert failure_of(run.error) is run.simulation
    assert run.simulation.seed == 5
    assert run.digest == run.simulation.trace.digest()
    assert run.signature == (
        "AssertionError: count is N, expected N at test_runner.py:main"
    )
    assert any("seed=5" in note for note in run.error.__notes__)


def test_failure_signature_masks_numbers_and_keeps_the_user_frame() -> None:
    def user_code(n: int) -> None:
        raise ValueError(f"balance {n} at 0x7f00deadbeef is not 900.5")

    errors = []
    for n in (890, 12):
        try:
            user_code(n)
        except ValueError as exc:
            errors.append(exc)
    assert failure_signature(errors[0]) == failure_signature(errors[1])
    assert failure_signature(errors[0]) == "ValueError: balance N at N is not N at test_runner.py:user_code"


def test_decorated_tests_carry_their_description() -> None:
    @registry.test.function(seed=3, faults="heavy", max_events=1000)
    async def test_x() -> None:
        pass

    spec = simulation_test(test_x)
    assert spec is not None
    assert spec.seeds == (3,) and spec.faults == "heavy"
    assert dict(spec.options) == {"max_events": 1000}
    assert simulation_test(lambda: None) is None
