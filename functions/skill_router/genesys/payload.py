"""Reading Genesys' JSON answers leniently (the analytics details query, read without the SDK's
deserialiser: client.py's discovery and report.py): a field that is not what the docs say is
treated as absent, never raised."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array (participants, sessions, segments, metrics); [] for anything else."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def utc_time(value: Any) -> datetime | None:
    """An ISO-8601 time (`2026-12-05T10:00:00.000Z`) as an aware UTC datetime; None when unreadable."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
