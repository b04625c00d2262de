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
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

FINAL_OUTCOMES = frozenset({"applied", "unchanged", "no_match", "no_intent", "not_queued", "gone", "failed", "no_rule"})
_BATCH = 100  # BatchGetItem's limit
# A step claim is taken over only this long after it expired on the taker's clock: two runs whose
# clocks disagree by less never both apply a step (tests/attack/test_escalation_cycle.py).
CLAIM_SKEW_SECONDS = 300


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
    ) -> None:
        self.table_name = table_name
        self.ttl_seconds = ttl_days * 86400
        self.prefix = "dryrun#" if dry_run else ""
        self.client = client or boto3.client("dynamodb")
        self._clock = clock
        self.calls = 0

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
        now = int(self._clock())
        expires = now + max(1, int(seconds))
        try:
            self.calls += 1
            item = self.client.update_item(
                TableName=self.table_name,
                Key=self._watermark_key,
                UpdateExpression="SET lease_owner = :owner, lease_expires = :expires",
                ConditionExpression=(
                    "attribute_not_exists(lease_expires) OR lease_expires < :now OR lease_owner = :owner"
                ),
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":expires": {"N": str(expires)},
                    ":now": {"N": str(now)},
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
            ":now": {"S": format_time(datetime.fromtimestamp(self._clock(), UTC))},
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
    ) -> None:
        """Write a leg's outcome and details (no leg: the conversation's own entry);
        `count_attempt` adds one to its attempts."""
        now = self._clock()
        values: dict[str, Any] = {
            "outcome": outcome,
            "updated_at": format_time(datetime.fromtimestamp(now, UTC)),
            "expires_at": int(now) + self.ttl_seconds,
            **{k: v for k, v in fields.items() if v is not None},
        }
        names = {f"#{k}": k for k in values}
        expression = "SET " + ", ".join(f"#{k} = :{k}" for k in values)
        attribute_values = {f":{k}": _typed(v) for k, v in values.items()}
        if count_attempt:
            expression += " ADD attempts :one"
            attribute_values[":one"] = {"N": "1"}
        self.calls += 1
        self.client.update_item(
            TableName=self.table_name,
            Key=self._conversation_key(conversation_id, leg),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attribute_values,
        )

    def claim_steps(self, conversation_id: str, leg: str | None, mark: int, claim_seconds: int) -> bool:
        """Claim the escalation steps up to `mark` (a step's `after`) on this leg before the PATCH
        that applies them; False when another run claimed or applied them. The mark only rises, so
        two runs never both apply a step; a claim left unconfirmed by a run that died before its
        PATCH was recorded is taken over CLAIM_SKEW_SECONDS after it expired, and the step is
        planned again (docs/design.md, "Escalation in the cycle")."""
        now = int(self._clock())
        try:
            self.calls += 1
            self.client.update_item(
                TableName=self.table_name,
                Key=self._conversation_key(conversation_id, leg),
                UpdateExpression="SET step_mark = :mark, step_claim_expires = :until, expires_at = :ttl",
                ConditionExpression=(
                    "attribute_not_exists(step_mark) OR step_mark < :mark OR step_claim_expires < :now"
                ),
                ExpressionAttributeValues={
                    ":mark": {"N": str(mark)},
                    ":until": {"N": str(now + max(1, claim_seconds))},
                    ":now": {"N": str(now - CLAIM_SKEW_SECONDS)},
                    ":ttl": {"N": str(now + self.ttl_seconds)},
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
        now = self._clock()
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
        self.calls += 1
        self.client.update_item(
            TableName=self.table_name,
            Key=self._conversation_key(conversation_id, leg),
            UpdateExpression="SET " + ", ".join(sets) + " REMOVE step_claim_expires",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attribute_values,
        )

    def claim_notification(self, conversation_id: str, rule_id: str | None, claim_seconds: int) -> bool:
        """Claim the right to send this conversation's email for this rule (one per conversation and
        rule, whatever the queue legs); False if sent or claimed by another run.

        A claim expires, so a run that dies between claim and send does not cost the email.
        """
        now = int(self._clock())
        try:
            self.calls += 1
            self.client.update_item(
                TableName=self.table_name,
                Key=self._email_key(conversation_id, rule_id),
                UpdateExpression="SET notify_claim_expires = :expires, expires_at = :ttl",
                ConditionExpression=(
                    "attribute_not_exists(notified_at) AND "
                    "(attribute_not_exists(notify_claim_expires) OR notify_claim_expires < :now)"
                ),
                ExpressionAttributeValues={
                    ":expires": {"N": str(now + claim_seconds)},
                    ":now": {"N": str(now)},
                    ":ttl": {"N": str(now + self.ttl_seconds)},
                },
            )
        except ClientError as exc:
            if _conditional(exc):
                return False
            raise
        return True

    def finish_notification(
        self, conversation_id: str, rule_id: str | None, sent: bool, leg: str | None = None, settle: bool = True
    ) -> None:
        now = format_time(datetime.fromtimestamp(self._clock(), UTC))
        self.calls += 1
        if sent:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._email_key(conversation_id, rule_id),
                UpdateExpression="SET notified_at = :now REMOVE notify_claim_expires",
                ExpressionAttributeValues={":now": {"S": now}},
            )
            if settle:
                self.settle_notification(conversation_id, leg, now)
        else:  # let the next run try again at once
            self.client.update_item(
                TableName=self.table_name,
                Key=self._email_key(conversation_id, rule_id),
                UpdateExpression="REMOVE notify_claim_expires",
            )

    def settle_notification(self, conversation_id: str, leg: str | None, notified_at: str | None) -> None:
        """The leg owes no email any more (sent now, or already sent for this rule on another leg)."""
        self.calls += 1
        if notified_at:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._conversation_key(conversation_id, leg),
                UpdateExpression="SET notified_at = :now REMOVE notify_pending",
                ExpressionAttributeValues={":now": {"S": notified_at}},
            )
        else:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._conversation_key(conversation_id, leg),
                UpdateExpression="REMOVE notify_pending",
            )

    def notification(self, conversation_id: str, rule_id: str | None) -> dict[str, Any] | None:
        self.calls += 1
        item = self.client.get_item(
            TableName=self.table_name, Key=self._email_key(conversation_id, rule_id), ConsistentRead=True
        )
        return _plain(item["Item"]) if "Item" in item else None


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
