"""Lint a valid matrix: what loads but cannot do what its author meant (warnings, not errors)."""

from __future__ import annotations

import bisect
from collections import defaultdict

from skill_router.matrix.model import Rule

# At most this many earlier rules are tried as the one that pre-empts a later rule.
CANDIDATES = 16


def shadowed(rules: list[Rule], source: str) -> list[str]:
    """Warn about contains-rules that an earlier rule on the same attribute always pre-empts: an
    earlier rule for every queue with, for every keyword of the later one, a keyword inside it.

    Close to linear: each keyword's substrings are looked up only at the lengths earlier keywords
    have (keywords are at most MAX_KEYWORD_CHARS long), and at most CANDIDATES earlier rules are
    tried for each later one (so a rule pre-empted only by its 17th candidate goes unreported)."""
    warnings = []
    # Per attribute: earlier keyword -> positions of the unrestricted contains-rules having it (ascending).
    seen: dict[str | None, dict[str, list[int]]] = defaultdict(dict)
    lengths: dict[str | None, set[int]] = defaultdict(set)
    by_position = {r.position: r for r in rules}
    for later in rules:
        if later.match != "contains":
            continue
        known, sizes = seen[later.attribute], lengths[later.attribute]
        first = later.keywords[0]
        candidates: set[int] = set()
        for size in sizes:
            for start in range(len(first) - size + 1):
                positions = known.get(first[start : start + size])
                if positions:
                    # Positions are ascending: the earliest few are those before `later`.
                    candidates.update(positions[: min(CANDIDATES, bisect.bisect_left(positions, later.position))])
        for position in sorted(candidates)[:CANDIDATES]:
            earlier = by_position[position]
            if all(any(e in k for e in earlier.keywords) for k in later.keywords):
                warnings.append(
                    f"{source}:{later.line} rule {later.position} can never match: rule {earlier.position} "
                    f"(line {earlier.line}) matches every keyword it has"
                )
                break
        if not later.queues:
            for keyword in set(later.keywords):
                known.setdefault(keyword, []).append(later.position)
                sizes.add(len(keyword))
    return warnings
