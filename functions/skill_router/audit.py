"""The audit trail: every decision the function made, read back from the ledger.

Each queue leg's ledger item (`conv#<id>#leg#<acd participant id>`, or `dryrun#...` for dry
runs; a transfer to another queue is a new leg) records the outcome, the rule and the matrix
keyword that matched (never the caller's words), the matrix version, and the decision itself
(`decided_at`, `skills_decided`, `priority_decided`, `language_decided`: written once with the
outcome, never by a step); each escalation step applied on the leg is an item of its `step_log`
(which step, when, the skills, priority and language before and after). Each email's own item
(`email#<id>#rule#<key>`) says when it went out, to whom (`sent_to`) and which leg sent it (`leg`).

Every decision and every step is a row with its own time, and so is every decision of the staffing guard
(`guard`, the withheld parts, `guard_log`, `unstaffed_since`, `relax_blocked_by`: guard.py):
- `--conversation`: the caller's story, every leg in the order the caller met them, each leg's
  decision then its steps;
- `--since`: the rows of every conversation whose own time is in the window, oldest first.

Entries written before 0.3.0 (no `decided_at`) still read, nothing invented: the decision's
routing is then the first step's "before" (or the leg's routing when no step followed), and its
time the entry's `updated_at` unless a step rewrote it (then it is not known: `-`). An email item
without `leg` is shown on the first row that owes its key (the rule's email: on the leg whose
`notified_at` says it sent it), "to (not recorded)". Items live for LEDGER_TTL_DAYS (7 by default).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from skill_router.emails import step_key
from skill_router.store import StateStore, emails_owed, format_time

# (row key, column title): the story of one conversation, and the listing of a time window.
STORY_COLUMNS = (
    ("at", "when (UTC)"),
    ("leg_number", "leg"),
    ("event", "event"),
    ("outcome", "outcome"),
    ("rule_id", "rule"),
    ("matched_keyword", "keyword"),
    ("skills_before", "skills before"),
    ("skills_after", "skills after"),
    ("priority", "priority"),
    ("language", "language"),
    ("emailed", "emailed"),
    ("reason", "reason"),
)
COLUMNS = (
    ("at", "when (UTC)"),
    ("conversation_id", "conversation"),
    ("queue_id", "queue"),
    *(column for column in STORY_COLUMNS if column[0] not in ("at", "leg_number")),
)

# Only free text is shortened to keep a row readable; ids and skill lists are shown whole.
FREE_TEXT = {"reason"}
FREE_TEXT_WIDTH = 60
ASSIGNED = ("applied", "unchanged")  # outcomes of a rule applied on the leg (its email, its steps)


def legs(store: StateStore, conversation_id: str) -> list[dict[str, Any]]:
    """Every queue leg of the conversation, in the order the caller met them (or event mode's note
    when no leg is recorded yet)."""
    entries = store.entries_for(conversation_id)
    found = [e for e in entries if e.get("leg")]
    return sorted(found, key=_leg_began) if found else entries


def conversation(store: StateStore, conversation_id: str) -> list[dict[str, Any]]:
    """The caller's story: a row for each leg's decision and each of its steps, in order."""
    entries = legs(store, conversation_id)
    rows = [row for number, entry in enumerate(entries, 1) for row in entry_rows(entry, number)]
    return _with_emails(store, rows)


def since(store: StateStore, moment: datetime) -> list[dict[str, Any]]:
    """A row for each decision and step recorded since `moment`, oldest first. An entry last
    written before `moment` has no row after it, so only the entries written since are read."""
    entries = store.entries_since(moment)
    rows = _with_emails(store, [row for entry in entries for row in entry_rows(entry)])
    start = format_time(moment)
    # Stable: a decision and the steps applied with it (the same time) stay in that order.
    return sorted((r for r in rows if r["sort_at"] >= start), key=lambda r: r["sort_at"])


def entry_rows(entry: dict[str, Any], number: int | None = None) -> list[dict[str, Any]]:
    """A leg's entry as rows: its decision, then each escalation step applied on it."""
    steps = [s for s in entry.get("step_log") or [] if isinstance(s, dict)]
    first = steps[0] if steps else {}
    new = "decided_at" in entry
    if new:
        at = entry["decided_at"]
    elif steps or entry.get("left_queue"):
        at = None  # written before 0.3.0: a step (or the caller leaving) rewrote `updated_at`
    else:
        at = entry.get("updated_at")
    skills = _decided(entry, new, first, "skills", "skills_written")
    priority = _decided(entry, new, first, "priority", "priority_written")
    language = _decided(entry, new, first, "language", "language_written")
    common = {
        "conversation_id": entry.get("conversation_id"),
        "leg": entry.get("leg"),
        "leg_number": number,
        "queue_id": entry.get("queue_id"),
        "rule_id": entry.get("rule_id"),
        "owed": emails_owed(entry),
        "entry": entry,
        "email_key": None,
    }
    assigned = entry.get("outcome") in ASSIGNED
    rows = [
        {
            **common,
            "at": at,
            "sort_at": at or first.get("at") or entry.get("updated_at") or "",
            "event": "decision",
            "outcome": entry.get("outcome"),
            "matched_keyword": entry.get("matched_keyword"),
            "skills_before": entry.get("skills_before"),
            "skills_after": skills,
            "priority": _change(entry.get("priority_before"), priority) if assigned else None,
            "language": _change(entry.get("language_before"), language) if assigned else None,
            "email_key": str(entry["rule_id"]) if assigned and entry.get("rule_id") else None,
            "reason": entry.get("reason"),
        }
    ]
    if entry.get("guard"):
        rows.append({**common, **_guard_row(entry, at or entry.get("updated_at"))})
    for step in steps:
        rows.append(
            {
                **common,
                "at": step.get("at"),
                "sort_at": step.get("at") or "",
                "event": f"step {step.get('step')} after {step.get('after')}s",
                "outcome": "skipped (next_step)" if step.get("skipped") else "escalated",
                "reason": GUARD_WORDS.get(str(step.get("guard")))
                if step.get("guard")
                else step.get("requirement_skipped"),
                "skills_before": step.get("skills_before"),
                "skills_after": step.get("skills_after"),
                "priority": _change(step.get("priority_before"), step.get("priority_after")),
                "language": _change(step.get("language_before"), step.get("language_after")),
                "email_key": step_key(str(entry.get("rule_id")), int(step["after"]))
                if entry.get("rule_id") and step.get("after") is not None
                else None,
            }
        )
    rows.extend({**common, **row} for row in guard_rows(entry))
    return rows


# What each decision of the staffing guard means, in the audit trail's words (guard.py).
GUARD_WORDS = {
    "staffed": "someone on queue can serve it",
    "withheld": "withheld what nobody on queue has",
    "next_step": "jumped to the first step someone can serve",
    "applied_unstaffed": "applied though nobody on queue can serve it",
    "unknown": "staffing not known: applied as before",
}


def _guard_row(entry: dict[str, Any], at: Any) -> dict[str, Any]:
    """The staffing guard's decision on the leg's first sight."""
    decision = str(entry.get("guard"))
    withheld = [*(entry.get("skills_withheld") or [])]
    if entry.get("language_withheld"):
        withheld.append(f"language:{entry['language_withheld']}")
    reason = GUARD_WORDS.get(decision) or decision
    if decision == "withheld" and (withheld or entry.get("withheld_applied_at")):
        reason += f": {', '.join(withheld) or 'applied since'}"
    if entry.get("steps_skipped"):
        reason += f"; steps after {', '.join(str(a) for a in entry['steps_skipped'])}s skipped"
    return {"at": at, "sort_at": at or "", "event": "staffing guard", "outcome": decision, "reason": reason}


def guard_rows(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The staffing guard's later decisions on the leg: withheld parts applied, the requirement
    unstaffed (the hysteresis clock), relaxed, or blocked by a requirement someone else set."""
    rows = []
    for record_ in entry.get("guard_log") or []:
        if not isinstance(record_, dict):
            continue
        event = str(record_.get("event"))
        parts = ", ".join(str(p) for p in record_.get("parts") or [])
        rows.append(
            {
                "at": record_.get("at"),
                "sort_at": record_.get("at") or "",
                "event": "withheld applied" if event == "withheld_applied" else "relaxed",
                "outcome": "staffing guard",
                "skills_before": record_.get("skills_before"),
                "skills_after": record_.get("skills_after"),
                "language": _change(record_.get("language_before"), record_.get("language_after")),
                "reason": (
                    f"someone on queue can serve it now: {parts}"
                    if event == "withheld_applied"
                    else f"removed, unserved for UNSTAFFED_RELAX_SECONDS: {parts}"
                ),
            }
        )
    since = entry.get("unstaffed_since")
    if since and not entry.get("relaxed_at"):
        at = format_time(datetime.fromtimestamp(float(since), UTC))
        rows.append(
            {
                "at": at,
                "sort_at": at,
                "event": "unstaffed",
                "outcome": "staffing guard",
                "reason": "nobody on queue can serve it since",
            }
        )
    if entry.get("relax_blocked_by"):
        blocked_at = entry.get("relax_blocked_at")
        blocking = ", ".join(str(p) for p in entry["relax_blocked_by"])
        rows.append(
            {
                "at": blocked_at,
                "sort_at": blocked_at or "",
                "event": "not relaxed",
                "outcome": "staffing guard",
                "reason": f"kept, what someone else set blocks: {blocking}",
            }
        )
    return rows


def _decided(entry: dict[str, Any], new: bool, first_step: dict[str, Any], name: str, written: str) -> Any:
    """The routing the decision left: as recorded with it, or (an entry written before 0.3.0)
    the first step's "before", else the leg's routing (older still: what was written)."""
    if new:
        return entry.get(f"{name}_decided")
    if first_step:
        return first_step.get(f"{name}_before")
    return entry.get(f"{name}_after", entry.get(written))


def _change(before: Any, after: Any) -> str:
    """`before -> after`, always both (`-`: none)."""
    before, after = ("-" if value in (None, "") else str(value) for value in (before, after))
    return f"{before} -> {after}"


def _leg_began(entry: dict[str, Any]) -> str:
    steps = entry.get("step_log") or [{}]
    return str(
        entry.get("queue_entered") or entry.get("decided_at") or steps[0].get("at") or entry.get("updated_at") or ""
    )


def _with_emails(store: StateStore, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's `emailed`: who was emailed and when, on the row whose decision or step sent it
    (an email goes out once per conversation and key, whatever the legs); `owed` on a row whose
    leg still owes it; `-` otherwise."""
    keys = {(r["conversation_id"], r["email_key"]) for r in rows if r["email_key"]}
    by_pk = {store.email_key(cid, key)["pk"]["S"]: (cid, key) for cid, key in keys}
    items = {by_pk[item["pk"]]: item for item in store.get_many(list(by_pk))} if by_pk else {}
    owner: dict[tuple[str, str], int] = {}
    for index, row in sorted(enumerate(rows), key=lambda pair: pair[1]["sort_at"]):
        pair = (row["conversation_id"], row["email_key"])
        item = items.get(pair)
        if item is None or pair in owner:
            continue
        if item.get("leg"):
            mine = item["leg"] == row["leg"]
        elif row["event"] == "decision":  # before 0.3.0: the leg that sent the rule's email says so
            mine = bool(row["entry"].get("notified_at"))
        else:
            mine = True  # before 0.3.0: the first step that owed the email sent it
        if mine:
            owner[pair] = index
    for index, row in enumerate(rows):
        pair = (row["conversation_id"], row["email_key"])
        if owner.get(pair) == index:
            row["emailed"] = _sent(items[pair], row)
        elif row["email_key"] in row["owed"]:
            row["emailed"] = "owed (not sent yet)"
    return rows


def _sent(item: dict[str, Any], row: dict[str, Any]) -> str:
    entry = row["entry"]
    at = item.get("notified_at") or (entry.get("notified_at") if row["event"] == "decision" else None)
    who = list(item.get("sent_to") or (entry.get("notify_to") if row["event"] == "decision" else None) or [])
    to = f"to {', '.join(who)}" if who else "to (not recorded)"
    if at:
        return f"{at} {to}"
    if not who:
        return "-"
    return f"partly, {to}" + ("; the rest owed" if row["email_key"] in row["owed"] else "")


def render(rows: list[dict[str, Any]], columns: tuple[tuple[str, str], ...] = COLUMNS) -> str:
    table = [[title for _, title in columns]]
    for entry in rows:
        row = []
        for key, _ in columns:
            value = entry.get(key)
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value) or "-"
            text = "-" if value in (None, "") else _printable(str(value))
            if key in FREE_TEXT and len(text) > FREE_TEXT_WIDTH:  # ids are never cut; prose is, with a mark
                text = text[: FREE_TEXT_WIDTH - 1] + "…"
            row.append(text)
        table.append(row)
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_story(conversation_id: str, rows: list[dict[str, Any]]) -> str:
    """The story of one conversation: its legs (queue, when the caller entered it), then a row for
    each decision and step."""
    entries = list({id(r["entry"]): r["entry"] for r in rows if r.get("leg")}.values())
    if entries:
        lines = [f"conversation {conversation_id}: {len(entries)} queue leg{'s' if len(entries) != 1 else ''}"]
        for number, entry in enumerate(entries, 1):
            entered = entry.get("queue_entered") or "-"
            queue = entry.get("queue_id") or "-"
            lines.append(f"  leg {number}: participant {entry['leg']} in queue {queue}, entered the queue {entered}")
            lines += expression_story(entry)
    else:
        lines = [f"conversation {conversation_id}: no queue leg recorded yet"]
    return "\n".join([*lines, "", render(rows, STORY_COLUMNS)])


def expression_story(entry: dict[str, Any]) -> list[str]:
    """The leg's skill expression in plain words: someone else's (kept as it was), what skill-router
    wrote, and a rule recorded shadowed because an expression set elsewhere takes priority."""
    lines = []
    theirs, written = entry.get("expression_before"), entry.get("expression_written")
    if theirs:
        lines.append(f"    skill expression set by someone else before skill-router: {theirs!r} (never replaced)")
    if entry.get("outcome") == "shadowed":
        lines.append(
            f"    rule {entry.get('rule_id')} shadowed: that expression takes priority over skills, so the rule "
            "changed nothing that routing uses (not counted as applied)"
        )
    if entry.get("expression_unsupported"):
        lines.append("    queue does not evaluate expressions: skills applied without proficiency")
    if written is not None:
        said = f"{written!r}" if written else "nothing (it cleared the expression it had written)"
        lines.append(f"    skill expression skill-router wrote last: {said}")
    if entry.get("expression_withheld"):
        lines.append(
            f"    requirement withheld by the staffing guard (nobody enough on queue met it): "
            f"{entry['expression_withheld']!r}"
        )
    return lines


def _printable(text: str) -> str:
    """No control or format character reaches the terminal (an escape sequence or a newline in an
    error's text, a right-to-left override): each is written as its escape, `\\x1b`."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
