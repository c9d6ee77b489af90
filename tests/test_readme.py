"""The README's seed-sweep example fails exactly as the README shows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.index("\n### ", start + len(title))
    return text[start:end]


def test_seed_sweep_example_output_matches_the_readme(tmp_path: Path) -> None:
    section = _section(README.read_text(), "### Finding a bug with a seed sweep")
    code, shown = re.findall(r"```(?:python)?\n(.*?)```", section, re.S)
    (tmp_path / "test_checkout.py").write_text("import registry\nimport registry.test\n\n" + code)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "test_checkout.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    for line in shown.splitlines():
        line = line.strip()
        if line.startswith(("E ", "seed:", "fault profile:", "trace digest:", "replay:")) or (
            line.startswith(("response_lost", "crash", "endpoint_error"))
        ):
            assert line in done.stdout, f"README line not in the output: {line!r}\n{done.stdout}"


def test_the_exploration_sections_snippets_run(tmp_path: Path) -> None:
    text = README.read_text()
    blocks = []
    for title in ("### Properties", "### BUGGIFY", "### Targeted faults", "### Fault scripts"):
        blocks += re.findall(r"```python\n(.*?)```", _section(text, title), re.S)
    source = "import registry, registry.test, sim\n\n" + "\n".join(blocks)
    source += (
        "\n\ndef test_the_buggify_site_reads():\n"
        "    assert registry.test.run(read_stock('widget'), faults='none') == 1\n"
    )
    (tmp_path / "test_snippets.py").write_text(source)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "test_snippets.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
