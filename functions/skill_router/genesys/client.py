"""The Genesys Cloud adapter: the few Platform API calls the product makes, through the real SDK.

Every call goes through `_call`, which supplies the token (one refresh after a 401) and retries
429/5xx/connection failures with backoff, honouring Retry-After, only while the invocation's
deadline allows the wait.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import urllib3

from skill_router.deadline import Deadline
from skill_router.errors import OutOfTime
from skill_router.genesys.budget import RateBudget, retry_after_seconds
from skill_router.genesys.errors import GenesysError, message_from_body
from skill_router.genesys.http import BoundedHttpClient, bounded_pool
from skill_router.genesys.payload import dicts, utc_time
from skill_router.genesys.sdk import ApiException, sdk
from skill_router.genesys.token import TokenProvider
from skill_router.ids import InvalidId, is_genesys_id, require_id
from skill_router.observability import logger
from skill_router.staffing import Member

T = TypeVar("T")
# Import the SDK classes the product uses now, in Lambda's init phase, not in the first poll.
_API_CLASSES = (sdk.ApiClient, sdk.ConversationsApi, sdk.RoutingApi, sdk.UsersApi)
PAGE_SIZE = 100  # the analytics details query's maximum
MAX_BACKOFF_SECONDS = 20.0
AGENTLESS_OPERATION = "POST /api/v2/conversations/emails/agentless"
# GET /api/v2/routing/queues/{queueId}/members (RoutingApi.get_routing_queue_members): its name in
# the rate budget, the stats and errors. Permission: any one of routing:queue:view,
# routing:queue:edit, routing:queue:readonly, routing:queueMember:manage (RoutingApi.md).
QUEUE_MEMBERS_OPERATION = "queue_members"
MEMBER_EXPAND = ("skills", "languages", "routingStatus")  # RoutingApi.md: "Which fields, if any, to expand"
# A queue of more members than this is not read whole (10,000 users; Genesys publishes no queue
# size limit that the product relies on): its staffing is unknown rather than undercounted.
MAX_MEMBER_PAGES = 100
# POST /api/v2/routing/skillexpressions/validate (RoutingApi.post_routing_skillexpressions_validate,
# SDK 269.0.0): its name in the rate budget, the stats and errors. Permission
# routing:skillExpressions:add (the Genesys CLI's command for it, MyPureCloud/platform-client-sdk-cli).
VALIDATE_EXPRESSION_OPERATION = "validate_skill_expression"
# SkillExpressionData.expression: the SDK's setter refuses a longer one ("length must be less than
# `4096`", checked as > 4096), so such an expression is never sent.
MAX_EXPRESSION_CHARS = 4096


@dataclass(frozen=True)
class Discovered:
    """What the analytics details query says about a conversation (no attributes)."""

    conversation_id: str
    start: datetime
    ended: bool
    queue_id: str | None  # the queue of the open ACD segment, if any
    left_queue: bool  # was queued and every ACD segment has ended (answered, abandoned, transferred out)
    requested_skill_ids: tuple[str, ...]
    # The queue leg: the ACD participant of the open interact segment, and when the caller
    # entered that queue (the segment's start). A transfer to another queue is a new leg.
    participant_id: str | None = None
    queue_entered: datetime | None = None

    @property
    def in_queue(self) -> bool:
        return self.queue_id is not None and not self.ended

    @property
    def leg(self) -> str | None:
        """The ledger's name for this queue leg: the ACD participant id, else queue@entry time."""
        return leg_key(self.participant_id, self.queue_id, self.queue_entered)

    @property
    def waiting_since(self) -> datetime:
        return self.queue_entered or self.start


def leg_key(participant_id: str | None, queue_id: str | None, entered: datetime | None) -> str | None:
    if participant_id:
        return participant_id
    if queue_id and entered:
        return f"{queue_id}@{int(entered.timestamp())}"
    return None


@dataclass(frozen=True)
class LiveConversation:
    """What GET /api/v2/conversations/{id} says now: the intent and the current routing."""

    conversation_id: str
    attributes: Mapping[str, str]
    queue_id: str | None
    left_queue: bool
    skill_ids: tuple[str, ...]
    priority: int | None
    participant_id: str | None = None  # the ACD participant of the open queue leg
    language_id: str | None = None  # conversationRoutingData.language: the requested language
    started: datetime | None = None  # the conversation's startTime
    queue_entered: datetime | None = None  # the open ACD participant's startTime: when this leg began
    # conversationRoutingData.skillExpression of the open ACD participant (SDK ConversationRoutingData,
    # 269.0.0): set by Architect's "Set Skill Expression Filters" or a person; skill-router never sends
    # one. The event models say an expression "takes priority over skills" (README, "Skill expressions").
    skill_expression: str | None = None
    # The open ACD participant's queueName (SDK Participant.queue_name: "If present, the queue name
    # that the communication channel came in on"): a label for `skill-router why`, never a key.
    queue_name: str | None = None
    # The ACD participants whose queue leg has ended (a transfer's earlier legs), oldest first: a
    # new leg's skill expression may be the one skill-router wrote on one of them, carried over.
    earlier_legs: tuple[str, ...] = ()

    @property
    def in_queue(self) -> bool:
        return self.queue_id is not None


@dataclass(frozen=True)
class ValidationResult:
    """Genesys' SkillExpressionValidationResult: `valid`; `normalized`, its "Normalized SpEL
    expression (null if validation failed)"; `errors`, (message, position) each, position "null if
    not applicable" (SkillExpressionValidationError); `skills`, the names of the SkillReferences it
    extracted (skills and languages)."""

    valid: bool
    normalized: str | None
    errors: tuple[tuple[str, int | None], ...] = ()
    skills: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueryPage:
    conversations: list[Discovered]
    total_hits: int
    size: int  # conversations on the page as Genesys sent it, unreadable ones included


class GenesysClient:
    def __init__(
        self,
        api_url: str,
        tokens: TokenProvider,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        max_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        budget: RateBudget | None = None,
        pool_size: int = 8,
    ) -> None:
        self.tokens = tokens
        self.budget = budget or RateBudget(300)
        self.api_client = sdk.ApiClient(host=api_url.rstrip("/"))
        self.deadline = Deadline.fixed(60.0)
        # Each request (the login's too) ends by the invocation's deadline, however slowly it drips.
        self.http = BoundedHttpClient(
            connect_timeout,
            read_timeout,
            pool_size=pool_size,
            on_headers=self._observe,
            remaining=lambda: self.deadline.remaining(),
        )
        self.api_client.set_http_client(self.http)
        tokens.pool = bounded_pool(connect_timeout, read_timeout, 2, remaining=lambda: self.deadline.remaining())
        self.api_client.user_agent = "skill-router"
        self.conversations_api = sdk.ConversationsApi(self.api_client)
        self.routing_api = sdk.RoutingApi(self.api_client)
        self.users_api = sdk.UsersApi(self.api_client)
        self.max_attempts = max_attempts
        self._sleep = sleep
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._operation = threading.local()

    def begin(self, deadline: Deadline) -> None:
        """Start an invocation: waits are bounded by its deadline, stats count its calls."""
        self.deadline = deadline
        self.stats = Counter()
        # A 429's hold ends with the invocation that received it: if Genesys still throttles,
        # its next answer says so again (one answer must not silence the warm runs after it).
        self.budget.release_hold()

    def _observe(self, headers: Mapping[str, str]) -> None:
        # The answer's bucket is remembered for the operation this thread is calling.
        self.budget.observe(headers, getattr(self._operation, "name", ""))

    def _count(self, name: str) -> None:
        with self._stats_lock:
            self.stats[name] += 1

    # --- the calls ---------------------------------------------------------------------------

    def query_waiting(
        self,
        start: datetime,
        end: datetime,
        page_number: int,
        newest_first: bool = False,
        conversation_ids: Sequence[str] = (),
        queue_id: str | None = None,
    ) -> QueryPage:
        """One page of the conversations waiting in a queue now that started on a UTC day the
        interval touches (the interval is matched by day: developer.genesys.cloud, Analytics >
        Detail queries). The filters, not the interval, decide what comes back: a live
        conversation with an open interact segment of an ACD participant. IVR-only, outbound,
        internal and answered conversations cost no page (docs/design.md, "Discovery").
        `newest_first`: conversationStart descending (SDK ConversationQuery.order: "Sort the result
        set in ascending/descending order. Default is ascending"; orderBy conversationStart).
        `conversation_ids`: only these (a conversationId dimension predicate each, or'ed; the
        dimension is in the SDK's ConversationDetailQueryPredicate enumeration).
        `queue_id`: only callers waiting in that queue (`skill-router why --queue`): the open
        interact segment's `queueId`, a SegmentDetailQueryPredicate dimension."""
        in_queue = []
        if queue_id is not None:
            _path_id(queue_id, "queue id", "POST /api/v2/analytics/conversations/details/query")
            in_queue = [_predicate("SegmentDetailQueryPredicate", "queueId", queue_id)]
        only = [
            _model(
                "ConversationDetailQueryFilter",
                type="or",
                predicates=[
                    _predicate("ConversationDetailQueryPredicate", "conversationId", c) for c in conversation_ids
                ],
            )
        ]
        query = _model(
            "ConversationQuery",
            interval=f"{_iso(start)}/{_iso(end)}",
            order="desc" if newest_first else "asc",
            order_by="conversationStart",
            paging=_model("PagingSpec", page_size=PAGE_SIZE, page_number=page_number),
            conversation_filters=[
                _model(
                    "ConversationDetailQueryFilter",
                    type="and",
                    predicates=[_predicate("ConversationDetailQueryPredicate", "conversationEnd", None)],
                ),
                *(only if conversation_ids else []),
            ],
            segment_filters=[
                _model(
                    "SegmentDetailQueryFilter",
                    type="and",
                    predicates=[
                        _predicate("SegmentDetailQueryPredicate", "purpose", "acd"),
                        _predicate("SegmentDetailQueryPredicate", "segmentType", "interact"),
                        _predicate("SegmentDetailQueryPredicate", "segmentEnd", None),
                        *in_queue,
                    ],
                )
            ],
        )
        # The SDK serialises the query (its enum checks included) and sends it through our HTTP
        # client; the answer is read as plain JSON: the SDK's model deserialiser spends about a
        # second of CPU per 100 conversations (measured), which every poll would pay per page.
        response = self._call(
            "POST /api/v2/analytics/conversations/details/query", functools.partial(self._details_query, query)
        )
        if not isinstance(response, dict) or not isinstance(response.get("conversations", []), list):
            raise GenesysError("POST /api/v2/analytics/conversations/details/query", 200, "unreadable response")
        conversations = []
        page = response.get("conversations") or []
        for raw in page:
            found = _discovered_json(raw)
            if found is None:  # nothing to place in time or to act on: skipped, and said so
                logger.error("analytics returned a conversation without a Genesys id or a start; skipped")
                continue
            conversations.append(found)
        total = response.get("totalHits")
        return QueryPage(conversations=conversations, total_hits=total if isinstance(total, int) else 0, size=len(page))

    def conversation_details(self, conversation_ids: Sequence[str], start: datetime, end: datetime) -> list[dict]:
        """`skill-router report`: what analytics has on these conversations, ended or not (the
        JSON of AnalyticsConversationWithoutAttributes: participants, sessions, segments and each
        session's metrics; no attributes). One details query names them all (an `or` of
        conversationId predicates, as the due-step query does) and asks for a page of PAGE_SIZE,
        the query's maximum, so at most PAGE_SIZE ids are sent at once. Pages are read on while
        some named conversation is missing and the last page had rows (a page may come back
        short: docs/design.md, "Discovery"); one Genesys has no details for costs one empty page.
        `start`/`end`: an interval touching each conversation's start day (matched by day)."""
        operation = "POST /api/v2/analytics/conversations/details/query"
        wanted = {str(c).lower() for c in conversation_ids}
        if len(wanted) > PAGE_SIZE:
            raise GenesysError(operation, 400, f"not sent: {len(wanted)} conversation ids, at most {PAGE_SIZE}")
        for conversation_id in wanted:
            _path_id(conversation_id, "conversation id", operation)  # it goes into the query's JSON
        found: dict[str, dict] = {}
        page_number = 1
        while wanted - found.keys():
            query = _model(
                "ConversationQuery",
                interval=f"{_iso(start)}/{_iso(end)}",
                order="asc",
                order_by="conversationStart",
                paging=_model("PagingSpec", page_size=PAGE_SIZE, page_number=page_number),
                conversation_filters=[
                    _model(
                        "ConversationDetailQueryFilter",
                        type="or",
                        predicates=[
                            _predicate("ConversationDetailQueryPredicate", "conversationId", c) for c in sorted(wanted)
                        ],
                    )
                ],
            )
            response = self._call(operation, functools.partial(self._details_query, query))
            page = response.get("conversations") if isinstance(response, dict) else None
            if page is not None and not isinstance(page, list):
                raise GenesysError(operation, 200, "unreadable response")
            for raw in page or []:
                cid = raw.get("conversationId") if isinstance(raw, dict) else None
                if is_genesys_id(cid) and str(cid).lower() in wanted:
                    found[str(cid).lower()] = raw
            if not page:
                break
            page_number += 1
        return list(found.values())

    def _details_query(self, query: Any) -> Any:
        """The details query, its answer read as plain JSON (see query_waiting)."""
        return self.api_client.call_api(
            "/api/v2/analytics/conversations/details/query",
            "POST",
            {},
            [],
            {"Accept": "application/json", "Content-Type": "application/json"},
            body=query,
            post_params=[],
            files={},
            response_type="object",
            auth_settings=["PureCloud OAuth"],
        )

    def get_conversation(self, conversation_id: str) -> LiveConversation | None:
        """The conversation now, or None when Genesys no longer has it (404)."""
        _path_id(conversation_id, "conversation id", "GET /api/v2/conversations/{conversationId}")
        try:
            conversation = self._call(
                "GET /api/v2/conversations/{conversationId}",
                lambda: self.conversations_api.get_conversation(conversation_id),
                conversation_id=conversation_id,
            )
        except GenesysError as exc:
            if exc.not_found:
                _log_gone(exc, conversation_id)
                return None
            raise
        participants = conversation.participants
        if not participants or any(not getattr(p, "purpose", None) for p in participants):
            # The SDK turns a malformed body into empty models; deciding on one would be a guess.
            raise GenesysError(
                "GET /api/v2/conversations/{conversationId}", 200, "unreadable response (participants without purpose)"
            )
        return _live(conversation_id, conversation)

    def patch_routing(
        self,
        conversation_id: str,
        skill_ids: Sequence[str] | None,
        priority: int | None,
        language_id: str | None = None,
        skill_expression: str | None = None,
    ) -> bool:
        """Send only what changes: a None field is absent from the body and left as it is.
        `skillExpression` "" removes the expression ("To remove the skill expression, specify an
        empty string": SDK RoutingConversationAttributesRequest.skill_expression).
        `skillIds` replaces the requested skills and `[]` removes them all (SDK
        RoutingConversationAttributesRequest), so it is sent only when given (the merged list);
        `languageId` "" clears the language requirement. False when the conversation is gone (404)."""
        _path_id(conversation_id, "conversation id", "PATCH /api/v2/routing/conversations/{conversationId}")
        body = _model("RoutingConversationAttributesRequest")
        if skill_ids is not None:
            body.skill_ids = list(skill_ids)
        if priority is not None:
            body.priority = priority
        if language_id is not None:
            body.language_id = language_id
        if skill_expression is not None:
            body.skill_expression = skill_expression
        try:
            self._call(
                "PATCH /api/v2/routing/conversations/{conversationId}",
                lambda: self.routing_api.patch_routing_conversation(conversation_id, body),
                conversation_id=conversation_id,
            )
        except GenesysError as exc:
            if exc.not_found:
                _log_gone(exc, conversation_id)
                return False
            if exc.unreadable:  # accepted (2xx); only its echo of the new values was unreadable
                logger.warning("PATCH accepted with an unreadable answer", extra={"conversation_id": conversation_id})
                return True
            raise
        return True

    def queue_members(self, queue_id: str, more: Callable[[], bool] | None = None) -> list[Member]:
        """The queue's joined members with their routing status, skills and languages: every
        page of `GET /api/v2/routing/queues/{queueId}/members` (pageSize 100, "Max value is 100";
        joined=true; expand skills, languages, routingStatus: RoutingApi.md). The listing
        (QueueMemberEntityListing) has `nextUri` and no total: pages are read until one comes back
        without a nextUri or short. Each page is one call of the shared rate budget; `more`, asked
        before each page after the first, may refuse it (the staffing cache's share of the budget):
        then OutOfTime, as a list not read whole says nothing about who can serve."""
        _path_id(queue_id, "queue id", QUEUE_MEMBERS_OPERATION)
        members: list[Member] = []
        page = 1
        while True:
            listing = self._call(
                QUEUE_MEMBERS_OPERATION,
                functools.partial(
                    self.routing_api.get_routing_queue_members,
                    queue_id,
                    page_number=page,
                    page_size=PAGE_SIZE,
                    joined=True,
                    expand=list(MEMBER_EXPAND),
                ),
            )
            entities = listing.entities or []
            members += [m for m in (_member(e) for e in entities) if m is not None]
            if not listing.next_uri or len(entities) < PAGE_SIZE:
                return members
            if page >= MAX_MEMBER_PAGES:
                raise GenesysError(
                    QUEUE_MEMBERS_OPERATION, 200, f"more than {MAX_MEMBER_PAGES * PAGE_SIZE} members: not read whole"
                )
            if more is not None and not more():
                raise OutOfTime(f"queue members: page {page + 1} has no room in the staffing share of the budget")
            page += 1

    def validate_skill_expression(self, text: str) -> ValidationResult:
        """Genesys' own check of a skill expression in its raw form (`Skill("Spanish") >= 3 &
        LanguageSkill("English") >= 2`): one call of the rate budget, bounded by the deadline like
        every other. Longer than MAX_EXPRESSION_CHARS: invalid at that position, nothing sent.
        A 403 (no routing:skillExpressions:add) raises GenesysError like any refusal."""
        if len(text) > MAX_EXPRESSION_CHARS:
            message = f"{len(text):,} characters; Genesys takes at most {MAX_EXPRESSION_CHARS:,}"
            return ValidationResult(False, None, ((message, MAX_EXPRESSION_CHARS),))
        body = _model("SkillExpressionData", expression=text)
        answer = self._call(
            VALIDATE_EXPRESSION_OPERATION, lambda: self.routing_api.post_routing_skillexpressions_validate(body)
        )
        if answer is None or not isinstance(getattr(answer, "valid", None), bool):
            raise GenesysError(VALIDATE_EXPRESSION_OPERATION, 200, "unreadable response (no 'valid')")
        errors = tuple(
            (
                str(getattr(e, "message", None) or getattr(e, "code", None) or "invalid"),
                e.position if isinstance(getattr(e, "position", None), int) else None,
            )
            for e in answer.errors or []
        )
        skills = tuple(str(s.name) for s in answer.skills or [] if getattr(s, "name", None))
        if not answer.valid and not errors:
            errors = (("Genesys gave no reason", None),)
        return ValidationResult(answer.valid, answer.expression or None, errors, skills)

    def probe_agentless_email(self, sender: str) -> None:
        """`skill-router doctor`: the agentless email call with no recipient, which cannot be
        delivered. Genesys answers 400 when the role has the permission and 403 when it has not."""
        body = _model(
            "AgentlessEmailSendRequestDto",
            sender_type="Outbound",
            from_address=_model("EmailAddress", email=sender, name="skill-router"),
            to_addresses=[],
            subject="skill-router doctor probe",
            text_body="skill-router doctor probe: no recipient, never delivered",
        )
        self._call(AGENTLESS_OPERATION, lambda: self.conversations_api.post_conversations_emails_agentless(body))

    def skill_ids_by_name(self, names: Sequence[str]) -> dict[str, str]:
        """Routing skill ids for exact names. Genesys filters by prefix, so every page of each
        name's matches is read and the exact (then the unique case-insensitive) match kept."""
        return self._ids_by_name("GET /api/v2/routing/skills", self.routing_api.get_routing_skills, names)

    def language_ids_by_name(self, names: Sequence[str]) -> dict[str, str]:
        """Routing language ids for exact names, the same way as skills (the name filter is not exact)."""
        return self._ids_by_name("GET /api/v2/routing/languages", self.routing_api.get_routing_languages, names)

    def _ids_by_name(self, operation: str, listing_call: Callable[..., Any], names: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for name in names:
            entities: list[Any] = []
            page = 1
            while True:
                listing = self._call(
                    operation,
                    functools.partial(listing_call, page_size=PAGE_SIZE, page_number=page, name=name),
                )
                entities += listing.entities or []
                if page >= int(listing.page_count or 1):
                    break
                page += 1
            # Deleted entities are still listed (Genesys' Terraform provider skips them the same way).
            entities = [e for e in entities if getattr(e, "state", None) != "deleted"]
            exact = [e for e in entities if e.name == name]
            folded = [e for e in entities if str(e.name).casefold() == name.casefold()]
            match = exact or (folded if len(folded) == 1 else [])
            if match:
                found[name] = str(match[0].id)
        return found

    def user_email(self, user_id: str) -> str | None:
        _path_id(user_id, "user id", "GET /api/v2/users/{userId}")
        try:
            user = self._call("GET /api/v2/users/{userId}", lambda: self.users_api.get_user(user_id))
        except GenesysError as exc:
            if exc.not_found:
                return None
            raise
        return user.email or None

    def send_agentless_email(self, sender: str, recipient: str, subject: str, text: str) -> None:
        body = _model(
            "AgentlessEmailSendRequestDto",
            sender_type="Outbound",
            from_address=_model("EmailAddress", email=sender, name="skill-router"),
            to_addresses=[_model("EmailAddress", email=recipient)],
            subject=subject,
            text_body=text,
        )
        self._call(AGENTLESS_OPERATION, lambda: self.conversations_api.post_conversations_emails_agentless(body))

    def available_topics(self) -> dict[str, tuple[str, ...]]:
        """Notification topics the org offers, with their transports (`skill-router doctor`)."""
        listing = self._call(
            "GET /api/v2/notifications/availabletopics",
            lambda: sdk.NotificationsApi(self.api_client).get_notifications_availabletopics(expand=["transports"]),
        )
        return {str(t.id): tuple(str(x) for x in t.transports or ()) for t in listing.entities or []}

    # --- the one place that retries ----------------------------------------------------------

    def _call(self, operation: str, fn: Callable[[], T], conversation_id: str | None = None) -> T:
        """`conversation_id`: the caller the call is about, carried on its log lines (Logs Insights)."""
        about = {"conversation_id": conversation_id} if conversation_id else {}
        refreshed = False
        attempt = 0
        self._operation.name = operation
        while True:
            self.budget.acquire(self.deadline, operation)  # OutOfTime when the budget has no room in time
            token: str | None = None
            try:
                # A login that hiccups (no token, a page, a redirect) is transient like any other
                # failure of this call: retried here, then on the next poll, never final at once.
                token = self.tokens.token()
                self.api_client.access_token = token
                self._count("calls")
                return fn()
            except GenesysError as exc:  # from the login
                error = exc
            except ApiException as exc:
                error = GenesysError(
                    operation,
                    int(exc.status or 0),
                    message_from_body(exc.body) or str(exc.reason or ""),
                    retry_after=_header(exc.headers, "Retry-After"),
                )
            except urllib3.exceptions.HTTPError as exc:
                # With retries off, urllib3 raises the cause itself: timeouts, refused connections,
                # an answer too slow in total or too large (http.py).
                error = GenesysError(operation, 0, f"no response ({type(exc).__name__})")
            except (TypeError, ValueError, AttributeError, KeyError) as exc:
                # A 2xx whose body the SDK could not turn into its model. Not retried here (for a
                # POST the request took effect); transient for the caller: the next poll reads again.
                raise GenesysError(operation, 200, f"unreadable response ({type(exc).__name__})") from None
            if error.status == 401 and not refreshed and token is not None:
                refreshed = True
                self._count("token_refreshes")
                logger.warning(
                    "Genesys answered 401; refreshing the token once", extra={"operation": operation, **about}
                )
                try:
                    self.tokens.refresh(stale=token)
                    continue
                except GenesysError as exc:  # the login hiccupped: back off like any transient failure
                    error = exc
            attempt += 1
            delay = self._backoff(error, attempt)
            if error.status == 429:
                self._count("throttled")
                # Every thread holds off, not just this one; never past this invocation (the next
                # run asks again: one answer must not silence a warm container's later runs).
                self.budget.throttled(min(delay, max(self.deadline.until_timeout(), 0.0)))
            if not error.transient:
                raise error
            if attempt >= self.max_attempts or not self.deadline.allows(delay):
                self._count("gave_up")
                raise error
            self._count("retries")
            logger.warning(
                "Genesys call failed; retrying",
                extra={
                    "operation": error.operation,
                    "status": error.status,
                    "attempt": attempt,
                    "delay": round(delay, 2),
                    **about,
                },
            )
            self._sleep(delay)

    @staticmethod
    def _backoff(error: GenesysError, attempt: int) -> float:
        ceiling = min(MAX_BACKOFF_SECONDS, 2.0 ** (attempt - 1))
        retry_after = retry_after_seconds(error.retry_after)
        if retry_after is not None:
            return retry_after
        # Jitter keeps concurrent callers apart; not a security use of randomness.
        return ceiling * random.uniform(0.5, 1.0)  # nosec B311


def _log_gone(error: GenesysError, conversation_id: str) -> None:
    """A 404 for a conversation: the caller left (answered, hung up, transferred). Not a failure:
    one INFO line that the README's Logs Insights query finds by the conversation's id."""
    logger.info(
        "conversation not found in Genesys: the caller left",
        extra={"conversation_id": conversation_id, "operation": error.operation, "status": error.status},
    )


def _path_id(value: str, what: str, operation: str) -> None:
    """The SDK puts path parameters into the URL without encoding `/`: an id that is not a
    Genesys id would call another endpoint. Refused before anything is sent (final, not retried)."""
    try:
        require_id(value, what)
    except InvalidId as exc:
        raise GenesysError(operation, 400, f"not sent: {exc}") from None


def _model(model: str, /, **fields: Any) -> Any:
    """An SDK model with its fields set: the models take no constructor arguments, and their
    setters check enum values (an unknown `operator`, say) before anything is sent."""
    instance = getattr(sdk, model)()
    for field, value in fields.items():
        setattr(instance, field, value)
    return instance


def _predicate(model: str, dimension: str, value: str | None) -> Any:
    """`dimension matches value`, or `dimension notExists` when value is None."""
    if value is None:
        return _model(model, type="dimension", dimension=dimension, operator="notExists")
    return _model(model, type="dimension", dimension=dimension, operator="matches", value=value)


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    return str(value) if value is not None else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _discovered_json(conversation: Any) -> Discovered | None:
    """A conversation of the details query's JSON answer (AnalyticsConversationWithoutAttributes)."""
    if not isinstance(conversation, dict):
        return None
    open_queue: str | None = None
    had_queue = False
    requested: tuple[str, ...] = ()
    participant_id: str | None = None
    entered: datetime | None = None
    for participant in dicts(conversation.get("participants")):
        if participant.get("purpose") != "acd":
            continue
        for session in dicts(participant.get("sessions")):
            for segment in dicts(session.get("segments")):
                queue = segment.get("queueId")
                if not isinstance(queue, str) or not queue or segment.get("segmentType") not in (None, "interact"):
                    continue
                had_queue = True
                if segment.get("segmentEnd") is None:
                    open_queue = queue
                    skills = segment.get("requestedRoutingSkillIds") or []
                    requested = tuple(str(s) for s in skills if isinstance(s, str)) if isinstance(skills, list) else ()
                    pid = participant.get("participantId")
                    participant_id = str(pid).lower() if is_genesys_id(pid) else None  # part of the ledger key
                    entered = utc_time(segment.get("segmentStart"))
    start = utc_time(conversation.get("conversationStart"))
    cid = conversation.get("conversationId")
    if start is None or not is_genesys_id(cid):  # it becomes a URL and a key
        return None
    return Discovered(
        conversation_id=str(cid).lower(),
        start=start,
        ended=conversation.get("conversationEnd") is not None,
        queue_id=open_queue,
        left_queue=had_queue and open_queue is None,
        requested_skill_ids=requested,
        participant_id=participant_id,
        queue_entered=entered,
    )


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _member(entity: Any) -> Member | None:
    """A QueueMember of the listing. Its routing status is read from the member or, expanded, its
    user (SDK QueueMember.routing_status, User.routing_status); skills and languages from the
    expanded user (User.skills: UserRoutingSkill {id, proficiency 0-5, state}; User.languages:
    UserRoutingLanguage). A skill whose state is "inactive" or "deleted" is not one the member
    has (UserRoutingSkill.state: "Activate or deactivate this routing skill")."""
    user = getattr(entity, "user", None)
    user_id = getattr(user, "id", None) or getattr(entity, "id", None)
    if not is_genesys_id(user_id):
        return None
    status = getattr(entity, "routing_status", None) or getattr(user, "routing_status", None)
    return Member(
        user_id=str(user_id).lower(),
        routing_status=str(getattr(status, "status", None) or "").upper(),
        joined=getattr(entity, "joined", None) is not False,
        skills=_proficiencies(getattr(user, "skills", None)),
        languages=_proficiencies(getattr(user, "languages", None)),
    )


def _proficiencies(entries: Any) -> dict[str, float]:
    found: dict[str, float] = {}
    for entry in entries or []:
        entry_id = getattr(entry, "id", None)
        if not entry_id or str(getattr(entry, "state", None) or "").lower() in ("inactive", "deleted"):
            continue
        proficiency = getattr(entry, "proficiency", None)
        found[str(entry_id).lower()] = float(proficiency) if isinstance(proficiency, int | float) else 0.0
    return found


def _live(conversation_id: str, conversation: Any) -> LiveConversation:
    attributes: dict[str, str] = {}
    customer: dict[str, str] = {}
    queue_id: str | None = None
    had_queue = False
    skills: tuple[str, ...] = ()
    priority: int | None = None
    participant_id: str | None = None
    language_id: str | None = None
    queue_entered: datetime | None = None
    skill_expression: str | None = None
    queue_name: str | None = None
    earlier: list[str] = []
    for participant in conversation.participants or []:
        values = {str(k): str(v) for k, v in (participant.attributes or {}).items() if v is not None}
        # The caller's participant data is authoritative; others may carry stale copies.
        (customer if participant.purpose in ("customer", "external") else attributes).update(values)
        if participant.purpose != "acd":
            continue
        had_queue = True
        if participant.end_time is not None and is_genesys_id(participant.id):  # part of a ledger key
            earlier.append(str(participant.id).lower())
        if participant.end_time is None:
            routing = participant.conversation_routing_data
            queue_id = participant.queue_id or (routing.queue.id if routing and routing.queue else None)
            requested = (routing.skills if routing else None) or []
            skills = tuple(skill.id for skill in requested if skill.id)
            priority = routing.priority if routing else None
            language = routing.language if routing else None
            language_id = language.id if language is not None and language.id else None
            skill_expression = (getattr(routing, "skill_expression", None) or None) if routing else None
            participant_id = participant.id
            queue_entered = _aware(getattr(participant, "start_time", None))
            queue_name = getattr(participant, "queue_name", None) or None
    attributes.update(customer)
    return LiveConversation(
        conversation_id=conversation_id,
        attributes=attributes,
        queue_id=queue_id,
        left_queue=had_queue and queue_id is None,
        skill_ids=skills,
        priority=priority,
        participant_id=participant_id,
        language_id=language_id,
        started=_aware(getattr(conversation, "start_time", None)),
        queue_entered=queue_entered,
        skill_expression=skill_expression,
        queue_name=queue_name,
        earlier_legs=tuple(earlier),
    )


def _aware(moment: Any) -> datetime | None:
    if not isinstance(moment, datetime):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
