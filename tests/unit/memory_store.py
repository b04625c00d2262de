"""An in-memory StateStore with the DynamoDB store's conditional semantics, for decision tests
in milliseconds: a final outcome is never rewritten, a claim (lease, caller, email, steps) lapses
in store time with the same skew margin and absurd-expiry rule, the step mark only rises, an
email is claimed and marked once. tests/unit/test_store.py runs the same contract against both."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from skill_router.store import FINAL_OUTCOMES, Lease, format_time
from skill_router.store.claims import (
    CALLER,
    LEASE,
    LONGEST_HOLD_SECONDS,
    MEND,
    STEP,
    Claim,
    email_claim,
    sent_mark,
    times,
)


class MemoryStore:
    def __init__(self, clock: Callable[[], float], ttl_days: int = 7, dry_run: bool = False) -> None:
        self.clock = clock
        self.ttl_seconds = ttl_days * 86400
        self.prefix = "dryrun#" if dry_run else ""
        self.items: dict[str, dict[str, Any]] = {}
        self.calls = 0
        # (operation, pk) -> answer this call with DynamoDB's throttling error (as botocore raises it)?
        self.fail: Callable[[str, str], bool] = lambda operation, pk: False
        self._lock = threading.RLock()

    def now(self) -> float:
        return self.clock()

    def clock_offset(self) -> float:
        return 0.0

    # --- the table -------------------------------------------------------------------------------

    def _item(self, operation: str, pk: str) -> dict[str, Any]:
        self.calls += 1
        if self.fail(operation, pk):
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, operation)
        return self.items.setdefault(pk, {"pk": pk})

    def _stamp(self) -> str:
        return format_time(datetime.fromtimestamp(self.now(), UTC))

    def _take(
        self, pk: str, claim: Claim, owner: str, seconds: float, ok: Callable[[dict[str, Any]], bool] | None = None
    ) -> dict[str, Any] | None:
        with self._lock:
            item = self._item("UpdateItem", pk)
            free = not claim.held(item, self.now(), owner)
            if not (ok(item) if ok else free):
                return None
            item[claim.owner_attribute] = owner
            item[claim.expires_attribute] = times(self.now(), seconds)[0]
            if claim.legacy:
                item.pop(claim.legacy, None)
            return item

    def _release(self, pk: str, claim: Claim, owner: str) -> None:
        with self._lock:
            item = self._item("UpdateItem", pk)
            if item.get(claim.owner_attribute) == owner:
                for name in claim.attributes:
                    item.pop(name, None)

    def _lapsed(self, item: dict[str, Any], claim: Claim) -> bool:
        _, stale, absurd = times(self.now(), 0)
        return any(
            item.get(name) is not None and not stale <= float(item[name]) <= absurd
            for name in (claim.expires_attribute, claim.legacy)
            if name
        )

    def ledger_key(self, conversation_id: str, leg: str | None = None) -> str:
        return f"{self.prefix}conv#{conversation_id}" + (f"#leg#{leg}" if leg else "")

    # --- the ledger ------------------------------------------------------------------------------

    def record(
        self, conversation_id: str, outcome: str, count_attempt: bool = False, leg: str | None = None, **fields: Any
    ) -> bool:
        with self._lock:
            item = self._item("UpdateItem", self.ledger_key(conversation_id, leg))
            if item.get("outcome") in FINAL_OUTCOMES:
                return False
            values = {k: _plain(v) for k, v in fields.items() if v is not None and v != set()}
            item.update(
                outcome=outcome, updated_at=self._stamp(), expires_at=int(self.now()) + self.ttl_seconds, **values
            )
            if count_attempt:
                item["attempts"] = int(item.get("attempts", 0)) + 1
            return True

    def recheck_soon(self, conversation_id: str, leg: str) -> None:
        with self._lock:
            item = self._item("UpdateItem", self.ledger_key(conversation_id, leg))
            if item.get("outcome") == "waiting_for_intent":
                item["next_check_at"] = int(self.now())

    def record_steps(
        self, conversation_id: str, leg: str | None, log: list[dict[str, Any]], owed: Iterable[str] = (), **fields: Any
    ) -> None:
        with self._lock:
            item = self._item("UpdateItem", self.ledger_key(conversation_id, leg))
            item.update(updated_at=self._stamp(), **{k: _plain(v) for k, v in fields.items() if v is not None})
            if log:
                item["step_log"] = [*item.get("step_log", []), *log]
            for name in ("step_attempts", *STEP.attributes):
                item.pop(name, None)
            if set(owed):
                item["emails_owed"] = sorted(set(item.get("emails_owed", [])) | set(owed))

    def note(
        self, conversation_id: str, leg: str | None, guard_log: list[dict[str, Any]] | None = None, **fields: Any
    ) -> None:
        with self._lock:
            item = self._item("UpdateItem", self.ledger_key(conversation_id, leg))
            item.update(updated_at=self._stamp(), **{k: _plain(v) for k, v in fields.items() if v is not None})
            if guard_log:
                item["guard_log"] = [*item.get("guard_log", []), *_plain(guard_log)]

    def settle_email(self, conversation_id: str, leg: str | None, key: str, notified_at: str | None = None) -> None:
        with self._lock:
            item = self._item("UpdateItem", self.ledger_key(conversation_id, leg))
            owed = sorted(set(item.get("emails_owed", [])) - {key})
            if owed:
                item["emails_owed"] = owed
            else:
                item.pop("emails_owed", None)
            item.pop("notify_pending", None)
            if notified_at:
                item["notified_at"] = notified_at

    def entry(self, conversation_id: str, leg: str | None = None) -> dict[str, Any] | None:
        self.calls += 1
        item = self.items.get(self.ledger_key(conversation_id, leg))
        return _copy(item) if item and len(item) > 1 else None

    def ledger(self, legs: Iterable[tuple[str, str | None]]) -> dict[tuple[str, str | None], dict[str, Any]]:
        found = {}
        for cid, leg in dict.fromkeys(legs):
            entry = self.entry(cid, leg)
            if entry is not None:
                found[(cid, leg)] = entry
        return found

    def entries_for(self, conversation_id: str) -> list[dict[str, Any]]:
        base = self.ledger_key(conversation_id)
        return self._entries(lambda pk: pk == base or pk.startswith(base + "#"))

    def latest(self, conversation_id: str) -> dict[str, Any] | None:
        legs = [e for e in self.entries_for(conversation_id) if e.get("leg")]
        return legs[-1] if legs else None

    def entries_since(self, moment: datetime) -> list[dict[str, Any]]:
        since = format_time(moment)
        return [e for e in self._entries(lambda pk: True) if str(e.get("updated_at", "")) >= since]

    def _entries(self, wanted: Callable[[str], bool]) -> list[dict[str, Any]]:
        base = self.ledger_key("")
        found = []
        for pk, item in self.items.items():
            if pk.startswith(base) and wanted(pk) and len(item) > 1:
                cid, _, leg = pk[len(base) :].partition("#leg#")
                found.append({**_copy(item), "conversation_id": cid, "leg": leg or None})
        return sorted(found, key=lambda e: (str(e.get("updated_at", "")), str(e["pk"])))

    # --- claims ----------------------------------------------------------------------------------

    @property
    def _watermark(self) -> str:
        return f"{self.prefix}watermark#poll"

    def acquire_lease(self, owner: str, seconds: float) -> Lease | None:
        item = self._take(self._watermark, LEASE, owner, seconds)
        return None if item is None else Lease.of(owner, item)

    def record_sweep(self, owner: str, sweep: str) -> bool:
        with self._lock:
            item = self._item("UpdateItem", self._watermark)
            if item.get("lease_owner") != owner:
                return False
            item["sweep"] = sweep
            return True

    def advance_watermark(self, owner: str, window_end: datetime, release: bool = False) -> bool:
        with self._lock:
            item = self._item("UpdateItem", self._watermark)
            if item.get("lease_owner") != owner:
                return False
            item.update(window_end=format_time(window_end), updated_at=self._stamp())
            if release:
                item.pop("lease_expires", None)
            return True

    def release_lease(self, owner: str) -> None:
        self._release(self._watermark, LEASE, owner)

    def read_watermark(self) -> dict[str, Any]:
        return _copy(self.items.get(self._watermark, {}))

    def claim_caller(self, conversation_id: str, owner: str, seconds: float) -> bool:
        pk = f"{self.prefix}claim#{conversation_id}"
        taken = self._take(pk, CALLER, owner, int(seconds) + 1)
        if taken is not None:
            taken["expires_at"] = int(self.now()) + LONGEST_HOLD_SECONDS + 86400
        return taken is not None

    def release_caller(self, conversation_id: str, owner: str) -> None:
        self._release(f"{self.prefix}claim#{conversation_id}", CALLER, owner)

    def _email_pk(self, conversation_id: str, key: str | None) -> str:
        return f"{self.prefix}email#{conversation_id}#rule#{key or '-'}"

    def claim_email(
        self, conversation_id: str, key: str | None, owner: str, seconds: float, recipient: str | None = None
    ) -> bool:
        claim = email_claim(recipient)

        def ok(item: dict[str, Any]) -> bool:
            out = item.get("notified_at") or item.get(sent_mark(recipient))
            return not out and not claim.held(item, self.now(), owner)

        return self._take(self._email_pk(conversation_id, key), claim, owner, seconds, ok) is not None

    def mark_email_sent(
        self,
        conversation_id: str,
        key: str | None,
        recipient: str | None = None,
        *,
        to: Iterable[str] = (),
        leg: str | None = None,
    ) -> str:
        with self._lock:
            item = self._item("UpdateItem", self._email_pk(conversation_id, key))
            stamp = self._stamp()
            item[sent_mark(recipient)] = stamp
            if leg:
                item.setdefault("leg", leg)
            if set(to):
                item["sent_to"] = sorted({*item.get("sent_to", []), *to})
            for name in email_claim(recipient).attributes:
                item.pop(name, None)
            return stamp

    def release_email(self, conversation_id: str, key: str | None, owner: str, recipient: str | None = None) -> None:
        self._release(self._email_pk(conversation_id, key), email_claim(recipient), owner)

    def email(self, conversation_id: str, key: str | None) -> dict[str, Any]:
        self.calls += 1
        return _copy(self.items.get(self._email_pk(conversation_id, key), {}))

    def claim_steps(
        self, conversation_id: str, leg: str | None, mark: int, owner: str, seconds: float, afters: Iterable[int] = ()
    ) -> bool:
        def ok(item: dict[str, Any]) -> bool:
            done = {int(a) for a in [*item.get("steps_applied", []), *item.get("steps_failed", [])]}
            if done & {int(mark), *(int(a) for a in afters)}:
                return False
            return item.get("step_mark") is None or int(item["step_mark"]) < mark or self._lapsed(item, STEP)

        taken = self._take(self.ledger_key(conversation_id, leg), STEP, owner, seconds, ok)
        if taken is not None:
            taken.update(step_mark=mark, expires_at=int(self.now()) + self.ttl_seconds)
        return taken is not None

    def claim_mend(self, conversation_id: str, leg: str | None, owner: str, seconds: float) -> bool:
        return self._take(self.ledger_key(conversation_id, leg), MEND, owner, seconds) is not None

    def release_mend(self, conversation_id: str, leg: str | None, owner: str) -> None:
        self._release(self.ledger_key(conversation_id, leg), MEND, owner)

    def release_steps(self, conversation_id: str, leg: str | None, owner: str) -> None:
        with self._lock:
            item = self._item("UpdateItem", self.ledger_key(conversation_id, leg))
            if item.get(STEP.owner_attribute) == owner:
                for name in ("step_mark", *STEP.attributes):
                    item.pop(name, None)

    def fail_steps(
        self, conversation_id: str, leg: str | None, afters: list[int], owner: str, max_attempts: int
    ) -> tuple[int, bool]:
        with self._lock:
            item = self._item("UpdateItem", self.ledger_key(conversation_id, leg))
            if item.get(STEP.owner_attribute) != owner:
                return 0, False
            for name in ("step_mark", *STEP.attributes):
                item.pop(name, None)
            attempts = int(item.get("step_attempts", 0)) + 1
            item["step_attempts"] = attempts
            if attempts < max_attempts:
                return attempts, False
            item["steps_failed"] = [*item.get("steps_failed", []), *afters]
            item.pop("step_attempts")
            return attempts, True


def _plain(value: Any) -> Any:
    """What the DynamoDB codec reads back: sets as sorted lists, tuples as lists, times as text."""
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _copy(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in item.items()}
