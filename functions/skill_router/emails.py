"""Send an email once: claim -> send -> mark, for a rule's email and an escalation step's alike.

An email is owed by the queue leg that decided it: the ledger write that records the decision
also lists the email in the leg's `emails_owed` (its key: the rule id, or `<rule id>@<after>s`
for a step), so an email whose claim, send or mark fails is tried again by the next poll that
sees the leg, and an email sent is never sent again: its own item (`email#<conversation>#rule#<key>`)
is claimed before the send and marked after it. One email per conversation and key, whatever
the legs; per recipient when the channel sends one recipient per call (a failure or a crash after
the first send repeats nobody already sent). The mark also keeps, for the audit trail, who the
email went to (`sent_to`) and the leg that sent it (`leg`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from skill_router.escalation import Routing
from skill_router.matrix import Matrix, Rule, Step
from skill_router.notify import Notifier
from skill_router.observability import logger
from skill_router.store import StateStore, emails_owed
from skill_router.store.claims import sent_mark

AWS_ERRORS = (ClientError, BotoCoreError)


@dataclass(frozen=True)
class Email:
    key: str  # the rule id, or "<rule id>@<after>s" for a step's email
    recipients: tuple[str, ...]
    subject: str
    text: str
    rule_email: bool  # the rule's own email (the leg's `notified_at` says when it went out)


@dataclass(frozen=True)
class Delivery:
    sent: int = 0  # emails this run sent
    owed: bool = False  # an email is still owed: the leg is looked at again by the next poll


def rule_email(conversation_id: str, rule_id: str, recipients: tuple[str, ...], skills: tuple[str, ...]) -> Email:
    return Email(
        rule_id,
        recipients,
        f"skill-router: high-priority rule '{rule_id}' matched conversation {conversation_id}",
        f"A caller matched the high-priority rule '{rule_id}'.\n"
        f"Conversation: {conversation_id}\n"
        f"Requested skills now: {', '.join(skills) or 'unchanged'}\n"
        "This email is sent once per conversation and rule.",
        rule_email=True,
    )


def step_email(conversation_id: str, rule: Rule, step: Step, routing: Routing) -> Email:
    return Email(
        step_key(rule.id, step.after),
        step.notify,
        f"skill-router: caller escalated by rule '{rule.id}' (step {step.position}) in conversation {conversation_id}",
        f"A caller has waited {step.after} s in queue and rule '{rule.id}' escalated them (step {step.position}).\n"
        f"Conversation: {conversation_id}\n"
        f"Requested skills now: {', '.join(routing.skill_ids) or 'none'}\n"
        f"Priority now: {routing.priority if routing.priority is not None else 'unchanged'}\n"
        "This email is sent once per conversation, rule and step.",
        rule_email=False,
    )


def step_key(rule_id: str, after: int) -> str:
    return f"{rule_id}@{after}s"


def owed(conversation_id: str, entry: dict[str, Any], matrix: Matrix) -> list[Email]:
    """The emails a leg's entry still owes, as the matrix now words them (an entry of release 0.x
    names the rule email's recipients in `notify_to`). An email whose step left the matrix is
    owed to nobody."""
    rule_id = str(entry.get("rule_id") or "")
    rule = matrix.rule(rule_id)
    routing = Routing(tuple(entry.get("skills_after") or ()), entry.get("priority_after"), None)
    emails = []
    for key in emails_owed(entry):
        step = next((s for s in (rule.escalate if rule else ()) if step_key(rule_id, s.after) == key), None)
        if key == rule_id:
            recipients = tuple(entry.get("notify_to") or (rule.notify if rule else ()))
            emails.append(rule_email(conversation_id, rule_id, recipients, routing.skill_ids))
        elif rule is not None and step is not None:
            # Keyed as the entry owes it (a rule id recorded by an older release may differ from today's).
            emails.append(dataclasses.replace(step_email(conversation_id, rule, step, routing), key=key))
        else:
            emails.append(Email(key, (), "", "", rule_email=False))  # settled without a send
    return emails


def send_all(
    store: StateStore,
    notifier: Notifier,
    claim_seconds: float,
    conversation_id: str,
    leg: str | None,
    emails: list[Email],
) -> Delivery:
    sent, still_owed = 0, False
    for email in emails:
        delivery = send_once(store, notifier, claim_seconds, conversation_id, leg, email)
        sent += delivery.sent
        still_owed = still_owed or delivery.owed
    return Delivery(sent, still_owed)


def send_once(
    store: StateStore, notifier: Notifier, claim_seconds: float, conversation_id: str, leg: str | None, email: Email
) -> Delivery:
    """Claim, send, mark, then settle the leg (it owes the email no more once the email is out,
    sent by this run or any other). Every DynamoDB or channel failure leaves the email owed."""
    if not notifier.enabled:
        return Delivery()
    if not email.recipients:  # nobody to write to any more: nothing is owed
        return Delivery(owed=not _settle(store, conversation_id, leg, email, None))
    owner = uuid.uuid4().hex
    per_recipient = notifier.one_recipient_per_send
    batches = [(r, [r]) for r in email.recipients] if per_recipient else [(None, list(email.recipients))]
    stamps = [
        _send_claimed(store, notifier, claim_seconds, conversation_id, leg, email, r, to, owner) for r, to in batches
    ]
    stamp = stamps[0] if not per_recipient else None
    try:
        if stamp is None:  # not sent by this run (held, failed, or out already): what does the email item say?
            state = store.email(conversation_id, email.key)
            stamp = state.get("notified_at")
            if stamp is None and per_recipient and all(state.get(sent_mark(r)) for r in email.recipients):
                stamp = store.mark_email_sent(conversation_id, email.key, leg=leg)  # every recipient is out
    except AWS_ERRORS as exc:
        logger.warning("email state not read; tried again on the next poll", extra=_why(conversation_id, exc))
        return Delivery(owed=True)
    sent = int(any(stamps))
    if stamp is None:
        return Delivery(sent, owed=True)
    # The leg's `notified_at` says when this run sent the rule's email (not when another leg's did).
    settled = _settle(store, conversation_id, leg, email, stamp if sent and email.rule_email else None)
    return Delivery(sent, owed=not settled)


def _send_claimed(
    store: StateStore,
    notifier: Notifier,
    claim_seconds: float,
    conversation_id: str,
    leg: str | None,
    email: Email,
    recipient: str | None,
    to: list[str],
    owner: str,
) -> str | None:
    """One send under its claim; the time it was marked sent, or None when this run did not send it.
    The mark keeps who it went to and the leg that sent it (the audit trail shows them)."""
    try:
        if not store.claim_email(conversation_id, email.key, owner, claim_seconds, recipient):
            return None  # out already, or another run is sending it
    except AWS_ERRORS as exc:  # DynamoDB refused the claim: the email waits, it is not lost
        logger.warning("email claim not written; the email is tried on the next poll", extra=_why(conversation_id, exc))
        return None
    try:
        notifier.send(to, email.subject, email.text)
    except Exception as exc:
        with contextlib.suppress(*AWS_ERRORS):  # else the claim lapses with this invocation
            store.release_email(conversation_id, email.key, owner, recipient)
        logger.error(
            "email failed; it is retried on the next poll",
            extra={
                "conversation_id": conversation_id,
                "key": email.key,
                "reason": f"{type(exc).__name__}: {exc}"[:300],
            },
        )
        return None
    logger.info("email sent", extra={"conversation_id": conversation_id, "key": email.key, "recipients": len(to)})
    try:
        return store.mark_email_sent(conversation_id, email.key, recipient, to=to, leg=leg)
    except AWS_ERRORS as exc:
        # Sent, but the mark could not be written even after retrying: the claim still holds it
        # until this invocation's end; after that the next run may send it again (README).
        logger.error("email sent but not recorded", extra=_why(conversation_id, exc))
        return None


def _settle(store: StateStore, conversation_id: str, leg: str | None, email: Email, notified_at: str | None) -> bool:
    try:
        store.settle_email(conversation_id, leg, email.key, notified_at)
    except AWS_ERRORS as exc:
        logger.warning("email sent; the leg still lists it as owed", extra=_why(conversation_id, exc))
        return False
    return True


def _why(conversation_id: str, exc: Exception) -> dict[str, Any]:
    return {"conversation_id": conversation_id, "reason": type(exc).__name__}
