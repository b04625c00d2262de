"""What the poll cycle reads from a leg's ledger entry before it applies an escalation step."""

from __future__ import annotations

from skill_router.escalation import Routing, ledger_routing
from skill_router.ladder import applied_steps


def test_the_routing_a_step_starts_from_is_the_one_our_last_write_left():
    entry = {"skills_after": ["a", "b"], "priority_after": 50, "language_after": "en"}
    assert ledger_routing(entry) == Routing(("a", "b"), 50, "en")
    assert ledger_routing({"skills_after": [], "priority_after": 3, "language_after": ""}) == Routing((), 3, None)
    # Written before ladders existed (no routing left recorded): the poller reads the caller once.
    assert ledger_routing({"skills_after": ["a"], "priority_written": 10, "priority_before": 3}) is None
    assert ledger_routing({"outcome": "applied"}) is None, "unknown: the cycle reads the caller once"


def test_a_claimed_step_counts_as_applied_until_its_claim_lapses():
    now = 1_000_000.0
    assert applied_steps({"steps_applied": [60]}, now) == [60]
    held = {"steps_applied": [60], "step_mark": 300, "step_expires": now + 30}
    assert applied_steps(held, now) == [60, 300], "another run is applying it"
    lapsed = {**held, "step_expires": now - 60}
    assert applied_steps(lapsed, now) == [60], "the run died before confirming: planned again"
    absurd = {**held, "step_expires": now + 10 * 86400}
    assert applied_steps(absurd, now) == [60], "an expiry no invocation can reach was written by a wrong clock"
    previous_release = {"steps_applied": [60], "step_mark": 300, "step_claim_expires": now + 30}
    assert applied_steps(previous_release, now) == [60, 300], "a claim of the previous release is honoured"
    confirmed = {"steps_applied": [60, 300], "step_mark": 300}
    assert applied_steps(confirmed, now) == [60, 300]
