"""Registry behaviour ported SDK code relies on: a settable endpoint, clear duplicate-name errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
import pytest

import registry
import registry.test


def test_endpoint_is_settable_and_calls_follow_it(reg: registry.Registry) -> None:
    @reg.function
    def where() -> str:
        return "here"

    new = f"http://{reg.name}.example:8000/dispatch"
    reg.endpoint = new
    assert reg.endpoint == new
    assert where.endpoint == new
    assert where.build_call().endpoint == new
    assert registry.test.run(where(), faults="none") == "here"


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ("example.com/path", "missing protocol scheme"),
        ("localhost:8000", "missing protocol scheme"),
        ("ftp://example.com", "invalid protocol scheme"),
        ("http://", "missing host"),
        ("https:///only/a/path", "missing host"),
    ],
)
def test_endpoint_setter_validates_as_in_the_sdk(
    reg: registry.Registry, endpoint: str, problem: str
) -> None:
    before = reg.endpoint
    with pytest.raises(ValueError, match=problem) as info:
        reg.endpoint = endpoint
    assert repr(endpoint) in str(info.value)
    assert reg.endpoint == before  # unchanged


def test_endpoint_of_another_registry_is_refused(reg: registry.Registry) -> None:
    other = registry.Registry(f"{reg.name}-other")
    try:
        with pytest.raises(ValueError, match="already served"):
            reg.endpoint = other.endpoint
        assert reg.endpoint != other.endpoint
    finally:
        other.close()


def test_closed_registry_endpoint_cannot_change() -> None:
    r = registry.Registry("endpoint-closed-test")
    r.close()
    with pytest.raises(ValueError, match="closed"):
        r.endpoint = "http://x.example"


def test_duplicate_name_in_one_module_names_both_places(reg: registry.Registry) -> None:
    def same() -> int:
        return 1

    first = reg.function(same)

    def same() -> int:  # type: ignore[no-redef]  # noqa: F811
        return 2

    with pytest.raises(ValueError) as info:
        reg.function(same)
    message = str(info.value)
    assert message.startswith(f"function already registered with name '{first.name}'")
    assert __file__ in message


_MODULE = textwrap.dedent(
    """
    import registry

    @registry.function
    def add(a, b):
        return a + b
    """
)


def test_two_modules_in_the_default_registry_are_told_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "mod_one.py").write_text(_MODULE)
    (tmp_path / "mod_two.py").write_text(_MODULE)
    done = subprocess.run(
        [sys.executable, "-c", "import mod_one, mod_two"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "function already registered with name 'add' in registry 'default'" in last
    assert "mod_two" in last and "mod_one" in last
    assert "reg = registry.Registry(__name__)" in last


_PER_MODULE = textwrap.dedent(
    """
    import registry
    import registry.test

    reg = registry.Registry(__name__)

    @reg.function
    def add(a, b):
        return a + b

    @registry.test.function(faults="none")
    async def test_add():
        assert await add(1, {n}) == 1 + {n}
    """
)


def test_a_registry_per_module_makes_same_names_a_non_problem(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text(_PER_MODULE.format(n=1))
    (tmp_path / "test_two.py").write_text(_PER_MODULE.format(n=2))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_one.py", "test_two.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_functions_pickle_by_name_as_in_the_sdk(reg: registry.Registry) -> None:
    import pickle

    @reg.function
    def local_function() -> str:
        return "found"

    copy = pickle.loads(pickle.dumps(local_function))
    assert copy is local_function
    name = reg.name
    data = pickle.dumps(local_function)
    reg.close()
    with pytest.raises(LookupError, match=f"no function .* named {name!r}"):
        pickle.loads(data)
