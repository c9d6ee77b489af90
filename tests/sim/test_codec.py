"""Tests for the serialization of values crossing a call boundary."""

from __future__ import annotations

import collections
import datetime
import decimal
import enum
import errno
import math
import os
import ssl
import subprocess
import sys
import threading
import uuid
import zoneinfo
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import _codec
from sim._codec import SerializationError, dumps, loads
from sim._protocol import Arguments

ROOT = Path(__file__).resolve().parents[2]
SUPPORTED = (
    "(supported: None, bool, int, float, str, bytes, bytearray, list, tuple, dict, "
    "set, frozenset, datetime, date, time, timedelta, Decimal, UUID, exceptions)"
)


def assert_same(original: Any, decoded: Any) -> None:
    """Equal values with the very same types, all the way down."""
    assert type(decoded) is type(original), (original, decoded)
    if isinstance(original, float):
        if math.isnan(original):
            assert math.isnan(decoded)
        else:
            assert decoded == original
            assert math.copysign(1.0, decoded) == math.copysign(1.0, original)
    elif isinstance(original, decimal.Decimal):
        assert str(decoded) == str(original)
    elif isinstance(original, (list, tuple)):
        assert len(decoded) == len(original)
        for item, decoded_item in zip(original, decoded):
            assert_same(item, decoded_item)
    elif isinstance(original, dict):
        # Not ``decoded == original``: a NaN value is only equal to itself.
        # Item by item, in order: dicts keep their insertion order.
        assert len(decoded) == len(original)
        for (key, item), (decoded_key, decoded_item) in zip(original.items(), decoded.items()):
            assert_same(key, decoded_key)
            assert_same(item, decoded_item)
    elif isinstance(original, (set, frozenset)):
        assert decoded == original
        decoded_items = {item: item for item in decoded}
        for item in original:
            assert_same(item, decoded_items[item])
    elif isinstance(original, (datetime.datetime, datetime.time)):
        assert decoded == original
        assert decoded.isoformat() == original.isoformat()
        assert decoded.fold == original.fold
        assert (decoded.tzinfo is None) == (original.tzinfo is None)
        if type(original.tzinfo) is zoneinfo.ZoneInfo and original.tzinfo.key is not None:
            assert decoded.tzinfo is zoneinfo.ZoneInfo(original.tzinfo.key)
    elif isinstance(original, Arguments):
        assert_same(original.args, decoded.args)
        assert_same(original.kwargs, decoded.kwargs)
    else:
        assert decoded == original


def round_trip(value: Any) -> Any:
    decoded = loads(dumps(value))
    assert_same(value, decoded)
    return decoded


# --- plain values -------------------------------------------------------------

PLUS_0530 = datetime.timezone(datetime.timedelta(hours=5, minutes=30))

VALUES = {
    "none": None,
    "true": True,
    "false": False,
    "zero": 0,
    "negative": -17,
    "int64 max": 2**63 - 1,
    "uint64 max": 2**64 - 1,
    "above uint64": 2**64,
    "big int": 3**200,
    "negative big int": -(3**200),
    "float": 2.5,
    "float not half": 0.1,
    "negative zero": -0.0,
    "inf": math.inf,
    "-inf": -math.inf,
    "nan": math.nan,
    "str": "héllo wörld ✓",
    "empty str": "",
    "bytes": b"\x00\xffabc",
    "empty bytes": b"",
    "bytearray": bytearray(b"\x01\x02"),
    "list": [1, "a", None],
    "empty list": [],
    "tuple": (1, "a", None),
    "empty tuple": (),
    "one tuple": (1,),
    "dict": {"a": 1, "b": [2]},
    "empty dict": {},
    "set": {1, 2, "three"},
    "empty set": set(),
    "frozenset": frozenset({"a", (1, 2)}),
    "empty frozenset": frozenset(),
    "naive datetime": datetime.datetime(2024, 2, 29, 23, 59, 58, 123456),
    "aware datetime": datetime.datetime(2024, 2, 29, 23, 59, 58, 7, tzinfo=PLUS_0530),
    "utc datetime": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    "odd offset datetime": datetime.datetime(
        2024, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(seconds=-30, microseconds=5))
    ),
    "folded datetime": datetime.datetime(2024, 11, 3, 1, 30, fold=1),
    "min datetime": datetime.datetime.min,
    "max datetime": datetime.datetime.max,
    "date": datetime.date(2024, 2, 29),
    "time": datetime.time(12, 34, 56, 789),
    "aware time": datetime.time(1, 2, 3, tzinfo=PLUS_0530),
    "timedelta": datetime.timedelta(days=-3, seconds=5, microseconds=6),
    "zero timedelta": datetime.timedelta(),
    "decimal": decimal.Decimal("1.50"),
    "decimal exponent": decimal.Decimal("-1.5E-300"),
    "decimal negative zero": decimal.Decimal("-0"),
    "decimal nan": decimal.Decimal("NaN"),
    "decimal snan": decimal.Decimal("sNaN"),
    "decimal infinity": decimal.Decimal("Infinity"),
    "decimal -infinity": decimal.Decimal("-Infinity"),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "lone surrogate": "bad \ud800 half",
    "surrogate pair halves": "\udc00\ud83d",
    "only a surrogate": "\udfff",
    "arguments": Arguments((1, "World"), {"k": [2.5]}),
    "empty arguments": Arguments(),
}


@pytest.mark.parametrize("value", list(VALUES.values()), ids=list(VALUES))
def test_value_round_trips_with_its_exact_type(value: Any) -> None:
    round_trip(value)


@pytest.mark.parametrize("value", list(VALUES.values()), ids=list(VALUES))
def test_value_round_trips_inside_containers(value: Any) -> None:
    round_trip([value, (value,), {"k": value}])


def test_aware_datetime_keeps_offset_and_microseconds() -> None:
    value = datetime.datetime(2020, 5, 17, 8, 9, 10, 654321, tzinfo=PLUS_0530)
    decoded = round_trip(value)
    assert decoded.utcoffset() == datetime.timedelta(hours=5, minutes=30)
    assert decoded.microsecond == 654321


def test_naive_datetime_stays_naive() -> None:
    decoded = round_trip(datetime.datetime(2020, 5, 17, 8, 9, 10))
    assert decoded.tzinfo is None


def test_nested_structure() -> None:
    value = {
        "args": ((1, "World"), {"x": [1, 2.5]}),
        "deep": [[[[(((),),)]]]],
        "mixed": [
            {"set": {1, 2}, "frozen": frozenset({frozenset({1})})},
            (decimal.Decimal("0.1"), uuid.UUID(int=1), datetime.date(2000, 1, 1)),
            {(1, ("a", b"b")): [bytearray(b"x"), None, True]},
        ],
    }
    round_trip(value)


def test_big_ints() -> None:
    for value in [2**64 - 1, 2**64, 2**64 + 1, -(2**64), -(2**64) - 1, 10**100, -(10**100)]:
        round_trip(value)
        round_trip([value, value + 1])


def test_ints_in_list_stay_ints() -> None:
    decoded = loads(dumps([1, 2, 3, 0, -1, 2**70]))
    assert [type(item) for item in decoded] == [int] * 6


def test_bool_does_not_become_int() -> None:
    decoded = loads(dumps([True, False, 1, 0]))
    assert [type(item) for item in decoded] == [bool, bool, int, int]


def test_tuple_stays_tuple_and_list_stays_list() -> None:
    decoded = loads(dumps(([1, (2, [3])], [(4,)])))
    assert type(decoded) is tuple
    assert type(decoded[0]) is list
    assert type(decoded[0][1]) is tuple
    assert type(decoded[0][1][1]) is list
    assert type(decoded[1][0]) is tuple


def test_set_and_frozenset_stay_distinct() -> None:
    decoded = loads(dumps([{1}, frozenset({1})]))
    assert type(decoded[0]) is set
    assert type(decoded[1]) is frozenset


def test_dict_keys_of_several_types() -> None:
    value = {
        "s": 1,
        7: 2,
        -7: 3,
        2**80: 4,
        2.5: 5,
        None: 6,
        True: 7,
        b"raw": 8,
        (1, "a", (2.5, None)): 9,
        frozenset({1, 2}): 10,
        datetime.date(2020, 1, 1): 11,
        decimal.Decimal("1.1"): 12,
        uuid.UUID(int=5): 13,
        datetime.timedelta(seconds=1): 14,
    }
    round_trip(value)


def test_decoded_value_is_a_copy() -> None:
    value = {"list": [1, 2]}
    decoded = loads(dumps(value))
    decoded["list"].append(3)
    assert value == {"list": [1, 2]}


def test_equal_values_give_equal_bytes() -> None:
    assert dumps({"a": 1, "b": 2}) == dumps(dict([("a", 1), ("b", 2)]))
    assert dumps({3, 1, 2}) == dumps({2, 3, 1})
    assert dumps(frozenset({"x", "y"})) == dumps(frozenset({"y", "x"}))
    assert dumps({(2, "b"), (1, "a")}) == dumps({(1, "a"), (2, "b")})


def test_insertion_order_is_part_of_the_bytes() -> None:
    # Documented: the journal compares bytes, and a deterministic program
    # builds its dicts in the same order every time.
    assert dumps({"a": 1, "b": 2}) != dumps({"b": 2, "a": 1})


@pytest.mark.parametrize(
    "value",
    [
        {"zebra": 1, "apple": 2, "mango": 3},
        {3: "c", 1: "a", 2: "b"},
        {"z": {"y": 1, "x": 2}, "a": [{"q": 1, "p": 2}]},
        {(2, "b"): 1, None: 2, (1, "a"): 3, b"k": 4, -1: 5, 2.5: 6},
        Arguments((), {"zebra": 1, "apple": 2}),
    ],
    ids=["str keys", "int keys", "nested", "mixed keys", "keyword arguments"],
)
def test_dict_keeps_insertion_order(value: Any) -> None:
    decoded = round_trip(value)
    if isinstance(value, Arguments):
        value, decoded = value.kwargs, decoded.kwargs
    assert list(decoded) == list(value)


def test_floats_are_always_float64() -> None:
    # Not the shortest form (canonical CBOR): one encoding per value, exact.
    assert dumps(1.5) == bytes.fromhex("fb3ff8000000000000")
    assert dumps(0.1) == bytes.fromhex("fb3fb999999999999a")


def test_set_elements_are_sorted_by_their_encoding() -> None:
    assert dumps({"b", 1, "a"}) == bytes.fromhex("d90102") + b"\x83\x01\x61a\x61b"
    assert dumps(frozenset({2, 1})) == bytes.fromhex("d9da03") + b"\x82\x01\x02"
    assert dumps(set()) == bytes.fromhex("d90102") + b"\x80"


class StrSet(set):  # type: ignore[type-arg]
    pass


class StrFrozenSet(frozenset):  # type: ignore[type-arg]
    pass


def test_set_subclasses_are_sorted_too() -> None:
    words = [f"word{i}" for i in range(50)]
    assert dumps(StrSet(words)) == dumps(set(reversed(words)))
    assert dumps(StrFrozenSet(words)) == dumps(frozenset(reversed(words)))
    assert type(loads(dumps(StrSet(words)))) is set
    assert type(loads(dumps(StrFrozenSet(words)))) is frozenset


def test_sets_encode_identically_whatever_the_hash_seed() -> None:
    code = (
        "from sim._codec import dumps\n"
        "from sim._protocol import Arguments\n"
        "class StrSet(set): pass\n"
        "words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta',"
        " 'theta', 'iota', 'kappa', 'lambda', 'mu', 'nu', 'xi', 'omicron']\n"
        "pairs = {(w, i, (w[::-1], b'x' + w.encode())) for i, w in enumerate(words)}\n"
        "error = ValueError('in args', (1, 'x'))\n"
        "error.words = set(words)\n"
        "value = [set(words), frozenset(words), {frozenset(words[:5]): set(words[5:])},"
        " {w: i for i, w in enumerate(words)}, pairs, frozenset(pairs),"
        " {frozenset(words[i:i + 3]) for i in range(10)},"
        " {'sets': {w: {w, w.upper(), (w, 1)} for w in words}},"
        " StrSet(words), {w + '\\ud800' for w in words},"
        " Arguments((set(words),), {'kw': frozenset(words)}),"
        " error]\n"
        "print(dumps(value).hex())\n"
    )
    outputs = []
    for seed in ("1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        completed = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.append(completed.stdout.strip())
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0]


# --- strings that are not valid UTF-8 -------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "\ud800",
        ["ok", "lone \udc80 low", ("\ud800",)],
        {"\ud800 key": "value", "key": "\udbff value"},
        {"\ud800", "\udc00", "plain"},
        frozenset({("\ud800", 1)}),
        Arguments(("\ud800",), {"\udc00": "\ud800"}),
        ValueError("\ud800", ["\udc00"]),
    ],
    ids=["alone", "in a list and a tuple", "dict key and value", "set", "frozenset", "arguments",
         "exception args"],
)
def test_str_with_lone_surrogates_round_trips(value: Any) -> None:
    if isinstance(value, BaseException):
        decoded = exception_round_trip(value)
        assert decoded.args == value.args
    else:
        round_trip(value)


def test_valid_strings_are_plain_cbor_text_even_next_to_surrogates() -> None:
    assert dumps("ok") == b"\x62ok"
    assert dumps(["ok", "\ud800"]) == (
        b"\x82\x62ok" + bytes.fromhex("d9da0b") + b"\x43" + "\ud800".encode("utf-8", "surrogatepass")
    )


def test_exception_with_surrogates_in_attributes_and_message() -> None:
    class Odd(Exception):
        def __str__(self) -> str:
            return "odd \ud800"

    exc = TwoArgsError(1, "detail \udc00")
    decoded = exception_round_trip(exc)
    assert decoded.detail == "detail \udc00"  # type: ignore[attr-defined]
    assert str(loads(dumps(Odd()))).endswith("odd \ud800")


def test_invalid_surrogate_string_payload() -> None:
    data = cbor2.dumps(cbor2.CBORTag(_codec._TAG_SURROGATE_STR, "not bytes"))
    with pytest.raises(ValueError, match=r"^invalid serialized value: "):
        loads(data)


# --- time zones --------------------------------------------------------------------


def zone(key: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(key)
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no time zone data")


def test_zoneinfo_datetime_keeps_its_zone() -> None:
    paris = zone("Europe/Paris")
    winter = datetime.datetime(2024, 1, 15, 12, 0, 0, 123, tzinfo=paris)
    decoded = round_trip(winter)
    assert decoded.tzinfo is paris
    # 12:00 CET + 180 days is 12:00 CEST: a fixed +01:00 offset would say 13:00.
    later = decoded + datetime.timedelta(days=180)
    assert (later.hour, later.utcoffset()) == (12, datetime.timedelta(hours=2))


@pytest.mark.parametrize("fold", [0, 1])
def test_zoneinfo_datetime_in_an_ambiguous_hour_keeps_its_fold(fold: int) -> None:
    paris = zone("Europe/Paris")
    value = datetime.datetime(2024, 10, 27, 2, 30, fold=fold, tzinfo=paris)
    decoded = round_trip(value)
    assert decoded.utcoffset() == value.utcoffset()
    assert decoded.timestamp() == value.timestamp()


def test_zoneinfo_datetime_in_a_skipped_hour() -> None:
    paris = zone("Europe/Paris")
    value = datetime.datetime(2024, 3, 31, 2, 30, tzinfo=paris)
    decoded = round_trip(value)
    assert decoded.utcoffset() == value.utcoffset()


def test_zoneinfo_time_keeps_its_zone() -> None:
    tokyo = zone("Asia/Tokyo")
    decoded = round_trip(datetime.time(1, 2, 3, 4, tzinfo=tokyo))
    assert decoded.tzinfo is tokyo
    assert round_trip(datetime.time(1, 2, fold=1, tzinfo=tokyo)).fold == 1


def test_zoneinfo_inside_containers() -> None:
    utc = zone("UTC")
    value = datetime.datetime(2024, 1, 1, tzinfo=utc)
    decoded = round_trip({"when": [value, (value,)], "set": {value}})
    assert decoded["when"][1][0].tzinfo is utc


def test_zoneinfo_without_a_key_keeps_its_offset() -> None:
    zone("Europe/Paris")
    for directory in zoneinfo.TZPATH:
        path = Path(directory) / "Europe" / "Paris"
        if path.is_file():
            break
    else:
        pytest.skip("no time zone file")
    with path.open("rb") as file:
        keyless = zoneinfo.ZoneInfo.from_file(file)
    value = datetime.datetime(2024, 7, 1, 12, tzinfo=keyless)
    decoded = round_trip(value)
    assert decoded.utcoffset() == datetime.timedelta(hours=2)
    assert isinstance(decoded.tzinfo, datetime.timezone)


def test_zone_unknown_when_decoding_keeps_the_offset() -> None:
    text = "2024-01-01T12:00:00+01:00"
    data = cbor2.dumps(cbor2.CBORTag(_codec._TAG_DATETIME, [text, 0, "No/Such_Zone"]))
    decoded = loads(data)
    assert decoded == datetime.datetime.fromisoformat(text)
    assert isinstance(decoded.tzinfo, datetime.timezone)


@pytest.mark.parametrize("key", ["../../etc/passwd", 5])
def test_invalid_zone_key(key: Any) -> None:
    data = cbor2.dumps(cbor2.CBORTag(_codec._TAG_DATETIME, ["2024-01-01T12:00:00+01:00", 0, key]))
    with pytest.raises(ValueError, match=r"^invalid serialized value: "):
        loads(data)


# --- exceptions -----------------------------------------------------------------


class TwoArgsError(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class KeywordOnlyError(Exception):
    def __init__(self, *, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NoSuperInitError(Exception):
    def __init__(self, a: int, b: int) -> None:
        self.total = a + b


class PathError(OSError):
    def __init__(self, path: str) -> None:
        super().__init__(errno.ENOENT, "missing", path)
        self.hint = ["check", ("the", "path")]


class Outer:
    class InnerError(Exception):
        pass


def exception_round_trip(exc: BaseException) -> BaseException:
    decoded = loads(dumps(exc))
    assert type(decoded) is type(exc)
    # Exceptions inside args compare by identity, their reprs do not.
    assert repr(decoded.args) == repr(exc.args)
    assert str(decoded) == str(exc)
    return decoded


def test_builtin_exception() -> None:
    decoded = exception_round_trip(ValueError("bad value", 42))
    assert decoded.args == ("bad value", 42)
    assert type(decoded.args[1]) is int


def test_key_error_keeps_its_str() -> None:
    decoded = exception_round_trip(KeyError("x"))
    assert str(decoded) == "'x'"


@pytest.mark.parametrize(
    "exc",
    [
        FileNotFoundError(errno.ENOENT, "No such file or directory", "/nope"),
        PermissionError(errno.EACCES, "Permission denied", "/a", None, "/b"),
        OSError(errno.EINVAL, "Invalid argument"),
        OSError("just a message"),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
    ],
    ids=["FileNotFoundError", "filename2", "OSError", "message only", "ConnectionResetError"],
)
def test_os_errors_keep_errno_strerror_and_filenames(exc: OSError) -> None:
    decoded = exception_round_trip(exc)
    assert isinstance(decoded, OSError)
    assert decoded.errno == exc.errno
    assert decoded.strerror == exc.strerror
    assert decoded.filename == exc.filename
    assert decoded.filename2 == exc.filename2


def test_os_error_from_a_real_failure() -> None:
    with pytest.raises(FileNotFoundError) as info:
        open(ROOT / "does-not-exist.txt")
    decoded = exception_round_trip(info.value)
    assert decoded.errno == errno.ENOENT
    assert decoded.filename == str(ROOT / "does-not-exist.txt")


def test_os_error_subclass_with_its_own_init() -> None:
    decoded = exception_round_trip(PathError("/some/path"))
    assert decoded.errno == errno.ENOENT
    assert decoded.strerror == "missing"
    assert decoded.filename == "/some/path"
    assert decoded.hint == ["check", ("the", "path")]


def test_ssl_error_from_a_real_failure() -> None:
    context = ssl.create_default_context()
    with pytest.raises(ssl.SSLError) as info:
        context.load_verify_locations(cadata="not a certificate")
    decoded = exception_round_trip(info.value)
    assert decoded.errno == info.value.errno
    assert decoded.strerror == info.value.strerror
    assert decoded.library == info.value.library
    assert decoded.reason == info.value.reason


def test_ssl_error_attributes() -> None:
    exc = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    )
    exc.library = "SSL"
    exc.reason = "CERTIFICATE_VERIFY_FAILED"
    exc.verify_code = 20
    exc.verify_message = "unable to get local issuer certificate"
    decoded = exception_round_trip(exc)
    assert isinstance(decoded, ssl.SSLCertVerificationError)
    assert decoded.errno == 1
    assert (decoded.library, decoded.reason) == ("SSL", "CERTIFICATE_VERIFY_FAILED")
    assert (decoded.verify_code, decoded.verify_message) == (20, exc.verify_message)


def test_exception_whose_init_takes_two_required_arguments() -> None:
    decoded = exception_round_trip(TwoArgsError(404, "not found"))
    assert decoded.code == 404
    assert decoded.detail == "not found"


def test_exception_whose_init_takes_keyword_only_arguments() -> None:
    decoded = exception_round_trip(KeywordOnlyError(reason="because"))
    assert decoded.reason == "because"


def test_exception_whose_init_does_not_call_super() -> None:
    decoded = exception_round_trip(NoSuperInitError(1, 2))
    assert decoded.args == (1, 2)
    assert decoded.total == 3


def test_nested_exception_class() -> None:
    exception_round_trip(Outer.InnerError("inner"))


def test_exception_nested_inside_a_list() -> None:
    decoded = loads(dumps([1, ValueError("in a list"), {"e": (KeyError("k"),)}]))
    assert type(decoded[1]) is ValueError
    assert decoded[1].args == ("in a list",)
    assert type(decoded[2]["e"][0]) is KeyError
    assert str(decoded[2]["e"][0]) == "'k'"


def test_exception_inside_exception_args() -> None:
    exc = RuntimeError("wrapper", ValueError("inner", (1, 2)))
    decoded = exception_round_trip(exc)
    assert type(decoded.args[1]) is ValueError
    assert decoded.args[1].args == ("inner", (1, 2))


def test_exception_group() -> None:
    exc = ExceptionGroup("several", [ValueError(1), TypeError(2)])
    decoded = exception_round_trip(exc)
    assert [type(e) for e in decoded.exceptions] == [ValueError, TypeError]
    assert decoded.message == "several"


def test_builtin_exceptions_with_c_level_state() -> None:
    with pytest.raises(UnicodeDecodeError) as info:
        b"\xff".decode("utf-8")
    decoded = exception_round_trip(info.value)
    assert (decoded.start, decoded.end, decoded.reason) == (0, 1, "invalid start byte")
    assert exception_round_trip(StopIteration(5)).value == 5
    assert exception_round_trip(SystemExit(3)).code == 3
    decoded = exception_round_trip(ImportError("no module", name="mod", path="/p"))
    assert (decoded.name, decoded.path) == ("mod", "/p")


def test_unencodable_exception_args_are_replaced_by_their_repr() -> None:
    exc = ValueError("message", object(), [1, threading.Lock()], 5)
    decoded = loads(dumps(exc))
    assert type(decoded) is ValueError
    assert decoded.args[0] == "message"
    assert decoded.args[1] == "<object object>"
    assert decoded.args[2].startswith("[1, <unlocked _thread.lock object")
    assert decoded.args[3] == 5


def test_unencodable_exception_attributes_are_dropped() -> None:
    exc = TwoArgsError(1, "x")
    exc.lock = threading.Lock()  # type: ignore[attr-defined]
    exc.kept = {"a": (1,)}  # type: ignore[attr-defined]
    decoded = loads(dumps(exc))
    assert not hasattr(decoded, "lock")
    assert decoded.kept == {"a": (1,)}
    assert decoded.code == 1


def test_exception_notes_survive() -> None:
    exc = ValueError("x")
    exc.add_note("a note")
    assert loads(dumps(exc)).__notes__ == ["a note"]


def test_traceback_cause_and_context_are_not_kept() -> None:
    try:
        try:
            raise KeyError("first")
        except KeyError as first:
            raise ValueError("second") from first
    except ValueError as exc:
        caught = exc
    assert caught.__traceback__ is not None
    decoded = exception_round_trip(caught)
    assert decoded.__traceback__ is None
    assert decoded.__cause__ is None
    assert decoded.__context__ is None


def test_exception_that_contains_itself() -> None:
    exc = ValueError("loop")
    exc.itself = exc  # type: ignore[attr-defined]
    exc.args = ("loop", exc)
    decoded = loads(dumps(exc))
    assert type(decoded) is ValueError
    assert decoded.args[0] == "loop"
    assert isinstance(decoded.args[1], str)
    assert not hasattr(decoded, "itself")


def test_base_exceptions_are_values_too() -> None:
    decoded = loads(dumps([KeyboardInterrupt(), GeneratorExit("bye")]))
    assert [type(e) for e in decoded] == [KeyboardInterrupt, GeneratorExit]


def test_exception_of_a_local_class_becomes_runtime_error() -> None:
    class LocalError(Exception):
        pass

    decoded = loads(dumps(LocalError("local message")))
    assert type(decoded) is RuntimeError
    assert str(decoded) == (
        f"{__name__}.test_exception_of_a_local_class_becomes_runtime_error"
        ".<locals>.LocalError: local message"
    )


def crafted_exception(module: str, qualname: str, message: str) -> bytes:
    payload = [module, qualname, [message], {}, message, {}]
    return cbor2.dumps(cbor2.CBORTag(_codec._TAG_EXCEPTION, payload))


@pytest.mark.parametrize(
    ("module", "qualname"),
    [
        ("no_such_module_for_codec_tests", "SomeError"),
        ("builtins", "NoSuchError"),
        ("builtins", "len"),
        ("builtins", "int"),
        ("builtins", "ValueError.nested"),
    ],
    ids=["module not loaded", "name missing", "not a class", "not an exception", "bad path"],
)
def test_exception_class_not_found_becomes_runtime_error(module: str, qualname: str) -> None:
    decoded = loads(crafted_exception(module, qualname, "the message"))
    assert type(decoded) is RuntimeError
    assert str(decoded) == f"{module}.{qualname}: the message"


def test_decoding_an_exception_imports_nothing() -> None:
    module = "json.tool"  # importable, but not imported by these tests
    was_loaded = module in sys.modules
    decoded = loads(crafted_exception(module, "SomeError", "m"))
    assert (module in sys.modules) == was_loaded
    if not was_loaded:
        assert type(decoded) is RuntimeError


# --- values that cannot cross -------------------------------------------------------


def test_serialization_error_is_a_type_error() -> None:
    assert issubclass(SerializationError, TypeError)


def test_lambda() -> None:
    with pytest.raises(SerializationError) as info:
        dumps((lambda: None,), where="argument")
    assert str(info.value) == (
        f"cannot serialize argument[0]: object of type 'builtins.function' is not supported "
        f"{SUPPORTED}"
    )


def test_bare_object() -> None:
    with pytest.raises(SerializationError) as info:
        dumps(object(), where="result")
    assert str(info.value).startswith(
        "cannot serialize result: object of type 'builtins.object' is not supported"
    )


def test_lock_nested_inside_a_dict_in_a_list() -> None:
    with pytest.raises(SerializationError) as info:
        dumps(("first", [1, {"key": threading.Lock()}]), where="argument")
    message = str(info.value)
    assert "cannot serialize argument[1][1]['key']: " in message
    assert "object of type '_thread.lock' is not supported" in message
    assert SUPPORTED in message


def test_instance_of_a_test_class() -> None:
    class Local:
        pass

    with pytest.raises(SerializationError) as info:
        dumps({"values": [Point(1, 2)]}, where="result")
    assert f"cannot serialize result['values'][0]: object of type '{__name__}.Point'" in str(
        info.value
    )
    with pytest.raises(SerializationError) as info:
        dumps([Local()])
    assert (
        f"cannot serialize value[0]: object of type "
        f"'{__name__}.test_instance_of_a_test_class.<locals>.Local'" in str(info.value)
    )


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


class Color(enum.Enum):
    RED = 1


@pytest.mark.parametrize(
    ("value", "path", "type_name"),
    [
        ({object(): 1}, "<key>", "builtins.object"),
        ({(1, Color.RED): 1}, "<key>[1]", f"{__name__}.Color"),
        ({frozenset({1}): [1, Color.RED]}, "[<frozenset>][1]", f"{__name__}.Color"),
        ([{Color.RED}], "[0]<element>", f"{__name__}.Color"),
        ([range(3)], "[0]", "builtins.range"),
        ([1j], "[0]", "builtins.complex"),
        ([memoryview(b"ab")], "[0]", "builtins.memoryview"),
        ([collections.OrderedDict(a=1)], "[0]", "collections.OrderedDict"),
        ([cbor2.CBORTag(_codec._TAG_TUPLE, [1])], "[0]", "cbor2.CBORTag"),
        ([ValueError], "[0]", "builtins.type"),
    ],
    ids=[
        "dict key",
        "inside a tuple key",
        "value under a frozenset key",
        "set element",
        "range",
        "complex",
        "memoryview",
        "OrderedDict",
        "raw CBOR tag",
        "exception class",
    ],
)
def test_unsupported_values_name_type_and_path(value: Any, path: str, type_name: str) -> None:
    with pytest.raises(SerializationError) as info:
        dumps(value, where="argument")
    assert str(info.value) == (
        f"cannot serialize argument{path}: object of type '{type_name}' is not supported "
        f"{SUPPORTED}"
    )


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (Arguments((1, [2, {"deep": object()}]), {}), "[1][1]['deep']"),
        (Arguments(([],), {"option": object()}), "['option']"),
        (Arguments((), {"a": 1, "b": {"c": (object(),)}}), "['b']['c'][0]"),
        (Arguments((object(),), {"a": object()}), "[0]"),
    ],
    ids=["positional", "keyword", "nested keyword", "first of several"],
)
def test_unsupported_value_inside_arguments(value: Arguments, path: str) -> None:
    with pytest.raises(SerializationError) as info:
        dumps(value, where="argument")
    assert str(info.value) == (
        f"cannot serialize argument{path}: object of type 'builtins.object' is not supported "
        f"{SUPPORTED}"
    )


def test_cyclic_value_inside_arguments() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(SerializationError) as info:
        dumps(Arguments((1,), {"loop": loop}), where="argument")
    assert str(info.value) == (
        "cannot serialize argument['loop'][0]: cyclic reference (a list that contains itself)"
    )


def test_unsupported_value_next_to_a_surrogate_string() -> None:
    with pytest.raises(SerializationError) as info:
        dumps(["\ud800", {"k": object()}], where="result")
    assert str(info.value).startswith(
        "cannot serialize result[1]['k']: object of type 'builtins.object' is not supported"
    )


def test_cyclic_value() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(SerializationError) as info:
        dumps({"loop": loop}, where="result")
    assert str(info.value) == (
        "cannot serialize result['loop'][1]: cyclic reference (a list that contains itself)"
    )


def test_shared_but_acyclic_values_are_fine() -> None:
    shared = [1, 2]
    decoded = round_trip([shared, shared, {"a": shared}])
    assert decoded[0] is not decoded[1]


def test_value_nested_too_deeply() -> None:
    value: Any = []
    for _ in range(sys.getrecursionlimit() + 100):
        value = [value]
    with pytest.raises(SerializationError) as info:
        dumps(value, where="argument")
    # The explicit bound (issue 12) names the path, abridged, to the first
    # container past it; before, this said only "it is nested too deeply".
    assert str(info.value) == (
        "cannot serialize argument" + "[0]" * 8 + "...(484 more)..." + "[0]" * 8
        + ": nested more than 500 levels deep (a list at that depth)"
    )
    assert _codec.MAX_DEPTH == 500


def test_value_nested_deeply_but_within_the_limit() -> None:
    value: Any = "leaf"
    for i in range(500):
        value = [value] if i % 3 else ({"k": value} if i % 3 == 1 else (value,))
    round_trip(value)


def test_error_raised_by_user_code_while_encoding() -> None:
    class BrokenZone(datetime.tzinfo):
        def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta:
            raise RuntimeError("zone exploded")

    with pytest.raises(SerializationError) as info:
        dumps([1, datetime.datetime(2020, 1, 1, tzinfo=BrokenZone())], where="argument")
    message = str(info.value)
    assert message.startswith(
        "cannot serialize argument[1]: object of type 'datetime.datetime'"
    )
    assert "zone exploded" in message


def test_serialization_error_does_not_chain_cbor2_errors() -> None:
    with pytest.raises(SerializationError) as info:
        dumps([object()])
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


# --- invalid bytes ---------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff",
        b"\x82\x01",  # array of two items with only one
        b"\x1c",  # reserved additional information
        b"\x61\xff",  # invalid UTF-8
        bytes.fromhex("d9da02") + b"\x01",  # tuple tag around an int
        bytes.fromhex("d9da06") + b"\x81\x01",  # timedelta tag with one item
        bytes.fromhex("d9da09") + b"\x82\x01\x02",  # exception tag, wrong shape
    ],
    ids=[
        "empty",
        "break",
        "truncated",
        "reserved",
        "bad utf-8",
        "bad tuple",
        "bad timedelta",
        "bad exception",
    ],
)
def test_invalid_bytes(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"^invalid serialized value: "):
        loads(data)


def test_unknown_tag() -> None:
    data = cbor2.dumps([cbor2.CBORTag(48879, "x")])
    with pytest.raises(ValueError) as info:
        loads(data)
    assert str(info.value) == "invalid serialized value: unknown CBOR tag 48879"
    assert info.value.__context__ is None


def test_tag_numbers_are_what_the_bytes_say() -> None:
    assert dumps((1,)) == bytes.fromhex("d9da02") + b"\x81\x01"
    assert dumps(frozenset()) == bytes.fromhex("d9da03") + b"\x80"
    assert dumps("\ud800").startswith(bytes.fromhex("d9da0b"))
    assert dumps(Arguments((1,), {})) == bytes.fromhex("d9da0a") + b"\x82\x81\x01\xa0"


def test_older_frozenset_encoding_still_decodes() -> None:
    # Before: our tag around the standard set tag.
    data = bytes.fromhex("d9da03d90102") + b"\x82\x01\x02"
    decoded = loads(data)
    assert type(decoded) is frozenset
    assert decoded == frozenset({1, 2})


# --- property ------------------------------------------------------------------

# Any str, lone surrogates included.
any_text = st.text(st.characters(exclude_categories=()))
hashable = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text | st.binary(),
    lambda children: st.lists(children, max_size=3).map(tuple)
    | st.frozensets(children, max_size=3),
    max_leaves=8,
)
json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | any_text
    | st.binary(),
    lambda children: st.lists(children, max_size=5)
    | st.lists(children, max_size=5).map(tuple)
    | st.dictionaries(any_text, children, max_size=5)
    | st.dictionaries(hashable, children, max_size=3)
    | st.sets(hashable, max_size=5)
    | st.frozensets(hashable, max_size=5),
    max_leaves=30,
)


@settings(deadline=None)  # a slow CI machine is not a failure
@given(json_like)
def test_round_trip_property(value: Any) -> None:
    round_trip(value)
    assert dumps(loads(dumps(value))) == dumps(value)


# --- frozen values (the service's form of arguments and results) -------------

FROZEN_VALUES = {
    **VALUES,
    "atom arguments": Arguments((1, "a", None, True, 2.5), {}),
    "atom arguments with kwargs": Arguments((1,), {"name": "x", "n": -3}),
    "arguments with a nan": Arguments((math.nan,), {}),
    "arguments with a list": Arguments(([1, 2],), {}),
    "arguments with a list kwarg": Arguments((), {"items": [1]}),
    "arguments with a list as args": Arguments([1, 2], {}),  # type: ignore[arg-type]
    "big int": 2**200,
}


@pytest.mark.parametrize("value", list(FROZEN_VALUES.values()), ids=list(FROZEN_VALUES))
def test_frozen_value_thaws_as_a_round_trip_would(value: Any) -> None:
    frozen = _codec.freeze(value)
    assert_same(loads(dumps(value)), _codec.thaw(frozen))
    assert_same(loads(dumps(value)), _codec.thaw(frozen))  # every thaw is as good
    assert _codec.frozen_bytes(frozen) == dumps(value)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner) | st.tuples(inner, inner)
                    | st.dictionaries(st.text(), inner), max_leaves=10))
def test_any_frozen_value_thaws_as_a_round_trip_would(value: Any) -> None:
    for candidate in (value, Arguments((value,), {}), Arguments((), {"k": value})):
        frozen = _codec.freeze(candidate)
        assert_same(loads(dumps(candidate)), _codec.thaw(frozen))
        assert _codec.frozen_bytes(frozen) == dumps(candidate)


def test_frozen_mutable_values_thaw_as_fresh_copies() -> None:
    items = [1, [2]]
    frozen = _codec.freeze(Arguments((items,), {"d": {"k": 1}}))
    first = _codec.thaw(frozen)
    first.args[0][1].append(3)
    first.kwargs["d"]["k"] = 2
    items.append(4)
    assert _codec.thaw(frozen) == Arguments(([1, [2]],), {"d": {"k": 1}})


def test_frozen_atom_arguments_thaw_with_their_own_kwargs_dict() -> None:
    frozen = _codec.freeze(Arguments((1,), {"k": "v"}))
    first = _codec.thaw(frozen)
    first.kwargs["k"] = "changed"
    assert _codec.thaw(frozen).kwargs == {"k": "v"}


def test_frozen_arguments_record_reads_its_fields() -> None:
    # The codec's private record of simple Arguments: its fields, what it
    # thaws to and its bytes; only its exact type counts.
    from sim._codec._frozen import _FrozenArguments, _FrozenList

    cases = [
        (Arguments((1, "a"), {}), (1, "a"), (), True),
        (Arguments(([1, 2],), {}), (_FrozenList([1, 2]),), (), None),  # one list alone: None
        (Arguments(([1, 2],), {"k": 1}), (_FrozenList([1, 2]),), (("k", 1),), False),
        (Arguments(([1], "a"), {}), (_FrozenList([1]), "a"), (), False),
        (Arguments((1, [2]), {"k": "v"}), (1, _FrozenList([2])), (("k", "v"),), False),
        (Arguments((2.5,), {"n": 3}), (2.5,), (("n", 3),), True),
    ]
    for value, args, kwargs, flat in cases:
        frozen = _codec.freeze(value)
        assert type(frozen) is _FrozenArguments
        assert (frozen.args, frozen.kwargs, frozen.flat) == (args, kwargs, flat)
        assert [type(a) for a in frozen.args] == [type(a) for a in args]
        assert _codec.thaw(frozen) == value and _codec.frozen_bytes(frozen) == dumps(value)
        thawed = _codec.thaw(frozen)
        assert [type(a) for a in thawed.args] == [type(a) for a in value.args]
        assert all(a is not b for a, b in zip(thawed.args, value.args) if type(a) is list)
    assert _codec.same(_codec.freeze(Arguments((1,), {})), _codec.freeze(Arguments((1,), {})))
    assert not _codec.same(_codec.freeze(Arguments((1,), {})), _codec.freeze(Arguments((1.0,), {})))


def test_frozen_flat_lists_thaw_as_fresh_lists() -> None:
    items = [1, "a", None, True]
    for value in (items, Arguments((items, 2), {}), Arguments((items,), {})):
        frozen = _codec.freeze(value)
        assert type(frozen) is not bytes  # kept as items, not encoded
        first = _codec.thaw(frozen)
        (first if isinstance(first, list) else first.args[0]).append("more")
        items.append("later")
        again = _codec.thaw(frozen)
        assert (again if isinstance(again, list) else again.args[0]) == [1, "a", None, True]
        items.pop()


def test_freeze_raises_what_dumps_raises() -> None:
    lock = threading.Lock()
    for value in (
        lock,
        Arguments((lock,), {}),
        Arguments((1,), {"k": lock}),
        Arguments((1,), None),  # type: ignore[arg-type]
        Arguments(([1],), None),  # type: ignore[arg-type]
        [1, lock],
    ):
        with pytest.raises(SerializationError) as frozen:
            _codec.freeze(value, where="argument")
        with pytest.raises(SerializationError) as dumped:
            dumps(value, where="argument")
        assert str(frozen.value) == str(dumped.value)


TRICKY = [0, 1, -1, True, False, None, 0.0, -0.0, 1.0, math.nan, "", "1", b"1", 2**70,
          [1], (1,), Arguments((1,), {}), Arguments((1.0,), {}), Arguments((True,), {}),
          Arguments([1], {}), Arguments((-0.0,), {}), Arguments((0.0,), {}),  # type: ignore[arg-type]
          Arguments((), {"k": 1}), Arguments((), {"k": 1.0}), Arguments((), {"j": 1}),
          Arguments((1,), {"k": [1]}), Arguments((1, 2), {}), Arguments((math.nan,), {}),
          [True], [1.0], [1, "a"], [], (), (True,), (1.0,), ([1],), Arguments(([1],), {}),
          Arguments(([True],), {}), Arguments(([1.0],), {}), Arguments(((1,),), {}),
          Arguments(([1], 2), {}), Arguments(([], 2), {}), Arguments(([1],), {"k": 1})]


def test_same_compares_frozen_values_as_their_encodings() -> None:
    wrong = [
        (a, b)
        for a in TRICKY
        for b in TRICKY
        if _codec.same(_codec.freeze(a), _codec.freeze(b)) != (dumps(a) == dumps(b))
    ]
    assert wrong == []


@given(st.lists(st.none() | st.booleans() | st.integers(-2, 2) | st.floats(-1, 1) | st.text(max_size=1),
                max_size=2), st.lists(st.none() | st.booleans() | st.integers(-2, 2) | st.floats(-1, 1)
                                      | st.text(max_size=1), max_size=2))
def test_same_agrees_with_encodings_on_any_arguments(left: list[Any], right: list[Any]) -> None:
    for a, b in ((Arguments(tuple(left), {}), Arguments(tuple(right), {})),
                 (Arguments((), dict.fromkeys(map(str, left), 1)), Arguments((), {"0": right[0]} if right else {}))):
        assert _codec.same(_codec.freeze(a), _codec.freeze(b)) == (dumps(a) == dumps(b))
