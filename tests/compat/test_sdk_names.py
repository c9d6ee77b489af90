"""Every public name of the SDK's programming model has its counterpart under registry."""

from __future__ import annotations

import importlib
import inspect

import pytest

import registry
import registry.test

# SDK module -> names ported code imports from it, and where they live here.
COUNTERPARTS = {
    "dispatch": (
        "registry",
        ["Call", "Client", "ClientError", "DispatchID", "Error", "Input", "Output", "Registry",
         "Reset", "Status", "all", "any", "call", "function", "gather", "race", "batch",
         "default_registry", "set_default_registry", "Batch", "Function", "AnyException"],
    ),
    "dispatch.coroutine": ("registry", ["AnyException", "all", "any", "call", "gather", "race"]),
    "dispatch.function": (
        "registry",
        ["Batch", "Client", "Registry", "Reset", "default_registry", "set_default_registry",
         "PrimitiveFunction", "Function"],
    ),
    "dispatch.proto": ("registry", ["Arguments", "Call", "CallResult", "Error", "Input", "Output"]),
    "dispatch.status": (
        "registry",
        ["Status", "status_for_error", "status_for_output", "register_error_type",
         "register_output_type"],
    ),
    "dispatch.error": (
        "registry.error",
        ["DispatchError", "TimeoutError", "ThrottleError", "InvalidArgumentError",
         "InvalidResponseError", "TemporaryError", "PermanentError", "IncompatibleStateError",
         "DNSError", "TCPError", "TLSError", "HTTPError", "UnauthenticatedError",
         "PermissionDeniedError", "NotFoundError"],
    ),
    "dispatch.test": (
        "registry.test",
        ["function", "method", "run", "main", "DISPATCH_ENDPOINT_URL", "DISPATCH_API_URL", "DISPATCH_API_KEY"],
    ),
}


@pytest.mark.parametrize("sdk_module", sorted(COUNTERPARTS))
def test_every_sdk_name_has_a_counterpart(sdk_module: str) -> None:
    module_name, names = COUNTERPARTS[sdk_module]
    module = importlib.import_module(module_name)
    missing = [n for n in names if not hasattr(module, n)]
    assert missing == [], f"{sdk_module} names missing from {module_name}: {missing}"


def test_sdk_methods_exist_with_sdk_names() -> None:
    for cls, methods in [
        (registry.Registry, ["function", "primitive_function", "batch", "close", "endpoint", "name", "client"]),
        (registry.Function, ["dispatch", "build_call", "name", "endpoint"]),
        (registry.Batch, ["add", "add_call", "clear", "dispatch"]),
        (registry.Client, ["dispatch"]),
        (registry.Output, ["value", "error", "poll", "tail_call", "exit"]),
        (registry.Error, ["from_exception", "to_exception"]),
    ]:
        for method in methods:
            assert hasattr(cls, method), f"{cls.__name__}.{method}"
