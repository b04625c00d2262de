"""DynamoDB state: the watermark and its lease, and the per-conversation ledger.

One table, partition key `pk` (string), TTL attribute `expires_at`:
- `watermark#poll`: window_end (ISO-8601 UTC), lease_owner, lease_expires (epoch s). Written
  only under the lease, so two invocations can never both move it.
- `conv#<conversationId>#leg#<leg>`: the ledger of one queue leg (`leg` is the ACD participant
  id; a transfer to another queue is a new leg): outcome, rule, matrix version, queue, when the
  caller entered the queue (`queue_entered`), skills before/written, attempts, `notified_at`,
  and for a caller still without an intent its re-check schedule (`checks`, `next_check_at`).
  A finished leg costs no Genesys call when a later poll sees it again.
- `conv#<conversationId>`: what event mode learns before a leg is known (the intent seen
  before the queue, or which leg waits for its intent).
- `email#<conversationId>#rule#<ruleId>`: the supervisor email's claim and `notified_at`: one
  email per conversation and rule, whatever the legs.
Dry runs keep their own items (`dryrun#...`) so trying a matrix never blocks the real thing.

Several handlers share these items (pollers, event containers, EventBridge's redeliveries), so:
- a final outcome is never overwritten: every ledger write is conditional on the entry not
  being final yet;
- `claim#<conversationId>`: one handler at a time works on a caller: a short claim
  (`work_owner`, `work_expires`) taken before the GET/PATCH, freed when the handler is done or
  lapsing with its invocation;
- times come from DynamoDB, not from this container's clock: every answer's `Date` header
  sets the offset of our clock from DynamoDB's, and expiries are compared with a margin.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.exceptions import ClientError

from skill_router import aws

FINAL_OUTCOMES = frozenset(
    {"applied", "unchanged", "no_match", "no_intent", "not_queued", "gone", "failed", "no_rule", "too_old"}
)
_BATCH = 100  # BatchGetItem's limit
# DynamoDB's Date header has whole seconds, and the answer takes a moment to arrive: two of our
# expiries (lease, claims) are only taken as lapsed this long after DynamoDB's time passed them.
SKEW_MARGIN_SECONDS = 2
# No lease or claim lasts longer than a Lambda invocation can (900 s): an expiry further ahead than
# that was written by a clock that was wrong, and is treated as lapsed rather than obeyed for hours.
LONGEST_HOLD_SECONDS = 900
_THROTTLED = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
# After botocore's own retries: how long a write that must not be lost (an email sent, an outcome)
# keeps trying before its error is raised.
WRITE_RETRY_SECONDS = 8.0


@dataclass(frozen=True)
class Lease:
    owner: str
    expires: int
    window_end: datetime | None


class StateStore:
    def __init__(
        self,
        table_name: str,
        ttl_days: int = 7,
        dry_run: bool = False,
        client: Any = None,
        clock: Callable[[], float] = time.time,
        server_time: bool = True,
    ) -> None:
        self.table_name = table_name
        self.ttl_seconds = ttl_days * 86400
        self.prefix = "dryrun#" if dry_run else ""
        self.client = client or aws.client("dynamodb")
        self._clock = clock
        self._offset: float | None = None  # DynamoDB's time minus ours, from its Date headers
        self.calls = 0
        self.sleep: Callable[[float], None] = time.sleep
        events = getattr(getattr(self.client, "meta", None), "events", None)
        if not server_time:  # `clock` is the time (unit tests that move it by hand)
            self._offset = 0.0
        elif events is not None:
            events.register("after-call.dynamodb", self._learn_time)

    # --- time ----------------------------------------------------------------------------------

    def _learn_time(self, http_response: Any = None, **_: Any) -> None:
        date = getattr(http_response, "headers", {}).get("Date") if http_response is not None else None
        if not date:
            return
        try:
            server = parsedate_to_datetime(date).timestamp() + 0.5  # the header has whole seconds
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        self._offset = server - self._clock()

    def now(self) -> float:
        """DynamoDB's time (epoch seconds), not this container's: a container whose clock runs
        ahead or behind still writes and compares expiries on the same clock as every other."""
        if self._offset is None:
            self.read_watermark()  # one cheap read per container teaches us the offset
            if self._offset is None:  # an answer without a Date header: our clock is all there is
                self._offset = 0.0
        return self._clock() + (self._offset or 0.0)

    def _held_values(self, now: float) -> dict[str, Any]:
        """`:stale`: an expiry before it has lapsed; `:absurd`: one after it was never valid."""
        return {
            ":stale": {"N": str(int(now) - SKEW_MARGIN_SECONDS)},
            ":absurd": {"N": str(int(now) + LONGEST_HOLD_SECONDS + SKEW_MARGIN_SECONDS)},
        }

    def _update(self, retry_throttles: bool = False, **request: Any) -> Any:
        """One UpdateItem; with `retry_throttles`, a throttled write keeps trying (backing off)
        for WRITE_RETRY_SECONDS after botocore's own retries gave up."""
        waited, pause = 0.0, 0.1
        while True:
            self.calls += 1
            try:
                return self.client.update_item(TableName=self.table_name, **request)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if not retry_throttles or code not in _THROTTLED or waited >= WRITE_RETRY_SECONDS:
                    raise
            self.sleep(pause)
            waited += pause
            pause = min(pause * 2, 1.0)

    @property
    def _watermark_key(self) -> dict[str, Any]:
        return {"pk": {"S": f"{self.prefix}watermark#poll"}}

    def _conversation_key(self, conversation_id: str, leg: str | None = None) -> dict[str, Any]:
        suffix = f"#leg#{leg}" if leg else ""
        return {"pk": {"S": f"{self.prefix}conv#{conversation_id}{suffix}"}}

    def _email_key(self, conversation_id: str, rule_id: str | None) -> dict[str, Any]:
        return {"pk": {"S": f"{self.prefix}email#{conversation_id}#rule#{rule_id or '-'}"}}

    # --- lease and watermark -------------------------------------------------------------------

    def acquire_lease(self, owner: str, seconds: float) -> Lease | None:
        """Take the lease if it is free, expired or already ours; None when another run holds it."""
        now = self.now()
        expires = int(now) + max(1, int(seconds) + 1)
        try:
            item = self._update(
                Key=self._watermark_key,
                UpdateExpression="SET lease_owner = :owner, lease_expires = :expires",
                ConditionExpression=(
                    "attribute_not_exists(lease_expires) OR lease_expires < :stale OR lease_expires > :absurd"
                    " OR lease_owner = :owner"
                ),
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":expires": {"N": str(expires)},
                    **self._held_values(now),
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if _conditional(exc):
                return None
            raise
        window_end = item.get("window_end", {}).get("S")
        return Lease(owner=owner, expires=expires, window_end=parse_time(window_end) if window_end else None)

    def advance_watermark(self, owner: str, window_end: datetime, release: bool = False) -> bool:
        """Record the watermark, only while we hold the lease; False if we lost it.

        With `release`, the same write frees the lease: the run's last write is one call, not two.
        The holder of the lease may move it back: a run whose clock was fast must not stop the
        runs after it (discovery never depends on it; docs/design.md, "Discovery").
        """
        values = {
            ":owner": {"S": owner},
            ":end": {"S": format_time(window_end)},
            ":now": {"S": format_time(datetime.fromtimestamp(self.now(), UTC))},
        }
        expression = "SET window_end = :end, updated_at = :now"
        if release:
            expression += ", lease_expires = :zero"
            values[":zero"] = {"N": "0"}
        try:
            self.calls += 1
            self.client.update_item(
                TableName=self.table_name,
                Key=self._watermark_key,
                UpdateExpression=expression,
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _conditional(exc):
                return False
            raise
        return True

    def release_lease(self, owner: str) -> None:
        try:
            self.calls += 1
            self.client.update_item(
                TableName=self.table_name,
                Key=self._watermark_key,
                UpdateExpression="SET lease_expires = :zero",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues={":owner": {"S": owner}, ":zero": {"N": "0"}},
            )
        except ClientError as exc:
            if not _conditional(exc):
                raise

    def read_watermark(self) -> dict[str, Any]:
        self.calls += 1
        item = self.client.get_item(TableName=self.table_name, Key=self._watermark_key, ConsistentRead=True)
        return _plain(item.get("Item", {}))

    # --- ledger --------------------------------------------------------------------------------

    def ledger(self, legs: Iterable[tuple[str, str | None]]) -> dict[tuple[str, str | None], dict[str, Any]]:
        """The ledger entries that exist for these (conversation id, leg), by that pair."""
        wanted = list(dict.fromkeys(legs))
        by_key = {self._conversation_key(cid, leg)["pk"]["S"]: (cid, leg) for cid, leg in wanted}
        keys = list(by_key)
        found: dict[tuple[str, str | None], dict[str, Any]] = {}
        for start in range(0, len(keys), _BATCH):
            request: dict[str, Any] = {
                self.table_name: {"Keys": [{"pk": {"S": k}} for k in keys[start : start + _BATCH]]}
            }
            for _ in range(8):
                self.calls += 1
                response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    entry = _plain(item)
                    found[by_key[entry["pk"]]] = entry
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"DynamoDB kept {len(request[self.table_name]['Keys'])} ledger reads unprocessed")
        return found

    def entry(self, conversation_id: str, leg: str | None = None) -> dict[str, Any] | None:
        """One leg's entry, or with no leg the conversation's own (event mode's notes)."""
        self.calls += 1
        item = self.client.get_item(
            TableName=self.table_name, Key=self._conversation_key(conversation_id, leg), ConsistentRead=True
        )
        return _plain(item["Item"]) if "Item" in item else None

    def entries_for(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every ledger entry of one conversation (all its legs), oldest first. A filtered Scan:
        for an operator's question and tests, never on the poll's path."""
        return self._scan(self._conversation_key(conversation_id)["pk"]["S"], None, exact=True)

    def latest(self, conversation_id: str) -> dict[str, Any] | None:
        """The most recently written leg entry of a conversation (its last queue leg)."""
        legs = [e for e in self.entries_for(conversation_id) if e.get("leg")]
        return legs[-1] if legs else None

    def entries_since(self, moment: datetime) -> list[dict[str, Any]]:
        """Ledger entries written since `moment` (each with its `conversation_id` and `leg`), oldest
        first. A filtered Scan: fine for an operator's question, never used on the poll's path."""
        return self._scan(self._conversation_key("")["pk"]["S"], moment)

    def _scan(self, prefix: str, since: datetime | None, exact: bool = False) -> list[dict[str, Any]]:
        base = self._conversation_key("")["pk"]["S"]
        condition = "(pk = :exact OR begins_with(pk, :prefix))" if exact else "begins_with(pk, :prefix)"
        values: dict[str, Any] = {":prefix": {"S": prefix + ("#" if exact else "")}}
        if exact:
            values[":exact"] = {"S": prefix}
        if since is not None:
            condition += " AND updated_at >= :since"
            values[":since"] = {"S": format_time(since)}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": condition,
            "ExpressionAttributeValues": values,
        }
        found = []
        while True:
            self.calls += 1
            response = self.client.scan(**request)
            for item in response.get("Items", []):
                entry = _plain(item)
                conversation_id, _, leg = entry["pk"][len(base) :].partition("#leg#")
                found.append({**entry, "conversation_id": conversation_id, "leg": leg or None})
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return sorted(found, key=lambda e: (str(e.get("updated_at", "")), str(e["pk"])))

    def record(
        self, conversation_id: str, outcome: str, count_attempt: bool = False, leg: str | None = None, **fields: Any
    ) -> bool:
        """Write a leg's outcome and details (no leg: the conversation's own entry);
        `count_attempt` adds one to its attempts.

        Never over a final outcome: a slow handler's late write (a second verdict, or a note such
        as `retry`) is dropped, and False says the entry was already final.
        """
        now = self.now()
        values: dict[str, Any] = {
            "outcome": outcome,
            "updated_at": format_time(datetime.fromtimestamp(now, UTC)),
            "expires_at": int(now) + self.ttl_seconds,
            **{k: v for k, v in fields.items() if v is not None},
        }
        names = {f"#{k}": k for k in values}
        expression = "SET " + ", ".join(f"#{k} = :{k}" for k in values)
        attribute_values = {f":{k}": _typed(v) for k, v in values.items()}
        attribute_values.update(_FINAL_VALUES)
        if count_attempt:
            expression += " ADD attempts :one"
            attribute_values[":one"] = {"N": "1"}
        try:
            self._update(
                retry_throttles=outcome in FINAL_OUTCOMES,
                Key=self._conversation_key(conversation_id, leg),
                UpdateExpression=expression,
                ConditionExpression=_NOT_FINAL,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attribute_values,
            )
        except ClientError as exc:
            if _conditional(exc):
                return False
            raise
        return True

    def claim_steps(self, conversation_id: str, leg: str | None, mark: int, claim_seconds: int) -> bool:
        """Claim the escalation steps up to `mark` (a step's `after`) on this leg before the PATCH
        that applies them; False when another run claimed or applied them. The mark only rises, so
        two runs never both apply a step; a claim left unconfirmed by a run that died before its
        PATCH was recorded lapses (in DynamoDB's time, like every claim), and the step is planned
        again (docs/design.md, "Escalation in the cycle")."""
        now = self.now()
        try:
            self._update(
                Key=self._conversation_key(conversation_id, leg),
                UpdateExpression="SET step_mark = :mark, step_claim_expires = :until, expires_at = :ttl",
                ConditionExpression=(
                    "attribute_not_exists(step_mark) OR step_mark < :mark"
                    " OR step_claim_expires < :stale OR step_claim_expires > :absurd"
                ),
                ExpressionAttributeValues={
                    ":mark": {"N": str(mark)},
                    ":until": {"N": str(int(now) + max(1, claim_seconds))},
                    ":ttl": {"N": str(int(now) + self.ttl_seconds)},
                    **self._held_values(now),
                },
            )
        except ClientError as exc:
            if _conditional(exc):
                return False
            raise
        return True

    def record_steps(self, conversation_id: str, leg: str | None, log: list[dict[str, Any]], **fields: Any) -> None:
        """Confirm the claimed steps: the leg's routing after them (`fields`), their audit records
        appended to `step_log`, the claim's expiry removed (the mark stays: they are applied)."""
        now = self.now()
        values: dict[str, Any] = {
            "updated_at": format_time(datetime.fromtimestamp(now, UTC)),
            **{k: v for k, v in fields.items() if v is not None},
        }
        names = {f"#{k}": k for k in values}
        sets = [f"#{k} = :{k}" for k in values]
        attribute_values = {f":{k}": _typed(v) for k, v in values.items()}
        if log:
            names["#step_log"] = "step_log"
            sets.append("#step_log = list_append(if_not_exists(#step_log, :none), :log)")
            attribute_values[":none"] = {"L": []}
            attribute_values[":log"] = _typed(log)
        self._update(
            retry_throttles=True,
            Key=self._conversation_key(conversation_id, leg),
            UpdateExpression="SET " + ", ".join(sets) + " REMOVE step_claim_expires",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attribute_values,
        )

    # --- claims: one handler per caller leg, one email per conversation, rule and recipient -------

    def _claim_key(self, conversation_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"{self.prefix}claim#{conversation_id}"}}

    def claim_conversation(self, conversation_id: str, owner: str, seconds: float) -> bool:
        """Claim a caller before reading and changing its routing; False while another handler
        holds it. The claim is an item of its own (`claim#<conversationId>`: the conversation,
        whatever the leg, so an event and the poller that name the leg differently still meet),
        lapsing after `seconds` (the invocation's end)."""
        now = self.now()
        try:
            self._update(
                Key=self._claim_key(conversation_id),
                UpdateExpression="SET work_owner = :owner, work_expires = :expires, expires_at = :ttl",
                ConditionExpression=(
                    "attribute_not_exists(work_expires) OR work_expires < :stale"
                    " OR work_expires > :absurd OR work_owner = :owner"
                ),
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":expires": {"N": str(int(now) + max(1, int(seconds) + 1))},
                    ":ttl": {"N": str(int(now) + LONGEST_HOLD_SECONDS + 86400)},
                    **self._held_values(now),
                },
            )
        except ClientError as exc:
            if _conditional(exc):
                return False
            raise
        return True

    def release_conversation(self, conversation_id: str, owner: str) -> None:
        """Free our claim at once (the next poll or event need not wait for it to lapse)."""
        try:
            self._update(
                Key=self._claim_key(conversation_id),
                UpdateExpression="REMOVE work_owner, work_expires",
                ConditionExpression="work_owner = :owner",
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            if not _conditional(exc):
                raise

    def claim_notification(
        self, conversation_id: str, rule_id: str | None, claim_seconds: int, recipient: str | None = None
    ) -> bool:
        """Claim the right to send this conversation's email for this rule (one per conversation and
        rule, whatever the queue legs; per `recipient` when the channel sends one recipient per
        call); False if sent or claimed by another run.

        A claim expires, so a run that dies between claim and send does not cost the email.
        """
        claim, sent = _notify_names(recipient)
        now = self.now()
        try:
            self._update(
                Key=self._email_key(conversation_id, rule_id),
                UpdateExpression="SET #claim = :expires, expires_at = :ttl",
                ConditionExpression=(
                    "attribute_not_exists(notified_at) AND attribute_not_exists(#sent) AND "
                    "(attribute_not_exists(#claim) OR #claim < :stale OR #claim > :absurd)"
                ),
                ExpressionAttributeNames={"#claim": claim, "#sent": sent},
                ExpressionAttributeValues={
                    ":expires": {"N": str(int(now) + max(1, int(claim_seconds)))},
                    ":ttl": {"N": str(int(now) + self.ttl_seconds)},
                    **self._held_values(now),
                },
            )
        except ClientError as exc:
            if _conditional(exc):
                return False
            raise
        return True

    def finish_notification(
        self,
        conversation_id: str,
        rule_id: str | None,
        sent: bool,
        leg: str | None = None,
        recipient: str | None = None,
        settle: bool = True,
    ) -> None:
        """After a send: `sent` marks it done (kept trying through throttling: the email is out, and
        a lost mark would send it again once the claim lapses); otherwise the claim is freed.
        Marking the whole email (no `recipient`) also settles the leg."""
        claim, sent_name = _notify_names(recipient)
        now = self.now()
        stamp = format_time(datetime.fromtimestamp(now, UTC))
        if sent:
            self._update(
                retry_throttles=True,
                Key=self._email_key(conversation_id, rule_id),
                UpdateExpression="SET #sent = :now, expires_at = :ttl REMOVE #claim",
                ExpressionAttributeNames={"#claim": claim, "#sent": sent_name},
                ExpressionAttributeValues={":now": {"S": stamp}, ":ttl": {"N": str(int(now) + self.ttl_seconds)}},
            )
            if recipient is None and settle:
                self.settle_notification(conversation_id, leg, stamp)
        else:  # let the next run try again at once
            self._update(
                Key=self._email_key(conversation_id, rule_id),
                UpdateExpression="REMOVE #claim",
                ExpressionAttributeNames={"#claim": claim},
            )

    def settle_notification(self, conversation_id: str, leg: str | None, notified_at: str | None) -> None:
        """The leg owes no email any more (sent now, or already sent for this rule on another leg)."""
        if notified_at:
            self._update(
                retry_throttles=True,
                Key=self._conversation_key(conversation_id, leg),
                UpdateExpression="SET notified_at = :now REMOVE notify_pending",
                ExpressionAttributeValues={":now": {"S": notified_at}},
            )
        else:
            self._update(
                retry_throttles=True,
                Key=self._conversation_key(conversation_id, leg),
                UpdateExpression="REMOVE notify_pending",
            )

    def notification(self, conversation_id: str, rule_id: str | None) -> dict[str, Any] | None:
        self.calls += 1
        item = self.client.get_item(
            TableName=self.table_name, Key=self._email_key(conversation_id, rule_id), ConsistentRead=True
        )
        return _plain(item["Item"]) if "Item" in item else None


def _notify_names(recipient: str | None) -> tuple[str, str]:
    """The claim's and the sent mark's attribute names: the whole email's, or one recipient's
    (a digest: an address stays out of attribute names)."""
    if recipient is None:
        return "notify_claim_expires", "notified_at"
    digest = hashlib.sha256(recipient.strip().lower().encode()).hexdigest()[:16]
    return f"notify_claim_{digest}", f"notified_{digest}"


def recipient_notified(email: Mapping[str, Any], recipient: str) -> bool:
    return bool(email.get("notified_at") or email.get(_notify_names(recipient)[1]))


_NOT_FINAL = "attribute_not_exists(#outcome) OR NOT (#outcome IN ({}))".format(
    ", ".join(f":final{i}" for i in range(len(FINAL_OUTCOMES)))
)
_FINAL_VALUES = {f":final{i}": {"S": name} for i, name in enumerate(sorted(FINAL_OUTCOMES))}


def _conditional(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _typed(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, Mapping):
        return {"M": {str(k): _typed(v) for k, v in value.items()}}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, datetime):
        return {"S": format_time(value)}
    if isinstance(value, list | tuple):
        return {"L": [_typed(v) for v in value]}
    return {"S": str(value)}


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, typed in item.items():
        result[key] = _untyped(typed)
    return result


def _untyped(typed: Mapping[str, Any]) -> Any:
    ((kind, value),) = typed.items()
    if kind == "N":
        number = float(value)
        return int(number) if number.is_integer() else number
    if kind == "L":
        return [_untyped(v) for v in value]
    if kind == "M":
        return {k: _untyped(v) for k, v in value.items()}
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    return value
