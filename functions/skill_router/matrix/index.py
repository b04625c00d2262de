"""Which rule a value reaches, in any queue, without trying every rule: what `matrix diff` asks
for every keyword of two matrices of up to 10,000 rules each (trying each rule for each keyword
in each queue took minutes).

The answer is Matrix.match's, found through indexes: an exact keyword is one dict lookup; a
contains keyword is found among the value's substrings at the lengths keywords have (at most
MAX_KEYWORD_CHARS of them). Regex rules are tried in order, only up to the first candidate that
serves every queue: no later rule can be first.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

from skill_router.matrix.model import Matrix, Rule, prepare


class FirstMatch:
    def __init__(self, matrix: Matrix, default_attribute: str) -> None:
        # Per attribute: keyword -> the rules having it that can be first somewhere (those limited
        # to queues, up to and including the first rule for every queue), in the matrix's order.
        self._exact: dict[str, dict[str, list[Rule]]] = defaultdict(dict)
        self._contains: dict[str, dict[str, list[Rule]]] = defaultdict(dict)
        self._lengths: dict[str, set[int]] = defaultdict(set)
        self._regex: dict[str, list[Rule]] = defaultdict(list)
        for rule in matrix.rules:
            name = rule.attribute or default_attribute
            if rule.match == "regex":
                self._regex[name].append(rule)
                continue
            table = (self._exact if rule.match == "exact" else self._contains)[name]
            for keyword in dict.fromkeys(rule.keywords):
                rules = table.setdefault(keyword, [])
                if not rules or rules[-1].queues:
                    rules.append(rule)
                if rule.match == "contains":
                    self._lengths[name].add(len(keyword))
        self._regex_positions = {name: [r.position for r in rules] for name, rules in self._regex.items()}

    def candidates(self, attribute: str, value: str) -> list[Rule]:
        """Every rule that is first for `value` (on `attribute`) in some queue, in the matrix's
        order, ending with the first one for every queue (if any): `first()` picks per queue."""
        if not value:
            return []
        text = prepare(value)
        folded = text.folded
        found: dict[int, Rule] = {r.position: r for r in self._exact.get(attribute, {}).get(folded.strip(), ())}
        table = self._contains.get(attribute)
        if table:
            for size in self._lengths[attribute]:
                for start in range(len(folded) - size + 1):
                    for rule in table.get(folded[start : start + size], ()):
                        found[rule.position] = rule
        ordered = sorted(found.values(), key=lambda r: r.position)
        bound = next((r.position for r in ordered if not r.queues), None)
        regex = self._regex.get(attribute, [])
        before = len(regex) if bound is None else bisect.bisect_left(self._regex_positions.get(attribute, []), bound)
        for rule in regex[:before]:
            if rule.matching(text) is not None:
                found[rule.position] = rule
                if not rule.queues:
                    break  # first for every queue: nothing after it can be first
        ordered = sorted(found.values(), key=lambda r: r.position)
        end = next((i for i, r in enumerate(ordered) if not r.queues), len(ordered) - 1)
        return ordered[: end + 1]


def first(candidates: list[Rule], queue: str | None) -> Rule | None:
    """The rule a caller in `queue` gets, from FirstMatch.candidates."""
    queue = (queue or "").lower()
    return next((r for r in candidates if not r.queues or queue in r.queues), None)
