"""The Dispatch SDK's own status, error and function test modules, run against `registry`.

They are read from a checkout of the SDK (dispatch-py) named by the
DISPATCH_SDK_SOURCE environment variable, never copied here, and run by a
real pytest in a subprocess with `sdk_alias` as a plugin, so their
`import dispatch...` lines import our counterparts. Without a checkout the
test skips, saying how to run it.

Left out, deliberately: the status module's `http_response_code_status`
tests (the SDK's HTTP integration is absent here); test_any and
test_scheduler, which import the protobuf `dispatch.any` (absent: values
cross calls as CBOR); and the end-to-end `dispatch.test.TestCase` suite,
which drives an HTTP endpoint. The behaviour those check (gather/any/race,
greet, echo, errors, nested calls, distributed merge sort) is covered by our
own tests in tests/compat.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
MODULES = ("tests/dispatch/test_status.py", "tests/dispatch/test_error.py", "tests/dispatch/test_function.py")


def _sdk_checkout() -> Path:
    source = os.environ.get("DISPATCH_SDK_SOURCE")
    if not source:
        pytest.skip(
            "set DISPATCH_SDK_SOURCE to a checkout of dispatch-py "
            "(git clone https://github.com/dispatchrun/dispatch-py) to run its suites against registry"
        )
    root = Path(source)
    missing = [m for m in MODULES if not (root / m).is_file()]
    if missing:
        pytest.fail(f"DISPATCH_SDK_SOURCE={source!r} is not a dispatch-py checkout: no {', '.join(missing)}")
    return root


@pytest.mark.parametrize("module", MODULES)
def test_sdk_suite_passes_against_registry(module: str, tmp_path: Path) -> None:
    root = _sdk_checkout()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "sdk_alias",
            "-k", "not http_response_code_status", "--rootdir", str(tmp_path),
            str(root / module),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
