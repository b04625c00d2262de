"""A local Genesys Cloud: the few Platform API endpoints skill-router uses, with their real JSON shapes.

It is an HTTP server on 127.0.0.1 that the real PureCloudPlatformClientV2 SDK talks to, so a test
exercises the SDK's serialisation and deserialisation, not a stand-in for it. State lives in memory
behind one lock; the test drives it (seed skills, queues, conversations; move callers in and out of
queues; switch faults on) while the product calls it over HTTP.

Field names follow the Platform API (camelCase): the analytics details query answers with
`conversations[].participants[].sessions[].segments[]` carrying `queueId`, `segmentType`,
`requestedRoutingSkillIds` and `segmentEnd` and no attributes; GET /api/v2/conversations/{id}
answers with `participants[].attributes` and, on the ACD participant, `conversationRoutingData`.
Errors use Genesys's body: `{"message", "code", "status", "messageParams", "contextId", "details", "errors"}`.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from tests.simulator import skill_expressions

JSON = dict[str, Any]
PRIORITY_BOUND = 25_000_000
TOKEN_LIFETIME_SECONDS = 86_399
MEDIA_LISTS = {"voice": "calls", "chat": "chats", "email": "emails", "message": "messages", "callback": "callbacks"}


class SimError(Exception):
    """An error answer, in Genesys's error body."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})

    def body(self) -> JSON:
        return {
            "message": self.message,
            "code": self.code,
            "status": self.status,
            "messageParams": {},
            "contextId": str(uuid.uuid4()),
            "details": [],
            "errors": [],
        }


@dataclass
class AcdLeg:
    """One stay in a queue: the ACD participant and its interact segment."""

    participant_id: str
    queue_id: str
    start: float
    skills: list[str]
    priority: int
    initial_skills: tuple[str, ...]  # what analytics reports: the segment's skills when it began
    end: float | None = None
    language_id: str | None = None
    # How the leg left its queue, for analytics' metrics on the ACD session: "answered",
    # "abandoned" or "flowout" (see _leg_metrics); None while it waits.
    outcome: str | None = None
    # conversationRoutingData.skillExpression / skillExpressionId on the ACD participant (SDK
    # model ConversationRoutingData, PureCloudPlatformClientV2 269.0.0): set by an Architect flow's
    # "Set Skill Expression Filters", a person, or a PATCH that sends `skillExpression`.
    skill_expression: str | None = None
    skill_expression_id: str | None = None


@dataclass
class SimMember:
    """One member of a queue (SDK model QueueMember) and the user behind it (SDK model User):
    `skills`/`languages` are id -> proficiency (UserRoutingSkill/UserRoutingLanguage.proficiency,
    0-5), `status` is RoutingStatus.status (OFF_QUEUE, IDLE, INTERACTING, NOT_RESPONDING,
    COMMUNICATING), `joined` is QueueMember.joined (a member who has not joined takes no calls)."""

    user_id: str
    name: str
    status: str = "IDLE"
    joined: bool = True
    skills: dict[str, float] = field(default_factory=dict)
    languages: dict[str, float] = field(default_factory=dict)
    status_since: float = 0.0
    # Skills listed with state "inactive" (UserRoutingSkill.state: "Activate or deactivate this
    # routing skill"): still on the user, not used for routing.
    inactive: set[str] = field(default_factory=set)


# RoutingStatus.status values (SDK model RoutingStatus, PureCloudPlatformClientV2 269.0.0).
ROUTING_STATUSES = ("OFF_QUEUE", "IDLE", "INTERACTING", "NOT_RESPONDING", "COMMUNICATING")
# RoutingApi.md, get_routing_queue_members: "Requires ANY permissions: routing:queue:view,
# routing:queue:edit, routing:queue:readonly, routing:queueMember:manage"; page_size "Max value is 100"
# (default 25); "results are sorted by name".
QUEUE_MEMBERS_PERMISSIONS = (
    "routing:queue:view",
    "routing:queue:edit",
    "routing:queue:readonly",
    "routing:queueMember:manage",
)
QUEUE_MEMBERS_PATH = r"^/api/v2/routing/queues/[^/]+/members$"
MEMBERS_MAX_PAGE_SIZE = 100
# POST /api/v2/routing/skillexpressions/validate (tests/simulator/skill_expressions.py cites each
# behaviour): its one permission (MyPureCloud/platform-client-sdk-cli,
# build/gc/cmd/routing_skillexpressions_validate: FormatPermissions).
SKILL_EXPRESSIONS_VALIDATE_PATH = "/api/v2/routing/skillexpressions/validate"
SKILL_EXPRESSIONS_PERMISSION = "routing:skillExpressions:add"


@dataclass
class SimConversation:
    id: str
    start: float
    media_type: str
    customer_id: str
    attributes: dict[str, str]
    legs: list[AcdLeg] = field(default_factory=list)
    end: float | None = None
    # What else the conversation is: "queued" (reaches ACD), "ivr" (still in the IVR/bot: an open
    # `ivr` segment), "outbound" (an agent dialled out), "internal" (user to user). Only ACD legs
    # carry a `queueId`; the others are what a day-matched interval also returns (see analytics_query).
    kind: str = "queued"
    direction: str = "inbound"
    reported_start: float | None = None  # what analytics reports, when a test wants a corrupt value

    def open_leg(self) -> AcdLeg | None:
        return next((leg for leg in self.legs if leg.end is None), None)


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    remaining: int | None
    retry_after: float | None
    body: JSON | None
    when: Callable[[Any], bool] | None = None  # on the request body, e.g. one page of a query


@dataclass
class Hook:
    method: str
    pattern: re.Pattern[str]
    stage: str  # "before" serving, "instead" of serving (dropped unanswered), "after" serving, before answering
    callback: Callable[[], None]
    remaining: int | None


@dataclass
class Delay:
    method: str
    pattern: re.Pattern[str]
    seconds: float
    remaining: int | None


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    status: int
    at: float
    body: Any


class GenesysSimulator:
    """The simulator and its controls. Use as a context manager, or start()/stop()."""

    def __init__(self, clock: Callable[[], float] = time.time, analytics_lag_seconds: float = 0.0) -> None:
        self.clock = clock
        self.analytics_lag_seconds = analytics_lag_seconds
        self.rate_limit_per_minute: int | None = None
        # Buckets of their own for some resources ("METHOD path-regex" -> allowed a minute, per
        # token): the SDK's logging docs show `inin-ratelimit-allowed: 180` on GET /api/v2/users
        # while a token's default is 300 (README "Logging"; developer.genesys.cloud
        # /organization/organization/limits#platform-api), so the headers of an answer describe
        # the bucket of that request, and two buckets may well allow the same number.
        self.resource_limits: dict[str, int] = {}
        self.lock = threading.RLock()
        self.clients: dict[str, str] = {}
        self.tokens: dict[str, float] = {}  # access token -> expiry
        self.tokens_issued = 0
        self.skills: dict[str, str] = {}  # id -> name
        self.users: dict[str, JSON] = {}
        self.queues: dict[str, str] = {}  # id -> name
        # totalHits is approximate (Genesys developer blog, "Analytics conversations API
        # behavior", 2022-04-21): the count reported is the true one times (1 + this error).
        self.total_hits_error = 0.0
        # Nothing Genesys publishes promises that only the last page is short: pages are computed
        # afresh on every request and the set shifts while a client pages (Genesys developer blog,
        # "Analytics conversations API behavior", 2022-04-21), and a page may come back with fewer
        # rows when duplicates are removed (reported of the detail-query docs in issue 19; not in
        # the docs this project has stored, so it is a switch, off by default). Every n-th
        # conversation (in list order) is then two rows for paging and one on the page it lands
        # on, so the pages before the last come back short; 0: none.
        self.duplicate_rows_every = 0
        # Genesys publishes no limit on the conversationId predicates of one details query (the
        # SDK documents only pageSize, at most 100). A switch, off by default: a query naming more
        # ids than this is refused with 400, to see the report cope with a lower limit.
        self.details_max_conversation_ids: int | None = None
        # The PATCH's answer for a conversation no longer in queue is undocumented
        # (developer.genesys.cloud, PATCH /api/v2/routing/conversations/{id} lists 400, 404, 408,
        # 409 and more without saying which): tests set 400 or 409 to see the product cope.
        self.gone_patch_status = 404
        self.conversations: dict[str, SimConversation] = {}
        self.emails: list[JSON] = []
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.delays: list[Delay] = []
        self.hooks: list[Hook] = []
        self.throttled = 0
        self._windows: dict[str, deque[float]] = {}  # per token: request times inside its rate-limit minute
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.languages: dict[str, JSON] = {}  # id -> Language (see "routing languages" below)
        self.members: dict[str, dict[str, SimMember]] = {}  # queue id -> user id -> member (see "queue members")
        # What Genesys does not document about validating an expression (skill_expressions.py).
        self.expression_rules = skill_expressions.ExpressionRules()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> GenesysSimulator:
        """Serve on a free loopback port; `make local-services` asks for a fixed one Docker can reach."""
        simulator = self

        class Handler(_Handler):
            sim = simulator

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="genesys-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> GenesysSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- seeding -----------------------------------------------------------------------------

    def add_client(self, client_id: str, client_secret: str) -> None:
        with self.lock:
            self.clients[client_id] = client_secret

    def add_skill(self, name: str, skill_id: str | None = None) -> str:
        skill_id = skill_id or str(uuid.uuid4())
        with self.lock:
            self.skills[skill_id] = name
        return skill_id

    def add_user(self, name: str, email: str, user_id: str | None = None) -> str:
        user_id = user_id or str(uuid.uuid4())
        with self.lock:
            self.users[user_id] = {"id": user_id, "name": name, "email": email, "state": "active"}
        return user_id

    def add_queue(self, name: str, queue_id: str | None = None) -> str:
        queue_id = queue_id or str(uuid.uuid4())
        with self.lock:
            self.queues[queue_id] = name
        return queue_id

    def add_conversation(
        self,
        queue_id: str | None = None,
        attributes: Mapping[str, str] | None = None,
        skills: Iterable[str] = (),
        priority: int = 0,
        start: datetime | float | None = None,
        media_type: str = "voice",
        conversation_id: str | None = None,
        kind: str | None = None,
        queued_at: datetime | float | None = None,
        reported_start: datetime | float | None = None,
    ) -> str:
        """A caller: in `queue_id` with `skills` requested (since `queued_at`, default its start),
        or still in the IVR/bot when queue_id is None. `kind` "outbound" or "internal" makes a
        live conversation that never reaches a queue; `reported_start` is what analytics says
        about its start (a corrupt value, for tests), whatever it really was."""
        began = self.clock() if start is None else _epoch(start)
        kind = kind or ("queued" if queue_id is not None else "ivr")
        if kind not in ("queued", "ivr", "outbound", "internal"):
            raise ValueError("kind is queued, ivr, outbound or internal")
        conversation = SimConversation(
            id=conversation_id or str(uuid.uuid4()),
            start=began,
            media_type=media_type,
            customer_id=str(uuid.uuid4()),
            attributes=dict(attributes or {}),
            kind=kind,
            direction="outbound" if kind == "outbound" else "inbound",
            reported_start=None if reported_start is None else _epoch(reported_start),
        )
        with self.lock:
            self.conversations[conversation.id] = conversation
            if queue_id is not None:
                at = began if queued_at is None else _epoch(queued_at)
                self._enter_queue(conversation, queue_id, skills, priority, at=at)
        return conversation.id

    def add_live_mix(self, count: int, start: datetime | float | None = None) -> list[str]:
        """`count` live conversations that are not waiting in a queue, in the mix a contact centre
        has: callers in the IVR or a bot, agents' outbound calls, internal calls, messages in a
        bot, agentless (outbound) emails. A day-matched interval returns all of them."""
        mix = (
            ("ivr", "voice"),
            ("outbound", "voice"),
            ("internal", "voice"),
            ("ivr", "message"),
            ("outbound", "email"),
        )
        return [
            self.add_conversation(kind=mix[i % len(mix)][0], media_type=mix[i % len(mix)][1], start=start)
            for i in range(count)
        ]

    # --- moving callers ----------------------------------------------------------------------

    def queue_conversation(
        self, conversation_id: str, queue_id: str, skills: Iterable[str] = (), priority: int = 0
    ) -> None:
        """The caller enters (or is transferred to) a queue: a new ACD leg."""
        with self.lock:
            conversation = self._conversation(conversation_id)
            self._enter_queue(conversation, queue_id, skills, priority, at=self.clock())

    def transfer(self, conversation_id: str, queue_id: str, skills: Iterable[str] = (), priority: int = 0) -> None:
        """A transfer to another queue: the first ACD participant's segment ends and a second ACD
        participant starts a new interact segment; both stay in analytics. The new leg's requested
        skills are the ones the transfer asks for (an Architect flow's or the agent's choice), and
        the priority score starts again (community.genesys.com, "conversation priority and score":
        a transfer re-queues the interaction; blog "Modify the priority and skills of an in-queue
        interaction", 2023-01-11: priority and skills belong to the current ACD routing)."""
        self.queue_conversation(conversation_id, queue_id, skills, priority)

    def set_attributes(self, conversation_id: str, attributes: Mapping[str, str]) -> None:
        """Participant data set by an Architect flow or a bot (merged, as Set Participant Data does)."""
        with self.lock:
            self._conversation(conversation_id).attributes.update(attributes)

    def answer(self, conversation_id: str, after: float | None = None) -> None:
        """An agent answers: the caller leaves the queue (`after` seconds after entering it, for a
        test that sets a wait up; default now)."""
        self._leave(conversation_id, "answered", after)

    def abandon(self, conversation_id: str, after: float | None = None) -> None:
        """The caller hangs up while waiting in the queue: the conversation ends."""
        self._leave(conversation_id, "abandoned", after)
        self.end_conversation(conversation_id)

    def flow_out(self, conversation_id: str, after: float | None = None) -> None:
        """The queue's flow sends the caller out unanswered (voicemail, a callback, back to the IVR)."""
        self._leave(conversation_id, "flowout", after)

    def end_conversation(self, conversation_id: str) -> None:
        """The conversation ends; a caller still in a queue hung up there (abandoned)."""
        with self.lock:
            conversation = self._conversation(conversation_id)
            now = self.clock()
            for leg in conversation.legs:
                if leg.end is None:
                    leg.end, leg.outcome = now, "abandoned"
            conversation.end = conversation.end or max([now, *(leg.end or now for leg in conversation.legs)])

    def _leave(self, conversation_id: str, outcome: str, after: float | None) -> None:
        with self.lock:
            leg = self._conversation(conversation_id).open_leg()
            if leg is not None:
                leg.end = self.clock() if after is None else leg.start + after
                leg.outcome = outcome

    def vanish(self, conversation_id: str) -> None:
        """Genesys no longer knows the conversation: 404 everywhere."""
        with self.lock:
            self.conversations.pop(conversation_id, None)

    def acd_participant(self, conversation_id: str) -> str | None:
        """The ACD participant id of the caller's current queue leg (what acd.start names)."""
        with self.lock:
            leg = self._conversation(conversation_id).open_leg()
            return leg.participant_id if leg else None

    def language(self, conversation_id: str) -> str | None:
        with self.lock:
            leg = self._conversation(conversation_id).open_leg()
            return leg.language_id if leg else None

    def wait(self, conversation_id: str, seconds: float) -> None:
        """The simulator's clock for one caller: the caller has waited `seconds` longer (the
        conversation and its queue legs began that much earlier), so a demo or a test shows
        minutes of waiting in no wall-clock time."""
        with self.lock:
            conversation = self._conversation(conversation_id)
            conversation.start -= seconds
            for leg in conversation.legs:
                leg.start -= seconds
                leg.end = None if leg.end is None else leg.end - seconds

    def routing(self, conversation_id: str) -> tuple[list[str], int]:
        """The requested skills and priority of the caller's current (or last) queue leg."""
        with self.lock:
            conversation = self._conversation(conversation_id)
            leg = conversation.open_leg() or (conversation.legs[-1] if conversation.legs else None)
            return (list(leg.skills), leg.priority) if leg else ([], 0)

    # --- faults ------------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        count: int | None = 1,
        retry_after: float | None = None,
        body: JSON | None = None,
        when: Callable[[Any], bool] | None = None,
    ) -> None:
        """Answer the next `count` matching requests (None: all) with `status` instead of serving them.

        `when` narrows the match to requests whose JSON body it accepts (one page of a query, say).
        """
        with self.lock:
            self.faults.append(Fault(method.upper(), re.compile(path_regex), status, count, retry_after, body, when))

    def hook(
        self, method: str, path_regex: str, callback: Callable[[], None], stage: str = "after", count: int | None = 1
    ) -> None:
        """Run `callback` on matching requests: "before" serving them (revoke tokens mid-run);
        "instead" of serving them, the connection then dropped (the caller died before its request
        took effect); or "after" the change is made and before the answer is sent (the change is
        done in Genesys, the caller never learns it)."""
        if stage not in ("before", "instead", "after"):
            raise ValueError("stage is 'before', 'instead' or 'after'")
        with self.lock:
            self.hooks.append(Hook(method.upper(), re.compile(path_regex), stage, callback, count))

    def delay(self, method: str, path_regex: str, seconds: float, count: int | None = None) -> None:
        """Serve matching requests `seconds` late (a slow Genesys, or one slower than our read timeout)."""
        with self.lock:
            self.delays.append(Delay(method.upper(), re.compile(path_regex), seconds, count))

    def accept_token(self, token: str, lifetime: float = TOKEN_LIFETIME_SECONDS) -> None:
        """Treat `token` as issued (one a test put in the token cache before the run)."""
        with self.lock:
            self.tokens[token] = self.clock() + lifetime

    def revoke_tokens(self) -> None:
        """Every issued token stops working (an admin revoked the client's tokens): 401 until a new login."""
        with self.lock:
            self.tokens.clear()

    # --- the request log ---------------------------------------------------------------------

    def count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        with self.lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (path_prefix is None or r.path.startswith(path_prefix))
            )

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()

    # --- internals ---------------------------------------------------------------------------

    def _conversation(self, conversation_id: str) -> SimConversation:
        try:
            return self.conversations[conversation_id]
        except KeyError:
            raise KeyError(f"the simulator has no conversation {conversation_id}") from None

    def _enter_queue(
        self, conversation: SimConversation, queue_id: str, skills: Iterable[str], priority: int, at: float
    ) -> None:
        if queue_id not in self.queues:
            raise KeyError(f"the simulator has no queue {queue_id}; add_queue() first")
        for leg in conversation.legs:
            if leg.end is None:  # moved on unanswered: a flow-out of that queue (see _leg_metrics)
                leg.end, leg.outcome = at, "flowout"
        requested = list(dict.fromkeys(skills))
        conversation.legs.append(
            AcdLeg(str(uuid.uuid4()), queue_id, at, requested, priority, initial_skills=tuple(requested))
        )

    def _hooks(self, method: str, path: str, stage: str) -> list[Callable[[], None]]:
        with self.lock:
            due = [h for h in self.hooks if h.stage == stage and h.method == method and h.pattern.match(path)]
            for h in due:
                if h.remaining is not None:
                    h.remaining -= 1
                    if h.remaining <= 0:
                        self.hooks.remove(h)
            return [h.callback for h in due]

    def _injected(self, method: str, path: str, body: Any) -> tuple[Fault | None, float]:
        with self.lock:
            fault = next(
                (
                    f
                    for f in self.faults
                    if f.method == method and f.pattern.match(path) and (f.when is None or f.when(body))
                ),
                None,
            )
            if fault is not None and fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
            wait = 0.0
            for d in list(self.delays):
                if d.method == method and d.pattern.match(path):
                    wait = max(wait, d.seconds)
                    if d.remaining is not None:
                        d.remaining -= 1
                        if d.remaining <= 0:
                            self.delays.remove(d)
            return fault, wait

    def _rate_limited(self, authorization: str | None = None, method: str = "", path: str = "") -> SimError | None:
        """Genesys's limit per token: past it, 429 with Retry-After; inside it, the inin-ratelimit headers.

        Genesys counts requests per client-credentials token per minute
        (client.credentials.token.rate.per.minute, 300 by default: developer.genesys.cloud
        /organization/organization/limits#platform-api), so every container or client sharing a
        token shares one count, and each answer reports it: `inin-ratelimit-count`, `-allowed` and
        `-reset` (seconds until the count resets; the SDK's logging docs show `count: 1`,
        `allowed: 180`, `reset: 61` on a first request). The minute here slides: `reset` is when
        the oldest counted request leaves it. A resource with a bucket of its own
        (`resource_limits`) is counted and reported there instead."""
        limit, bucket = self._bucket_for(method, path)
        if limit is None:
            return None
        with self.lock:
            now = self.clock()
            window = self._token_window(authorization, now, bucket)
            if len(window) >= limit:
                self.throttled += 1
                retry = max(1, int(window[0] + 60.0 - now + 0.999))
                return SimError(
                    429,
                    "too.many.requests",
                    f"Rate limit exceeded the maximum. [{limit} requests/60 seconds]",
                    {"Retry-After": str(retry), **self._limit_headers(limit, window, now)},
                )
            window.append(now)
            return None

    def _bucket_for(self, method: str, path: str) -> tuple[int | None, str]:
        for name, limit in self.resource_limits.items():
            wanted, _, pattern = name.partition(" ")
            if wanted == method and re.match(pattern, path):
                return limit, name
        return self.rate_limit_per_minute, ""

    def _token_window(self, authorization: str | None, now: float, bucket: str = "") -> deque[float]:
        token = (authorization or "").removeprefix("Bearer ").removeprefix("bearer ")
        window = self._windows.setdefault(f"{token}#{bucket}", deque())
        while window and window[0] <= now - 60.0:
            window.popleft()
        return window

    def _limit_headers(self, limit: int, window: deque[float], now: float) -> dict[str, str]:
        reset = max(0, int(window[0] + 60.0 - now + 0.999)) if window else 60
        return {
            "inin-ratelimit-allowed": str(limit),
            "inin-ratelimit-count": str(len(window)),
            "inin-ratelimit-reset": str(reset),
        }

    def rate_headers(self, authorization: str | None = None, method: str = "", path: str = "") -> dict[str, str]:
        limit, bucket = self._bucket_for(method, path)
        if limit is None:
            return {}
        with self.lock:
            now = self.clock()
            return self._limit_headers(limit, self._token_window(authorization, now, bucket), now)

    def log(self, method: str, path: str, query: str, status: int, body: Any) -> None:
        with self.lock:
            self.requests.append(Request(method, path, query, status, self.clock(), body))

    # --- endpoints ---------------------------------------------------------------------------

    def issue_token(self, authorization: str | None, form: Mapping[str, list[str]]) -> JSON:
        if form.get("grant_type") != ["client_credentials"]:
            raise SimError(400, "unsupported_grant_type", "grant_type must be client_credentials")
        try:
            scheme, encoded = (authorization or "").split(" ", 1)
            client_id, client_secret = base64.b64decode(encoded).decode().split(":", 1)
        except ValueError:
            raise SimError(401, "invalid_client", "client authentication failed") from None
        with self.lock:
            if scheme.lower() != "basic" or self.clients.get(client_id) != client_secret:
                raise SimError(401, "invalid_client", "client authentication failed")
            token = secrets.token_urlsafe(32)
            self.tokens[token] = self.clock() + TOKEN_LIFETIME_SECONDS
            self.tokens_issued += 1
        return {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_LIFETIME_SECONDS}

    def authorize(self, authorization: str | None) -> None:
        token = (authorization or "").removeprefix("Bearer ").removeprefix("bearer ")
        with self.lock:
            expiry = self.tokens.get(token)
            if expiry is None or expiry <= self.clock():
                raise SimError(401, "bad.credentials", "Invalid login credentials.")

    def analytics_query(self, body: Any) -> JSON:
        """POST /api/v2/analytics/conversations/details/query, as Genesys answers it.

        - The interval matches by UTC day: "Conversations will only be included in the results if
          their start occurs on a day that the interval touches. The actual time of the
          conversation start need not be within the interval" (developer.genesys.cloud, Analytics
          > Detail queries; SDK ConversationQuery.interval: "Results will only include
          conversations that started on a day touched by the interval").
        - "if no filter is supplied, you will be limited to an interval no longer than seven days.
          If you do provide a filter, the limit increases to 31 days" (same page).
        - conversationFilters and segmentFilters: each filter is `type` and/or over `predicates`
          and nested `clauses`; the filters of a list must all hold. A segment filter holds when
          one segment satisfies it, with its participant's `purpose` and its session's
          `mediaType`/`direction` (the predicate dimensions of SDK SegmentDetailQueryPredicate;
          blog "Disconnecting queued interactions", 2018-02-07, finds queued interactions with
          segment predicates on purpose acd and segmentEnd notExists).
        - totalHits is approximate and pages are computed afresh on each request, so a set that
          shrinks while a client pages shifts under it (blog "Analytics conversations API
          behavior", 2022-04-21). See total_hits_error; end callers between pages with hook().
        - order asc/desc by conversationStart (SDK ConversationQuery.order: "Sort the result set in
          ascending/descending order. Default is ascending"; orderBy default conversationStart).
        - Pages may come back short before the last: see duplicate_rows_every.
        - Analytics is not real time: the same blog advises keeping an interval's end about a
          minute behind now for complete data, and Genesys publishes no figure for how soon a
          change shows. The answer is the conversations as they were analytics_lag_seconds ago:
          a caller who queued since is not on it yet (not even one who dialled long before, in
          the IVR), and one who left since still shows as waiting.
        """
        if not isinstance(body, dict) or not isinstance(body.get("interval"), str):
            raise SimError(400, "bad.request", "interval is required")
        try:
            start_text, end_text = body["interval"].split("/")
            start, end = _parse_time(start_text), _parse_time(end_text)
        except ValueError:
            raise SimError(400, "bad.request", f"invalid interval {body['interval']!r}") from None
        if end <= start:
            raise SimError(400, "bad.request", "interval end must be after its start")
        paging = body.get("paging") or {}
        size, number = int(paging.get("pageSize", 25)), int(paging.get("pageNumber", 1))
        if not 1 <= size <= 100 or number < 1:
            raise SimError(400, "bad.request", "paging.pageSize must be 1..100 and pageNumber ≥ 1")
        conversation_filters = body.get("conversationFilters") or []
        segment_filters = body.get("segmentFilters") or []
        limit_days = 31 if (conversation_filters or segment_filters) else 7
        if end - start > limit_days * 86400:
            raise SimError(400, "bad.request", f"the interval may span at most {limit_days} days")
        first_day, last_day = _day(start), _day(end - 0.001)
        named = _named_ids(conversation_filters)
        limit = self.details_max_conversation_ids
        if named is not None and limit is not None and len(named) > limit:
            raise SimError(400, "bad.request", f"at most {limit} conversationId predicates")
        with self.lock:
            as_of = self.clock() - self.analytics_lag_seconds
            found = []
            candidates = (
                self.conversations.values()
                if named is None
                else [self.conversations[i] for i in dict.fromkeys(named) if i in self.conversations]
            )
            for current in candidates:
                if not first_day <= _day(current.start) <= last_day or current.start > as_of:
                    continue
                c = _as_of(current, as_of) if self.analytics_lag_seconds > 0 else current
                view = self._analytics_view(c, light=True)
                if all(_holds(f, _conversation_fields(view)) for f in conversation_filters) and all(
                    any(_holds(f, seg) for seg in _segment_rows(view)) for f in segment_filters
                ):
                    found.append((view["conversationStart"], c.id, c))
            found.sort(key=lambda item: (item[0], item[1]), reverse=body.get("order") == "desc")
            every = self.duplicate_rows_every
            if every > 0:
                found = [row for i, item in enumerate(found) for row in [item] * (2 if i % every == every - 1 else 1)]
            rows = found[(number - 1) * size : number * size]
            page = [item for i, item in enumerate(rows) if i == 0 or item[1] != rows[i - 1][1]]
            answer: JSON = {"totalHits": max(0, round(len(found) * (1 + self.total_hits_error)))}
            if page:  # Genesys leaves the list out of an empty page
                answer["conversations"] = [self._analytics_view(c) for _, _, c in page]
        return answer

    def _analytics_view(self, c: SimConversation, light: bool = False) -> JSON:
        """The conversation as analytics reports it. `light`: the same structure with raw epoch
        times and no session ids, cheap enough to filter thousands of conversations per page."""
        ts: Callable[[float], Any] = (lambda t: t) if light else _iso
        first_queue = c.legs[0].start if c.legs else None
        direction = c.direction
        customer_segment: JSON = {"segmentStart": ts(c.start), "segmentType": "system"}
        if first_queue is not None or c.end is not None or c.kind != "ivr":
            customer_segment["segmentEnd"] = ts(first_queue if first_queue is not None else c.end or c.start)
        participants: list[JSON] = [
            {
                "participantId": c.customer_id,
                "participantName": "Customer",
                "purpose": "customer" if c.kind != "internal" else "user",
                "sessions": [
                    {
                        "sessionId": c.customer_id if light else str(uuid.uuid5(uuid.NAMESPACE_URL, c.customer_id)),
                        "mediaType": c.media_type,
                        "direction": direction,
                        "segments": [customer_segment],
                    }
                ],
            }
        ]
        if c.kind == "ivr" or (c.kind == "queued" and first_queue is not None):
            # The Architect flow (IVR, bot) holds the caller until it transfers to a queue.
            ivr: JSON = {"segmentStart": ts(c.start), "segmentType": "ivr"}
            if first_queue is not None or c.end is not None:
                ivr["segmentEnd"] = ts(first_queue if first_queue is not None else c.end or c.start)
            participants.append(_participant(c.id + "-ivr", "ivr", c.media_type, direction, ivr, light))
        if c.kind in ("outbound", "internal"):
            # An agent is talking: an open interact segment, but of a user, not of a queue.
            talk: JSON = {"segmentStart": ts(c.start), "segmentType": "interact"}
            if c.end is not None:
                talk["segmentEnd"] = ts(c.end)
            participants.append(_participant(c.id + "-agent", "agent", c.media_type, direction, talk, light))
        for leg in c.legs:
            segment: JSON = {
                "segmentStart": ts(leg.start),  # the queue-entry time of this leg
                "segmentType": "interact",
                "queueId": leg.queue_id,
            }
            if leg.initial_skills:
                segment["requestedRoutingSkillIds"] = list(leg.initial_skills)
            if leg.end is not None:
                segment["segmentEnd"] = ts(leg.end)
            acd = _participant(leg.participant_id, "acd", c.media_type, direction, segment, light)
            acd["participantName"] = self.queues.get(leg.queue_id, "")
            if not light and leg.end is not None:
                acd["sessions"][0]["metrics"] = _leg_metrics(leg)
            participants.append(acd)
        view: JSON = {
            "conversationId": c.id,
            "conversationStart": ts(c.start if c.reported_start is None else c.reported_start),
            "originatingDirection": direction,
            "divisionIds": [],
            "participants": participants,
        }
        if c.end is not None:
            view["conversationEnd"] = ts(c.end)
        return view

    def conversation(self, conversation_id: str) -> JSON:
        with self.lock:
            c = self.conversations.get(conversation_id)
            if c is None:
                raise SimError(404, "not.found", f"Conversation {conversation_id} not found")
            media_list = MEDIA_LISTS.get(c.media_type, "calls")
            customer: JSON = {
                "id": c.customer_id,
                "startTime": _iso(c.start),
                "purpose": "customer" if c.kind != "internal" else "user",
                "ani": "tel:+15555550100",
                "attributes": dict(c.attributes),
                media_list: [{"id": str(uuid.uuid4()), "state": "disconnected" if c.end else "connected"}],
            }
            if c.end is not None:
                customer["endTime"] = _iso(c.end)
            participants: list[JSON] = [customer]
            for leg in c.legs:
                acd: JSON = {
                    "id": leg.participant_id,
                    "startTime": _iso(leg.start),
                    "purpose": "acd",
                    "name": self.queues.get(leg.queue_id, ""),
                    "queueId": leg.queue_id,
                    # SDK Participant.queue_name: "If present, the queue name that the communication
                    # channel came in on".
                    "queueName": self.queues.get(leg.queue_id, ""),
                    "attributes": {},
                    "conversationRoutingData": {
                        "queue": {"id": leg.queue_id, "selfUri": f"/api/v2/routing/queues/{leg.queue_id}"},
                        "priority": leg.priority,
                        "skills": [{"id": s, "selfUri": f"/api/v2/routing/skills/{s}"} for s in leg.skills],
                        "scoredAgents": [],
                        **(
                            {
                                "language": {
                                    "id": leg.language_id,
                                    "selfUri": f"/api/v2/routing/languages/{leg.language_id}",
                                }
                            }
                            if leg.language_id
                            else {}
                        ),
                        # ConversationRoutingData.skill_expression / skill_expression_id (SDK 269.0.0)
                        **(
                            {"skillExpression": leg.skill_expression, "skillExpressionId": leg.skill_expression_id}
                            if leg.skill_expression
                            else {}
                        ),
                    },
                    media_list: [{"id": str(uuid.uuid4()), "state": "disconnected" if leg.end else "connected"}],
                }
                if leg.end is not None:
                    acd["endTime"] = _iso(leg.end)
                participants.append(acd)
            view: JSON = {
                "id": c.id,
                "startTime": _iso(c.start),
                "participants": participants,
                "recordingState": "none",
                "selfUri": f"/api/v2/conversations/{c.id}",
            }
            if c.end is not None:
                view["endTime"] = _iso(c.end)
            return view

    def patch_routing(self, conversation_id: str, body: Any) -> JSON:
        if not isinstance(body, dict):
            raise SimError(400, "bad.request", "the body must be a JSON object")
        known = {"priority", "skillIds", "skillExpression", "languageId", "labelId", "requestScoredAgents"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise SimError(400, "bad.request", f"Unrecognized field(s): {', '.join(unknown)}")
        with self.lock:
            c = self.conversations.get(conversation_id)
            leg = c.open_leg() if c is not None and c.end is None else None
            if leg is None:
                status = self.gone_patch_status
                raise SimError(status, _code_for(status), f"Conversation {conversation_id} is not waiting in a queue")
            # RoutingConversationAttributesRequest (SDK model docs): skillIds "replaces" the requested
            # skills and an empty list removes them all; a field left out is left as it is;
            # languageId "" clears the requested language.
            # skillExpression (RoutingConversationAttributesRequest.skill_expression, SDK 269.0.0): a
            # field left out keeps the expression as it is; "" removes it (DESIGN.md, "Genesys
            # endpoints"); any other value replaces it. Genesys normalises the raw form and gives it an
            # id (ConversationRoutingData.skill_expression_id); here the text is kept as sent.
            if "skillExpression" in body:
                expression = body["skillExpression"]
                if not isinstance(expression, str) or len(expression) > 4096:
                    raise SimError(400, "bad.request", "skillExpression must be a string of at most 4,096 characters")
                leg.skill_expression = expression or None
                leg.skill_expression_id = str(uuid.uuid4()) if expression else None
            if "languageId" in body:
                language = body["languageId"]
                if not isinstance(language, str) or (language and language not in self.languages):
                    raise SimError(400, "bad.request", f"language {language!r} not found")
                leg.language_id = language or None
            if "skillIds" in body:
                skill_ids = body["skillIds"]
                if not isinstance(skill_ids, list) or not all(isinstance(s, str) for s in skill_ids):
                    raise SimError(400, "bad.request", "skillIds must be a list of skill ids")
                missing = [s for s in skill_ids if s not in self.skills]
                if missing:
                    raise SimError(400, "routing.skill.not.found", f"Skill(s) not found: {', '.join(missing)}")
                leg.skills = list(dict.fromkeys(skill_ids))  # skillIds replaces the requested skills
            if "priority" in body:
                priority = body["priority"]
                if not isinstance(priority, int) or not -PRIORITY_BOUND <= priority <= PRIORITY_BOUND:
                    raise SimError(400, "bad.request", f"priority must be an integer within ±{PRIORITY_BOUND}")
                leg.priority = priority
            # RoutingConversationAttributesResponse (SDK 269.0.0): priority, skills, language, ...,
            # skillExpression, skillExpressionId.
            return {
                "priority": leg.priority,
                "skills": [
                    {"id": s, "name": self.skills[s], "selfUri": f"/api/v2/routing/skills/{s}"} for s in leg.skills
                ],
                **(
                    {"skillExpression": leg.skill_expression, "skillExpressionId": leg.skill_expression_id}
                    if leg.skill_expression
                    else {}
                ),
            }

    def set_skill_expression(self, conversation_id: str, expression: str | None) -> None:
        """Someone else (an Architect flow's "Set Skill Expression Filters", a person) sets or clears
        the skill expression of the caller's current queue leg (ConversationRoutingData.skill_expression)."""
        with self.lock:
            leg = self._conversation(conversation_id).open_leg()
            if leg is None:
                raise KeyError(f"conversation {conversation_id} is not waiting in a queue")
            leg.skill_expression = expression or None
            leg.skill_expression_id = str(uuid.uuid4()) if expression else None

    def skill_expression(self, conversation_id: str) -> str | None:
        with self.lock:
            leg = self._conversation(conversation_id).open_leg()
            return leg.skill_expression if leg else None

    def list_skills(self, query: Mapping[str, list[str]]) -> JSON:
        size = int(query.get("pageSize", ["25"])[0])
        number = int(query.get("pageNumber", ["1"])[0])
        prefix = query.get("name", [""])[0].lower()
        wanted = set(query.get("id", []))
        with self.lock:
            entities = [
                {"id": i, "name": n, "state": "active", "selfUri": f"/api/v2/routing/skills/{i}"}
                for i, n in sorted(self.skills.items(), key=lambda item: item[1].lower())
                if n.lower().startswith(prefix) and (not wanted or i in wanted)
            ]
        total = len(entities)
        return {
            "entities": entities[(number - 1) * size : number * size],
            "pageSize": size,
            "pageNumber": number,
            "total": total,
            "pageCount": max(1, -(-total // size)),
        }

    def user(self, user_id: str) -> JSON:
        with self.lock:
            user = self.users.get(user_id)
            if user is None:
                raise SimError(404, "not.found", f"User {user_id} not found")
            return {**user, "selfUri": f"/api/v2/users/{user_id}"}

    # --- routing languages (escalation: `language:` in the matrix) ------------------------------
    # GET /api/v2/routing/languages: SDK RoutingApi.get_routing_languages(page_size, page_number,
    # sort_order, name, id) answers LanguageEntityListing {entities: [Language {id, name,
    # dateModified, state, version, selfUri}], pageSize, pageNumber, total, pageCount}
    # (PureCloudPlatformClientV2 269.0.0). `name` is not an exact match and deleted languages are
    # listed: Genesys' own Terraform provider (MyPureCloud/terraform-provider-genesyscloud, data
    # source genesyscloud_routing_language) pages through the answer for `name`, keeping the entity
    # whose name equals it and whose state is not "deleted". Modelled as a case-insensitive prefix,
    # like skills (DESIGN.md, "Genesys endpoints").

    def add_language(self, name: str, language_id: str | None = None, state: str = "active") -> str:
        language_id = language_id or str(uuid.uuid4())
        with self.lock:
            self.languages[language_id] = {
                "id": language_id,
                "name": name,
                "state": state,
                "version": "1",
                "dateModified": _iso(self.clock()),
                "selfUri": f"/api/v2/routing/languages/{language_id}",
            }
        return language_id

    def list_languages(self, query: Mapping[str, list[str]]) -> JSON:
        size = int(query.get("pageSize", ["25"])[0])
        number = int(query.get("pageNumber", ["1"])[0])
        prefix = query.get("name", [""])[0].lower()
        wanted = set(query.get("id", []))
        descending = query.get("sortOrder", ["ASC"])[0].upper() == "DESC"
        with self.lock:
            entities = sorted(
                (
                    dict(language)
                    for language in self.languages.values()
                    if language["name"].lower().startswith(prefix) and (not wanted or language["id"] in wanted)
                ),
                key=lambda language: str(language["name"]).lower(),
                reverse=descending,
            )
        total = len(entities)
        return {
            "entities": entities[(number - 1) * size : number * size],
            "pageSize": size,
            "pageNumber": number,
            "total": total,
            "pageCount": max(1, -(-total // size)),
        }

    def send_email(self, body: Any) -> JSON:
        if not isinstance(body, dict):
            raise SimError(400, "bad.request", "the body must be a JSON object")
        problems = [name for name in ("senderType", "fromAddress", "toAddresses") if not body.get(name)]
        if problems:
            raise SimError(400, "bad.request", f"missing field(s): {', '.join(problems)}")
        if not body.get("textBody") and not body.get("htmlBody"):
            raise SimError(400, "bad.request", "textBody or htmlBody is required")
        email = {"id": str(uuid.uuid4()), "conversationId": str(uuid.uuid4()), **body}
        with self.lock:
            self.emails.append(email)
        return {
            "id": email["id"],
            "conversationId": email["conversationId"],
            "senderType": body["senderType"],
            "subject": body.get("subject"),
            "dateCreated": _iso(self.clock()),
        }

    # --- queue members (the staffing guard: who can serve a queue now) --------------------------
    # GET /api/v2/routing/queues/{queueId}/members: SDK RoutingApi.get_routing_queue_members(queue_id,
    # page_number, page_size, sort_order, expand, name, profile_skills, skills, languages,
    # routing_status, presence, member_by, joined) answers QueueMemberEntityListing {entities:
    # [QueueMember], pageSize, pageNumber, firstUri, selfUri, nextUri, previousUri} with no total
    # or pageCount (PureCloudPlatformClientV2 269.0.0). A QueueMember is {id, name, user (User),
    # ringNumber, joined, memberBy, routingStatus, selfUri}; the user's `skills` (UserRoutingSkill
    # {id, name, proficiency, state, skillUri, selfUri}), `languages` (UserRoutingLanguage, the same
    # shape with languageUri) and `routingStatus` (RoutingStatus {userId, status, startTime}) are
    # "fields to expand" (RoutingApi.md: expand values include routingStatus, skills, languages): left
    # out unless asked for. pageSize "Max value is 100" (default 25), pageNumber default 1, results
    # "sorted by name" (sortOrder asc|desc), `joined` and `routingStatus` filter. Permission: any one of
    # QUEUE_MEMBERS_PERMISSIONS; deny_queue_members() answers 403 as Genesys does without it.

    def add_member(
        self,
        queue_id: str,
        skills: Mapping[str, float] | Iterable[str] = (),
        languages: Mapping[str, float] | Iterable[str] = (),
        status: str = "IDLE",
        joined: bool = True,
        name: str | None = None,
        user_id: str | None = None,
        inactive: Iterable[str] = (),
    ) -> str:
        """A member of `queue_id` with skills and languages (ids, or id -> proficiency; 5 when not
        given) in routing status `status`. Returns the user id."""
        if queue_id not in self.queues:
            raise KeyError(f"the simulator has no queue {queue_id}; add_queue() first")
        if status not in ROUTING_STATUSES:
            raise ValueError(f"status is one of {', '.join(ROUTING_STATUSES)}")
        user_id = user_id or str(uuid.uuid4())
        with self.lock:
            user = self.users.get(user_id)
            if user is None:
                name = name or f"Agent {len(self.users) + 1:05d}"
                user = self.users[user_id] = {
                    "id": user_id,
                    "name": name,
                    "email": f"agent{len(self.users) + 1}@example.com",
                    "state": "active",
                }
            self.members.setdefault(queue_id, {})[user_id] = SimMember(
                user_id=user_id,
                name=name or str(user["name"]),
                status=status,
                joined=joined,
                skills=_proficiencies(skills),
                languages=_proficiencies(languages),
                status_since=self.clock(),
                inactive=set(inactive),
            )
        return user_id

    def set_member(
        self,
        queue_id: str,
        user_id: str,
        status: str | None = None,
        joined: bool | None = None,
        skills: Mapping[str, float] | Iterable[str] | None = None,
        languages: Mapping[str, float] | Iterable[str] | None = None,
    ) -> None:
        """Change a member while callers wait: go on or off queue, join or leave, gain or lose
        skills. The next members request sees it (Genesys caches nothing for the caller)."""
        if status is not None and status not in ROUTING_STATUSES:
            raise ValueError(f"status is one of {', '.join(ROUTING_STATUSES)}")
        with self.lock:
            member = self.members.get(queue_id, {}).get(user_id)
            if member is None:
                raise KeyError(f"user {user_id} is not a member of queue {queue_id}")
            if status is not None and status != member.status:
                member.status, member.status_since = status, self.clock()
            if joined is not None:
                member.joined = joined
            if skills is not None:
                member.skills = _proficiencies(skills)
            if languages is not None:
                member.languages = _proficiencies(languages)

    def set_all_members(self, queue_id: str, status: str) -> None:
        """Every member of a queue goes to `status` (everyone logs off at 03:00: OFF_QUEUE)."""
        with self.lock:
            for user_id in list(self.members.get(queue_id, {})):
                self.set_member(queue_id, user_id, status=status)

    def remove_member(self, queue_id: str, user_id: str) -> None:
        with self.lock:
            self.members.get(queue_id, {}).pop(user_id, None)

    def deny_queue_members(self) -> None:
        """The OAuth client's role lacks every permission of QUEUE_MEMBERS_PERMISSIONS: 403 on every
        members request (RoutingApi.md: "Requires ANY permissions"). The body's code
        `missing.any.permissions` and message are what public Genesys clients match on; the SDK
        docs do not give the body, and skill-router reads only the status. Undo with
        allow_queue_members()."""
        self.fail(
            "GET",
            QUEUE_MEMBERS_PATH,
            403,
            count=None,
            body={
                "message": "Unable to perform the requested action. You must have at least one of the following "
                f"permissions assigned: [{', '.join(QUEUE_MEMBERS_PERMISSIONS)}]",
                "code": "missing.any.permissions",
                "status": 403,
                "messageParams": {},
                "contextId": str(uuid.uuid4()),
                "details": [],
                "errors": [],
            },
        )

    def allow_queue_members(self) -> None:
        with self.lock:
            self.faults = [f for f in self.faults if not (f.status == 403 and f.pattern.pattern == QUEUE_MEMBERS_PATH)]

    def member_requests(self, queue_id: str | None = None) -> int:
        """Members pages requested (each one is one Genesys call in the request log)."""
        with self.lock:
            return sum(
                1
                for r in self.requests
                if r.method == "GET"
                and re.fullmatch(r"/api/v2/routing/queues/([^/]+)/members", r.path)
                and (queue_id is None or r.path.split("/")[5] == queue_id)
            )

    def queue_members(self, queue_id: str, query: Mapping[str, list[str]]) -> JSON:
        try:
            size = int(query.get("pageSize", ["25"])[0])
            number = int(query.get("pageNumber", ["1"])[0])
        except ValueError:
            raise SimError(400, "bad.request", "pageSize and pageNumber are integers") from None
        if not 1 <= size <= MEMBERS_MAX_PAGE_SIZE or number < 1:
            raise SimError(400, "bad.request", f"pageSize is 1 to {MEMBERS_MAX_PAGE_SIZE}; pageNumber from 1")
        expand = {e for value in query.get("expand", []) for e in value.split(",") if e}
        joined = query.get("joined", [""])[0].lower()
        statuses = {s.upper() for value in query.get("routingStatus", []) for s in value.split(",") if s}
        descending = query.get("sortOrder", ["asc"])[0].lower() == "desc"
        with self.lock:
            if queue_id not in self.queues:
                raise SimError(404, "not.found", f"Queue {queue_id} not found")
            chosen = sorted(
                (
                    m
                    for m in self.members.get(queue_id, {}).values()
                    if (joined not in ("true", "false") or m.joined == (joined == "true"))
                    and (not statuses or m.status in statuses)
                ),
                key=lambda m: (m.name.lower(), m.user_id),
                reverse=descending,
            )
            page = chosen[(number - 1) * size : number * size]
            entities = [self._queue_member(queue_id, m, expand) for m in page]
        base = f"/api/v2/routing/queues/{queue_id}/members?pageSize={size}"
        listing: JSON = {
            "entities": entities,
            "pageSize": size,
            "pageNumber": number,
            "firstUri": f"{base}&pageNumber=1",
            "selfUri": f"{base}&pageNumber={number}",
        }
        if number * size < len(chosen):
            listing["nextUri"] = f"{base}&pageNumber={number + 1}"
        if number > 1:
            listing["previousUri"] = f"{base}&pageNumber={number - 1}"
        return listing

    def _queue_member(self, queue_id: str, member: SimMember, expand: set[str]) -> JSON:
        user: JSON = {"id": member.user_id, "name": member.name, "selfUri": f"/api/v2/users/{member.user_id}"}
        if "skills" in expand:
            user["skills"] = [
                {
                    "id": skill_id,
                    "name": self.skills.get(skill_id, ""),
                    "proficiency": proficiency,
                    "state": "inactive" if skill_id in member.inactive else "active",
                    "skillUri": f"/api/v2/routing/skills/{skill_id}",
                    "selfUri": f"/api/v2/users/{member.user_id}/routingskills/{skill_id}",
                }
                for skill_id, proficiency in member.skills.items()
            ]
        if "languages" in expand:
            user["languages"] = [
                {
                    "id": language_id,
                    "name": str(self.languages.get(language_id, {}).get("name", "")),
                    "proficiency": proficiency,
                    "state": "active",
                    "languageUri": f"/api/v2/routing/languages/{language_id}",
                    "selfUri": f"/api/v2/users/{member.user_id}/routinglanguages/{language_id}",
                }
                for language_id, proficiency in member.languages.items()
            ]
        if "routingStatus" in expand:
            user["routingStatus"] = {
                "userId": member.user_id,
                "status": member.status,
                "startTime": _iso(member.status_since),
            }
        return {
            "id": member.user_id,
            "name": member.name,
            "user": user,
            "ringNumber": 1,
            "joined": member.joined,
            "memberBy": "user",
            "selfUri": f"/api/v2/routing/queues/{queue_id}/members/{member.user_id}",
        }

    # --- skill expressions: POST /api/v2/routing/skillexpressions/validate --------------------
    # Request SkillExpressionData, answer SkillExpressionValidationResult (SDK 269.0.0); every
    # behaviour and what the docs leave open: tests/simulator/skill_expressions.py.

    def validate_skill_expression(self, body: Any) -> JSON:
        expression = body.get("expression") if isinstance(body, dict) else None
        if not isinstance(expression, str):
            raise SimError(400, "bad.request", "expression is required (SkillExpressionData)")
        if len(expression) > skill_expressions.MAX_EXPRESSION_CHARS:
            # Undocumented server-side: the SDK's model refuses such a body before sending it.
            raise SimError(400, "bad.request", "expression: length must be at most 4096")
        with self.lock:
            skills = {n.lower(): i for i, n in self.skills.items()}
            languages = {str(v["name"]).lower(): i for i, v in self.languages.items() if v.get("state") != "deleted"}

        def lookup(name: str, language: bool) -> str | None:
            return (languages if language else skills).get(name.lower())

        return skill_expressions.validate(expression, self.expression_rules, lookup)

    def deny_skill_expressions(self) -> None:
        """The OAuth client's role lacks routing:skillExpressions:add: 403 on every validate
        request. The body (code `missing.permissions`) follows Genesys' error body; the SDK docs
        do not give it, and skill-router reads only the status. Undo with allow_skill_expressions()."""
        self.fail(
            "POST",
            "^" + re.escape(SKILL_EXPRESSIONS_VALIDATE_PATH) + "$",
            403,
            count=None,
            body={
                "message": "You are missing the following permission(s): " + SKILL_EXPRESSIONS_PERMISSION,
                "code": "missing.permissions",
                "status": 403,
                "messageParams": {},
                "contextId": str(uuid.uuid4()),
                "details": [],
                "errors": [],
            },
        )

    def allow_skill_expressions(self) -> None:
        with self.lock:
            self.faults = [
                f
                for f in self.faults
                if not (f.status == 403 and f.pattern.pattern == "^" + re.escape(SKILL_EXPRESSIONS_VALIDATE_PATH) + "$")
            ]

    # --- notification topics (skill-router doctor's event-mode check) ---------------------------

    # GET /api/v2/notifications/availabletopics?expand=transports answers an AvailableTopicEntityListing;
    # each AvailableTopic has `id` and, expanded, `transports`: "Transports that support events for
    # the topic" (SDK model AvailableTopic, PureCloudPlatformClientV2 269.0.0). The SDK does not list
    # the transport values, so the set is a switch: a test can take EventBridge away from a topic.
    topic_transports: ClassVar[dict[str, list[str]]] = {
        "v2.detail.events.conversation.{id}.acd.start": ["EventBridge"],
        "v2.detail.events.conversation.{id}.attributes": ["EventBridge"],
        "v2.users.{id}.presence": ["Websocket", "EventBridge"],
    }

    def available_topics(self, query: Mapping[str, list[str]]) -> JSON:
        expand = ",".join(query.get("expand", [])).split(",")
        entities = [
            {"id": topic, "description": topic, **({"transports": list(transports)} if "transports" in expand else {})}
            for topic, transports in self.topic_transports.items()
        ]
        return {"entities": entities}


class _Handler(BaseHTTPRequestHandler):
    sim: GenesysSimulator
    protocol_version = "HTTP/1.1"  # keep-alive, as urllib3's pool expects
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is kept in memory; stderr stays quiet

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, answer, headers = 200, None, {}
        body: Any = None
        try:
            if path == "/oauth/token" and method == "POST":
                body = {"grant_type": parse_qs(raw.decode()).get("grant_type", [""])[0]}
            else:
                body = _json_body(raw)
            for callback in self.sim._hooks(method, path, "before"):
                callback()
            dropping = self.sim._hooks(method, path, "instead")
            if dropping:
                for callback in dropping:
                    callback()
                self.close_connection = True
                return
            fault, wait = self.sim._injected(method, path, body)
            if wait:
                time.sleep(wait)
            if path == "/oauth/token" and method == "POST":
                if fault is not None:
                    raise _fault_error(fault)
                answer = self.sim.issue_token(self.headers.get("Authorization"), parse_qs(raw.decode()))
            else:
                self.sim.authorize(self.headers.get("Authorization"))
                limited = self.sim._rate_limited(self.headers.get("Authorization"), method, path)
                if limited is not None:
                    raise limited
                if fault is not None:
                    raise _fault_error(fault)
                answer = self._route(method, path, query, body)
                headers = self.sim.rate_headers(self.headers.get("Authorization"), method, path)
        except SimError as error:
            status, answer, headers = error.status, error.body(), error.headers
        self.sim.log(method, path, url.query, status, body)
        for callback in self.sim._hooks(method, path, "after"):
            callback()
        self._send(status, answer, headers)

    def _route(self, method: str, path: str, query: Mapping[str, list[str]], body: Any) -> JSON:
        sim = self.sim
        if method == "POST" and path == "/api/v2/analytics/conversations/details/query":
            return sim.analytics_query(body)
        if method == "GET" and (m := re.fullmatch(r"/api/v2/conversations/([^/]+)", path)):
            return sim.conversation(m.group(1))
        if method == "PATCH" and (m := re.fullmatch(r"/api/v2/routing/conversations/([^/]+)", path)):
            return sim.patch_routing(m.group(1), body)
        if method == "GET" and path == "/api/v2/routing/skills":
            return sim.list_skills(query)
        if method == "GET" and (m := re.fullmatch(r"/api/v2/users/([^/]+)", path)):
            return sim.user(m.group(1))
        if method == "POST" and path == "/api/v2/conversations/emails/agentless":
            return sim.send_email(body)
        if method == "GET" and path == "/api/v2/notifications/availabletopics":
            return sim.available_topics(query)
        if method == "GET" and path == "/api/v2/routing/languages":
            return sim.list_languages(query)
        if method == "GET" and (m := re.fullmatch(r"/api/v2/routing/queues/([^/]+)/members", path)):
            return sim.queue_members(m.group(1), query)
        if method == "POST" and path == SKILL_EXPRESSIONS_VALIDATE_PATH:
            return sim.validate_skill_expression(body)
        raise SimError(404, "not.found", f"the simulator does not implement {method} {path}")

    def _send(self, status: int, answer: Any, headers: Mapping[str, str]) -> None:
        payload = b"" if answer is None else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("inin-correlation-id", str(uuid.uuid4()))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _fault_error(fault: Fault) -> SimError:
    headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
    error = SimError(fault.status, _code_for(fault.status), f"injected fault: HTTP {fault.status}", headers)
    if fault.body is not None:
        error.body = lambda: dict(fault.body or {})  # type: ignore[method-assign]
    return error


def _proficiencies(values: Mapping[str, float] | Iterable[str]) -> dict[str, float]:
    """Ids, or id -> proficiency (UserRoutingSkill.proficiency is 0-5); a bare id is proficiency 5."""
    if isinstance(values, Mapping):
        return {str(k): float(v) for k, v in values.items()}
    return {str(v): 5.0 for v in values}


def _code_for(status: int) -> str:
    return {
        401: "bad.credentials",
        404: "not.found",
        429: "too.many.requests",
        503: "service.unavailable",
    }.get(status, "internal.server.error" if status >= 500 else "bad.request")


def _json_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise SimError(400, "bad.request", "the body is not valid JSON") from None


def _participant(
    participant_id: str, purpose: str, media: str, direction: str, segment: JSON, light: bool = False
) -> JSON:
    return {
        "participantId": participant_id,
        "purpose": purpose,
        "sessions": [
            {
                "sessionId": participant_id if light else str(uuid.uuid5(uuid.NAMESPACE_URL, participant_id)),
                "mediaType": media,
                "direction": direction,
                "segments": [segment],
            }
        ],
    }


def _leg_metrics(leg: AcdLeg) -> list[JSON]:
    """The metrics analytics reports on an ended queue leg's ACD session (SDK model
    AnalyticsSession.metrics: AnalyticsSessionMetric {name, value, emitDate}).

    - An interaction offered to a queue is answered, abandoned or flowed out: "Offered interactions
      are either answered, abandoned, or flow-out interactions. Flow-outs are interactions that
      enter and leave a queue without getting answered by an agent or disconnected. They can
      include transfers to voicemail, callbacks, and any system-driven events such as in-queue
      flows that transfer to another queue" (help.mypurecloud.com, FAQ "Why does the Offered
      metric not always equal the Answered plus Abandoned metrics?"). So one of `tAnswered`,
      `tAbandon`, `tFlowOut` (metric names as the SDK's ConversationAggregationQuery metrics
      enumeration spells them), emitted when it happened, plus `tAcd`, the time in the queue.
    - Values are milliseconds from the queue entry; `emitDate` is when the metric was emitted
      ("Metric emission date"), which is what skill-router reads for the moment.
    - A leg moved to another queue unanswered (`transfer`) is a flow-out of its queue, as above.
    - A leg with no recorded outcome (a test ended it by hand) gets `tAcd` alone.
    """
    if leg.end is None:
        return []
    waited = max(0, round((leg.end - leg.start) * 1000))
    emitted = _iso(leg.end)
    metrics = [{"name": "tAcd", "value": waited, "emitDate": emitted}]
    name = {"answered": "tAnswered", "abandoned": "tAbandon", "flowout": "tFlowOut"}.get(leg.outcome or "")
    if name:
        metrics.append({"name": name, "value": waited, "emitDate": emitted})
    return metrics


def _named_ids(conversation_filters: Any) -> list[str] | None:
    """The ids of a conversation filter that names conversations only (`or` over conversationId
    predicates): the simulator then looks at those alone. None when there is none."""
    for query_filter in conversation_filters if isinstance(conversation_filters, list) else []:
        predicates = query_filter.get("predicates") if isinstance(query_filter, dict) else None
        if (
            isinstance(predicates, list)
            and predicates
            and query_filter.get("type") == "or"
            and not query_filter.get("clauses")
            and all(isinstance(p, dict) and p.get("dimension") == "conversationId" for p in predicates)
        ):
            return [str(p.get("value", "")) for p in predicates]
    return None


def _conversation_fields(view: JSON) -> JSON:
    return {k: v for k, v in view.items() if not isinstance(v, list | dict)}


def _segment_rows(view: JSON) -> Iterable[JSON]:
    """Each segment with the dimensions a segment predicate can name from its session and participant."""
    for participant in view.get("participants", []):
        for session in participant.get("sessions", []):
            for segment in session.get("segments", []):
                yield {
                    "purpose": participant.get("purpose"),
                    "participantId": participant.get("participantId"),
                    "mediaType": session.get("mediaType"),
                    "direction": session.get("direction"),
                    **segment,
                }


def _holds(query_filter: Any, row: Mapping[str, Any]) -> bool:
    """One ConversationDetailQueryFilter/SegmentDetailQueryFilter: `type` and|or over its predicates
    and clauses. A predicate's operator is matches (the default, case-insensitive as the docs'
    example `"purpose": "Customer"` shows), exists or notExists."""
    if not isinstance(query_filter, dict) or query_filter.get("type") not in ("and", "or"):
        raise SimError(400, "bad.request", "a filter needs type 'and' or 'or'")
    results = [_predicate(p, row) for p in query_filter.get("predicates") or []]
    results += [_holds(c, row) for c in query_filter.get("clauses") or []]
    if not results:
        raise SimError(400, "bad.request", "a filter needs predicates or clauses")
    return all(results) if query_filter["type"] == "and" else any(results)


def _predicate(predicate: Any, row: Mapping[str, Any]) -> bool:
    if not isinstance(predicate, dict) or not predicate.get("dimension"):
        raise SimError(400, "bad.request", "a predicate needs a dimension")
    if predicate.get("type", "dimension") != "dimension":
        raise SimError(400, "bad.request", "the simulator filters on dimensions only")
    value = row.get(predicate["dimension"])
    operator = predicate.get("operator", "matches")
    if operator == "exists":
        return value is not None
    if operator == "notExists":
        return value is None
    if operator != "matches":
        raise SimError(400, "bad.request", f"unknown operator {operator!r}")
    return value is not None and str(value).lower() == str(predicate.get("value", "")).lower()


def _as_of(c: SimConversation, moment: float) -> SimConversation:
    """The conversation as it was at `moment`: legs not yet begun left out, later ends undone."""
    legs = [
        replace(leg, end=leg.end if leg.end is not None and leg.end <= moment else None)
        for leg in c.legs
        if leg.start <= moment
    ]
    return replace(c, legs=legs, end=c.end if c.end is not None and c.end <= moment else None)


def _day(moment: float) -> int:
    return int(moment // 86400)


def _epoch(moment: datetime | float) -> float:
    return moment.timestamp() if isinstance(moment, datetime) else float(moment)


def _iso(moment: float) -> str:
    when = datetime.fromtimestamp(moment, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
