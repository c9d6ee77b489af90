"""The packages ship py.typed, so their annotations must check."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_sim_and_registry_type_check(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path), "sim", "registry"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_both_packages_are_marked_typed() -> None:
    assert (ROOT / "sim" / "py.typed").is_file()
    assert (ROOT / "registry" / "py.typed").is_file()


_TYPED_EXAMPLE = '''\
import registry


@registry.function
async def add(a: int, b: int) -> int:
    return a + b


@registry.function
def greet(name: str) -> str:
    return "hi " + name


reg = registry.Registry("typed")


@reg.function
async def double(x: float) -> float:
    return 2 * x


async def main() -> None:
    reveal_type(await add(1, 2))
    reveal_type(await greet("ada"))
    reveal_type(await double(1.5))
    reveal_type(await add.dispatch(1, 2))
    reveal_type(add.build_call(1, 2))
    await add("a", 2)  # line 28
    await greet(3)  # line 29
    add.dispatch("a", 2)  # line 30
    add.build_call(1, b="no")  # line 31
    batch = registry.batch()
    batch.add(add, 1, 2)
    batch.add(add, "x", 2)  # line 34
    await double(x="y")  # line 35
'''


def test_registered_functions_keep_their_types_outside_the_repository(tmp_path: Path) -> None:
    # What a user's project sees: a file outside the checkout, mypy with no
    # settings, the package found through the editable install.
    pytest.importorskip("mypy")
    assert not tmp_path.resolve().is_relative_to(ROOT)
    (tmp_path / "example.py").write_text(_TYPED_EXAMPLE)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", str(tmp_path / ".mypy"),
         "example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout
    assert "Cannot find implementation or library stub" not in out, (
        "mypy cannot see the installed package; reinstall it with pip install -e . " + out
    )
    revealed = re.findall(r'example\.py:(\d+): note: Revealed type is "([^"]+)"', out)
    assert revealed == [
        ("23", "int"),
        ("24", "str"),
        ("25", "float"),
        ("26", "str"),
        ("27", "sim._protocol.Call"),
    ], out
    errors = sorted({int(n) for n in re.findall(r"example\.py:(\d+): error:", out)})
    assert errors == [28, 29, 30, 31, 34, 35], out
