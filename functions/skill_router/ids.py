"""Genesys ids, checked as what they are before they reach a URL path or a DynamoDB key.

Genesys Cloud names conversations, queues, skills, users and orgs by UUID (the Platform API's
`{conversationId}` path parameters and every `id` in its models). Anything else in one of those
places came from a hostile or broken sender: `x/../../users/<id>` would be sent by the SDK as
written (it does not encode `/`), and a 3,000-character value is past DynamoDB's key limit.
"""

from __future__ import annotations

import re

from skill_router.errors import SkillRouterError

# ASCII hex only (no \d, which matches other scripts' digits) and fullmatch, not `$` (which
# accepts a trailing newline).
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class InvalidId(SkillRouterError, ValueError):
    """A value that should be a Genesys id and is not."""


def is_genesys_id(value: object) -> bool:
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def require_id(value: object, what: str) -> str:
    """`value` if it is a Genesys id (a UUID); InvalidId naming `what` otherwise (the value is
    shown shortened and escaped: it may be long, or carry control characters)."""
    if is_genesys_id(value):
        return str(value)
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise InvalidId(f"{what} {shown} is not a Genesys id (a UUID)")


def event_source_org(source: object) -> str | None:
    """The org id in a Genesys partner event source name, aws.partner/genesys.com/cloud/<org id>/<name>
    (lower case), or None when `source` is not such a name."""
    parts = source.split("/") if isinstance(source, str) else []
    if len(parts) != 5 or parts[:3] != ["aws.partner", "genesys.com", "cloud"] or not parts[4]:
        return None
    return parts[3].lower() if is_genesys_id(parts[3]) else None
