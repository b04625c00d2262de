"""Who can serve a queue now: its joined members on queue, with their skills and languages.

Pure model (no I/O): what `GET /api/v2/routing/queues/{queueId}/members` (`joined=true`,
`expand=skills,languages,routingStatus`) says, reduced to what the staffing guard asks: how many
members on queue meet a caller's whole requirement, and which part of it excludes the rest.

"On queue" is Genesys' routing status (SDK model `RoutingStatus.status`): IDLE, INTERACTING,
COMMUNICATING and NOT_RESPONDING are on queue; OFF_QUEUE is not. Ids are compared
case-insensitively, as everywhere in skill-router.

`StaffingCache` is the one way the rest of the code reaches staffing: per queue, per container,
for STAFFING_CACHE_SECONDS, spent from the shared rate budget within its own share, and None
whenever staffing cannot be known (the guard is then off for that caller; never a failure).
docs/design.md, "Staffing", gives the decisions and their sources.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from skill_router.deadline import Deadline
from skill_router.errors import OutOfTime
from skill_router.genesys.budget import RateBudget
from skill_router.genesys.errors import GenesysError
from skill_router.observability import logger

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


# The permission README's table and `skill-router doctor` name for the members read: the least of
# the four RoutingApi.md accepts ("Requires ANY permissions: routing:queue:view, routing:queue:edit,
# routing:queue:readonly, routing:queueMember:manage").
MEMBERS_PERMISSION = "routing:queue:view"
MEMBERS_PAGE_SIZE = 100  # GenesysClient.queue_members reads pages of 100 ("Max value is 100")
# Staffing reads may spend at most this share of the container's rate budget in any 60 s ...
STAFFING_BUDGET_SHARE = 0.20
# ... and, to refresh a copy younger than MAX_STALE_PERIODS periods, never the last
# ASSIGNMENT_RESERVE of it: with less left in the minute than that, the older copy is used.
# A queue never read, or a copy that old, is read within the share alone: under a backlog that
# keeps the budget full, staffing is at most two periods old instead of never read again.
ASSIGNMENT_RESERVE = 0.25
MAX_STALE_PERIODS = 2
# A refresh needs at least this much of the invocation left (one page at the read timeout's scale).
MIN_SECONDS_TO_REFRESH = 3.0
# After a failed read (Genesys error, out of time) the queue is not asked again for this long.
FAILURE_BACKOFF_SECONDS = 15.0
WINDOW_SECONDS = 60.0


class MembersReader(Protocol):
    """What the cache needs of the Genesys adapter (GenesysClient): the members read, the shared
    rate budget, and the current invocation's deadline (a new deadline is a new invocation)."""

    budget: RateBudget
    deadline: Deadline

    def queue_members(self, queue_id: str, more: Callable[[], bool] | None = None) -> list[Member]: ...


class StaffingCache:
    """Who can serve each queue now, read at most once per queue per `seconds` by this container.

    `get(queue_id)` answers the cached Staffing while it is younger than `seconds`; otherwise it
    reads the queue's members again, unless staffing cannot be known, when it answers the cached
    copy (even stale) or None:
    - the members permission is missing (403): None for every queue for the rest of the
      invocation, with one WARNING naming the permission (the next invocation asks once again);
    - the rate budget: staffing reads spend at most STAFFING_BUDGET_SHARE of it in any 60 s, and
      a copy younger than MAX_STALE_PERIODS periods is refreshed only while the minute's budget
      keeps ASSIGNMENT_RESERVE of it for assignments (a queue never read, or a copy that old, is
      read within the share alone);
    - the invocation's time is nearly out, or the budget has no room in it (OutOfTime);
    - Genesys failed (after the client's own retries): not asked again for FAILURE_BACKOFF_SECONDS.
    Thread-safe: callers of the same queue on several threads cost one read.
    """

    def __init__(
        self,
        genesys: MembersReader,
        seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
        share: float = STAFFING_BUDGET_SHARE,
        reserve: float = ASSIGNMENT_RESERVE,
    ) -> None:
        self.genesys = genesys
        self.seconds = seconds
        self.clock = clock
        self.share = share
        self.reserve = reserve
        self._cached: dict[str, Staffing] = {}
        self._failed: dict[str, float] = {}  # queue id -> when its last read failed
        self._pages: deque[tuple[float, int]] = deque()  # (when, pages) of this cache's reads
        self._denied: Deadline | None = None  # the invocation that met the 403
        self._lock = threading.Lock()
        self._queue_locks: dict[str, threading.Lock] = {}

    def get(self, queue_id: str) -> Staffing | None:
        key = queue_id.lower()
        fresh = self._fresh(key)
        if fresh is not None:
            return fresh
        with self._queue_lock(key):
            fresh = self._fresh(key)  # another thread may have read it meanwhile
            if fresh is not None:
                return fresh
            return self._refresh(key, queue_id)

    # --- internals ---------------------------------------------------------------------------

    def _fresh(self, key: str) -> Staffing | None:
        cached = self._cached.get(key)
        if cached is not None and self.clock() - cached.read_at < self.seconds:
            return cached
        return None

    def _queue_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._queue_locks.setdefault(key, threading.Lock())

    def _refresh(self, key: str, queue_id: str) -> Staffing | None:
        stale = self._cached.get(key)
        now = self.clock()
        deadline = self.genesys.deadline
        if self._denied is deadline:
            return None  # the permission is missing: this invocation already knows
        failed = self._failed.get(key)
        if failed is not None and now - failed < min(FAILURE_BACKOFF_SECONDS, self.seconds):
            return stale
        overdue = stale is None or now - stale.read_at >= MAX_STALE_PERIODS * self.seconds
        if not self._room(now, keep_reserve=not overdue) or not deadline.allows(MIN_SECONDS_TO_REFRESH):
            return stale
        with self._lock:
            self._pages.append((now, 1))  # the first page, taken before the read (threads share the share)

        def more() -> bool:
            """Each page after the first is taken from the share like the first, before it is read:
            a queue of 1,000 members (10 pages) never spends more than the share of a minute."""
            moment = self.clock()
            if not self._room(moment, keep_reserve=not overdue) or not deadline.allows(MIN_SECONDS_TO_REFRESH):
                return False
            with self._lock:
                self._pages.append((moment, 1))
            return True

        try:
            members = self.genesys.queue_members(queue_id, more)
        except OutOfTime as exc:
            self._failed[key] = now
            logger.warning(
                "queue members not read whole within the staffing share of the budget or the time; "
                "staffing unknown for this queue",
                extra={"queue_id": queue_id, "reason": str(exc)},
            )
            return stale
        except GenesysError as exc:
            if exc.status == 403:
                with self._lock:  # queues read on other threads may meet the 403 too: one warning
                    first = self._denied is not deadline
                    self._denied = deadline
                self._cached.pop(key, None)
                if not first:
                    return None
                logger.warning(
                    f"the staffing guard is off: Genesys refused the queue members read (403); add "
                    f"{MEMBERS_PERMISSION} to the OAuth client's role (README Deploy step 1)",
                    extra={"queue_id": queue_id, "operation": exc.operation, "permission": MEMBERS_PERMISSION},
                )
                return None
            self._failed[key] = now
            logger.warning(
                "queue members could not be read; staffing unknown for this queue",
                extra={"queue_id": queue_id, "status": exc.status, "reason": str(exc)},
            )
            return stale
        staffing = Staffing(queue_id=key, members=tuple(members), read_at=self.clock())
        self._cached[key] = staffing
        self._failed.pop(key, None)
        return staffing

    def _room(self, now: float, keep_reserve: bool) -> bool:
        """One more page fits this cache's share of the minute and, when `keep_reserve`, leaves
        assignments the reserve of the budget."""
        budget = self.genesys.budget
        per_minute = budget.per_minute
        with self._lock:
            spent = self._spent(now)
        if spent + 1 > math.floor(per_minute * self.share):
            return False
        return not keep_reserve or budget.room() - 1 >= math.ceil(per_minute * self.reserve)

    def _spent(self, now: float) -> int:
        while self._pages and self._pages[0][0] <= now - WINDOW_SECONDS:
            self._pages.popleft()
        return sum(pages for _, pages in self._pages)
