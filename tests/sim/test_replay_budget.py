"""The replay budget: crash rebuilds are free for short journals; past that, a call's
replay work stays within REPLAY_FACTOR times its journal, and the trace says when the
budget held a drawn crash back."""

from __future__ import annotations

import registry
import sim
from sim._events import CRASH, FAULT, REPLAY_BUDGET
from sim._faults import REPLAY_FACTOR, REPLAY_FREE_STEPS
from sim._records import _Suspension
from sim._service import _within_replay_budget

reg = registry.Registry("test-replay-budget")


@reg.function
def echo(x: int) -> int:
    return x


@reg.function
async def fan_out(n: int) -> int:
    return sum(await registry.gather(*(echo(i) for i in range(n))))


def _suspension(steps: int, size: int) -> _Suspension:
    suspension = _Suspension()
    suspension.journal.extend([None] * steps)  # type: ignore[list-item]
    suspension.size = size
    return suspension


def test_short_journals_rebuild_for_free() -> None:
    # Free by the number of polls, whatever they carry.
    suspension = _suspension(REPLAY_FREE_STEPS, 100_000)
    assert all(_within_replay_budget(suspension) for _ in range(100))
    assert suspension.replayed == 0


def test_past_the_free_size_replay_stays_within_the_factor() -> None:
    suspension = _suspension(REPLAY_FREE_STEPS + 1, 2 * REPLAY_FREE_STEPS)
    allowed = 0
    for steps in range(REPLAY_FREE_STEPS + 1, 20 * REPLAY_FREE_STEPS):
        suspension.journal.append(None)  # type: ignore[arg-type]
        suspension.size += 2  # a sequential caller: one call and one result per poll
        if _within_replay_budget(suspension):
            allowed += 1
        assert suspension.replayed <= REPLAY_FACTOR * suspension.size
    # Each rebuild replays the whole journal, so within the factor the journal
    # must about double between two of them: a few per doubling, not none.
    assert allowed >= 4


def test_the_budget_counts_calls_and_results_not_polls() -> None:
    # A fan-out journals its calls in one poll: 65 polls of a 10k-call gather
    # hold 10,640 entries a rebuild re-makes, which the budget must count.
    suspension = _suspension(REPLAY_FREE_STEPS + 1, 10_000 + 10 * REPLAY_FREE_STEPS)
    assert _within_replay_budget(suspension)
    assert suspension.replayed == suspension.size
    assert _within_replay_budget(suspension)  # within twice the journal
    assert not _within_replay_budget(suspension)  # a third would pass it
    suspension.size += 10 * 1_000  # a thousand more resumes do not make room
    assert not _within_replay_budget(suspension)
    assert suspension.replayed == 2 * (10_000 + 10 * REPLAY_FREE_STEPS)


def _rebuilds_past_the_free_size(n: int) -> int:
    # Every resume draws a crash: without the budget each would replay the whole journal.
    profile = sim.FaultProfile("crashy", crash=1.0)
    simulation = sim.Simulation(seed=3, faults=profile)
    assert simulation.run(fan_out(n)) == n * (n - 1) // 2
    events = list(simulation.trace)
    root = events[0].dispatch_id
    crashes = [e for e in events if e.kind == FAULT and e.detail == CRASH and e.dispatch_id == root]
    held = [e for e in events if e.kind == REPLAY_BUDGET and e.dispatch_id == root]
    assert all(e.detail == CRASH for e in held)
    resumes = sum(1 for e in events if e.kind == "attempt" and e.dispatch_id == root) - 1
    assert len(crashes) + len(held) == resumes  # drawn at every resume, as before
    assert held and len(crashes) > REPLAY_FREE_STEPS  # free at first, then held back
    polls_before = []
    polls = 0
    for e in events:
        if e.dispatch_id != root:
            continue
        if e.kind == "attempt" and e.status == "POLL":
            polls += 1
        elif e.kind == FAULT and e.detail == CRASH:
            polls_before.append(polls)
    return sum(1 for p in polls_before if p > REPLAY_FREE_STEPS)


def test_every_crash_drawn_in_a_long_fan_out_is_a_fault_or_a_budget_event() -> None:
    # Past the free polls, each rebuild re-makes all n calls and more than 640
    # results, over half of what the journal ends with (n calls, n results): the
    # factor leaves room for fewer than 2 * REPLAY_FACTOR rebuilds, as many for a
    # long fan-out as for a short one. (Counted in polls, a 1k-call gather got 2
    # and a 3k-call one 4, each re-making every call.)
    counts = [_rebuilds_past_the_free_size(n) for n in (1_000, 3_000)]
    assert counts[0] == counts[1]
    assert 1 <= counts[0] < 2 * REPLAY_FACTOR


def test_the_budget_is_deterministic_and_replays_from_the_trace() -> None:
    profile = sim.FaultProfile("crashy", crash=1.0, max_latency=0.01)
    first = sim.Simulation(seed=5, faults=profile)
    first.run(fan_out(1_000))
    again = sim.Simulation.from_trace(first.trace)
    again.run(fan_out(1_000))
    assert again.trace.digest() == first.trace.digest()
    assert any(e.kind == REPLAY_BUDGET for e in first.trace)


def test_same_input_answers_as_same_of_the_frozen_input() -> None:
    # A rebuild compares each re-made call with same_input; its fast path must
    # give what same(journaled, freeze(value)) gives, types and -0.0 included.
    from sim import Arguments
    from sim.lowlevel import freeze, same, same_input

    values: list[object] = [
        Arguments((1,), {}), Arguments((True,), {}), Arguments((1.0,), {}), Arguments((0.0,), {}),
        Arguments((-0.0,), {}), Arguments((float("nan"),), {}), Arguments(("1",), {}),
        Arguments((1, "a", None), {}), Arguments((1, "a"), {}), Arguments(([1, 2],), {}),
        Arguments(([1, 2.0],), {}), Arguments((), {"x": 1}), Arguments((), {"x": True}),
        Arguments((1,), {"x": 1}), Arguments(((1, 2),), {}), Arguments(({"k": [1]},), {}),
        Arguments((object(),), {}), Arguments([1], {}), 1, True, "1", None, [1, 2], b"x",
    ]

    def frozen(value: object) -> object:
        try:
            return freeze(value, where="argument")
        except sim.SerializationError:
            return b""

    for journaled in values:
        for value in values:
            expected = same(frozen(journaled), frozen(value))
            assert same_input(frozen(journaled), value) is expected, (journaled, value)
