"""A thin import alias: `import dispatch...` gives `registry`'s counterparts.

Loaded as a pytest plugin (`-p sdk_alias`) by test_sdk_suites.py, so the
Dispatch SDK's own test modules, read from a checkout of the SDK, import
our names where they import the SDK's. Nothing of the SDK is kept here.
"""

from __future__ import annotations

import sys
import types

import registry
import registry.error
import registry.test

_ALIASES = {
    "dispatch": registry,
    "dispatch.coroutine": registry,
    "dispatch.function": registry,
    "dispatch.proto": registry,
    "dispatch.status": registry,
    "dispatch.error": registry.error,
    "dispatch.test": registry.test,
}


def _http_response_code_status(code: int) -> registry.Status:
    # The SDK's HTTP integration is deliberately absent (README, SDK table);
    # its status test module imports this name, so it exists and says so.
    raise NotImplementedError("dispatch.integrations.http is deliberately absent from registry")


def _install() -> None:
    sys.modules.update(_ALIASES)
    integrations = types.ModuleType("dispatch.integrations")
    http = types.ModuleType("dispatch.integrations.http")
    http.http_response_code_status = _http_response_code_status  # type: ignore[attr-defined]
    integrations.http = http  # type: ignore[attr-defined]
    sys.modules["dispatch.integrations"] = integrations
    sys.modules["dispatch.integrations.http"] = http


_install()
