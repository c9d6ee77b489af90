"""Misuses of durable steps get clear errors at the await, not a broken run."""

from __future__ import annotations


import pytest

import registry
import registry.test




def test_the_same_call_gathered_twice_raises_at_the_gather(reg: registry.Registry) -> None:
    @reg.function
    def double(x: int) -> int:
        return 2 * x

    @reg.function
    async def twice() -> object:
        c = double(3)
        try:
            return await registry.gather(c, c)
        except RuntimeError as exc:
            return str(exc)

    message = registry.test.run(twice, faults="none")
    assert "awaited twice" in message and "double" in message


def test_awaiting_a_call_twice_raises_at_the_second_await(reg: registry.Registry) -> None:
    @reg.function
    def double(x: int) -> int:
        return 2 * x

    @reg.function
    async def again() -> object:
        c = double(3)
        first = await c
        with pytest.raises(RuntimeError, match="awaited twice"):
            await c
        return first

    assert registry.test.run(again, faults="none") == 6


def test_registry_test_is_available_after_import_registry() -> None:
    import importlib

    module = importlib.import_module("registry")
    assert module.test.function is registry.test.function
