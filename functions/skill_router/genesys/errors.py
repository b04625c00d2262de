"""Errors from Genesys, classified once so callers decide with `transient` and `status`."""

from __future__ import annotations

import json

from skill_router.errors import SkillRouterError

TRANSIENT_STATUSES = frozenset({0, 408, 429, 500, 502, 503, 504})


class GenesysError(SkillRouterError):
    def __init__(self, operation: str, status: int, message: str, retry_after: str | None = None) -> None:
        self.operation = operation
        self.status = status
        self.message = message
        self.retry_after = retry_after
        super().__init__(f"{operation}: HTTP {status}: {message}" if status else f"{operation}: {message}")

    @property
    def transient(self) -> bool:
        """Worth trying again later: no usable answer, throttling, a server error, a redirect
        (Genesys's API does not redirect; a proxy or load balancer in between did), or a 2xx
        whose body could not be read. One such answer must not end a caller's chances."""
        return self.status in TRANSIENT_STATUSES or 300 <= self.status < 400 or self.unreadable

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def unreadable(self) -> bool:
        """Genesys answered 2xx, but with a body the SDK could not read (the call itself worked)."""
        return 200 <= self.status < 300


def message_from_body(body: str | bytes | None) -> str:
    """The `message` of a Genesys error body, never the headers (they carry the token)."""
    if not body:
        return ""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return str(body)[:200]
    if isinstance(data, dict):
        code = data.get("code")
        message = str(data.get("message") or "")[:300]
        return f"{message} ({code})" if code else message
    return str(data)[:200]
