"""The package boundaries hold: sim never imports registry, registry uses only sim's public
names, no import cycles, and sim.lowlevel exports what it says."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sim
import sim.lowlevel

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_SIM_MODULES = {"sim", "sim.lowlevel", "sim.hypothesis"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(package: str) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


def _imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: -(node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, [alias.name for alias in node.names], node.lineno))
    return found


def test_sim_never_imports_registry() -> None:
    offenders = [
        f"{name}:{line} imports {module}"
        for name, path in _modules("sim").items()
        for module, _, line in _imports(name, path)
        if module == "registry" or module.startswith("registry.")
    ]
    assert offenders == []


def test_registry_uses_only_public_sim_names() -> None:
    offenders = []
    for name, path in _modules("registry").items():
        for module, names, line in _imports(name, path):
            if module != "sim" and not module.startswith("sim."):
                continue
            if module not in PUBLIC_SIM_MODULES:
                offenders.append(f"{name}:{line} imports private module {module}")
                continue
            public = set(getattr(__import__(module, fromlist=["_"]), "__all__", ()))
            for taken in names:
                if taken.startswith("_") or (public and taken not in public):
                    offenders.append(f"{name}:{line} takes {module}.{taken}, not in its __all__")
    assert offenders == []


def _graph() -> dict[str, set[str]]:
    """Import edges inside our packages, lazy imports in functions included: a lazy import
    that dodges a cycle is still one. Imports under ``if TYPE_CHECKING`` are left out."""
    modules = {**_modules("sim"), **_modules("registry")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        typing_only = {
            n.lineno
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and _is_type_checking(block)
            for child in block.body
            for n in ast.walk(child)
            if isinstance(n, (ast.Import, ast.ImportFrom))
        }
        for module, names, line in _imports(name, path):
            if line in typing_only:
                continue
            for target in [module] + [f"{module}.{n}" for n in names]:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def test_import_graph_has_no_cycles() -> None:
    graph = _graph()
    # A package's __init__ importing its own submodules is how it re-exports them;
    # a submodule importing its package back is the cycle that matters.
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert cycles == []


@pytest.mark.parametrize("module", [sim, sim.lowlevel])
def test_all_names_exist_and_are_documented(module: object) -> None:
    names = module.__all__  # type: ignore[attr-defined]
    assert len(names) == len(set(names))
    for name in names:
        value = getattr(module, name)
        if callable(value) or isinstance(value, type):
            assert getattr(value, "__doc__", None), f"{name} has no docstring"


def test_importing_the_simulator_leaves_test_frameworks_unloaded() -> None:
    # A sweep's every worker, the CLI and a plain script import sim and registry;
    # pytest (which trio.testing imports) and Hypothesis cost a tenth of a second
    # each at start-up, so only the code that needs them imports them.
    import subprocess
    import sys

    probe = (
        "import sys, sim, sim.lowlevel, sim._sweep, registry, registry.test\n"
        "print(sorted(m for m in ('pytest', 'hypothesis', 'trio.testing') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
