"""A YAML mistake in a skill matrix, said the way an editor shows it: which line, which column,
and what to change; never the parser's own vocabulary ("found character that cannot start any
token", "did not find expected '-' indicator", "mapping values are not allowed in this context").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# What PyYAML/libyaml say when a line is indented more or less than its neighbours.
_INDENTATION = (
    "did not find expected '-' indicator",
    "mapping values are not allowed",
    "did not find expected key",
    "expected <block end>",
    "while parsing a block",
)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _key_column(line: str) -> int:
    """Where the line's first key starts (after a list's '- '), 1-based."""
    column = _indent(line)
    rest = line[column:]
    while rest.startswith("- "):
        step = len(rest) - len(rest[2:].lstrip(" "))
        column, rest = column + step, rest[step:]
    return column + 1


def explain(text: str | bytes, line_index: int | None, problem: str) -> str:
    """The problem at 0-based `line_index` of `text`, without YAML jargon (`line N: ...` is added by
    the caller). Bytes are a UTF-16 file (its byte-order mark), read as such."""
    if isinstance(text, bytes):
        text = text.decode("utf-16", errors="replace")
    lines = text.splitlines()
    if line_index is None or not lines:
        return f"not valid YAML ({problem})"
    line_index = min(max(line_index, 0), len(lines) - 1)
    # A tab in the indentation: on the marked line or, as libyaml often marks the next token, above it.
    for index in (line_index, line_index - 1):
        if 0 <= index < len(lines) and "\t" in lines[index][: _indent(lines[index])]:
            column = lines[index].index("\t") + 1
            where = "" if index == line_index else f" (line {index + 1})"
            return (
                f"a tab in the indentation{where} at column {column}; YAML indents with spaces only: "
                "replace the tab with spaces"
            )
    if "tab" in problem:
        return "a tab where YAML expects spaces; replace the tab with spaces"
    if any(phrase in problem for phrase in _INDENTATION):
        here = lines[line_index]
        above = next((lines[i] for i in range(line_index - 1, -1, -1) if lines[i].strip()), None)
        if here.strip() and above is not None:
            mine, theirs = _indent(here) + 1, _key_column(above)
            if mine != theirs:
                key = here.strip().split(":", 1)[0]
                return (
                    f"'{key}' starts in column {mine} but the key above starts in column {theirs}: the keys of "
                    "one rule line up under each other (each rule starts with '- '); indent it with spaces to match"
                )
        return "the indentation does not line up with the lines above; keys of one rule start in the same column"
    if "could not find expected ':'" in problem:
        return "a key without ':' (write `key: value`), or a quote left open"
    return f"not valid YAML ({problem})"


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for a near miss, else ``."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
