"""Who can serve a queue now: its joined members on queue, with their skills and languages.

Pure model (no I/O): what `GET /api/v2/routing/queues/{queueId}/members` (`joined=true`,
`expand=skills,languages,routingStatus`) says, reduced to what the staffing guard asks: how many
members on queue meet a caller's whole requirement, and which part of it excludes the rest.

"On queue" is Genesys' routing status (SDK model `RoutingStatus.status`): IDLE, INTERACTING,
COMMUNICATING and NOT_RESPONDING are on queue; OFF_QUEUE is not. Ids are compared
case-insensitively, as everywhere in skill-router.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

ON_QUEUE = frozenset({"IDLE", "INTERACTING", "COMMUNICATING", "NOT_RESPONDING"})


@dataclass(frozen=True)
class Member:
    """One member of a queue (SDK `QueueMember`, its `user` expanded with skills and languages)."""

    user_id: str
    routing_status: str  # RoutingStatus.status, upper case; "" when Genesys did not say
    joined: bool = True
    skills: Mapping[str, float] = field(default_factory=dict)  # skill id (lower case) -> proficiency
    languages: Mapping[str, float] = field(default_factory=dict)  # language id (lower case) -> proficiency

    @property
    def on_queue(self) -> bool:
        return self.joined and self.routing_status.upper() in ON_QUEUE

    def meets(self, skill_ids: Iterable[str], language_id: str | None) -> bool:
        """This member has every skill and the language (any proficiency)."""
        return all(s.lower() in self.skills for s in skill_ids) and (
            not language_id or language_id.lower() in self.languages
        )


@dataclass(frozen=True)
class Staffing:
    """A queue's members as read at `read_at` (epoch seconds)."""

    queue_id: str
    members: tuple[Member, ...]
    read_at: float

    @property
    def on_queue(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.on_queue)

    def serving(self, skill_ids: Iterable[str], language_id: str | None) -> int:
        """How many members on queue meet the whole requirement (all skills and the language)."""
        skills = tuple(skill_ids)
        return sum(1 for m in self.on_queue if m.meets(skills, language_id))

    def lacking(self, skill_ids: Iterable[str], language_id: str | None) -> dict[str, int]:
        """For each part of the requirement (a skill id, or `language:<id>`), how many members on
        queue lack it: what `skill-router why` names as the requirement that excludes them."""
        on_queue = self.on_queue
        counts = {s: sum(1 for m in on_queue if s.lower() not in m.skills) for s in skill_ids}
        if language_id:
            counts[f"language:{language_id}"] = sum(1 for m in on_queue if language_id.lower() not in m.languages)
        return counts


class StaffingSource(Protocol):
    """Where the guard reads a queue's staffing (`StaffingCache`): None when it is not known
    (permission missing, budget or time out, a Genesys error): the guard is then off for the
    caller and the rule applies as before, never a failure."""

    def get(self, queue_id: str) -> Staffing | None: ...
