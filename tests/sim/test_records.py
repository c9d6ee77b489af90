"""The service's checks of a poll's calls (sim._records): the one-pass soundness check
agrees with the call-by-call rules it stands for, and the hot paths' state moves are
the state machine's."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim import Call
from sim._records import _INTO, _MOVES, _Record, _poll_is_sound, _poll_problem


class _SubCall(Call):
    pass


def _sound_call_by_call(calls: list[Any], ids: list[Any], outstanding: dict[Any, Any]) -> bool:
    # The rule _poll_is_sound stands for, one call at a time in exact types.
    try:
        if len(set(ids)) != len(ids) or not outstanding.keys().isdisjoint(ids):
            return False
    except TypeError:
        return False
    for call, cid in zip(calls, ids, strict=True):
        if type(call) is not Call or type(cid) not in (str, int):
            return False
        if type(call.function) is not str or not call.function:
            return False
        if call.endpoint is not None and type(call.endpoint) is not str:
            return False
    return True


_calls = st.lists(
    st.builds(
        lambda cls, function, endpoint, cid: cls(function, None, endpoint, cid),
        st.sampled_from([Call, Call, Call, _SubCall]),
        st.sampled_from(["f", "g", "", None, 3, b"f"]),
        st.sampled_from([None, "sim://e", "", 3]),
        st.sampled_from([0, 1, "a", "b", True, 1.0, None, (1,)]),
    ),
    max_size=4,
)


@given(_calls, st.sampled_from([{}, {0: None}, {"a": None}]))
def test_poll_is_sound_agrees_with_the_call_by_call_rule(calls: list[Call], outstanding: dict[Any, Any]) -> None:
    ids = [c.correlation_id for c in calls]
    sound = _poll_is_sound(calls, ids, outstanding)
    assert sound == _sound_call_by_call(calls, ids, outstanding)
    if sound:
        assert _poll_problem(calls, ids, outstanding) is None


def test_poll_is_sound_refuses_an_unhashable_correlation_id() -> None:
    calls = [Call("f", None, None, [1])]  # type: ignore[arg-type]
    assert not _poll_is_sound(calls, [[1]], {})


@pytest.mark.parametrize("target", list(_INTO))
def test_hot_path_moves_are_the_state_machines(target: Any) -> None:
    assert _INTO[target] == {a: target for a, moves in _MOVES.items() if target in moves}
    for state in _MOVES:
        rec = _Record("d1", "f", "sim://e", None, None, None, None, "d1", 0.0)
        rec.state = state
        if state in _INTO[target]:
            rec.move(target)
            assert rec.state is target
        else:
            with pytest.raises(AssertionError, match=f"d1 cannot go from {state} to {target}"):
                rec.move(target)
