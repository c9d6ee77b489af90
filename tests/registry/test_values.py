"""Values crossing a call: exact round trips, private copies, unserializable values."""

from __future__ import annotations

import datetime
import decimal
import itertools
import math
import uuid
import zoneinfo
from typing import Any

import pytest

import registry
import registry.test
import sim

_ids = itertools.count()


def unique(prefix: str = "values") -> str:
    return f"test-values-{prefix}-{next(_ids)}"




def run(coro: Any, **options: Any) -> Any:
    options.setdefault("faults", "none")
    return registry.test.run(coro, **options)


def same(a: Any, b: Any) -> bool:
    """Equal, with the exact same types all the way down (and NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, decimal.Decimal):
        return str(a) == str(b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        for key, value in a.items():
            match = [k for k in b if same(k, key)]
            if len(match) != 1 or not same(value, b[match[0]]):
                return False
        return True
    if isinstance(a, (set, frozenset)):
        return {(type(x), x) for x in a} == {(type(x), x) for x in b}
    if isinstance(a, datetime.datetime):
        return a == b and a.tzinfo == b.tzinfo and a.utcoffset() == b.utcoffset() and a.fold == b.fold
    return bool(a == b)


UTC = datetime.timezone.utc
PLUS_0530 = datetime.timezone(datetime.timedelta(hours=5, minutes=30))

VALUES: dict[str, Any] = {
    "none": None,
    "true": True,
    "false": False,
    "zero": 0,
    "negative int": -17,
    "int 2**64": 2**64,
    "int 2**64+1": 2**64 + 1,
    "big negative int": -(2**100) - 3,
    "googol": 10**100,
    "float": 1.5,
    "float third": 1 / 3,
    "negative zero": -0.0,
    "infinity": math.inf,
    "nan": math.nan,
    "empty str": "",
    "unicode str": "héllo wörld ✓ 𝄞",
    "empty bytes": b"",
    "bytes": b"\x00\xff\x10binary",
    "empty list": [],
    "list of ints": [1, 2, 3, 2**70],
    "mixed list": [1, 2.0, True, None, "s"],
    "empty tuple": (),
    "singleton tuple": (1,),
    "nested tuples": ((1, 2), [3, (4, 5)], ()),
    "empty dict": {},
    "str dict": {"a": 1, "b": [1, 2]},
    "int keys": {1: "one", 2: "two", -3: "minus three"},
    "tuple keys": {(1, 2): "pair", (): "empty"},
    "mixed keys": {1: "int", "1": "str", None: "none", 2.5: "float", b"k": "bytes"},
    "empty set": set(),
    "int set": {1, 2, 3},
    "str set": {"a", "b"},
    "tuple set": {(1, 2), (3,)},
    "frozenset": frozenset({1, 2}),
    "naive datetime": datetime.datetime(2024, 2, 29, 23, 59, 58, 123456),
    "utc datetime": datetime.datetime(2024, 1, 1, 12, 0, tzinfo=UTC),
    "offset datetime": datetime.datetime(2024, 1, 1, 12, 0, tzinfo=PLUS_0530),
    "fold datetime": datetime.datetime(2024, 11, 3, 1, 30, fold=1),
    "date": datetime.date(1999, 12, 31),
    "time": datetime.time(13, 14, 15, 16),
    "timedelta": datetime.timedelta(days=3, seconds=4, microseconds=5),
    "negative timedelta": datetime.timedelta(days=-1, microseconds=1),
    "decimal": decimal.Decimal("1.10"),
    "decimal negative zero": decimal.Decimal("-0"),
    "decimal exponent": decimal.Decimal("1.23E+45"),
    "decimal nan": decimal.Decimal("NaN"),
    "decimal infinity": decimal.Decimal("-Infinity"),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "bytearray": bytearray(b"mutable"),
    "nested": {
        "order": {
            "id": uuid.UUID(int=7),
            "lines": [("sku-1", 2, decimal.Decimal("9.99")), ("sku-2", 1, decimal.Decimal("0.01"))],
            "tags": {"new", "gift"},
            "placed": datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
            "ttl": datetime.timedelta(hours=2),
            "ids": [2**65, -(2**65), 0],
            "meta": {"retries": (0, 1), "raw": b"\x01", "none": None},
        }
    },
}

NAMES = list(VALUES)


def test_same_helper_is_type_exact() -> None:
    assert same([1, (2,)], [1, (2,)])
    assert not same([1], [1.0])
    assert not same((1,), [1])
    assert not same({1}, {1.0})
    assert not same(True, 1)
    assert not same(0.0, -0.0)
    assert same(math.nan, math.nan)
    assert not same(decimal.Decimal("1.1"), decimal.Decimal("1.10"))


@pytest.mark.parametrize("name", NAMES)
def test_value_round_trips_through_argument_and_result(reg: registry.Registry, name: str) -> None:
    original = VALUES[name]
    received: list[Any] = []

    @reg.function
    def echo(value: Any) -> Any:
        received.append(value)
        return value

    @reg.function
    def produce() -> Any:
        return VALUES[name]

    async def main() -> tuple[Any, Any]:
        return await echo(original), await produce()

    echoed, produced = run(main())
    assert len(received) == 1
    assert same(received[0], original), f"argument became {received[0]!r}"
    assert same(produced, original), f"result became {produced!r}"
    assert same(echoed, original), f"argument and result became {echoed!r}"


@pytest.mark.parametrize("name", NAMES)
def test_value_round_trips_as_keyword_argument(reg: registry.Registry, name: str) -> None:
    original = VALUES[name]

    @reg.function
    def check(*, value: Any) -> bool:
        return same(value, original)

    assert run(check(value=original)) is True


@pytest.mark.parametrize("name", NAMES)
def test_value_round_trips_between_async_functions(reg: registry.Registry, name: str) -> None:
    original = VALUES[name]

    @reg.function
    async def child(value: Any) -> Any:
        return value

    @reg.function
    async def parent(value: Any) -> list[Any]:
        back = await child(value)
        return [same(back, original), back]

    ok, back = run(parent(original))
    assert ok is True
    assert same(back, original)


def test_nested_value_round_trips_under_faults(reg: registry.Registry) -> None:
    original = VALUES["nested"]

    @reg.function
    def echo(value: Any) -> Any:
        return value

    @reg.function
    async def relay(value: Any) -> Any:
        return await echo(value)

    for seed in range(5):
        assert same(registry.test.run(relay(original), faults="heavy", seed=seed), original)


def test_exception_instance_round_trips_as_a_value(reg: registry.Registry) -> None:
    @reg.function
    def make_error() -> Exception:
        return KeyError("returned, not raised")

    result = run(make_error())
    assert type(result) is KeyError
    assert result.args == ("returned, not raised",)


def test_dict_keeps_insertion_order(reg: registry.Registry) -> None:
    original = {"zebra": 1, "apple": 2, "mango": 3}

    @reg.function
    def keys(value: dict[str, int]) -> list[str]:
        return list(value)

    @reg.function
    def make() -> dict[str, int]:
        return {"zebra": 1, "apple": 2, "mango": 3}

    async def main() -> tuple[list[str], list[str]]:
        return await keys(original), list(await make())

    assert run(main()) == (["zebra", "apple", "mango"], ["zebra", "apple", "mango"])


def test_str_with_lone_surrogate_round_trips(reg: registry.Registry) -> None:
    original = "bad \ud800 half"

    @reg.function
    def echo(value: str) -> str:
        return value

    assert run(echo(original)) == original


def test_zoneinfo_datetime_keeps_its_zone(reg: registry.Registry) -> None:
    try:
        paris = zoneinfo.ZoneInfo("Europe/Paris")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no time zone data")
    winter = datetime.datetime(2024, 1, 15, 12, 0, tzinfo=paris)

    @reg.function
    def echo(value: datetime.datetime) -> datetime.datetime:
        return value

    back = run(echo(winter))
    assert back == winter
    assert back.tzinfo == paris
    summer = datetime.timedelta(days=180)
    assert back + summer == winter + summer  # 12:00 CEST in both


# -- private copies ----------------------------------------------------------------------------


def test_mutating_an_argument_does_not_change_the_callers_object(reg: registry.Registry) -> None:
    @reg.function
    def mutate(items: list[int], meta: dict[str, Any]) -> list[int]:
        items.append(99)
        meta["touched"] = True
        meta["inner"].append("x")
        return items

    items = [1, 2]
    meta: dict[str, Any] = {"inner": []}

    async def main() -> list[int]:
        return await mutate(items, meta=meta)

    assert run(main()) == [1, 2, 99]
    assert items == [1, 2]
    assert meta == {"inner": []}


def test_function_receives_a_copy_not_the_callers_object(reg: registry.Registry) -> None:
    payload = {"k": [1]}
    identity: list[bool] = []

    @reg.function
    def inspect(value: dict[str, list[int]]) -> None:
        identity.append(value is payload or value["k"] is payload["k"])

    run(inspect(payload))
    assert identity == [False]


def test_dispatch_copies_arguments_at_dispatch_time(reg: registry.Registry) -> None:
    @reg.function
    def echo(items: list[int]) -> list[int]:
        return items

    async def main() -> list[int]:
        items = [1, 2]
        dispatch_id = echo.dispatch(items)
        items.append(3)  # after dispatch, before the call runs
        return await reg.client.wait(dispatch_id)

    assert run(main()) == [1, 2]


def test_each_result_is_a_fresh_copy(reg: registry.Registry) -> None:
    shared = {"counts": [0]}

    @reg.function
    def get() -> dict[str, list[int]]:
        return shared

    async def main() -> None:
        first = await get()
        assert first is not shared
        first["counts"].append(1)
        second = await get()
        assert second == {"counts": [0]}

    run(main())
    assert shared == {"counts": [0]}


def test_async_child_mutation_does_not_reach_the_parent(reg: registry.Registry) -> None:
    @reg.function
    async def child(items: list[int]) -> int:
        items.clear()
        return len(items)

    @reg.function
    async def parent() -> list[Any]:
        items = [1, 2, 3]
        n = await child(items)
        return [n, items]

    assert run(parent()) == [0, [1, 2, 3]]


# -- unserializable values ----------------------------------------------------------------------


class Opaque:
    """A plain class instance: not serializable."""


@pytest.mark.parametrize(
    ("make", "type_name"),
    [
        (lambda: (lambda: 1), "builtins.function"),
        (object, "builtins.object"),
        (Opaque, "Opaque"),
        (lambda: [1, {"deep": object()}], "builtins.object"),
    ],
    ids=["lambda", "object", "class instance", "nested object"],
)
def test_unserializable_argument_fails_the_call_at_once(
    reg: registry.Registry, make: Any, type_name: str
) -> None:
    runs: list[int] = []

    @reg.function
    def take(value: Any) -> None:
        runs.append(1)

    async def main() -> float:
        with pytest.raises(sim.SerializationError) as info:
            await take(make())
        assert isinstance(info.value, TypeError)
        message = str(info.value)
        assert "argument" in message
        assert type_name in message
        return sim.now()

    assert run(main()) == 0.0
    assert runs == []


def test_unserializable_argument_message_names_its_place(reg: registry.Registry) -> None:
    @reg.function
    def take(items: Any, *, option: Any = None) -> None:
        pass

    async def main() -> None:
        with pytest.raises(sim.SerializationError) as positional:
            await take([1, {"deep": object()}])
        assert "argument[0][1]['deep']" in str(positional.value)
        with pytest.raises(sim.SerializationError) as keyword:
            await take([], option=object())
        assert "'option'" in str(keyword.value)

    run(main())


def test_unserializable_keyword_argument_fails_the_call(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    def take(*, value: Any = None) -> None:
        runs.append(1)

    async def main() -> None:
        with pytest.raises(sim.SerializationError, match="argument") as info:
            await take(value=object())
        assert "builtins.object" in str(info.value)

    run(main())
    assert runs == []


def test_unserializable_argument_via_dispatch_fails_on_wait(reg: registry.Registry) -> None:
    @reg.function
    def take(value: Any) -> None:
        pass

    async def main() -> None:
        dispatch_id = take.dispatch(lambda: 0)
        with pytest.raises(sim.SerializationError, match="argument"):
            await reg.client.wait(dispatch_id)

    run(main())


def test_unserializable_argument_fails_before_any_attempt_even_under_faults(
    reg: registry.Registry,
) -> None:
    runs: list[int] = []

    @reg.function
    def take(value: Any) -> None:
        runs.append(1)

    async def main() -> tuple[list[str], float]:
        dispatch_id = take.dispatch(object())
        with pytest.raises(sim.SerializationError):
            await reg.client.wait(dispatch_id)
        kinds = [e.kind for e in sim.current().trace if e.dispatch_id == dispatch_id]
        return kinds, sim.now()

    for seed in range(3):
        assert run(main(), faults="heavy", seed=seed) == (["dispatch", "outcome"], 0.0)
    assert runs == []


def test_unserializable_argument_only_fails_its_own_call(reg: registry.Registry) -> None:
    @reg.function
    def ident(value: Any) -> Any:
        return value

    async def main() -> None:
        ids = reg.batch().add(ident, 1).add(ident, object()).add(ident, 3).dispatch()
        assert await reg.client.wait(ids[0]) == 1
        with pytest.raises(sim.SerializationError):
            await reg.client.wait(ids[1])
        assert await reg.client.wait(ids[2]) == 3

    run(main())


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_unserializable_result_fails_the_call(reg: registry.Registry, is_async: bool) -> None:
    runs: list[int] = []

    if is_async:

        @reg.function
        async def give() -> Any:
            runs.append(1)
            return object()

    else:

        @reg.function
        def give() -> Any:
            runs.append(1)
            return object()

    async def main() -> None:
        with pytest.raises(sim.SerializationError) as info:
            await give()
        message = str(info.value)
        assert "result" in message
        assert "argument" not in message
        assert "builtins.object" in message

    run(main())
    assert runs == [1]  # INVALID_ARGUMENT: not retried


def test_async_parent_gets_child_argument_serialization_error(reg: registry.Registry) -> None:
    runs: list[int] = []

    @reg.function
    def child(value: Any) -> None:
        runs.append(1)

    @reg.function
    async def parent() -> str:
        try:
            await child(lambda: None)
        except sim.SerializationError as exc:
            return "argument" if "argument" in str(exc) else str(exc)
        return "no error"

    assert run(parent()) == "argument"
    assert runs == []


def test_async_parent_gets_child_result_serialization_error(reg: registry.Registry) -> None:
    @reg.function
    def child() -> Any:
        return Opaque()

    @reg.function
    async def parent() -> str:
        try:
            await child()
        except TypeError as exc:
            return "result" if "result" in str(exc) else str(exc)
        return "no error"

    assert run(parent()) == "result"
