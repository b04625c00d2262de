"""One expiring claim, whatever it guards: the poller's lease, a caller, an email, a leg's steps.

A claim named `<name>` lives on one item as two attributes, `<name>_owner` (who holds it) and
`<name>_expires` (epoch seconds in DynamoDB's time, never this container's). It is free when
`<name>_expires` is absent, has lapsed, or is absurd, or when its owner asks again:
- lapsed: DynamoDB's Date header has whole seconds and an answer takes a moment to arrive, so an
  expiry counts as lapsed only SKEW_MARGIN_SECONDS after DynamoDB's time passed it;
- absurd: no claim lasts longer than an invocation can (900 s), so an expiry further ahead than
  that was written by a clock that was wrong, and is treated as lapsed rather than obeyed for hours.

The names (docs/design.md, "Two handlers, clocks, event snapshots and emails": one claim):
| claim  | item                               | guards                                          |
|--------|------------------------------------|-------------------------------------------------|
| lease  | `watermark#poll`                   | one poller per deployment                       |
| caller | `claim#<conversationId>`           | one handler reads and changes a caller at a time |
| email  | `email#<conversationId>#rule#<key>` | one send of that email (`email_<digest>`: of it to one recipient) |
| step   | the leg's ledger entry             | the steps up to `step_mark` are being applied   |
| mend   | the leg's ledger entry             | one repair by the staffing guard (guard.py)     |

Release 0.x wrote the caller, email and step claims under other names (`work_expires`,
`notify_claim_expires` / `notify_claim_<digest>`, `step_claim_expires`): such a claim is honoured
until it lapses (`legacy`), so an upgrade in the middle of a claim sends nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from skill_router.store.codec import format_time, parse_time, typed
from skill_router.store.table import Table

SKEW_MARGIN_SECONDS = 2
LONGEST_HOLD_SECONDS = 900


@dataclass(frozen=True)
class Claim:
    name: str
    legacy: str | None = None  # the expiry attribute release 0.x wrote for this claim

    @property
    def owner_attribute(self) -> str:
        return f"{self.name}_owner"

    @property
    def expires_attribute(self) -> str:
        return f"{self.name}_expires"

    @property
    def attributes(self) -> tuple[str, ...]:
        """Every attribute the claim may occupy (removed when it is released or confirmed)."""
        return (self.owner_attribute, self.expires_attribute, *([self.legacy] if self.legacy else []))

    def held(self, item: Mapping[str, Any], now: float, owner: str | None = None) -> bool:
        """Someone other than `owner` holds this claim at DynamoDB time `now`."""
        if owner is not None and item.get(self.owner_attribute) == owner:
            return False
        return any(holds(item.get(name), now) for name in (self.expires_attribute, self.legacy) if name)

    # --- the same rules as DynamoDB condition expressions (placeholders #cl_* and :stale, :absurd)

    def names(self) -> dict[str, str]:
        names = {"#cl_owner": self.owner_attribute, "#cl_expires": self.expires_attribute}
        if self.legacy:
            names["#cl_legacy"] = self.legacy
        return names

    def free(self) -> str:
        """The claim is not held by another owner (`:owner`)."""
        condition = "(attribute_not_exists(#cl_expires) OR #cl_expires < :stale OR #cl_expires > :absurd"
        condition += " OR #cl_owner = :owner)"
        if self.legacy:
            condition += " AND (attribute_not_exists(#cl_legacy) OR #cl_legacy < :stale OR #cl_legacy > :absurd)"
        return condition

    def lapsed(self) -> str:
        """The claim was taken and has lapsed (an absent claim is not "lapsed")."""
        condition = "#cl_expires < :stale OR #cl_expires > :absurd"
        if self.legacy:
            condition += " OR #cl_legacy < :stale OR #cl_legacy > :absurd"
        return f"({condition})"

    def take(self) -> str:
        return "#cl_owner = :owner, #cl_expires = :expires"

    def drop(self) -> str:
        return ", ".join(sorted(self.names()))


def holds(expires: Any, now: float) -> bool:
    """An expiry that still holds at `now` (neither lapsed nor absurd)."""
    if expires is None:
        return False
    _, stale, absurd = times(now, 0)
    return stale <= float(expires) <= absurd


def times(now: float, seconds: float) -> tuple[int, int, int]:
    """(expires, stale, absurd) for a claim taken at `now` for `seconds`."""
    return (
        int(now) + max(1, int(seconds)),
        int(now) - SKEW_MARGIN_SECONDS,
        int(now) + LONGEST_HOLD_SECONDS + SKEW_MARGIN_SECONDS,
    )


LEASE = Claim("lease")
CALLER = Claim("caller", legacy="work_expires")
STEP = Claim("step", legacy="step_claim_expires")
MEND = Claim("mend")


def email_claim(recipient: str | None) -> Claim:
    """The claim on one email: the whole email's, or one recipient's (a channel that sends one
    recipient per call); a digest keeps the address out of attribute names."""
    if recipient is None:
        return Claim("email", legacy="notify_claim_expires")
    digest = recipient_digest(recipient)
    return Claim(f"email_{digest}", legacy=f"notify_claim_{digest}")


def sent_mark(recipient: str | None) -> str:
    """The attribute that says the email (or its send to one recipient) is out."""
    return "notified_at" if recipient is None else f"notified_{recipient_digest(recipient)}"


def recipient_digest(recipient: str) -> str:
    return hashlib.sha256(recipient.strip().lower().encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Lease:
    owner: str
    expires: int
    window_end: datetime | None
    sweep: str | None = None  # where discovery's sweep stands (JSON, discovery.SweepPlace)

    @classmethod
    def of(cls, owner: str, item: dict[str, Any]) -> Lease:
        """The lease as the watermark item holds it once `owner` took it."""
        window_end, sweep = item.get("window_end"), item.get("sweep")
        return cls(
            owner,
            int(item["lease_expires"]),
            parse_time(window_end) if window_end else None,
            sweep if isinstance(sweep, str) else None,
        )


class ClaimsTable(Table):
    """The claims kept in the table, all through `take_claim` and `release_claim`."""

    def take_claim(
        self,
        key: dict[str, Any],
        claim: Claim,
        owner: str,
        seconds: float,
        *,
        when: str = "{free}",
        also: dict[str, Any] | None = None,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        return_item: bool = False,
    ) -> dict[str, Any] | None:
        """Take `claim` on the item for `seconds`: None when someone else holds it (or `when`,
        a condition over `{free}` and `{lapsed}`, is false); else the item ({} unless `return_item`).
        `also`: attributes written in the same update."""
        now = self.now()
        expires, stale, absurd = times(now, seconds)
        sets = [claim.take(), *(f"#{k} = :{k}" for k in also or {})]
        update = "SET " + ", ".join(sets) + (" REMOVE #cl_legacy" if claim.legacy else "")
        return self.update(
            key,
            UpdateExpression=update,
            ConditionExpression=when.format(free=claim.free(), lapsed=claim.lapsed()),
            ExpressionAttributeNames={**claim.names(), **{f"#{k}": k for k in also or {}}, **(names or {})},
            ExpressionAttributeValues={
                ":owner": {"S": owner},
                ":expires": {"N": str(expires)},
                ":stale": {"N": str(stale)},
                ":absurd": {"N": str(absurd)},
                **{f":{k}": typed(v) for k, v in (also or {}).items()},
                **(values or {}),
            },
            ReturnValues="ALL_NEW" if return_item else "NONE",
        )

    def release_claim(self, key: dict[str, Any], claim: Claim, owner: str) -> None:
        """Free our claim at once (the next run need not wait for it to lapse); a claim another
        owner took meanwhile is left alone."""
        self.update(
            key,
            UpdateExpression=f"REMOVE {claim.drop()}",
            ConditionExpression="#cl_owner = :owner",
            ExpressionAttributeNames=claim.names(),
            ExpressionAttributeValues={":owner": {"S": owner}},
        )

    # --- the lease and the watermark (`watermark#poll`) ------------------------------------------

    @property
    def watermark_key(self) -> dict[str, Any]:
        return {"pk": {"S": f"{self.prefix}watermark#poll"}}

    def acquire_lease(self, owner: str, seconds: float) -> Lease | None:
        """Take the lease if it is free, lapsed or already ours; None when another run holds it."""
        item = self.take_claim(self.watermark_key, LEASE, owner, seconds, return_item=True)
        return None if item is None else Lease.of(owner, item)

    def record_sweep(self, owner: str, sweep: str) -> bool:
        """Record where discovery's sweep stands, only while we hold the lease; False if we lost it."""
        done = self.update(
            self.watermark_key,
            UpdateExpression="SET #sweep = :sweep",
            ConditionExpression="#cl_owner = :owner",
            ExpressionAttributeNames={"#cl_owner": LEASE.owner_attribute, "#sweep": "sweep"},
            ExpressionAttributeValues={":owner": {"S": owner}, ":sweep": {"S": sweep}},
        )
        return done is not None

    def advance_watermark(self, owner: str, window_end: datetime, release: bool = False) -> bool:
        """Record the watermark, only while we hold the lease; False if we lost it.

        With `release`, the same write frees the lease: the run's last write is one call, not two.
        The holder of the lease may move it back: a run whose clock was fast must not stop the
        runs after it (discovery never depends on it; docs/design.md, "Discovery").
        """
        stamp = format_time(datetime.fromtimestamp(self.now(), UTC))
        done = self.update(
            self.watermark_key,
            UpdateExpression="SET window_end = :end, updated_at = :now" + (" REMOVE #cl_expires" if release else ""),
            ConditionExpression="#cl_owner = :owner",
            ExpressionAttributeNames={k: v for k, v in LEASE.names().items() if release or k == "#cl_owner"},
            ExpressionAttributeValues={
                ":owner": {"S": owner},
                ":end": {"S": format_time(window_end)},
                ":now": {"S": stamp},
            },
        )
        return done is not None

    def release_lease(self, owner: str) -> None:
        self.release_claim(self.watermark_key, LEASE, owner)

    def read_watermark(self) -> dict[str, Any]:
        return self.get(self.watermark_key) or {}

    # --- a caller (`claim#<conversationId>`) -----------------------------------------------------

    def _caller_key(self, conversation_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"{self.prefix}claim#{conversation_id}"}}

    def claim_caller(self, conversation_id: str, owner: str, seconds: float) -> bool:
        """Claim a caller before reading and changing its routing; False while another handler
        holds it. The claim is the conversation's, whatever the leg, so an event and the poller
        that name the leg differently still meet; it lapses with the invocation (`seconds`)."""
        ttl = int(self.now()) + LONGEST_HOLD_SECONDS + 86400
        taken = self.take_claim(
            self._caller_key(conversation_id), CALLER, owner, int(seconds) + 1, also={"expires_at": ttl}
        )
        return taken is not None

    def release_caller(self, conversation_id: str, owner: str) -> None:
        self.release_claim(self._caller_key(conversation_id), CALLER, owner)

    # --- an email (`email#<conversationId>#rule#<key>`) -------------------------------------------

    def email_key(self, conversation_id: str, key: str | None) -> dict[str, Any]:
        return {"pk": {"S": f"{self.prefix}email#{conversation_id}#rule#{key or '-'}"}}

    def claim_email(
        self, conversation_id: str, key: str | None, owner: str, seconds: float, recipient: str | None = None
    ) -> bool:
        """Claim the one send of this email (per `recipient` when the channel sends one recipient
        per call); False when it is out or another run holds it. A run that dies between claim
        and send costs nothing but the wait: the claim lapses."""
        ttl = int(self.now()) + self.ttl_seconds
        taken = self.take_claim(
            self.email_key(conversation_id, key),
            email_claim(recipient),
            owner,
            seconds,
            when="attribute_not_exists(notified_at) AND attribute_not_exists(#sent) AND {free}",
            also={"expires_at": ttl},
            names={"#sent": sent_mark(recipient)},
        )
        return taken is not None

    def mark_email_sent(
        self,
        conversation_id: str,
        key: str | None,
        recipient: str | None = None,
        *,
        to: Iterable[str] = (),
        leg: str | None = None,
    ) -> str:
        """The email is out: marked for good (this write must land, else a second run sends it
        again once the claim lapses). Returns the time written. For the audit trail, the same
        write keeps who it went to (`sent_to`, added to) and the queue leg that sent it (`leg`,
        the first one)."""
        now = self.now()
        stamp = format_time(datetime.fromtimestamp(now, UTC))
        claim = email_claim(recipient)
        names = {"#sent": sent_mark(recipient), **claim.names()}
        values = {":now": {"S": stamp}, ":ttl": {"N": str(int(now) + self.ttl_seconds)}}
        sets = ["#sent = :now", "expires_at = :ttl"]
        if leg:
            sets.append("#leg = if_not_exists(#leg, :leg)")
            names["#leg"], values[":leg"] = "leg", {"S": leg}
        update = "SET " + ", ".join(sets) + f" REMOVE {claim.drop()}"
        if set(to):
            update += " ADD sent_to :to"
            values[":to"] = typed(set(to))
        self.update(
            self.email_key(conversation_id, key),
            must_land=True,
            UpdateExpression=update,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        return stamp

    def release_email(self, conversation_id: str, key: str | None, owner: str, recipient: str | None = None) -> None:
        """The send failed: the next run may try at once."""
        self.release_claim(self.email_key(conversation_id, key), email_claim(recipient), owner)

    def email(self, conversation_id: str, key: str | None) -> dict[str, Any]:
        return self.get(self.email_key(conversation_id, key)) or {}

    # --- a leg's escalation steps (its ledger entry) ---------------------------------------------

    def claim_steps(
        self, conversation_id: str, leg: str | None, mark: int, owner: str, seconds: float, afters: Iterable[int] = ()
    ) -> bool:
        """Claim the escalation steps up to `mark` (a step's `after`) on this leg before the PATCH
        that applies them; False when another run claimed or applied them. The mark only rises, so
        two runs never both apply a step; a claim left unconfirmed by a run that died before its
        PATCH was recorded lapses, and the step is planned again (`applied_steps` in ladder.py).
        `afters`: every step the PATCH applies; the claim is refused when the ledger says one of
        them was applied or given up already, so a plan made from an out-of-date copy of the entry
        (another container's memory) writes nothing."""
        now = self.now()
        steps = sorted({int(mark), *(int(a) for a in afters)})
        done = " AND ".join(
            f"NOT contains(#steps_applied, :after{i}) AND NOT contains(#steps_failed, :after{i})"
            for i in range(len(steps))
        )
        taken = self.take_claim(
            self.ledger_key(conversation_id, leg),
            STEP,
            owner,
            seconds,
            when=f"(attribute_not_exists(#step_mark) OR #step_mark < :step_mark OR {{lapsed}}) AND {done}",
            also={"step_mark": mark, "expires_at": int(now) + self.ttl_seconds},
            names={"#steps_applied": "steps_applied", "#steps_failed": "steps_failed"},
            values={f":after{i}": {"N": str(a)} for i, a in enumerate(steps)},
        )
        return taken is not None

    def claim_mend(self, conversation_id: str, leg: str | None, owner: str, seconds: float) -> bool:
        """Claim the leg for one repair by the staffing guard (leg.mend): the repair is decided again
        from the entry read under the claim, so two handlers never apply it twice."""
        return self.take_claim(self.ledger_key(conversation_id, leg), MEND, owner, seconds) is not None

    def release_mend(self, conversation_id: str, leg: str | None, owner: str) -> None:
        self.release_claim(self.ledger_key(conversation_id, leg), MEND, owner)

    def release_steps(self, conversation_id: str, leg: str | None, owner: str) -> None:
        """Our PATCH of the claimed steps did not land (throttled, out of time, refused): free the
        claim and its mark at once, so the next poll plans the steps again instead of waiting for
        the claim to lapse with this invocation. A claim another run took meanwhile is left alone."""
        self.update(
            self.ledger_key(conversation_id, leg),
            UpdateExpression=f"REMOVE step_mark, {STEP.drop()}",
            ConditionExpression="#cl_owner = :owner",
            ExpressionAttributeNames=STEP.names(),
            ExpressionAttributeValues={":owner": {"S": owner}},
        )

    def fail_steps(
        self, conversation_id: str, leg: str | None, afters: list[int], owner: str, max_attempts: int
    ) -> tuple[int, bool]:
        """Genesys refused the PATCH of the claimed steps: one more attempt counted on the leg
        (`step_attempts`), the claim freed; at `max_attempts` the steps are recorded as failed
        (`steps_failed`: never planned again, so later steps still fire). (attempts, ended)."""
        done = self.update(
            self.ledger_key(conversation_id, leg),
            UpdateExpression=f"ADD step_attempts :one REMOVE step_mark, {STEP.drop()}",
            ConditionExpression="#cl_owner = :owner",
            ExpressionAttributeNames=STEP.names(),
            ExpressionAttributeValues={":owner": {"S": owner}, ":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        if done is None:  # another run holds the steps now: it decides
            return 0, False
        attempts = int(done.get("step_attempts") or 0)
        if attempts < max_attempts:
            return attempts, False
        self.update(
            self.ledger_key(conversation_id, leg),
            must_land=True,
            UpdateExpression="SET steps_failed = list_append(if_not_exists(steps_failed, :none), :failed) "
            "REMOVE step_attempts",
            ExpressionAttributeValues={":none": {"L": []}, ":failed": {"L": [{"N": str(a)} for a in afters]}},
        )
        return attempts, True
