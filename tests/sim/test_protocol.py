"""Tests for sim._protocol: Call, Arguments, Error, CallResult, Output, Input."""

from __future__ import annotations

import copy
import pickle

import attrs
import pytest

from sim import Arguments, Call, CallResult, Error, Input, Journal, Output, Status

# -- Arguments ----------------------------------------------------------------


def test_arguments_defaults() -> None:
    a = Arguments()
    assert a.args == ()
    assert a.kwargs == {}


def test_arguments_default_kwargs_are_not_shared() -> None:
    assert Arguments().kwargs is not Arguments().kwargs


def test_arguments_fields_and_equality() -> None:
    a = Arguments((1, "x"), {"k": 2})
    assert a.args == (1, "x")
    assert a.kwargs == {"k": 2}
    assert a == Arguments(args=(1, "x"), kwargs={"k": 2})
    assert a != Arguments((1, "x"), {"k": 3})


def test_arguments_are_frozen() -> None:
    a = Arguments((1,), {})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.args = (2,)  # type: ignore[misc]


def test_arguments_keep_what_they_are_given_and_evolve() -> None:
    # Arguments has its own __init__ (a cheaper one than attrs' for a frozen
    # class): it keeps the very objects given, as attrs' did, and stays evolvable.
    kwargs = {"k": 1}
    a = Arguments((1,), kwargs)
    assert a.kwargs is kwargs
    assert Arguments(kwargs=None).kwargs is None  # type: ignore[arg-type]
    assert attrs.evolve(a, args=(2,)) == Arguments((2,), {"k": 1})
    assert hash(a.__class__((1,), ())) == hash(Arguments(args=(1,), kwargs=()))  # type: ignore[arg-type]
    assert repr(Arguments()) == "Arguments(args=(), kwargs={})"


def test_arguments_made_through_their_slots_setters_copy_and_pickle() -> None:
    # __init__ stores through the slots' own setters, bound once at import: the
    # instance it makes is an ordinary one of the class, every field set.
    a = Arguments((1, [2]), {"k": "v"})
    assert attrs.asdict(a, recurse=False) == {"args": (1, [2]), "kwargs": {"k": "v"}}
    assert copy.copy(a) == a and copy.deepcopy(a) == a
    assert pickle.loads(pickle.dumps(a)) == a
    b = Arguments()
    assert pickle.loads(pickle.dumps(b)) == b and b.args == () and b.kwargs == {}


# -- Call ---------------------------------------------------------------------


def test_call_defaults() -> None:
    c = Call("greet")
    assert c.function == "greet"
    assert c.input is None
    assert c.endpoint is None
    assert c.correlation_id is None


def test_call_all_fields() -> None:
    args = Arguments(("World",), {})
    c = Call(function="greet", input=args, endpoint="sim://x", correlation_id=7)
    assert (c.function, c.input, c.endpoint, c.correlation_id) == ("greet", args, "sim://x", 7)


def test_call_correlation_id_is_settable() -> None:
    c = Call("f", 1)
    c.correlation_id = 42
    assert c.correlation_id == 42
    c.correlation_id = "abc"
    assert c.correlation_id == "abc"
    assert c == Call("f", 1, None, "abc")


# -- CallResult ------------------------------------------------------------------


def test_call_result_defaults_and_fields() -> None:
    r = CallResult()
    assert (r.correlation_id, r.output, r.error, r.dispatch_id) == (None, None, None, "")
    err = Error(Status.TIMEOUT, "T", "m")
    r = CallResult(3, None, err, "d9")
    assert (r.correlation_id, r.output, r.error, r.dispatch_id) == (3, None, err, "d9")


# -- Error --------------------------------------------------------------------


class _Outer:
    class Inner(Exception):
        pass


def test_error_defaults() -> None:
    e = Error(Status.TIMEOUT)
    assert (e.status, e.type, e.message, e.value) == (Status.TIMEOUT, None, None, None)


def test_error_from_exception_defaults_to_permanent() -> None:
    exc = KeyError("missing")
    e = Error.from_exception(exc)
    assert e.status is Status.PERMANENT_ERROR
    assert e.type == "KeyError"
    assert e.message == str(exc) == "'missing'"
    assert e.value is exc


def test_error_from_exception_with_status() -> None:
    exc = ValueError("bad")
    e = Error.from_exception(exc, Status.INVALID_ARGUMENT)
    assert e.status is Status.INVALID_ARGUMENT
    assert (e.type, e.message) == ("ValueError", "bad")


def test_error_from_exception_uses_qualname() -> None:
    e = Error.from_exception(_Outer.Inner("x"))
    assert e.type == "_Outer.Inner"
    assert e.message == "x"


def test_error_to_exception_returns_the_original() -> None:
    exc = ValueError("bad")
    assert Error.from_exception(exc).to_exception() is exc


def test_error_to_exception_without_value_is_runtime_error() -> None:
    out = Error(Status.PERMANENT_ERROR, "KeyError", "nope").to_exception()
    assert type(out) is RuntimeError
    assert str(out) == "KeyError: nope"


def test_error_to_exception_without_type_uses_status_name() -> None:
    out = Error(Status.TIMEOUT, None, "slow").to_exception()
    assert type(out) is RuntimeError
    assert str(out) == "TIMEOUT: slow"


def test_error_to_exception_without_message() -> None:
    out = Error(Status.TIMEOUT, "X").to_exception()
    assert str(out) == "X: "


def test_error_equality_ignores_value() -> None:
    a = Error(Status.TIMEOUT, "T", "m", value=ValueError("a"))
    b = Error(Status.TIMEOUT, "T", "m", value=KeyError("b"))
    assert a == b
    assert a != Error(Status.THROTTLED, "T", "m")


# -- Output: value / error ------------------------------------------------------


def test_output_value() -> None:
    out = Output.value({"a": 1})
    assert out.kind == "value"
    assert out.status is Status.OK
    assert out.output_value == {"a": 1}
    assert out.is_poll is False


def test_output_value_with_status() -> None:
    out = Output.value(None, Status.TEMPORARY_ERROR)
    assert out.kind == "value"
    assert out.status is Status.TEMPORARY_ERROR
    assert out.output_value is None


def test_output_error() -> None:
    err = Error(Status.THROTTLED, "Throttle", "slow down")
    out = Output.error(err)
    assert out.kind == "error"
    assert out.status is Status.THROTTLED
    assert out.output_error is err


@pytest.mark.parametrize("bad", [ValueError("x"), "oops", None, Status.TIMEOUT])
def test_output_error_rejects_non_error(bad: object) -> None:
    with pytest.raises(TypeError) as info:
        Output.error(bad)  # type: ignore[arg-type]
    assert str(info.value) == f"Output.error() takes an Error, not {type(bad).__qualname__}"


# -- Output: poll -------------------------------------------------------------


def test_output_poll_defaults() -> None:
    out = Output.poll()
    assert out.kind == "poll"
    assert out.is_poll is True
    assert out.status is Status.OK
    p = out.poll_request
    assert p.coroutine_state is None
    assert p.calls == ()
    assert p.min_results == 1
    assert p.max_results == 10
    assert p.max_wait_seconds is None


def test_output_poll_fields() -> None:
    c1, c2 = Call("a", 1, correlation_id=1), Call("b", 2, correlation_id=2)
    out = Output.poll(b"state", [c1, c2], min_results=0, max_results=1, max_wait_seconds=2.5)
    p = out.poll_request
    assert p.coroutine_state == b"state"
    assert p.calls == (c1, c2)
    assert isinstance(p.calls, tuple)
    assert (p.min_results, p.max_results, p.max_wait_seconds) == (0, 1, 2.5)


def test_output_poll_accepts_bytearray_and_copies_to_bytes() -> None:
    state = bytearray(b"abc")
    p = Output.poll(state).poll_request
    state[0] = ord("z")
    assert type(p.coroutine_state) is bytes
    assert p.coroutine_state == b"abc"


def test_output_poll_max_wait_zero_is_allowed() -> None:
    assert Output.poll(max_wait_seconds=0).poll_request.max_wait_seconds == 0


@pytest.mark.parametrize("state", ["text", 123, [1, 2], memoryview(b"x")])
def test_output_poll_rejects_non_bytes_state(state: object) -> None:
    with pytest.raises(TypeError, match=r"^coroutine_state must be bytes or None$"):
        Output.poll(state)  # type: ignore[arg-type]


def test_output_poll_rejects_non_call_naming_index() -> None:
    with pytest.raises(TypeError) as info:
        Output.poll(None, [Call("a"), Call("b"), "c"])  # type: ignore[list-item]
    assert str(info.value) == "calls[2] is a str, not a Call"


def test_output_poll_rejects_non_call_first_index() -> None:
    with pytest.raises(TypeError, match=r"^calls\[0\] is a dict, not a Call$"):
        Output.poll(None, [{"function": "a"}])  # type: ignore[list-item]


@pytest.mark.parametrize(("lo", "hi"), [(-1, 10), (1, 0), (0, -3), (-2, 0)])
def test_output_poll_rejects_bad_counts(lo: int, hi: int) -> None:
    with pytest.raises(ValueError) as info:
        Output.poll(min_results=lo, max_results=hi)
    assert str(info.value) == (
        f"need min_results >= 0 and max_results >= 1, got {lo} and {hi}"
    )


@pytest.mark.parametrize("wait", [-0.001, -5, float("nan")])
def test_output_poll_rejects_bad_max_wait(wait: float) -> None:
    with pytest.raises(ValueError) as info:
        Output.poll(max_wait_seconds=wait)
    assert str(info.value) == f"max_wait_seconds must be >= 0, got {wait!r}"


# -- Output: tail call ------------------------------------------------------------


def test_output_tail_call() -> None:
    c = Call("next", Arguments((1,), {}))
    out = Output.tail_call(c)
    assert out.kind == "tail_call"
    assert out.status is Status.OK
    assert out.tail_call_request is c


def test_output_tail_call_rejects_non_call() -> None:
    with pytest.raises(TypeError, match=r"^tail_call takes a Call, not str$"):
        Output.tail_call("next")  # type: ignore[arg-type]


# -- Output: accessors of the wrong kind ---------------------------------------------

_OUTPUTS = {
    "value": lambda: Output.value(1),
    "error": lambda: Output.error(Error(Status.TIMEOUT)),
    "poll": lambda: Output.poll(),
    "tail_call": lambda: Output.tail_call(Call("f")),
}
_ACCESSORS = {
    "value": "output_value",
    "error": "output_error",
    "poll": "poll_request",
    "tail_call": "tail_call_request",
}


@pytest.mark.parametrize("have", list(_OUTPUTS))
@pytest.mark.parametrize("want", list(_ACCESSORS))
def test_output_accessor_of_the_wrong_kind_raises(have: str, want: str) -> None:
    out = _OUTPUTS[have]()
    accessor = _ACCESSORS[want]
    if have == want:
        getattr(out, accessor)  # does not raise
        return
    with pytest.raises(ValueError) as info:
        getattr(out, accessor)
    assert str(info.value) == f"this Output is a {have}, it has no {want}"


def test_output_is_frozen() -> None:
    out = Output.value(1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        out.kind = "error"  # type: ignore[misc]


def test_output_equality() -> None:
    assert Output.value(1) == Output.value(1)
    assert Output.value(1) != Output.value(2)
    assert Output.poll(b"s") == Output.poll(b"s")


# -- Input ----------------------------------------------------------------------


def _first() -> Input:
    return Input(
        dispatch_id="d1",
        function="f",
        attempt=1,
        creation_time=0.0,
        input=Arguments((1,), {"a": 2}),
    )


def _resume(results: tuple[CallResult, ...] = (), poll_error: Error | None = None) -> Input:
    return Input(
        "d1",
        "f",
        2,
        0.0,
        first_call=False,
        coroutine_state=b"s",
        call_results=results,
        poll_error=poll_error,
    )


def test_input_init_names_strip_underscore() -> None:
    names = [a.alias for a in attrs.fields(Input)]
    assert names == [
        "dispatch_id",
        "function",
        "attempt",
        "creation_time",
        "parent_dispatch_id",
        "root_dispatch_id",
        "input",
        "first_call",
        "coroutine_state",
        "call_results",
        "poll_error",
        "journal",
    ]


def test_input_first_call() -> None:
    inp = _first()
    assert inp.dispatch_id == "d1"
    assert inp.function == "f"
    assert inp.attempt == 1
    assert inp.creation_time == 0.0
    assert inp.parent_dispatch_id is None
    assert inp.root_dispatch_id == ""
    assert inp.is_first_call is True
    assert inp.is_resume is False
    assert inp.input == Arguments((1,), {"a": 2})
    assert inp.input_arguments() == ((1,), {"a": 2})


def test_input_arguments_returns_fresh_tuple_and_dict() -> None:
    kwargs = {"a": 2}
    inp = Input("d1", "f", 1, 0.0, input=Arguments([1, 2], kwargs))  # type: ignore[arg-type]
    args, kw = inp.input_arguments()
    assert args == (1, 2)
    assert type(args) is tuple
    assert kw == {"a": 2}
    assert type(kw) is dict
    assert kw is not kwargs


def test_input_parent_and_root() -> None:
    inp = Input("d2", "g", 1, 3.5, "d1", "d0", input=None)
    assert (inp.parent_dispatch_id, inp.root_dispatch_id, inp.creation_time) == ("d1", "d0", 3.5)


def test_input_resume() -> None:
    res = CallResult(1, "out", None, "d5")
    err = Error(Status.INVALID_ARGUMENT, "ValueError", "bad poll")
    inp = _resume((res,), err)
    assert inp.is_first_call is False
    assert inp.is_resume is True
    assert inp.attempt == 2
    assert inp.coroutine_state == b"s"
    assert inp.call_results == (res,)
    assert inp.poll_error is err


def test_input_resume_poll_error_none() -> None:
    assert _resume().poll_error is None
    assert _resume().call_results == ()


@pytest.mark.parametrize("field", ["input", "input_arguments()"])
def test_input_first_call_fields_on_resume_raise(field: str) -> None:
    inp = _resume()
    with pytest.raises(ValueError) as info:
        if field == "input":
            inp.input  # noqa: B018
        else:
            inp.input_arguments()
    assert str(info.value) == f"Input.{field} is not available on a resume"


@pytest.mark.parametrize("field", ["coroutine_state", "call_results", "poll_error"])
def test_input_resume_fields_on_first_call_raise(field: str) -> None:
    inp = _first()
    with pytest.raises(ValueError) as info:
        getattr(inp, field)
    assert str(info.value) == f"Input.{field} is not available on a first call"


@pytest.mark.parametrize("value", [None, 5, (1, 2), {"a": 1}])
def test_input_arguments_on_non_arguments_input(value: object) -> None:
    inp = Input("d1", "myfn", 1, 0.0, input=value)
    assert inp.input == value
    with pytest.raises(ValueError) as info:
        inp.input_arguments()
    assert str(info.value) == (
        f"the input of myfn is a {type(value).__qualname__}, not Arguments"
    )


def test_input_journal_missing() -> None:
    with pytest.raises(ValueError) as info:
        _first().journal  # noqa: B018
    assert str(info.value) == "no journal is attached to this Input of f"
    with pytest.raises(ValueError, match="no journal is attached to this Input of f"):
        _resume().journal  # noqa: B018


def test_input_journal_present() -> None:
    journal = Journal(None, [])
    inp = Input("d1", "f", 1, 0.0, input=None, journal=journal)
    assert inp.journal is journal


def test_input_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        _first().attempt = 3  # type: ignore[misc]


def test_output_value_status_is_a_status_or_rejected() -> None:
    try:
        out = Output.value("hi", 1)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return
    assert isinstance(out.status, Status)
    assert out.status is Status.OK
