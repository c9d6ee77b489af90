"""Fixtures shared by the test suite."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest

import registry

_serial = itertools.count()


@pytest.fixture
def reg(request: pytest.FixtureRequest) -> Iterator[registry.Registry]:
    """A registry of its own for the test (its name is unique), closed afterwards."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:60]
    r = registry.Registry(f"test-{name}-{next(_serial)}")
    try:
        yield r
    finally:
        r.close()
