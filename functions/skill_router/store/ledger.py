"""The ledger: one entry per conversation and queue leg, saying what was decided and done there.

`conv#<conversationId>#leg#<leg>` (`leg` is the ACD participant id; a transfer to another queue is
a new leg): outcome, rule, matrix version, queue, when the caller entered the queue
(`queue_entered`), the routing found and left (`skills_before/after`, `priority_before/after`,
`language_before/after`) and what was written, the decision itself (`decided_at`,
`skills/priority/language_decided`: written once with the rule's outcome, never by a step, for
the audit trail), attempts, the escalation steps applied (`steps_applied`, `step_log`,
`step_mark`), the emails this leg still owes (`emails_owed`: email keys, `<rule id>` or
`<rule id>@<after>s`) and when the rule's email went out (`notified_at`); for a caller still
without an intent its re-check schedule (`checks`, `next_check_at`); the staffing guard's decision
and repairs (`guard`, `skills_withheld`, `language_withheld`, `steps_skipped`, `withheld_applied_at`,
`unstaffed_since`, `relaxed`, `relaxed_at`, `relax_blocked_by`, `guard_log`: guard.py).
`conv#<conversationId>`: what event mode learns before a leg is known.

Several handlers share these entries (pollers, event containers, EventBridge's redeliveries), so a
final outcome is never overwritten: every outcome write is conditional on the entry not being
final yet, and a slow handler's late verdict is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from skill_router.store.claims import STEP
from skill_router.store.codec import format_time, typed
from skill_router.store.table import Table

FINAL_OUTCOMES = frozenset(
    {"applied", "unchanged", "shadowed", "no_match", "no_intent", "not_queued", "gone", "failed", "no_rule", "too_old"}
)
_NOT_FINAL = "attribute_not_exists(#outcome) OR NOT (#outcome IN ({}))".format(
    ", ".join(f":final{i}" for i in range(len(FINAL_OUTCOMES)))
)
_FINAL_VALUES = {f":final{i}": {"S": name} for i, name in enumerate(sorted(FINAL_OUTCOMES))}


def emails_owed(entry: dict[str, Any] | None) -> list[str]:
    """The keys of the emails this leg still owes. An entry of release 0.x says `notify_pending`
    for the rule's email."""
    entry = entry or {}
    owed = list(entry.get("emails_owed") or [])
    if entry.get("notify_pending") and entry.get("rule_id") and str(entry["rule_id"]) not in owed:
        owed.insert(0, str(entry["rule_id"]))
    return owed


class LedgerTable(Table):
    def record(
        self, conversation_id: str, outcome: str, count_attempt: bool = False, leg: str | None = None, **fields: Any
    ) -> bool:
        """Write a leg's outcome and fields (no leg: the conversation's own entry); `count_attempt`
        adds one to its attempts. False when the entry was final already (its outcome stands).
        A final outcome must land: it follows the PATCH it records."""
        now = self.now()
        values: dict[str, Any] = {
            "outcome": outcome,
            "updated_at": format_time(datetime.fromtimestamp(now, UTC)),
            "expires_at": int(now) + self.ttl_seconds,
            **{k: v for k, v in fields.items() if v is not None and v != set()},
        }
        expression = "SET " + ", ".join(f"#{k} = :{k}" for k in values)
        attribute_values = {f":{k}": typed(v) for k, v in values.items()} | _FINAL_VALUES
        if count_attempt:
            expression += " ADD attempts :one"
            attribute_values[":one"] = {"N": "1"}
        done = self.update(
            self.ledger_key(conversation_id, leg),
            must_land=outcome in FINAL_OUTCOMES,
            UpdateExpression=expression,
            ConditionExpression=_NOT_FINAL,
            ExpressionAttributeNames={f"#{k}": k for k in values},
            ExpressionAttributeValues=attribute_values,
        )
        return done is not None

    def record_steps(
        self,
        conversation_id: str,
        leg: str | None,
        log: list[dict[str, Any]],
        owed: Iterable[str] = (),
        **fields: Any,
    ) -> None:
        """Confirm the claimed steps: the leg's routing after them (`fields`), their audit records
        appended to `step_log`, their emails added to `emails_owed`, the step claim dropped (the
        mark stays: they are applied). Must land: it follows the PATCH."""
        now = self.now()
        values: dict[str, Any] = {
            "updated_at": format_time(datetime.fromtimestamp(now, UTC)),
            **{k: v for k, v in fields.items() if v is not None},
        }
        names = {f"#{k}": k for k in values} | STEP.names()
        sets = [f"#{k} = :{k}" for k in values]
        attribute_values = {f":{k}": typed(v) for k, v in values.items()}
        if log:
            names["#step_log"] = "step_log"
            sets.append("#step_log = list_append(if_not_exists(#step_log, :none), :log)")
            attribute_values[":none"] = {"L": []}
            attribute_values[":log"] = typed(log)
        expression = "SET " + ", ".join(sets) + f" REMOVE step_attempts, {STEP.drop()}"
        if set(owed):
            expression += " ADD emails_owed :owed"
            attribute_values[":owed"] = typed(set(owed))
        self.update(
            self.ledger_key(conversation_id, leg),
            must_land=True,
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attribute_values,
        )

    def note(
        self, conversation_id: str, leg: str | None, guard_log: list[dict[str, Any]] | None = None, **fields: Any
    ) -> None:
        """The staffing guard's fields on a decided leg (`unstaffed_since`, `relaxed`, the withheld
        parts, the routing left), its audit records appended to `guard_log`; no claim is touched
        (leg.mend holds the caller's). Must land when it follows a PATCH (`guard_log`)."""
        now = self.now()
        values: dict[str, Any] = {
            "updated_at": format_time(datetime.fromtimestamp(now, UTC)),
            **{k: v for k, v in fields.items() if v is not None},
        }
        names = {f"#{k}": k for k in values}
        sets = [f"#{k} = :{k}" for k in values]
        attribute_values = {f":{k}": typed(v) for k, v in values.items()}
        if guard_log:
            names["#guard_log"] = "guard_log"
            sets.append("#guard_log = list_append(if_not_exists(#guard_log, :none), :log)")
            attribute_values[":none"] = {"L": []}
            attribute_values[":log"] = typed(guard_log)
        self.update(
            self.ledger_key(conversation_id, leg),
            must_land=bool(guard_log),
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attribute_values,
        )

    def settle_email(self, conversation_id: str, leg: str | None, key: str, notified_at: str | None = None) -> None:
        """The leg owes this email no more (sent now, or already out for another leg); the rule's
        own email (`notified_at`) is shown by the audit trail. Must land: else the leg would ask
        for it again on every poll (never sending it twice: its email item says it is out)."""
        update = "DELETE emails_owed :key REMOVE notify_pending"
        values: dict[str, Any] = {":key": {"SS": [key]}}
        if notified_at:
            update = "SET notified_at = :now " + update
            values[":now"] = {"S": notified_at}
        self.update(
            self.ledger_key(conversation_id, leg),
            must_land=True,
            UpdateExpression=update,
            ExpressionAttributeValues=values,
        )

    def recheck_soon(self, conversation_id: str, leg: str) -> None:
        """A leg waiting for its intent is read by the next poll (its intent arrived, but could
        not be read then); nothing changes on a leg with any other outcome."""
        self.update(
            self.ledger_key(conversation_id, leg),
            UpdateExpression="SET next_check_at = :now",
            ConditionExpression="#outcome = :waiting",
            ExpressionAttributeNames={"#outcome": "outcome"},
            ExpressionAttributeValues={":now": {"N": str(int(self.now()))}, ":waiting": {"S": "waiting_for_intent"}},
        )

    def entry(self, conversation_id: str, leg: str | None = None) -> dict[str, Any] | None:
        """One leg's entry, or with no leg the conversation's own (event mode's notes)."""
        return self.get(self.ledger_key(conversation_id, leg))

    def ledger(self, legs: Iterable[tuple[str, str | None]]) -> dict[tuple[str, str | None], dict[str, Any]]:
        """The ledger entries that exist for these (conversation id, leg), by that pair."""
        by_key = {self.ledger_key(cid, leg)["pk"]["S"]: (cid, leg) for cid, leg in dict.fromkeys(legs)}
        return {by_key[item["pk"]]: item for item in self.get_many(list(by_key))}

    def entries_for(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every ledger entry of one conversation (all its legs), oldest first. A filtered Scan:
        for an operator's question and tests, never on the poll's path."""
        return self._scan(self.ledger_key(conversation_id)["pk"]["S"], None, exact=True)

    def latest(self, conversation_id: str) -> dict[str, Any] | None:
        """The most recently written leg entry of a conversation (its last queue leg)."""
        legs = [e for e in self.entries_for(conversation_id) if e.get("leg")]
        return legs[-1] if legs else None

    def entries_since(self, moment: datetime) -> list[dict[str, Any]]:
        """Ledger entries written since `moment` (each with its `conversation_id` and `leg`), oldest
        first. A filtered Scan: fine for an operator's question, never used on the poll's path."""
        return self._scan(self.ledger_key("")["pk"]["S"], moment)

    def _scan(self, prefix: str, since: datetime | None, exact: bool = False) -> list[dict[str, Any]]:
        base = self.ledger_key("")["pk"]["S"]
        condition = "(pk = :exact OR begins_with(pk, :prefix))" if exact else "begins_with(pk, :prefix)"
        values: dict[str, Any] = {":prefix": {"S": prefix + ("#" if exact else "")}}
        if exact:
            values[":exact"] = {"S": prefix}
        if since is not None:
            condition += " AND updated_at >= :since"
            values[":since"] = {"S": format_time(since)}
        found = []
        for entry in self.scan(condition, values):
            conversation_id, _, leg = entry["pk"][len(base) :].partition("#leg#")
            found.append({**entry, "conversation_id": conversation_id, "leg": leg or None})
        return sorted(found, key=lambda e: (str(e.get("updated_at", "")), str(e["pk"])))
