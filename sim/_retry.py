"""How the service retries attempts that end with a temporary status."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ._status import Status

__all__ = ["RetryPolicy"]


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"RetryPolicy.{attribute.name} must be > 0, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """Exponential backoff with jitter, on the virtual clock, within a budget.

    The n-th retry of a step waits ``initial_backoff * multiplier**(n-1)``
    seconds, capped at ``max_backoff``, plus up to ``jitter`` times that
    (chosen by the simulation's decisions). A step is given up after
    ``max_attempts`` failed attempts, or when a retry would start more than
    ``max_duration`` virtual seconds after the step's first attempt; the
    caller then gets the last error.
    """

    max_attempts: int = attrs.field(default=20)
    initial_backoff: float = attrs.field(default=0.1, validator=_positive)
    multiplier: float = attrs.field(default=2.0, validator=_positive)
    max_backoff: float = attrs.field(default=60.0, validator=_positive)
    jitter: float = attrs.field(default=0.5)
    max_duration: float = attrs.field(default=3600.0, validator=_positive)

    @max_attempts.validator
    def _check_attempts(self, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be an int >= 1, got {value!r}")

    @jitter.validator
    def _check_jitter(self, attribute: attrs.Attribute[float], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"RetryPolicy.jitter must be within [0, 1], got {value!r}")

    def backoff(self, failures: int, jitter_fraction: float) -> float:
        """Delay before the retry that follows the `failures`-th failure."""
        try:
            base = min(self.initial_backoff * self.multiplier ** (failures - 1), self.max_backoff)
        except OverflowError:  # a huge failure count: the cap applies anyway
            base = self.max_backoff
        return base * (1.0 + self.jitter * jitter_fraction)

    def retry_delay(
        self, status: Status, failures: int, started: float, now: float, jitter: Callable[[], float]
    ) -> float | None:
        """The whole retry question, answered once: how long to wait before retrying, or None.

        A step whose `failures`-th consecutive attempt failed with `status` at
        virtual time `now`, having started at `started`, is retried when the
        status is temporary, attempts are left, and the retry would start within
        ``max_duration`` of the start. `jitter` is drawn only when a delay is
        computed (it is a recorded decision).
        """
        if not status.temporary or failures >= self.max_attempts:
            return None
        delay = self.backoff(failures, jitter())
        # Written as `now + delay - started` (not `now - started + delay`): the
        # float rounding decides edge cases, and recorded runs depend on it.
        return delay if now + delay - started <= self.max_duration else None
