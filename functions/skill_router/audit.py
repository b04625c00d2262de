"""The audit trail: every decision the function made, read back from the ledger.

Each queue leg's ledger item (`conv#<id>#leg#<acd participant id>`, or `dryrun#...` for dry
runs; a transfer to another queue is a new leg) records the outcome, the rule and the matrix
keyword that matched (never the caller's words), the matrix version, and the decision itself
(`decided_at`, `skills_decided`, `priority_decided`, `language_decided`: written once with the
outcome, never by a step); each escalation step applied on the leg is an item of its `step_log`
(which step, when, the skills, priority and language before and after). Each email's own item
(`email#<id>#rule#<key>`) says when it went out, to whom (`sent_to`) and which leg sent it (`leg`).

Every decision and every step is a row with its own time:
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

from datetime import datetime
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
    for step in steps:
        rows.append(
            {
                **common,
                "at": step.get("at"),
                "sort_at": step.get("at") or "",
                "event": f"step {step.get('step')} after {step.get('after')}s",
                "outcome": "escalated",
                "skills_before": step.get("skills_before"),
                "skills_after": step.get("skills_after"),
                "priority": _change(step.get("priority_before"), step.get("priority_after")),
                "language": _change(step.get("language_before"), step.get("language_after")),
                "email_key": step_key(str(entry.get("rule_id")), int(step["after"]))
                if entry.get("rule_id") and step.get("after") is not None
                else None,
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
    else:
        lines = [f"conversation {conversation_id}: no queue leg recorded yet"]
    return "\n".join([*lines, "", render(rows, STORY_COLUMNS)])


def _printable(text: str) -> str:
    """No control or format character reaches the terminal (an escape sequence or a newline in an
    error's text, a right-to-left override): each is written as its escape, `\\x1b`."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
