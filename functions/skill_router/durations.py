"""One grammar for durations, wherever a user writes one: an escalation step's `after:`,
`skill-router matrix explain --waited` and `skill-router audit --since`.

A whole number of seconds (90), or a number and a unit: 90s, 2m, 1h, 2d.
"""

from __future__ import annotations

import re
from typing import Any

# At most 15 digits: far beyond any wait (MAX_WAIT_SECONDS is at most a year), and never an
# integer too long for Python to convert or a date too far for datetime.
_DURATION = re.compile(r"^\s*(\d{1,15})\s*(s|m|h|d)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> int | None:
    """Seconds from 90, "90", "90s", "2m", "1h" or "2d"; None when it is none of those."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return int(m.group(1)) * _UNIT_SECONDS[(m.group(2) or "s").lower()]
    return None


def format_duration(seconds: float) -> str:
    """90 -> "1m30s", 300 -> "5m", 45 -> "45s": how durations are written back to a user."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"
