"""The audit trail: every decision the function made, read back from the ledger.

Each queue leg's ledger item (`conv#<id>#leg#<acd participant id>`, or `dryrun#...` for dry
runs; a transfer to another queue is a new leg) records the
outcome, the rule and the matrix keyword that matched (never the caller's words), the matrix
version, the skills and priority before and after, whether the supervisor was emailed, and when;
and each escalation step applied on the leg (`step_log`: which step, when, the skills, priority
and language before and after), shown as a row under its leg.
Items live for LEDGER_TTL_DAYS (7 by default).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from skill_router.store import StateStore

COLUMNS = (
    ("updated_at", "when (UTC)"),
    ("conversation_id", "conversation"),
    ("queue_id", "queue"),
    ("outcome", "outcome"),
    ("rule_id", "rule"),
    ("matched_keyword", "keyword"),
    ("skills_before", "skills before"),
    ("skills_after", "skills after"),
    ("priority_written", "priority"),
    ("notified_at", "emailed"),
    ("reason", "reason"),
)


# Only free text is shortened to keep a row readable; ids and skill lists are shown whole.
FREE_TEXT = {"reason"}
FREE_TEXT_WIDTH = 60


def conversation(store: StateStore, conversation_id: str) -> dict[str, Any] | None:
    """The conversation's latest queue leg (or event mode's note when no leg is recorded yet)."""
    entry = store.latest(conversation_id) or store.entry(conversation_id)
    return {**entry, "conversation_id": conversation_id} if entry else None


def since(store: StateStore, moment: datetime) -> list[dict[str, Any]]:
    """Decisions recorded since `moment`, oldest first."""
    return store.entries_since(moment)


def step_rows(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per escalation step applied on this leg (`step_log`): which step, when, and the
    skills, priority and language before and after it."""
    rows = []
    for step in entry.get("step_log") or []:
        before, after = step.get("priority_before"), step.get("priority_after")
        language = (step.get("language_before") or "-", step.get("language_after") or "-")
        rows.append(
            {
                "updated_at": step.get("at"),
                "conversation_id": f"  step {step.get('step')} after {step.get('after')}s",
                "outcome": "escalated",
                "rule_id": entry.get("rule_id"),
                "skills_before": step.get("skills_before"),
                "skills_after": step.get("skills_after"),
                "priority_written": after if before == after else f"{before if before is not None else '-'} -> {after}",
                "reason": None if language[0] == language[1] else f"language {language[0]} -> {language[1]}",
            }
        )
    return rows


def render(entries: list[dict[str, Any]]) -> str:
    rows = [[title for _, title in COLUMNS]]
    entries = [row for entry in entries for row in (entry, *step_rows(entry))]
    for entry in entries:
        row = []
        for key, _ in COLUMNS:
            value = entry.get(key)
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value) or "-"
            text = "-" if value in (None, "") else _printable(str(value))
            if key in FREE_TEXT and len(text) > FREE_TEXT_WIDTH:  # ids are never cut; prose is, with a mark
                text = text[: FREE_TEXT_WIDTH - 1] + "…"
            row.append(text)
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _printable(text: str) -> str:
    """No control or format character reaches the terminal (an escape sequence or a newline in an
    error's text, a right-to-left override): each is written as its escape, `\\x1b`."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
