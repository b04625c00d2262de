"""The one DynamoDB table: its client, DynamoDB's clock, and the conditional update, written once.

Times come from DynamoDB, not from this container's clock: every answer's `Date` header sets the
offset of our clock from DynamoDB's, so a container whose clock runs ahead or behind still
writes and compares expiries on the same clock as every other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.exceptions import ClientError

from skill_router import aws
from skill_router.store.codec import plain

BATCH_SIZE = 100  # BatchGetItem's limit
# Error codes botocore's standard retry mode also treats as throttling or transient.
THROTTLED = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
# How long a write that must land (see `Table.update`) is re-issued through throttling.
MUST_LAND_SECONDS = 8.0

SCAN_PAGE = 1000  # items a Scan page reads (operator questions only: audit, report)


class Table:
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
        self.prefix = "dryrun#" if dry_run else ""  # dry runs keep their own items
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
        """DynamoDB's time (epoch seconds), not this container's."""
        if self._offset is None:
            self.get({"pk": {"S": f"{self.prefix}watermark#poll"}})  # one cheap read teaches us the offset
            if self._offset is None:  # an answer without a Date header: our clock is all there is
                self._offset = 0.0
        return self._clock() + (self._offset or 0.0)

    def clock_offset(self) -> float:
        """DynamoDB's time minus this container's clock: what turns a time read from our clock
        (the poller's `now`) into DynamoDB's, as the staffing guard's hysteresis needs."""
        return self.now() - self._clock()

    def ledger_key(self, conversation_id: str, leg: str | None = None) -> dict[str, Any]:
        """A queue leg's ledger entry (`conv#<id>#leg#<leg>`), or with no leg the conversation's own."""
        suffix = f"#leg#{leg}" if leg else ""
        return {"pk": {"S": f"{self.prefix}conv#{conversation_id}{suffix}"}}

    def update(self, key: dict[str, Any], *, must_land: bool = False, **request: Any) -> dict[str, Any] | None:
        """One UpdateItem: the item's returned attributes (plain; {} unless asked for), or None
        when its ConditionExpression failed.

        Throttling is retried by botocore (the client's standard retry mode, sized to fit the
        invocation). A write with `must_land` follows an effect that cannot be taken back (a PATCH
        sent, an email out): were it lost, the next poll would repeat the effect once the claims
        lapse. So after botocore's attempts it is re-issued through a throttling burst for up to
        MUST_LAND_SECONDS more (writes are idempotent: each SET writes the same values again)."""
        waited, pause = 0.0, 0.1
        while True:
            self.calls += 1
            try:
                answer = self.client.update_item(TableName=self.table_name, Key=key, **request)
                return plain(answer.get("Attributes", {}))
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code == "ConditionalCheckFailedException":
                    return None
                if not must_land or code not in THROTTLED or waited >= MUST_LAND_SECONDS:
                    raise
            self.sleep(pause)
            waited += pause
            pause = min(pause * 2, 1.0)

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        self.calls += 1
        item = self.client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True)
        return plain(item["Item"]) if "Item" in item else None

    def get_many(self, keys: list[str]) -> list[dict[str, Any]]:
        """The items that exist among these partition keys (BatchGetItem, unprocessed keys asked again)."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_SIZE):
            request: dict[str, Any] = {
                self.table_name: {"Keys": [{"pk": {"S": k}} for k in keys[start : start + BATCH_SIZE]]}
            }
            for _ in range(8):
                self.calls += 1
                response = self.client.batch_get_item(RequestItems=request)
                found.extend(plain(item) for item in response.get("Responses", {}).get(self.table_name, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"DynamoDB kept {len(request[self.table_name]['Keys'])} ledger reads unprocessed")
        return found

    def scan(self, condition: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": condition,
            "ExpressionAttributeValues": values,
            # Pages of SCAN_PAGE items read (not 1 MB): each answers well within the client's read
            # timeout (aws.py), also from a loaded moto server; a 5,000-leg report timed out there.
            "Limit": SCAN_PAGE,
        }
        found: list[dict[str, Any]] = []
        while True:
            self.calls += 1
            response = self.client.scan(**request)
            found.extend(plain(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
