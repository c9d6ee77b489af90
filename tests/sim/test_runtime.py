"""The trio internals sim._runtime reaches into still exist: a trio upgrade that drops
one fails here, naming it, rather than somewhere deep in a run."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
import trio

from sim._runtime import TRIO_INTERNALS


def _resolve(path: str) -> Any:
    # The longest importable prefix, then attributes.
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            target = getattr(target, name)
        return target
    raise AssertionError(f"cannot import {path}")


@pytest.mark.parametrize(("owner", "attribute"), TRIO_INTERNALS, ids=[f"{o}.{a}" for o, a in TRIO_INTERNALS])
def test_trio_still_has_the_internal_the_runtime_uses(owner: str, attribute: str) -> None:
    found: list[bool] = []

    async def look() -> None:  # some of them exist only inside a run
        target = _resolve(owner)
        found.append(hasattr(target, attribute))

    trio.run(look)
    assert found == [True], f"trio {trio.__version__} has no {owner}.{attribute}: sim._runtime relies on it"


def test_every_reach_into_trio_internals_is_listed() -> None:
    import ast
    from pathlib import Path

    import sim._runtime

    source = Path(sim._runtime.__file__).read_text()
    used = {
        node.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name | ast.Attribute)
        and ast.unparse(node.value)
        in ("_run_core", "_run_core.GLOBAL_RUN_CONTEXT", "_run_core.GLOBAL_RUN_CONTEXT.runner")
    }
    listed = {attribute for _, attribute in TRIO_INTERNALS}
    assert used <= listed, f"not in TRIO_INTERNALS: {sorted(used - listed)}"


def test_lazy_task_order_draws_what_a_seeded_random_draws() -> None:
    # trio's scheduler source is made on its first draw; its shuffles must be
    # those of random.Random(text), batches of one (which draw nothing) included.
    import random

    from sim._runtime import _LazyTaskOrder

    lazy, real = _LazyTaskOrder("dispatch-sim:5:trio"), random.Random("dispatch-sim:5:trio")
    for size in (1, 0, 1, 3, 1, 2, 7, 1):
        a, b = list(range(size)), list(range(size))
        lazy.shuffle(a)
        real.shuffle(b)
        assert a == b
    assert lazy.uniform(10, 20) == real.uniform(10, 20)
    assert lazy.random() == real.random()
    untouched = _LazyTaskOrder("dispatch-sim:6:trio")
    untouched.shuffle([1])
    assert untouched._real is None  # a batch of one seeds nothing
