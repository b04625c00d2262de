"""How a plain Python value is written to and read from a DynamoDB item, and how times are spelled."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def typed(value: Any) -> dict[str, Any]:
    """A plain value as a DynamoDB attribute value (a set of strings is a string set)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, Mapping):
        return {"M": {str(k): typed(v) for k, v in value.items()}}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, datetime):
        return {"S": format_time(value)}
    if isinstance(value, set | frozenset):
        return {"SS": sorted(str(v) for v in value)}
    if isinstance(value, list | tuple):
        return {"L": [typed(v) for v in value]}
    return {"S": str(value)}


def plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain values (a string set reads back as a sorted list)."""
    return {key: _untyped(value) for key, value in item.items()}


def _untyped(value: Mapping[str, Any]) -> Any:
    ((kind, data),) = value.items()
    if kind == "N":
        number = float(data)
        return int(number) if number.is_integer() else number
    if kind == "L":
        return [_untyped(v) for v in data]
    if kind == "M":
        return {k: _untyped(v) for k, v in data.items()}
    if kind == "SS":
        return sorted(data)
    if kind == "BOOL":
        return bool(data)
    if kind == "NULL":
        return None
    return data
