"""Which registered function is running in this context: the frame and the sync call.

Every other registry module reads these; this one imports none of them, which
is what keeps the registry's modules free of import cycles.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

from sim import DispatchID
from sim.lowlevel import register_call_locator

if TYPE_CHECKING:
    from ._coroutine import Frame

__all__ = ["current_dispatch_id", "current_frame", "frame_var", "require_frame", "running_sync"]

# The frame whose coroutine is being stepped; each frame's context sets it.
frame_var: ContextVar[Frame | None] = ContextVar("dispatch_registry_frame", default=None)

running_sync: ContextVar[tuple[str, DispatchID]] = ContextVar("dispatch_registry_running_sync")
"""The sync function whose body is running now, as (name, dispatch id)."""


def current_frame() -> Frame | None:
    """The frame whose coroutine is being stepped right now, if any."""
    return frame_var.get()


def require_frame(what: str) -> None:
    """Raise a RuntimeError saying `what` needs an async registered function around it."""
    if frame_var.get() is None:
        raise RuntimeError(f"{what} can only be awaited inside an async registered function")


def current_dispatch_id() -> DispatchID | None:
    """The DispatchID of the registered function running in this context, if any."""
    frame = frame_var.get()
    if frame is not None:
        return frame.dispatch_id
    running = running_sync.get(None)
    return running[1] if running is not None else None


# sim.note, sim.always & co. and sim.buggify name the call whose code runs them;
# only the model knows which one it is.
register_call_locator(current_dispatch_id)
