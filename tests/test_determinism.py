"""Same seed, same run: across processes and hash seeds; other seeds, other runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAM = Path(__file__).parent / "programs" / "determinism_workflow.py"


def run_in_subprocess(seed: int, faults: str, hash_seed: str) -> list[str]:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    done = subprocess.run(
        [sys.executable, str(PROGRAM), str(seed), faults],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return done.stdout.splitlines()


@pytest.mark.parametrize("faults", ["heavy", "swarm"])
def test_same_seed_same_trace_across_processes_and_hash_seeds(faults: str) -> None:
    runs = [run_in_subprocess(5, faults, h) for h in ("1", "2", "random")]
    digest, order, result = runs[0]
    assert len(digest) == 64
    for other in runs[1:]:
        assert other == runs[0]
    assert order  # function bodies ran, in one recorded order


def test_three_seeds_give_three_digests() -> None:
    digests = {run_in_subprocess(seed, "heavy", "0")[0] for seed in (1, 2, 3)}
    assert len(digests) == 3


def test_same_seed_same_trace_in_one_process() -> None:
    sys.path.insert(0, str(PROGRAM.parent))
    try:
        import determinism_workflow as workflow
    finally:
        sys.path.remove(str(PROGRAM.parent))
    first = workflow.run(11, "heavy")
    second = workflow.run(11, "heavy")
    assert first == second
    assert workflow.run(12, "heavy")[0] != first[0]
