"""The pytest plugin, end to end: pytest runs in a subprocess on a sample test file.

The sample's simulation test (ten non-idempotent debits, faults="heavy",
seeds 0..29) fails only for the seeds where a debit's response is lost. We
check the failure report (seed, profile, digest, faults, trace file, replay
commands), that the printed replay commands reproduce the run, and the
options --sim-seed, --sim-seeds, --sim-faults, --sim-trace-dir and their
usage errors.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import registry
import sim

SAMPLE = textwrap.dedent(
    '''
    import os

    import registry
    import registry.test
    import sim

    reg = registry.Registry("test-pytest-plugin-sample")
    balance = {"cents": 0}


    @reg.function
    def debit(cents: int) -> None:
        balance["cents"] -= cents  # no idempotency key: a lost response debits twice


    @reg.function
    async def checkout() -> None:
        for _ in range(10):
            await debit(1)


    @registry.test.function(seeds=range(30), faults="heavy")
    async def test_checkout():
        balance["cents"] = 100
        await checkout()
        assert balance["cents"] == 90, f"balance is {balance['cents']}"


    @registry.test.function(seeds=range(30), faults="none")
    async def test_checkout_quiet():
        balance["cents"] = 100
        await checkout()
        assert balance["cents"] == 90, f"balance is {balance['cents']}"


    @reg.function
    def ping(i: int) -> int:
        return i


    @registry.test.function(seed=1, faults="heavy")
    async def test_many_faults():
        for i in range(150):
            await ping(i)
        assert False, "after many faults"


    @registry.test.function(seeds=range(3), faults="none")
    async def test_count_runs():
        with open(os.environ["SIM_PLUGIN_RUNS"], "a") as f:
            f.write(f"{sim.current().seed}\\n")
        await debit(1)
    '''
)

HEX64 = re.compile(r"\b[0-9a-f]{64}\b")


class Run:
    def __init__(self, done: subprocess.CompletedProcess[str]) -> None:
        self.returncode = done.returncode
        self.stdout = done.stdout
        self.stderr = done.stderr
        self.output = done.stdout + done.stderr

    def field(self, name: str) -> str:
        match = re.search(rf"^\s*{re.escape(name)}:\s*(.+?)\s*$", self.stdout, re.M)
        assert match, f"no {name!r} line in the output:\n{self.output}"
        return match.group(1)


def run_pytest(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    return run([sys.executable, "-m", "pytest", "-q", *args], cwd, env)


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("PYTEST_ADDOPTS", None)
    full_env.pop("DISPATCH_SIM_FAULTS", None)
    # Under CI (or BUILD_NUMBER) pytest prints whole messages in its short test
    # summary, repeating the failure's note; the inner run's output must not
    # depend on where the suite runs.
    full_env.pop("CI", None)
    full_env.pop("BUILD_NUMBER", None)
    # A generous timeout: only a hang should hit it, also on a loaded machine.
    done = subprocess.run(argv, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=600)
    return Run(done)


def replay_argv(command: str) -> list[str]:
    """The printed `pytest ...` command, as argv for this interpreter."""
    argv = shlex.split(command)
    assert argv[0] == "pytest", command
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *argv[1:]]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plugin-project")
    (root / "test_sample.py").write_text(SAMPLE)
    return root


@pytest.fixture(scope="module")
def failing(project: Path) -> Run:
    """The sample's fault-sensitive test, run once with the default options."""
    return run_pytest(project, "-p", "no:cacheprovider", "test_sample.py::test_checkout")


# The same scenario in this process, to know which seeds pass and fail.
_reg = registry.Registry("test-pytest-plugin-inprocess")
_balance = {"cents": 0}


@_reg.function
def _debit(cents: int) -> None:
    _balance["cents"] -= cents


@_reg.function
async def _checkout() -> None:
    for _ in range(10):
        await _debit(1)


async def _scenario() -> None:
    _balance["cents"] = 100
    await _checkout()
    assert _balance["cents"] == 90


def seed_outcomes() -> dict[int, bool]:
    outcomes = {}
    for seed in range(30):
        try:
            sim.Simulation(seed=seed, faults="heavy").run(_scenario())
        except AssertionError:
            outcomes[seed] = False
        else:
            outcomes[seed] = True
    return outcomes


def test_the_scenario_fails_for_some_seeds_only() -> None:
    outcomes = seed_outcomes()
    assert not all(outcomes.values())
    assert any(outcomes.values())


def test_failing_run_reports_seed_profile_digest_faults_and_trace(failing: Run, project: Path) -> None:
    assert failing.returncode == 1, failing.output
    assert "1 failed" in failing.stdout
    assert "dispatch-sim" in failing.stdout  # the report section's title
    seed = int(failing.field("seed"))
    # test_checkout runs seeds 0..29 in order and stops at the first failing one
    first_failing = min(s for s, ok in seed_outcomes().items() if not ok)
    assert seed == first_failing
    assert "fault profile: heavy" in failing.stdout
    digest = failing.field("trace digest")
    assert HEX64.fullmatch(digest), digest
    assert "faults injected:" in failing.stdout
    assert re.search(r"response_lost on \S+ debit attempt \d+", failing.stdout), failing.stdout
    path = project / failing.field("trace file")
    assert path.is_file()
    trace = sim.Trace.load(path)
    assert trace.digest() == digest
    assert trace.header["seed"] == seed
    assert trace.header["faults"] == "heavy"
    assert trace.header["pytest_nodeid"] == "test_sample.py::test_checkout"
    assert trace.header["outcome"].startswith("failed: AssertionError")  # for `sim report FILE`
    assert failing.field("replay") == f"pytest 'test_sample.py::test_checkout' --sim-seed={seed}"
    assert failing.field("or") == f"python -m sim replay {failing.field('trace file')}"


def test_printed_replay_command_fails_again_with_the_same_digest(failing: Run, project: Path) -> None:
    again = run(replay_argv(failing.field("replay")), project)
    assert again.returncode == 1, again.output
    assert "1 failed" in again.stdout
    assert again.field("seed") == failing.field("seed")
    assert again.field("trace digest") == failing.field("trace digest")


def test_printed_sim_replay_command_reproduces_the_digest(failing: Run, project: Path) -> None:
    argv = shlex.split(failing.field("or"))
    assert argv[:3] == ["python", "-m", "sim"]
    again = run([sys.executable, *argv[1:]], project)
    assert again.returncode == 1, again.output  # the recorded failure reproduces: a failure
    assert f"same digest {failing.field('trace digest')[:16]}" in again.stdout
    assert "failure reproduced: AssertionError: balance is" in again.stdout
    assert again.stderr == ""


def test_sim_seed_with_a_passing_seed_passes(project: Path) -> None:
    passing = min(s for s, ok in seed_outcomes().items() if ok)
    done = run_pytest(project, "-p", "no:cacheprovider", "test_sample.py::test_checkout", f"--sim-seed={passing}")
    assert done.returncode == 0, done.output
    assert "1 passed" in done.stdout
    assert "dispatch-sim" not in done.stdout


def test_sim_faults_none_makes_the_fault_sensitive_test_pass(project: Path) -> None:
    done = run_pytest(project, "-p", "no:cacheprovider", "test_sample.py::test_checkout", "--sim-faults=none")
    assert done.returncode == 0, done.output
    assert "1 passed" in done.stdout


def test_sim_faults_override_and_trace_dir(project: Path, tmp_path: Path) -> None:
    trace_dir = tmp_path / "kept-traces"
    done = run_pytest(
        project,
        "-p",
        "no:cacheprovider",
        "test_sample.py::test_checkout_quiet",
        "--sim-faults=heavy",
        f"--sim-trace-dir={trace_dir}",
    )
    assert done.returncode == 1, done.output
    assert "fault profile: heavy" in done.stdout
    path = Path(done.field("trace file"))
    assert path.parent == trace_dir
    assert path.is_file()
    report = Path(done.field("report"))
    assert report == path.with_suffix(".html") and "<html" in report.read_text()
    assert sorted(trace_dir.iterdir()) == [path, report]  # the trace and its report, nothing else
    assert sim.Trace.load(path).digest() == done.field("trace digest")
    command = done.field("replay")
    seed = done.field("seed")
    assert command == f"pytest 'test_sample.py::test_checkout_quiet' --sim-seed={seed} --sim-faults=heavy"
    again = run(replay_argv(command), project)
    assert again.returncode == 1, again.output
    assert again.field("trace digest") == done.field("trace digest")


def test_sim_seeds_runs_k_seeds(project: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    done = run_pytest(
        project,
        "-p",
        "no:cacheprovider",
        "test_sample.py::test_count_runs",
        "--sim-seeds=5",
        env={"SIM_PLUGIN_RUNS": str(runs)},
    )
    assert done.returncode == 0, done.output
    assert runs.read_text().split() == ["0", "1", "2", "3", "4"]


def test_sim_seeds_takes_a_range(project: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    done = run_pytest(project, "-p", "no:cacheprovider", "test_sample.py::test_count_runs",
                      "--sim-seeds=7:10", env={"SIM_PLUGIN_RUNS": str(runs)})
    assert done.returncode == 0, done.output
    assert runs.read_text().split() == ["7", "8", "9"]


def test_a_seed_sweep_goes_on_past_failures_and_groups_them(project: Path) -> None:
    done = run_pytest(project, "-p", "no:cacheprovider", "test_sample.py::test_checkout")
    assert done.returncode == 1, done.output
    found = re.search(r"dispatch-sim: (\d+) of 30 seeds failed \((\d+)%\) in 1 group\(s\); "
                      r"the error above is seed (\d+)'s", done.stdout)
    assert found, done.stdout
    failed, first = int(found.group(1)), found.group(3)
    assert 1 < failed < 30
    assert found.group(2) == f"{failed / 30:.0%}".rstrip("%")
    assert done.field("seed") == first  # the report and the replay command are the first failure's
    group = re.search(rf"{failed} x AssertionError: balance is N at test_sample.py:test_checkout  "
                      rf"\(seeds ([0-9, .]+); replay: --sim-seed={first}\)", done.stdout)
    assert group, done.stdout
    assert group.group(1).split(", ")[0] == first
    # --sim-max-failures=1 stops at the first failure.
    stopped = run_pytest(project, "-p", "no:cacheprovider", "test_sample.py::test_checkout",
                         "--sim-max-failures=1")
    assert stopped.returncode == 1
    assert stopped.field("seed") == first
    if first == "0":  # one run: nothing to group
        assert "seeds failed" not in stopped.stdout
    else:
        assert f"1 of {int(first) + 1} seeds failed" in stopped.stdout


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--sim-max-failures=0"], "--sim-max-failures must be at least 1"),
        (["--sim-seeds=5:2"], "--sim-seeds must be at least 1"),
        (["--sim-faults=bogus"], "unknown fault profile 'bogus'"),
        (["--sim-seed=1", "--sim-seeds=2"], "--sim-seed and --sim-seeds exclude each other"),
        (["--sim-seeds=0"], "--sim-seeds must be at least 1"),
        (["--sim-random-seeds", "--sim-seed=3"], "--sim-random-seeds and --sim-seed exclude each other"),
        (["--sim-random-seeds", "--sim-seeds=5:9"], "give --sim-seeds=K, not A:B"),
    ],
)
def test_bad_options_are_usage_errors(project: Path, options: list[str], message: str) -> None:
    done = run_pytest(project, "-p", "no:cacheprovider", "test_sample.py::test_count_runs", *options)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.output
    assert message in done.stderr
    assert "Traceback" not in done.output
    assert "passed" not in done.stdout


SLOW = textwrap.dedent(
    """
    import time

    import registry
    import registry.test

    reg = registry.Registry("test-pytest-plugin-slow")


    @reg.function
    def noop() -> None:
        pass


    @registry.test.function(seeds=range(50), faults="none")
    async def test_slow():
        time.sleep(0.15)  # wall time: the seeds take several seconds
        await noop()


    @registry.test.function(seeds=range(50), faults="none")
    async def test_fast():
        await noop()
    """
)


def test_random_seeds_print_their_base_and_the_replay_command_is_exact(project: Path) -> None:
    done = run_pytest(project, "-p", "no:cacheprovider", "test_sample.py::test_checkout", "--sim-random-seeds")
    found = re.search(r"^dispatch-sim: random seeds start at (\d+) \(--sim-random-seeds\)$", done.stdout, re.M)
    assert found, done.output
    base = int(found.group(1))
    assert done.returncode == 1, done.output  # 30 seeds under heavy: about half fail
    seed = int(done.field("seed"))
    assert base <= seed < base + 30
    assert done.field("random seeds started at") == str(base)
    assert f"of 30 seeds failed" in done.stdout
    command = done.field("replay")
    assert command == f"pytest 'test_sample.py::test_checkout' --sim-seed={seed}"
    assert sim.Trace.load(done.field("trace file")).header["seed"] == seed
    again = run(replay_argv(command), project)
    assert again.returncode == 1, again.output
    assert again.field("trace digest") == done.field("trace digest")
    # Another session picks another base (2**31 of them).
    other = run_pytest(project, "-p", "no:cacheprovider", "test_sample.py::test_count_runs", "--sim-random-seeds",
                       "--sim-seeds=2", env={"SIM_PLUGIN_RUNS": str(project / "random-runs.txt")})
    assert other.returncode == 0, other.output
    ran = [int(s) for s in (project / "random-runs.txt").read_text().split()]
    second = int(re.search(r"random seeds start at (\d+)", other.stdout).group(1))  # type: ignore[union-attr]
    assert ran == [second, second + 1] and second != base


def test_keep_traces_keeps_passing_runs(project: Path, tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    done = run_pytest(project, "-p", "no:cacheprovider", "test_sample.py::test_count_runs", "--sim-keep-traces",
                      f"--sim-trace-dir={kept}", env={"SIM_PLUGIN_RUNS": str(tmp_path / "runs.txt")})
    assert done.returncode == 0, done.output
    traces = [sim.Trace.load(p) for p in sorted(kept.glob("*.cbor"))]
    assert sorted(t.header["seed"] for t in traces) == [0, 1, 2]
    assert {t.header["pytest_nodeid"] for t in traces} == {"test_sample.py::test_count_runs"}
    # Without the option, a passing test keeps nothing.
    quiet = tmp_path / "quiet"
    assert run_pytest(project, "-p", "no:cacheprovider", "test_sample.py::test_count_runs",
                      f"--sim-trace-dir={quiet}", env={"SIM_PLUGIN_RUNS": str(tmp_path / "runs.txt")}).returncode == 0
    assert not quiet.exists()


def test_the_failure_section_lists_each_fault_once(failing: Run) -> None:
    trace = sim.Trace.load(failing.field("trace file"))
    faults = trace.describe_faults(limit=1000).splitlines()
    assert 0 < len(faults) <= 40
    for line in faults:
        assert failing.stdout.count(line) == 1, line
    kinds = ", ".join(f"{k}={v}" for k, v in trace.fault_counts().items())
    assert failing.stdout.count(f"faults injected: {kinds}") == 1  # the note's counts, once


def test_many_faults_are_summarised_by_kind(project: Path) -> None:
    done = run_pytest(project, "-p", "no:cacheprovider", "test_sample.py::test_many_faults")
    assert done.returncode == 1, done.output
    trace = sim.Trace.load(done.field("trace file"))
    count = len(trace.faults())
    assert count > 40
    kinds = ", ".join(f"{k}={v}" for k, v in trace.fault_counts().items())
    assert f"faults injected: {count} ({kinds}); list them: python -m sim show " in done.stdout
    assert " on d" not in done.stdout.split("dispatch-sim ---")[-1]  # no fault listed one by one


@pytest.fixture(scope="module")
def slow_project(project: Path) -> Path:
    (project / "test_slow_sample.py").write_text(SLOW)
    return project


def test_a_long_sweep_shows_plain_progress_when_not_a_terminal(slow_project: Path) -> None:
    done = run_pytest(slow_project, "-p", "no:cacheprovider", "test_slow_sample.py")
    assert done.returncode == 0, done.output
    lines = re.findall(r"^dispatch-sim: test_slow_sample.py::test_slow: (\d+)/50 seeds, 0 failed, "
                       r"[\d,]+ seeds/s, about \d+ s left$", done.stdout, re.M)
    assert lines, done.stdout
    assert all(0 < int(n) < 50 for n in lines)
    assert "\x1b[K" not in done.stdout


def test_a_long_sweep_redraws_a_status_line_on_a_terminal(slow_project: Path) -> None:
    import pty

    env = dict(os.environ, COLUMNS="200")
    env.pop("PYTEST_ADDOPTS", None)
    main, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_slow_sample.py::test_slow"],
        cwd=slow_project, env=env, stdin=secondary, stdout=secondary, stderr=secondary,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the terminal closed: pytest exited
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    assert process.wait(timeout=120) == 0
    output = b"".join(chunks).decode("utf-8", "replace")
    redraws = re.findall(r"\r\x1b\[Kdispatch-sim: test_slow_sample.py::test_slow: (\d+)/50 seeds", output)
    assert len(redraws) >= 2, repr(output)
    assert [int(n) for n in redraws] == sorted(int(n) for n in redraws)
    assert "1 passed" in output


HYPOTHESIS_SAMPLE = textwrap.dedent(
    """
    from hypothesis import given

    import registry
    from sim.hypothesis import simulations

    reg = registry.Registry("test-pytest-plugin-hypothesis")
    balance = {"cents": 0}


    @reg.function
    def debit(cents: int) -> None:
        balance["cents"] -= cents


    @reg.function
    async def checkout() -> None:
        for _ in range(10):
            await debit(1)


    @given(s=simulations(faults="heavy"))
    def test_checkout_drawn(s):
        balance["cents"] = 100
        s.run(checkout())
        assert balance["cents"] == 90, f"balance is {balance['cents']}"
    """
)


@pytest.fixture(scope="module")
def hypothesis_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hypothesis-project")
    (root / "test_drawn.py").write_text(HYPOTHESIS_SAMPLE)
    return root


def test_a_hypothesis_example_trace_records_its_test_and_replays(hypothesis_project: Path, tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    done = run_pytest(hypothesis_project, "-p", "no:cacheprovider", "test_drawn.py", f"--sim-trace-dir={kept}",
                      "--hypothesis-show-statistics", env={"HYPOTHESIS_STORAGE_DIRECTORY": str(tmp_path / "db")})
    assert done.returncode == 1, done.output
    assert "explain phase" not in done.stdout  # the plugin's fast settings: no explain phase
    assert "DeadlineExceeded" not in done.stdout and "Flaky" not in done.stdout
    found = re.search(r"replay: python -m sim replay (\S+)", done.stdout)
    assert found, done.stdout
    path = Path(found.group(1))
    assert path.parent == kept
    trace = sim.Trace.load(path)
    assert trace.header["pytest_nodeid"] == "test_drawn.py::test_checkout_drawn"
    assert trace.header["hypothesis"] is True
    again = run([sys.executable, "-m", "sim", "replay", str(path)], hypothesis_project)
    assert again.returncode == 1, again.output
    assert f"same digest {trace.digest()[:16]}" in again.stdout
    assert "failure reproduced: AssertionError: balance is 89" in again.stdout


def test_hypothesis_traces_never_follow_a_planted_symlink(hypothesis_project: Path, tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    planted = temp / f"dispatch-sim-traces-{os.getuid()}"
    planted.symlink_to(elsewhere)  # another user's trap where our private folder would go
    done = run_pytest(hypothesis_project, "-p", "no:cacheprovider", "test_drawn.py",
                      env={"TMPDIR": str(temp), "HYPOTHESIS_STORAGE_DIRECTORY": str(tmp_path / "db")})
    assert done.returncode == 1, done.output
    found = re.search(r"dispatch-sim trace: (\S+)", done.stdout)
    assert found, done.stdout
    path = Path(found.group(1))
    assert list(elsewhere.iterdir()) == []
    assert planted.is_symlink()
    assert path.is_file() and path.parent.parent == temp and path.parent != planted
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert (path.stat().st_mode & 0o777) == 0o600


def test_the_private_trace_folder_is_made_0700(tmp_path: Path) -> None:
    from sim.hypothesis import _private_directory

    made = _private_directory(tmp_path / "private")
    assert made == tmp_path / "private" and (made.stat().st_mode & 0o777) == 0o700
    assert _private_directory(made) == made  # ours and private: reused
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    assert _private_directory(shared) != shared  # not private: a fresh one instead
