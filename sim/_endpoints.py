"""Endpoints: the processes that serve functions, by URL, for every simulation.

`registry` implements `Endpoint`; the service looks endpoints up here on each
attempt, so closing a registry takes its functions off the network.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from ._protocol import DispatchID, Input, Output

__all__ = [
    "DEFAULT_ENDPOINT",
    "TIMER_FUNCTION",
    "Endpoint",
    "register_endpoint",
    "unregister_endpoint",
]

DEFAULT_ENDPOINT = "sim://default"
"""Where a call without an endpoint goes (the default registry serves it)."""

TIMER_FUNCTION = "<sleep>"
"""A call to this function is a durable timer: its input is the delay in seconds."""


class Endpoint(Protocol):
    """What the service needs from a process serving functions (registry implements it)."""

    def run(self, function: str, input: Input) -> Output | Awaitable[Output]:
        """Run one attempt of `function`. Return an awaitable only when it must await trio."""

    def forget(self, dispatch_id: DispatchID) -> None:
        """Drop any in-memory state kept for the call (a crash, or the call ended)."""


_endpoints: dict[str, Endpoint] = {}


def register_endpoint(url: str, endpoint: Endpoint) -> None:
    """Make `endpoint` reachable at `url` for every simulation."""
    current = _endpoints.get(url)
    if current is not None and current is not endpoint:
        # The type, not the repr: a default repr shows a memory address, different every run.
        kind = type(current)
        raise ValueError(
            f"endpoint {url!r} is already served by another endpoint "
            f"(a {kind.__module__}.{kind.__qualname__})"
        )
    _endpoints[url] = endpoint


def unregister_endpoint(url: str) -> None:
    """Take `url` off the network; calls to it fail with NOT_FOUND."""
    _endpoints.pop(url, None)
