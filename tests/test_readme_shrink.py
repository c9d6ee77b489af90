"""The README's shrink, fork and PCT sections show what the commands print."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(title)
    return text[start : text.index("\n### ", start + len(title))]


def _commands_and_output(section: str) -> list[tuple[list[str], list[str]]]:
    """Each ``$ python -m sim ...`` line of the section's blocks, with the lines it printed."""
    found: list[tuple[list[str], list[str]]] = []
    for language, block in re.findall(r"```(\w*)\n(.*?)```", section, re.S):
        if language:
            continue
        for line in block.splitlines():
            if line.startswith("$ "):
                found.append((shlex.split(line[2:]), []))
            elif found:
                found[-1][1].append(line)
    return found


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    assert argv[:3] == ["python", "-m", "sim"], argv
    return subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_shrink_and_fork_sections_match_the_commands(tmp_path: Path) -> None:
    # Run from the project root (the test file is loaded by path), writing under tmp_path.
    steps = _commands_and_output(_section("### Shrinking a failure"))
    steps += _commands_and_output(_section("### Branching from a run"))
    for argv, shown in steps:
        argv = [str(tmp_path / a) if a in ("runs", "min.cbor") or a.startswith("runs/") else a for a in argv]
        done = _run(argv, ROOT)
        assert done.returncode in (0, 1), done.stdout + done.stderr
        for line in shown:
            if "s; failure:" in line:  # the time taken varies
                line = line.split(", ")[0]
            line = line.replace("min.cbor", str(tmp_path / "min.cbor"))
            assert line.strip() in done.stdout, f"README line not printed: {line!r}\n{done.stdout}"


def test_pct_section_figures() -> None:
    section = _section("### PCT schedules")
    uniform, pct = (c for c, _ in _commands_and_output(section) if c[:4] == ["python", "-m", "sim", "sweep"])
    rates = []
    for argv in (uniform, pct):
        done = _run([*argv, "--no-shrink"], ROOT)
        rates.append(re.search(r"sweep: 200 seeds, (\d+) failed", done.stdout).group(1))  # type: ignore[union-attr]
    assert f"fails in {rates[0]} of 200 uniform seeds" in " ".join(section.split())
    assert f"and {rates[1]} of 200 PCT seeds" in " ".join(section.split())
