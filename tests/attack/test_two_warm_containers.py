"""Issue 19, class 6: Lambda may route consecutive scheduled invocations to two warm containers.
What one container remembers (its finished-leg cache) must never decide what is written: the
ledger, through a conditional write, does."""

from __future__ import annotations

import time

from skill_router.deadline import Deadline
from skill_router.runtime import Runtime, build_runtime
from tests.integration.conftest import BILLING, PATCH, TECH, App, minutes_ago

SUPERVISOR_SKILL = "5b1c2f7e-0000-4000-8000-0000000000aa"
LADDER = f"""
skill_matrix:
  - id: billing
    intent_keyword: billing
    skills: [{BILLING}]
    escalate:
      - after: 60
        add_skills: [{TECH}]
      - after: 120
        routing_priority: 40
"""


def poll_at(rt: Runtime, offset: float) -> dict[str, object]:
    rt.poller.clock = lambda: time.time() + offset
    deadline = Deadline.fixed(30)
    rt.genesys.begin(deadline)
    return rt.poller.poll(deadline, f"container-{id(rt)}", None).as_dict()


def bodies(app: App, conversation: str) -> list[dict[str, object]]:
    return [r.body for r in app.sim.requests if r.method == "PATCH" and r.path == PATCH + conversation]


def test_a_container_with_a_stale_memory_never_applies_a_step_again(app: App, queue: str):
    app.sim.add_skill("Supervisor", skill_id=SUPERVISOR_SKILL)
    app.upload_matrix(LADDER)
    conversation = app.sim.add_conversation(queue_id=queue, attributes={"intent": "billing"}, start=minutes_ago(0.1))
    a, b = build_runtime(), build_runtime()
    poll_at(a, 0)
    poll_at(b, 5)  # both containers remember the leg as served by its rule, no step yet
    poll_at(a, 70)  # container A applies step 1 (adds Technical)
    assert app.sim.routing(conversation)[0] == [BILLING, TECH]
    with app.sim.lock:  # a supervisor adds a skill
        leg = app.sim.conversations[conversation].open_leg()
        assert leg is not None
        leg.skills.append(SUPERVISOR_SKILL)
    app.sim.clear_log()
    poll_at(b, 130)  # container B, its memory from before step 1, polls when step 2 is due
    assert all("skillIds" not in body for body in bodies(app, conversation)), (
        f"step 1 was applied again from a stale memory: {bodies(app, conversation)}"
    )
    assert SUPERVISOR_SKILL in app.sim.routing(conversation)[0], "the supervisor's skill was removed"
    poll_at(b, 135)
    assert app.sim.routing(conversation)[1] == 40, "step 2 never fired"
