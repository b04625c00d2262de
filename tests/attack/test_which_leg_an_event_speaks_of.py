"""Issue 19, class 5: which leg an event speaks of. A late acd.start for the queue a caller was
transferred out of must act on the leg the conversation read (GET) shows, keyed by that read's ACD
participant, with that leg's own clock; nothing is recorded on the ended leg."""

from __future__ import annotations

import time

from tests.attack.helpers import acd_start, send
from tests.integration.conftest import BILLING, PATCH, App, minutes_ago

LADDER = f"""
skill_matrix:
  - id: billing
    intent_keyword: billing
    skills: [{BILLING}]
    escalate:
      - after: 60
        routing_priority: 20
"""


def test_a_late_acd_start_for_the_queue_left_acts_on_the_current_leg_with_its_own_clock(app: App, queue: str):
    app.upload_matrix(LADDER)
    conversation = app.sim.add_conversation(queue_id=queue, attributes={"intent": "billing"}, start=minutes_ago(5))
    late = acd_start(app, conversation, queue)  # the acd.start of the first queue, delivered late
    old_leg = late["detail"]["eventBody"]["participantId"]
    late["detail"]["eventBody"]["eventTime"] = int((time.time() - 300) * 1000)
    other = app.sim.add_queue("Other")
    app.sim.transfer(conversation, other)
    new_leg = app.sim.acd_participant(conversation)
    assert new_leg != old_leg
    result = send(late)
    assert result["outcome"] == "applied"
    assert app.sim.routing(conversation) == ([BILLING], 0), "the 60 s step fired at once, counting the old queue's wait"
    patches = [r.body for r in app.sim.requests if r.method == "PATCH" and r.path == PATCH + conversation]
    assert patches == [{"skillIds": [BILLING]}]
    assert app.store.entry(conversation, old_leg) is None, "the outcome was recorded on the ended leg"
    entry = app.store.entry(conversation, new_leg)
    assert entry is not None and entry["outcome"] == "applied"
