"""The invocation's time budget: every wait and retry asks it first."""

from __future__ import annotations

import time
from collections.abc import Callable

from skill_router.errors import ConfigurationError


class Deadline:
    """Remaining time minus a safety margin, from Lambda's context or a fixed budget."""

    def __init__(self, remaining_ms: Callable[[], int], margin_seconds: float) -> None:
        self._remaining_ms = remaining_ms
        self.margin = margin_seconds

    @classmethod
    def from_context(cls, context: object, margin_seconds: float) -> Deadline:
        getter = getattr(context, "get_remaining_time_in_millis", None)
        if callable(getter):
            total = getter() / 1000.0
            if total <= margin_seconds:
                # Every run would stop before it starts: say so (a failed invocation, its alarm)
                # rather than report an empty success each minute.
                raise ConfigurationError(
                    f"SAFETY_MARGIN_SECONDS={margin_seconds:g} leaves this invocation no time: it has {total:.1f} s "
                    "(the function's timeout), so no work would ever start; lower SAFETY_MARGIN_SECONDS "
                    "(default 5) or raise the function's Timeout"
                )
            return cls(getter, margin_seconds)
        return cls.fixed(900.0, margin_seconds)

    @classmethod
    def fixed(cls, seconds: float, margin_seconds: float = 0.0) -> Deadline:
        end = time.monotonic() + seconds
        return cls(lambda: int((end - time.monotonic()) * 1000), margin_seconds)

    def remaining(self) -> float:
        """Seconds left for work, after the safety margin."""
        return self._remaining_ms() / 1000.0 - self.margin

    def until_timeout(self) -> float:
        """Seconds until Lambda ends the invocation (the margin included): how long a lease or a
        claim taken now must last, since a killed run cannot hold it past this."""
        return self.remaining() + self.margin

    def allows(self, seconds: float) -> bool:
        return self.remaining() > seconds

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0
