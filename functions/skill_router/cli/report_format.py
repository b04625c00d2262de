"""The report's rows as a table, JSON, CSV or one self-contained HTML page (issue 22).

Only counts, durations, rule ids and queue ids are written: no conversation, leg or caller data.
Rule ids come from the matrix (an operator's text): every format escapes them for its medium.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from skill_router.durations import format_duration
from skill_router.report import Row, percentile

FORMATS = ("table", "json", "csv", "html")
NOTE = (
    "times: from the change (the rule's decision, the step, the relaxing) to the answer or the abandon; "
    "nearest-rank median / 90th percentile. Correlation, not proof: README, 'Report'."
)


@dataclass(frozen=True)
class Header:
    since: str
    until: str
    generated_at: str
    conversations: int  # conversations whose details were asked for
    without_details: int  # of them, those Genesys had no details for
    genesys_calls: int
    seconds: float


def render(kind: str, header: Header, rows: Sequence[Row]) -> str:
    return {"table": table, "json": as_json, "csv": as_csv, "html": as_html}[kind](header, rows)


def document(header: Header, rows: Sequence[Row]) -> dict[str, Any]:
    return {
        "since": header.since,
        "until": header.until,
        "generated_at": header.generated_at,
        "genesys": {
            "conversations": header.conversations,
            "without_details": header.without_details,
            "calls": header.genesys_calls,
            "seconds": round(header.seconds, 1),
        },
        "rows": [row.figures() for row in rows],
    }


def as_json(header: Header, rows: Sequence[Row]) -> str:
    return json.dumps(document(header, rows), indent=2)


def as_csv(header: Header, rows: Sequence[Row]) -> str:
    figures = [row.figures() for row in rows]
    out = io.StringIO()
    columns = list(figures[0]) if figures else ["kind", "rule", "row"]
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    for figure in figures:
        # A cell starting with = + - @ is a formula to a spreadsheet: a rule id must stay text.
        writer.writerow({k: _cell(" ".join(v) if isinstance(v, list) else v) for k, v in figure.items()})
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip().startswith(("=", "+", "-", "@")):
        return "'" + value
    return value


TITLES = (
    ("row", "row"),
    ("touched", "callers"),
    ("answered", "answered"),
    ("abandoned", "abandoned"),
    ("flowout", "flowed out"),
    ("transferred", "transferred"),
    ("waiting", "waiting"),
    ("no_details", "no details"),
    ("answer", "to answer median/p90"),
    ("abandon", "to abandon median/p90"),
    ("abandoned_before_step", "hung up before step"),
)


def table(header: Header, rows: Sequence[Row]) -> str:
    lines = [
        f"skill-router report: decisions from {header.since} to {header.until} (UTC)",
        f"outcomes: Genesys analytics conversation details as of {header.generated_at}, "
        f"{header.conversations} conversations in {header.genesys_calls} Genesys "
        f"call{'' if header.genesys_calls == 1 else 's'} "
        f"({header.without_details} without details yet)",
        "",
    ]
    cells = [[title for _, title in TITLES]]
    for row in rows:
        figure = row.figures()
        shown = {
            **{k: str(v) for k, v in figure.items()},
            "row": _printable(row.label),
            "answer": _pair(figure["answer_median_seconds"], figure["answer_p90_seconds"]),
            "abandon": _pair(figure["abandon_median_seconds"], figure["abandon_p90_seconds"]),
            "abandoned_before_step": "-" if row.abandoned_before is None else str(row.abandoned_before),
        }
        cells.append([shown[key] for key, _ in TITLES])
    widths = [max(len(c[i]) for c in cells) for i in range(len(TITLES))]
    body = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells]
    body.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([*lines, *body, "", NOTE])


def _pair(median: float | None, p90: float | None) -> str:
    if median is None or p90 is None:
        return "-"
    return f"{format_duration(median)} / {format_duration(p90)}"


def _printable(text: str) -> str:
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# --- one self-contained page -----------------------------------------------------------------

WIDTH, HEIGHT, PAD = 640, 220, 40


def as_html(header: Header, rows: Sequence[Row]) -> str:
    """One page, no script and nothing fetched: a table, and per rule the share of its callers
    answered by each moment after the change, beside the baseline in its queues, the steps marked."""
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        "<title>skill-router report</title>",
        "<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
        "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child"
        "{text-align:left;white-space:pre}svg{background:#fafafa;border:1px solid #ddd}.rule{stroke:#1f6fb2}"
        ".base{stroke:#999;stroke-dasharray:4 3}.step{stroke:#c0392b;stroke-dasharray:2 2}</style>",
        f"<h1>skill-router report</h1><p>Decisions from {_e(header.since)} to {_e(header.until)} (UTC). "
        f"Outcomes from Genesys analytics conversation details as of {_e(header.generated_at)}: "
        f"{header.conversations} conversations, {header.genesys_calls} Genesys calls, "
        f"{header.without_details} without details yet.</p>",
        f"<p>{_e(NOTE)}</p>",
        _html_table(rows),
    ]
    for rule_row in (r for r in rows if r.kind == "rule"):
        base = next((r for r in rows if r.kind == "baseline" and r.rule_id == rule_row.rule_id), None)
        steps = [r for r in rows if r.kind == "step" and r.rule_id == rule_row.rule_id]
        parts.append(f"<h2>rule {_e(rule_row.rule_id)}</h2>")
        parts.append(_chart(rule_row, base, steps))
    parts.append("</html>")
    return "\n".join(parts)


def _html_table(rows: Sequence[Row]) -> str:
    head = "".join(f"<th>{_e(title)}</th>" for _, title in TITLES)
    lines = [f"<table><tr>{head}</tr>"]
    for row in rows:
        f = row.figures()
        values = [
            row.label,
            f["touched"],
            f["answered"],
            f["abandoned"],
            f["flowout"],
            f["transferred"],
            f["waiting"],
            f["no_details"],
            _pair(f["answer_median_seconds"], f["answer_p90_seconds"]),
            _pair(f["abandon_median_seconds"], f["abandon_p90_seconds"]),
            "-" if row.abandoned_before is None else row.abandoned_before,
        ]
        lines.append("<tr>" + "".join(f"<td>{_e(str(v))}</td>" for v in values) + "</tr>")
    return "\n".join([*lines, "</table>"])


def _chart(rule: Row, base: Row | None, steps: Sequence[Row]) -> str:
    """The share of a row's callers answered within t seconds of the change (of all its callers,
    so abandons keep the line low), for t up to the longest time shown."""
    horizon = max([1.0, *rule.to_answer, *(base.to_answer if base else []), *(s.fired_after or 0 for s in steps)])
    x = lambda seconds: PAD + (WIDTH - 2 * PAD) * seconds / horizon  # noqa: E731
    y = lambda share: HEIGHT - PAD + (2 * PAD - HEIGHT) * share  # noqa: E731
    lines = [
        f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="share answered against time from the change">',
        f'<line x1="{PAD}" y1="{y(0):.1f}" x2="{WIDTH - PAD}" y2="{y(0):.1f}" stroke="#444"/>',
        f'<line x1="{PAD}" y1="{y(0):.1f}" x2="{PAD}" y2="{y(1):.1f}" stroke="#444"/>',
        f'<text x="{PAD}" y="{HEIGHT - 8}">0</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" text-anchor="end">{_e(format_duration(horizon))} '
        "after the change</text>",
        f'<text x="4" y="{y(1) + 4:.1f}">100%</text><text x="4" y="{y(0.5) + 4:.1f}">50%</text>',
    ]
    for row, css, name in ((rule, "rule", "rule"), (base, "base", "baseline, same queues")):
        if row is None or not row.touched:
            continue
        points = [f"{x(0):.1f},{y(0):.1f}"]
        for i, seconds in enumerate(sorted(row.to_answer), 1):
            share = i / row.touched
            points.append(f"{x(seconds):.1f},{y((i - 1) / row.touched):.1f} {x(seconds):.1f},{y(share):.1f}")
        points.append(f"{x(horizon):.1f},{y(len(row.to_answer) / row.touched):.1f}")
        median = percentile(row.to_answer, 50)
        label = f"{name}: {len(row.to_answer)}/{row.touched} answered" + (
            f", median {format_duration(median)}" if median is not None else ""
        )
        lines.append(f'<polyline class="{css}" fill="none" stroke-width="2" points="{" ".join(points)}"/>')
        lines.append(
            f'<text x="{WIDTH - PAD}" y="{PAD - (20 if css == "rule" else 6)}" text-anchor="end" '
            f'fill="{"#1f6fb2" if css == "rule" else "#777"}">{_e(label)}</text>'
        )
    for step in steps:
        if step.fired_after is None:
            continue
        at = x(step.fired_after)
        lines.append(f'<line class="step" x1="{at:.1f}" y1="{y(0):.1f}" x2="{at:.1f}" y2="{y(1):.1f}"/>')
        lines.append(f'<text x="{at + 3:.1f}" y="{y(0.95):.1f}" fill="#c0392b">step {step.step}</text>')
    lines.append("</svg>")
    return "\n".join(lines)


def _e(text: str) -> str:
    return html.escape(_printable(text), quote=True)
