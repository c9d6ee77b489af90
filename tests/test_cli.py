"""The command line: ``python -m sim show|replay FILE`` and the ``dispatch-sim`` script.

Traces come from real runs of the tests in tests/programs/cli_workflows.py
(recorded in this process from the failure's ``__dispatch_sim__``), and are
replayed in a subprocess, which imports that program again.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import cbor2
import pytest

from sim import Simulation, Trace

PROGRAM = Path(__file__).parent / "programs" / "cli_workflows.py"
SCRIPT = Path(sys.executable).parent / "dispatch-sim"
MODULE_NAME = "_test_cli_workflows_program"


def program() -> ModuleType:
    """tests/programs/cli_workflows.py, imported once per process (its Registry name is unique)."""
    module = sys.modules.get(MODULE_NAME)
    if module is None:
        spec = importlib.util.spec_from_file_location(MODULE_NAME, PROGRAM)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[MODULE_NAME] = module
        spec.loader.exec_module(module)
    return module


def recorded_failure(test: Any) -> Simulation:
    with pytest.raises(AssertionError) as info:
        test()
    simulation = info.value.__dispatch_sim__  # type: ignore[attr-defined]
    assert isinstance(simulation, Simulation)
    return simulation


def cli(
    *args: str, env: dict[str, str] | None = None, script: bool = False, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [str(SCRIPT)] if script else [sys.executable, "-m", "sim"]
    return subprocess.run(
        [*argv, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, **(env or {})),
        timeout=120,
        cwd=cwd,
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], *, exit_code: int = 2) -> str:
    assert done.returncode == exit_code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), done.stderr
    assert done.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def double_debit_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    simulation = recorded_failure(program().test_double_debit)
    trace = simulation.trace
    assert trace.header["test_id"] == f"{PROGRAM}::test_double_debit"
    assert any(e.detail == "response_lost" for e in trace)
    return trace.save(tmp_path_factory.mktemp("cli") / "double-debit.cbor")


@pytest.fixture(scope="module")
def good_trace(double_debit_trace: Path) -> Trace:
    return Trace.load(double_debit_trace)


# -- show ----------------------------------------------------------------------


def test_show_prints_the_header_timeline_and_summary(double_debit_trace: Path, good_trace: Trace) -> None:
    done = cli("show", str(double_debit_trace))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = done.stdout.splitlines()
    assert out[0] == f"test: {PROGRAM}::test_double_debit"
    assert out[1].startswith(f"seed: {good_trace.header['seed']}, faults: heavy, decisions: ")
    events = [line for line in out if line.split()[2:3] == ["dispatch"]]
    assert len(events) == sum(1 for e in good_trace if e.kind == "dispatch")
    assert any("checkout" in line for line in events)
    for event in good_trace:
        assert str(event) in out
    assert any(line.startswith("calls: 11, attempts: ") for line in out)
    assert any(line.startswith("outcomes: ") for line in out)
    assert any("response_lost=" in line for line in out if line.startswith("faults: "))
    assert f"digest: {good_trace.digest()[:16]}" in done.stdout


def test_show_a_trace_without_test_id(tmp_path: Path) -> None:
    simulation = Simulation(seed=1, faults="none")
    simulation.run(program().checkout())
    path = simulation.trace.save(tmp_path / "plain.cbor")
    done = cli("show", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("test: (none recorded)\n")
    assert "calls: 11," in done.stdout


# -- replay --------------------------------------------------------------------


def test_replay_of_a_deterministic_failing_test_gives_the_same_digest(
    double_debit_trace: Path, good_trace: Trace
) -> None:
    # Issue 15: a reproduced failure is a failure: exit 1, its traceback, and a line saying so.
    done = cli("replay", str(double_debit_trace))
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert f"same digest {good_trace.digest()[:16]}" in done.stdout
    assert "the test failed: AssertionError: 11 debits" in done.stdout
    assert "Traceback (most recent call last):" in done.stdout
    assert "cli_workflows.py" in done.stdout  # the test's own frame is in the traceback
    assert done.stdout.splitlines()[-1] == "failure reproduced: AssertionError: 11 debits"
    assert done.stderr == ""


def passing_trace(tmp_path: Path) -> Trace:
    """A recorded run of test_double_debit that passed (a seed without a lost response)."""
    from sim.lowlevel import simulation_test

    test = simulation_test(program().test_double_debit)
    assert test is not None
    for seed in range(30):
        simulation = Simulation(seed=seed, faults="heavy", test_id=f"{PROGRAM}::test_double_debit")
        try:
            simulation.run(test.function)
        except AssertionError:
            continue
        assert "failure" not in simulation.trace.header
        return simulation.trace
    raise AssertionError("no passing seed in 0..29")


def test_replay_that_passes_as_recorded_exits_0(tmp_path: Path) -> None:
    trace = passing_trace(tmp_path)
    done = cli("replay", str(trace.save(tmp_path / "passing.cbor")))
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stdout == f"replayed {len(trace)} events, same digest {trace.digest()[:16]}; the test passed\n"


def test_replay_that_passes_where_the_recording_failed_exits_1(tmp_path: Path) -> None:
    trace = passing_trace(tmp_path)
    path = with_header(trace, tmp_path, "was-failing", failure="AssertionError: 11 debits")
    done = cli("replay", str(path))
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "the recording failed (AssertionError: 11 debits) but the replay passed" in done.stdout


def test_a_failing_run_records_its_failure_in_the_header(good_trace: Trace) -> None:
    assert good_trace.header["failure"] == "AssertionError: 11 debits"


def test_replay_of_a_test_method(tmp_path: Path) -> None:
    simulation = recorded_failure(program().TestMethods().test_double_debit)
    assert simulation.trace.header["test_id"] == f"{PROGRAM}::TestMethods.test_double_debit"
    path = simulation.trace.save(tmp_path / "method.cbor")
    done = cli("replay", str(path))
    assert done.returncode == 1, (done.stdout, done.stderr)  # the recorded failure, reproduced
    assert f"same digest {simulation.trace.digest()[:16]}" in done.stdout
    assert "failure reproduced: AssertionError: " in done.stdout


def test_replay_of_non_deterministic_test_code_shows_the_first_difference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = tmp_path / "counter"
    monkeypatch.setenv(program().COUNTER_ENV, str(counter))
    simulation = recorded_failure(program().test_counter_branch)
    assert counter.read_text() == "1"  # the recorded run was run 0: one call
    path = simulation.trace.save(tmp_path / "branch.cbor")
    done = cli("replay", str(path), env={program().COUNTER_ENV: str(counter)})
    assert counter.read_text() == "2"  # the replay was run 1: three calls
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "diverged" in done.stdout
    assert "first difference at event" in done.stdout
    assert "  recorded: " in done.stdout and "  replayed: " in done.stdout
    assert "Traceback" not in done.stderr


def test_a_replay_whose_calls_carry_other_values_diverges_where_they_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = tmp_path / "counter"
    monkeypatch.setenv(program().COUNTER_ENV, str(counter))
    simulation = recorded_failure(program().test_counter_amount)
    path = simulation.trace.save(tmp_path / "amount.cbor")
    done = cli("replay", str(path), env={program().COUNTER_ENV: str(counter)})
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "diverged" in done.stdout
    recorded = next(line for line in done.stdout.splitlines() if line.startswith("  recorded: "))
    replayed = next(line for line in done.stdout.splitlines() if line.startswith("  replayed: "))
    # the same step (the dispatch of echo), told apart by its arguments alone
    assert " dispatch " in recorded and recorded.endswith("args=(100)")
    assert " dispatch " in replayed and replayed.endswith("args=(10000)")


def test_a_trace_of_an_older_format_is_refused_with_exit_2(tmp_path: Path) -> None:
    import hashlib

    events = [["dispatch", 0.0, "d1", "f", 0, None, None]]
    document = {"magic": "dispatch-sim trace", "version": 1, "header": {}, "events": events,
                "digest": hashlib.sha256(cbor2.dumps(events, canonical=True)).hexdigest(),
                "checksum": hashlib.sha256(cbor2.dumps([{}, events], canonical=True)).hexdigest()}
    old = tmp_path / "old.cbor"
    old.write_bytes(cbor2.dumps(document, canonical=True))
    for command in ("show", "report", "replay"):
        done = cli(command, str(old))
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert done.stderr == (
            f"error: {str(old)!r} was written by an older version of dispatch-sim (format 1); "
            "re-run the test to record it again\n"
        )


# -- bad files and arguments ---------------------------------------------------


def bad_files(tmp_path: Path, good: Path) -> dict[str, Path]:
    data = good.read_bytes()
    files = {
        "missing": tmp_path / "no-such-file.cbor",
        "directory": tmp_path,
        "empty": tmp_path / "empty.cbor",
        "truncated": tmp_path / "truncated.cbor",
        "corrupt": tmp_path / "corrupt.cbor",
        "foreign-cbor": tmp_path / "foreign.cbor",
        "json": tmp_path / "trace.json",
    }
    files["empty"].write_bytes(b"")
    files["truncated"].write_bytes(data[: len(data) // 2])
    trace = Trace.load(good)
    document = cbor2.loads(data)
    document["digest"] = "0" * 64
    files["corrupt"].write_bytes(cbor2.dumps(document, canonical=True))
    files["foreign-cbor"].write_bytes(cbor2.dumps({"a": 1}))
    files["json"].write_text('{"magic": "dispatch-sim trace", "version": 1, "events": []}')
    assert len(trace) > 0
    return files


@pytest.mark.parametrize("command", ["show", "replay"])
@pytest.mark.parametrize(
    "case", ["missing", "directory", "empty", "truncated", "corrupt", "foreign-cbor", "json"]
)
def test_bad_files_give_one_line_errors(
    tmp_path: Path, double_debit_trace: Path, command: str, case: str
) -> None:
    path = bad_files(tmp_path, double_debit_trace)[case]
    line = assert_one_line_error(cli(command, str(path)))
    assert repr(str(path)) in line


def test_replay_of_a_trace_that_names_no_test(tmp_path: Path) -> None:
    simulation = Simulation(seed=1, faults="heavy")
    simulation.run(program().checkout())
    path = simulation.trace.save(tmp_path / "plain.cbor")
    line = assert_one_line_error(cli("replay", str(path)))
    assert "names no test" in line


def test_replay_of_a_trace_whose_test_file_is_gone(tmp_path: Path, good_trace: Trace) -> None:
    path = with_header(good_trace, tmp_path, "gone", test_id=f"{tmp_path / 'gone.py'}::test_x")
    line = assert_one_line_error(cli("replay", str(path)))
    assert "does not exist" in line


def with_header(trace: Trace, tmp_path: Path, name: str, **changes: Any) -> Path:
    copy = Trace(dict(trace.header, **changes))
    copy._events.extend(trace._rows())  # the events as tuples (a finished trace keeps them in its compact store)
    return copy.save(tmp_path / f"{name}.cbor")


def test_replay_of_a_trace_without_decisions(tmp_path: Path, good_trace: Trace) -> None:
    path = with_header(good_trace, tmp_path, "no-decisions", decisions=None)
    line = assert_one_line_error(cli("replay", str(path)))
    assert "records no decisions" in line


def test_replay_of_a_trace_naming_a_plain_function(tmp_path: Path, good_trace: Trace) -> None:
    path = with_header(good_trace, tmp_path, "plain-fn", test_id=f"{PROGRAM}::checkout")
    line = assert_one_line_error(cli("replay", str(path)))
    assert "is not a registry.test function" in line


@pytest.mark.parametrize(
    "changes",
    [
        {"profile": {"name": "heavy", "bogus_rate": 0.5}},
        {"seed": "zero"},
        {"decisions": [[0.5], [0.25]]},
    ],
    ids=["profile-unknown-field", "seed-not-int", "decisions-not-numbers"],
)
def test_replay_of_a_trace_with_a_malformed_header(
    tmp_path: Path, good_trace: Trace, changes: dict[str, Any]
) -> None:
    path = with_header(good_trace, tmp_path, "bad-header", **changes)
    assert Trace.load(path).digest() == good_trace.digest()  # the events are intact
    assert_one_line_error(cli("replay", str(path)))


@pytest.mark.parametrize(
    "args",
    [[], ["show"], ["replay"], ["bogus", "file"], ["show", "a", "b"]],
    ids=["no-command", "show-no-file", "replay-no-file", "unknown-command", "extra-argument"],
)
def test_bad_arguments_exit_2_without_traceback(args: list[str]) -> None:
    done = cli(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "error:" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


# -- the console script --------------------------------------------------------


def test_console_script_exists() -> None:
    assert SCRIPT.is_file(), f"no dispatch-sim script next to {sys.executable}"


def test_console_script_show_and_replay(double_debit_trace: Path, good_trace: Trace) -> None:
    shown = cli("show", str(double_debit_trace), script=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == cli("show", str(double_debit_trace)).stdout
    replayed = cli("replay", str(double_debit_trace), script=True)
    assert replayed.returncode == 1, (replayed.stdout, replayed.stderr)  # the failure reproduced
    assert "failure reproduced: " in replayed.stdout
    assert f"same digest {good_trace.digest()[:16]}" in replayed.stdout


def test_console_script_errors(tmp_path: Path, double_debit_trace: Path) -> None:
    files = bad_files(tmp_path, double_debit_trace)
    assert_one_line_error(cli("show", str(files["truncated"]), script=True))
    assert_one_line_error(cli("replay", str(files["missing"]), script=True))
    done = cli(script=True)
    assert done.returncode == 2
    assert "error:" in done.stderr and "Traceback" not in done.stderr


def test_main_in_process_returns_the_exit_status(
    double_debit_trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sim._cli import main

    assert main(["show", str(double_debit_trace)]) == 0
    assert "calls: 11" in capsys.readouterr().out
    assert main(["show", str(tmp_path / "missing.cbor")]) == 2
    assert capsys.readouterr().err.startswith("error: cannot read trace file")


def test_replay_of_a_test_that_takes_fixtures(tmp_path: Path, good_trace: Trace) -> None:
    program = tmp_path / "fixture_program.py"
    program.write_text(
        "import registry.test\n\n"
        "@registry.test.function(faults='none')\n"
        "async def test_with_fixture(tmp_path):\n"
        "    assert False\n"
    )
    path = with_header(good_trace, tmp_path, "fixture", test_id=f"{program}::test_with_fixture")
    # Replay imports only files inside the current directory: run it from the program's.
    line = assert_one_line_error(cli("replay", str(path), cwd=tmp_path))
    assert "takes parameters (tmp_path)" in line
    assert "replay it with the pytest command" in line
