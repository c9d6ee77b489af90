"""Nesting is bounded in the codec: any depth gives an error naming the path, never a crash.

Each case runs in a subprocess, so that a segfault (what cbor2's native
recursion did on values a few thousand levels deep) fails the test instead
of killing pytest.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

from sim import _codec

DEEP_PATH = "[0]" * 8 + "...(484 more)..." + "[0]" * 8


def run_isolated(body: str) -> str:
    code = textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"exit status {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("build", "limit", "expected"),
    [
        ("v = []\nfor _ in range(5000): v = [v]", 10_000,
         f"cannot serialize argument{DEEP_PATH}: nested more than 500 levels deep (a list at that depth)"),
        ("class L(list): pass\nv = L()\nfor _ in range(8000): v = L([v])", None,
         f"cannot serialize argument{DEEP_PATH}: nested more than 500 levels deep (a L at that depth)"),
        ("v = {}\nfor _ in range(5000): v = {'k': v}", 10_000,
         "cannot serialize argument" + "['k']" * 8 + "...(484 more)..." + "['k']" * 8
         + ": nested more than 500 levels deep (a dict at that depth)"),
        ("v = ()\nfor _ in range(5000): v = (v,)", 10_000,
         f"cannot serialize argument{DEEP_PATH}: nested more than 500 levels deep (a tuple at that depth)"),
        ("class D(dict): pass\nv = D()\nfor _ in range(8000): v = D(k=v)", None,
         "cannot serialize argument" + "['k']" * 8 + "...(484 more)..." + "['k']" * 8
         + ": nested more than 500 levels deep (a D at that depth)"),
        ("class T(tuple): pass\nv = T()\nfor _ in range(8000): v = T((v,))", 50_000,
         f"cannot serialize argument{DEEP_PATH}: nested more than 500 levels deep (a T at that depth)"),
    ],
    ids=["list-5000-limit-10000", "list-subclass-8000", "dict-5000-limit-10000", "tuple-5000-limit-10000",
         "dict-subclass-8000", "tuple-subclass-8000-limit-50000"],
)
@pytest.mark.parametrize("entry", ["dumps", "freeze"])
def test_deep_values_raise_serialization_error_naming_the_path(
    build: str, limit: int | None, expected: str, entry: str
) -> None:
    setup = f"import sys; sys.setrecursionlimit({limit})" if limit else ""
    out = run_isolated(
        f"""
{setup}
from sim._codec import SerializationError, {entry}
{build}
try:
    {entry}(v, where="argument")
except SerializationError as exc:
    print(exc)
else:
    print("encoded")
"""
    )
    assert out == expected


def test_deep_cbor_document_is_refused_by_loads() -> None:
    out = run_isolated(
        """
import sys; sys.setrecursionlimit(100_000)
from sim._codec import loads
for data in (b"\\x81" * 300_000 + b"\\x80", b"\\xd9\\xda\\x02\\x81" * 100_000 + b"\\x80"):
    try:
        loads(data)
    except ValueError as exc:
        print(exc)
    else:
        print("decoded")
"""
    )
    assert out.splitlines() == ["invalid serialized value: maximum container nesting depth (1501) exceeded"] * 2


def test_deep_cbor_document_is_refused_by_loads_untrusted() -> None:
    out = run_isolated(
        """
from sim._codec import loads_untrusted
try:
    loads_untrusted(b"\\x81" * 1_000_000 + b"\\x80")
except ValueError as exc:
    print(exc)
"""
    )
    assert out == "nested more than 100 levels deep (at byte 100)"


def test_frozensets_deeper_than_cbor2s_own_bound_are_refused() -> None:
    # cbor2 bounds the nesting of encode_to_bytes (how set elements are
    # encoded, to sort them) at 400 levels on its own.
    value: object = 1
    for _ in range(450):
        value = frozenset({value})
    with pytest.raises(_codec.SerializationError, match="maximum encoding depth"):
        _codec.dumps(value)


def _deep_stack(n: int, then: Any) -> Any:
    return then() if n == 0 else _deep_stack(n - 1, then)


def test_values_at_the_bound_round_trip_whatever_the_callers_stack() -> None:
    for wrap in (lambda v: [v], lambda v: (v,), lambda v: {"k": v}):
        value: object = 1
        for _ in range(_codec.MAX_DEPTH):
            value = wrap(value)
        assert _codec.loads(_codec.dumps(value)) == value
        # 800 frames already on the stack leave less than MAX_DEPTH levels
        # below the default recursion limit: the bound still decides.
        assert _deep_stack(800, lambda: _codec.dumps(value)) == _codec.dumps(value)
        deeper = wrap(value)
        with pytest.raises(_codec.SerializationError, match="nested more than 500 levels deep"):
            _codec.dumps(deeper)
