"""Seed sweeps: the API, the command line in a subprocess, worker deaths, Ctrl-C and Dask.

The tests sweep tests/programs/sweep_program.py, whose failures depend on the
seed in a known way, so every group, count and smallest seed is checked exactly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sim import sweep

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = "tests/programs/sweep_program.py"
TARGET = f"{PROGRAM}::test_seed_dependent"
SEEDS = range(40)
ASSERTION_SEEDS = [s for s in SEEDS if s % 7 == 3 and s % 11 != 5]
KEY_SEEDS = [s for s in SEEDS if s % 11 == 5]


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", "sweep", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture(autouse=True)
def _in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_sweep_goes_on_past_failures_and_groups_them() -> None:
    result = sweep(TARGET, SEEDS)
    assert result.runs == 40
    assert result.failures == len(ASSERTION_SEEDS) + len(KEY_SEEDS)
    groups = {g.signature: g for g in result.groups}
    assert set(groups) == {
        "AssertionError: seed N lost an update at sweep_program.py:test_seed_dependent",
        "KeyError: 'account-N' at sweep_program.py:test_seed_dependent",
    }
    assertion = groups["AssertionError: seed N lost an update at sweep_program.py:test_seed_dependent"]
    assert list(assertion.seeds) == ASSERTION_SEEDS and assertion.smallest_seed == 3
    assert list(groups["KeyError: 'account-N' at sweep_program.py:test_seed_dependent"].seeds) == KEY_SEEDS
    assert result.summary_line().startswith("sweep: 40 seeds, 9 failed in 2 groups, ")
    heavy = sweep(TARGET, SEEDS, faults="heavy")
    assert heavy.faults == "heavy" and set(heavy.faults_by_kind) >= {"endpoint_error", "response_lost"}


def test_a_pool_gives_the_same_records_as_one_process() -> None:
    alone = sweep(TARGET, SEEDS)
    pooled = sweep(TARGET, SEEDS, jobs=2, batch_size=7)
    assert [(r.seed, r.ok, r.digest, r.signature) for r in pooled.records] == [
        (r.seed, r.ok, r.digest, r.signature) for r in alone.records
    ]


def test_max_failures_stops_early() -> None:
    result = sweep(TARGET, SEEDS, max_failures=2)
    assert result.failures == 2
    assert result.runs == 6  # seeds 0..5: 3 and 5 fail
    assert result.stopped_early and "2 failures" in result.stopped_early


def test_a_method_target_runs_its_setup() -> None:
    result = sweep(f"{PROGRAM}::TestMethods::test_with_setup", range(5))
    assert result.ok, result.groups


def test_a_dead_worker_is_reported_with_its_seed_and_the_sweep_goes_on() -> None:
    result = sweep(f"{PROGRAM}::test_kills_its_worker", range(30), jobs=2, batch_size=10)
    assert result.runs == 30
    assert [g.seeds for g in result.groups] == [(13,)]
    assert result.groups[0].signature == "worker process died"
    assert "seed 13" in result.groups[0].error


def test_cli_sweep_reports_groups_replay_commands_and_results(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = cli(TARGET, "--seeds", "40", "--jobs", "2", "--out", str(out))
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1].startswith("sweep: 40 seeds, 9 failed in 2 groups, ") and lines[-1].endswith(" seeds/s")
    assert f"replay: pytest {TARGET} --sim-seed=3 --sim-faults=light" in done.stdout
    assert f"replay: pytest {TARGET} --sim-seed=5 --sim-faults=light" in done.stdout
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["seed"] for r in results] == list(range(40))
    assert {r["seed"] for r in results if not r["ok"]} == set(ASSERTION_SEEDS + KEY_SEEDS)
    assert set(results[0]) == {"seed", "ok", "digest", "seconds", "signature"}
    traces = sorted(p.name for p in out.glob("*.cbor"))
    assert traces == ["group1-seed3.cbor", "group2-seed5.cbor"]
    assert sorted(p.name for p in out.glob("*.html")) == ["group1-seed3.html", "group2-seed5.html"]
    assert f"report: {out / 'group1-seed3.html'}" in done.stdout
    # A later range appends to the same results file.
    assert cli(TARGET, "--seeds", "40:46", "--out", str(out)).returncode == 1  # seed 45 fails
    assert len((out / "results.jsonl").read_text().splitlines()) == 46
    # The saved trace replays: the recorded failure reproduces.
    replayed = subprocess.run([sys.executable, "-m", "sim", "replay", str(out / "group1-seed3.cbor")],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "same digest" in replayed.stdout, (replayed.stdout, replayed.stderr)
    assert replayed.returncode == 1 and "failure reproduced: AssertionError: seed 3 lost an update" in replayed.stdout


def test_cli_exit_zero_when_every_seed_passes() -> None:
    done = cli(f"{PROGRAM}::TestMethods::test_with_setup", "--seeds", "10")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("sweep: 10 seeds, 0 failed in 0 groups")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tests/programs/nothing.py::test_x"], "does not exist"),
        ([f"{PROGRAM}::double"], "not a registry.test function"),
        ([f"{PROGRAM}::missing"], "has no 'missing'"),
        ([TARGET, "--seeds", "5:2"], "empty range"),
        ([TARGET, "--seeds", "0"], "empty range"),
        ([TARGET, "--seeds", "x"], "give a count N or a range A:B"),
        ([TARGET, "--jobs", "0"], "--jobs must be positive"),
        ([TARGET, "--faults", "hevy"], "hevy"),
        ([TARGET, "--dask", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = cli(*args, timeout=120)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert message in done.stderr


def test_ctrl_c_stops_and_prints_what_ran() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sim", "sweep", f"{PROGRAM}::test_slow", "--seeds", "1000", "--jobs", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        # A pytest started in the background of a shell inherits SIGINT ignored, and so would
        # the sweep: give it the default disposition, as a terminal's process would have.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Wait for the first progress line (every 5 s once seeds have run), not a fixed time:
    # on a loaded machine two workers may take longer than that to start.
    assert process.stderr is not None
    first = process.stderr.readline()
    assert first.startswith("sweep: "), first
    process.send_signal(signal.SIGINT)
    stdout, rest = process.communicate(timeout=300)
    stderr = first + rest
    assert process.returncode == 130, (stdout, stderr)
    assert "interrupted: the summary covers the seeds that ran" in stdout
    last = stdout.splitlines()[-1]
    assert last.startswith("sweep: ") and " 0 failed in 0 groups" in last
    ran = int(last.split()[1])
    assert 0 < ran < 1000


def test_dask_local_cluster_gives_the_same_results_as_the_local_pool(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    local, dask = tmp_path / "local", tmp_path / "dask"
    assert cli(TARGET, "--seeds", "30", "--jobs", "2", "--out", str(local)).returncode == 1
    done = cli(TARGET, "--seeds", "30", "--dask", "local", "--jobs", "2", "--out", str(dask))
    assert done.returncode == 1, done.stderr

    def rows(path: Path) -> list[tuple[object, ...]]:
        return [
            (r["seed"], r["ok"], r["digest"], r["signature"])
            for r in map(json.loads, (path / "results.jsonl").read_text().splitlines())
        ]

    assert rows(dask) == rows(local)


NONDETERMINISTIC = "tests/programs/sweep_nondeterministic.py"


def pids_by_seed(path: Path) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for line in path.read_text().splitlines():
        seed, pid = map(int, line.split())
        found.setdefault(seed, []).append(pid)
    return found


def test_check_determinism_catches_set_order_in_its_own_group(tmp_path: Path) -> None:
    # PYTHONHASHSEED pinned in the environment, as CI often does: a check whose two
    # passes inherited it would see the same set order twice and miss the bug.
    pids = tmp_path / "pids"
    done = subprocess.run(
        [sys.executable, "-m", "sim", "sweep", f"{NONDETERMINISTIC}::test_set_order", "--seeds", "6",
         "--jobs", "2", "--check-determinism"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "COLUMNS": "200", "PYTHONHASHSEED": "0", "SWEEP_PIDS": str(pids)},
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "non-deterministic: the same seed gave two different traces" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("sweep: 6 seeds, 6 failed in 1 groups, ")
    # (Each attempt has a start event as well as its end since the trace records spans.)
    assert "the runs differ in length (32 and 92 events in processes with PYTHONHASHSEED=0 and 1):" in done.stdout
    assert "  first extra event 32:" in done.stdout and "dispatch  echo" in done.stdout
    # Both copies of every seed ran, each in another process (then the explanation's two).
    runs = pids_by_seed(pids)
    assert sorted(runs) == list(range(6))
    for seed in range(6):
        first, second = runs[seed][:2]
        assert first != second, runs
        assert os.getpid() not in runs[seed]


def test_check_determinism_passes_a_deterministic_test_across_processes(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    done = subprocess.run(
        [sys.executable, "-m", "sim", "sweep", f"{NONDETERMINISTIC}::test_steady", "--seeds", "6",
         "--jobs", "2", "--check-determinism"],
        capture_output=True, text=True, cwd=ROOT, timeout=300, env={**os.environ, "SWEEP_PIDS": str(pids)},
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stdout.splitlines()[-1].startswith("sweep: 6 seeds, 0 failed in 0 groups")
    assert all(len(set(p)) == 2 for p in pids_by_seed(pids).values())


def test_hash_seeds_for_the_check_differ() -> None:
    from sim._sweep_determinism import hash_seeds_for_check

    assert hash_seeds_for_check({}) == (1, 2)
    assert hash_seeds_for_check({"PYTHONHASHSEED": "0"}) == (0, 1)
    assert hash_seeds_for_check({"PYTHONHASHSEED": "random"}) == (1, 2)
    assert hash_seeds_for_check({"PYTHONHASHSEED": "4294967295"}) == (4294967295, 0)


def test_a_batch_saves_and_restores_the_world_once_and_each_seed_draws_as_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A worker's batch saves the random module's state, the gc threshold and the
    # deterministic environment once for all its seeds; each seed still draws
    # what it draws when run alone, and the outside is as it was after the batch.
    import gc
    import random
    import time

    from sim import _environment, _random_state, _sweep
    from sim._runner import load_test, run_seed

    target = f"{PROGRAM}::test_draws_from_the_world"
    loaded = load_test(target, root=ROOT)
    alone = [run_seed(loaded.make_main(), seed=s, faults="light", test_id=loaded.test_id).digest for s in range(6)]
    assert len(set(alone)) == 6  # the seeds drew different values
    saves = []
    real_save = _random_state.save  # what saves the random module's state (see sim._random_state)
    monkeypatch.setattr(_random_state, "save", lambda: saves.append(1) or real_save())
    random.seed("outside")
    expected = random.Random("outside").random()
    threshold = gc.get_threshold()
    clock = time.time
    records = _sweep.run_batch(target, str(ROOT), range(6), "light")
    assert [r.digest for r in records] == alone
    assert [r.digest for r in _sweep.run_batch(target, str(ROOT), [5, 3, 4], "light")] == [alone[5], alone[3], alone[4]]
    assert len(saves) == 2  # once per batch, not once per seed
    assert random.random() == expected
    assert gc.get_threshold() == threshold
    assert time.time is clock and not _environment.holding()


def test_a_held_block_puts_the_world_back_after_an_interrupt() -> None:
    import gc
    import random
    import time

    import sim
    from sim import _environment

    async def interrupted() -> None:
        raise KeyboardInterrupt

    random.seed(9)
    state, threshold, clock = random.getstate(), gc.get_threshold(), time.time
    with pytest.raises(KeyboardInterrupt), _environment.held():
        assert _environment.holding()
        sim.Simulation(seed=1, faults="none").run(interrupted)
    assert random.getstate() == state and gc.get_threshold() == threshold and time.time is clock
    assert not _environment.holding()
