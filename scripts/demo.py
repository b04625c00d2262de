"""`make demo`: the poll cycle end to end on this machine, with no AWS account and no Genesys org.

Starts moto server (DynamoDB, S3, Secrets Manager, SES, created from template.yaml's own resource
definitions) and the Genesys simulator (driven through the real PureCloudPlatformClientV2 SDK),
uploads the seed's skill matrix, seeds a handful of callers, runs the handler in a fresh process
the way Lambda would, and prints each caller's skills before and after, and the emails sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.local_aws import LocalResources, client, create_resources, put_credentials, start_moto_server  # noqa: E402
from tests.simulator import GenesysSimulator  # noqa: E402

MATRIX = ROOT / "examples" / "seed_skill_matrix.yaml"
SKILLS = {
    "5b1c2f7e-0000-4000-8000-000000000001": "Billing",
    "5b1c2f7e-0000-4000-8000-000000000002": "Technical",
    "5b1c2f7e-0000-4000-8000-000000000003": "Retention",
    "5b1c2f7e-0000-4000-8000-0000000000e1": "English",
}
BY_NAME = {name: skill_id for skill_id, name in SKILLS.items()}


@dataclass
class Caller:
    label: str
    conversation_id: str
    intent: str
    before: list[str]


def main() -> int:
    moto, endpoint = start_moto_server()
    sim = GenesysSimulator()
    sim.start()
    try:
        return run(endpoint, sim)
    finally:
        sim.stop()
        moto.stop()


@dataclass
class LocalSetup:
    endpoint: str
    resources: LocalResources
    env: dict[str, str]
    callers: list[Caller]
    queue: str


def set_up(endpoint: str, sim: GenesysSimulator) -> LocalSetup:
    """Resources from template.yaml in moto server, the seed matrix in S3, eight callers and 50
    live conversations that wait in no queue in the simulator."""
    region = "us-east-1"
    resources = create_resources(endpoint, region=region)
    put_credentials(endpoint, region, resources.credentials_secret_id, "demo-client", "demo-secret")
    sim.add_client("demo-client", "demo-secret")
    s3 = client("s3", endpoint, region)
    s3.put_object(Bucket=resources.bucket_name, Key="skill_matrix.yaml", Body=MATRIX.read_bytes())
    for skill_id, name in SKILLS.items():
        sim.add_skill(name, skill_id=skill_id)
    queue = staffed(sim, "General Support")
    now = datetime.now(UTC)

    def caller(
        label: str,
        intent: str | None,
        skills: tuple[str, ...] = (),
        queued: bool = True,
        minutes: float = 3,
        media_type: str = "voice",
    ) -> Caller:
        cid = sim.add_conversation(
            queue_id=queue if queued else None,
            attributes={"intent": intent} if intent else {},
            skills=tuple(BY_NAME[s] for s in skills),
            start=now - timedelta(minutes=minutes + 2),
            queued_at=now - timedelta(minutes=minutes),
            media_type=media_type,
        )
        return Caller(label, cid, intent or "(not set yet)", list(skills))

    callers = [
        caller("disputes a bill", "I want to dispute my Billing statement", skills=("English",)),
        caller("router fault", "technical problem with my router"),
        caller("wants to buy", "I'd like to buy a new phone"),
        caller("already skilled", "cancel my contract", skills=("Retention",)),
        caller("hangs up", "billing question"),
        caller("bot still talking", None),
        caller("still in the IVR", None, queued=False),
        caller("callback, 3 h in queue", "technical: call me back", minutes=180, media_type="callback"),
    ]
    # Live conversations that wait in no queue (IVR, outbound, internal, messages, emails): the
    # analytics interval returns the whole day, and discovery's filters keep them off its pages.
    sim.add_live_mix(50, start=max(now - timedelta(hours=2), now.replace(hour=0, minute=0, second=1)))
    # Hangs up between discovery and the GET: Genesys answers 404 from then on.
    sim.fail("GET", f"/api/v2/conversations/{callers[4].conversation_id}", 404, count=None)
    env = {
        **os.environ,
        **resources.env(),
        "GENESYS_ENVIRONMENT": "mypurecloud.com",
        "GENESYS_API_URL": sim.base_url,
        "GENESYS_LOGIN_URL": sim.base_url,
        # The demo's "minute later" is seconds of wall time: re-read waiting callers as soon.
        "INTENT_RECHECK_SECONDS": "1",
    }
    return LocalSetup(endpoint, resources, env, callers, queue)


def staffed(sim: GenesysSimulator, name: str) -> str:
    """A queue with two agents on queue who have every skill of the demo: the staffing guard
    (STAFFING_GUARD, on by default) lets each rule through, as a staffed day shift would."""
    queue: str = sim.add_queue(name)
    for _ in range(2):
        sim.add_member(queue, skills={skill_id: 3 for skill_id in SKILLS}, status="IDLE")
    return queue


def run(endpoint: str, sim: GenesysSimulator) -> int:
    local = set_up(endpoint, sim)
    resources, callers, queue = local.resources, local.callers, local.queue
    env = {
        **local.env,
        "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        "POWERTOOLS_METRICS_DISABLED": "true",
        # One poll per invocation: the demo runs on the wall clock and should not sleep 30 s.
        "POLL_INTERVAL_SECONDS": "60",
    }
    print("skill-router demo: the scheduled poll, end to end, locally")
    print(f"  AWS (moto server)   {endpoint}  table {resources.table_name}, bucket {resources.bucket_name}")
    print(f"  Genesys simulator   {sim.base_url}  (real PureCloudPlatformClientV2 calls)")
    print(f"  skill matrix        {MATRIX.relative_to(ROOT)} -> s3://{resources.bucket_name}/skill_matrix.yaml\n")

    first = invoke(env, repeat=1)
    print_poll("Poll 1: a cold start in a fresh process", first["invocations"][0], callers, sim)
    poll_first = first["invocations"][0]["result"]["polls"][0]
    # The caller who hung up is gone from Genesys altogether now: no later poll or dry run finds them.
    sim.vanish(callers[4].conversation_id)
    callers[4].label = "hung up (gone)"

    # Meanwhile the bot sets its caller's intent, and the IVR caller reaches the queue.
    sim.set_attributes(callers[5].conversation_id, {"intent": "billing, and I am very upset"})
    callers[5].intent = "billing, and I am very upset"
    sim.set_attributes(callers[6].conversation_id, {"intent": "Technical support"})
    sim.queue_conversation(callers[6].conversation_id, queue)
    callers[6].intent = "Technical support"
    # The billing caller is transferred to another queue: a new queue leg whose requested skills
    # come from the transfer (none here). The rule applies again; the supervisor is not re-emailed.
    escalations = staffed(sim, "Escalations")
    sim.transfer(callers[0].conversation_id, escalations)
    callers[0].label = "disputes a bill, transferred"
    callers[0].before = []
    sim.clear_log()
    second = invoke(env, repeat=2)
    print_poll(
        "Poll 2: the late intents and a transfer, one minute later (new container)",
        second["invocations"][0],
        callers,
        sim,
    )
    poll_second = second["invocations"][0]["result"]["polls"][0]
    warm = second["invocations"][1]

    print_emails(endpoint, resources.notify_from)

    # Trying a stricter matrix safely: a dry run decides and records, and changes nothing.
    newcomer = sim.add_conversation(queue_id=queue, attributes={"intent": "technical: my router is down"})
    sim.clear_log()
    dry = invoke({**env, "DRY_RUN": "true"}, repeat=1)["invocations"][0]["result"]["polls"][0]
    print("Dry run (DRY_RUN=true, or `make invoke DRY_RUN=true`): decides and records, changes nothing")
    print(
        f"  would apply {dry['applied']}; PATCH requests sent: {sim.count('PATCH')}; "
        f"the new caller's skills stay {sim.routing(newcomer)[0] or '[]'}\n"
    )

    escalated = escalation(env, sim, queue)
    stranded = staffing_guard(env, sim)

    print("Audit trail: `skill-router audit --conversation ID` and `--since 1h`")
    audit(env, "--conversation", callers[0].conversation_id)
    audit(env, "--conversation", escalated)
    audit(env, "--conversation", stranded)
    audit(env, "--since", "1h")
    audit(env, "--since", "1h", "--dry-run")
    print()
    # Polls 1 and 2 as their reports count them (the warm idle poll after poll 2 is shown on its own).
    calls = (poll_first["genesys_calls"], poll_second["genesys_calls"])
    applied = (poll_first["applied"], poll_second["applied"])
    print("Figures")
    print(
        f"  Genesys API calls per conversation assigned: {sum(calls) / max(sum(applied), 1):.2f}"
        f" ({calls[0]} + {calls[1]} = {sum(calls)} calls in polls 1 and 2,"
        f" {applied[0]} + {applied[1]} = {sum(applied)} assigned; this mix also pays GETs for callers"
        " who match nothing, wait or are gone: `make bench` has the backlog figure)"
    )
    print(f"  handler import (cold start, fresh process):   {first['import_seconds']:.2f} s")
    label = f"  first invocation (cold, {poll_first['seen']} callers handled):"
    print(f"{label:<48}{first['invocations'][0]['duration_seconds']:.2f} s")
    print(
        f"  warm idle poll (same container, next minute): {warm['duration_seconds']:.3f} s,"
        f" {warm['result']['polls'][0]['genesys_calls']} Genesys call(s)"
    )
    print(f"  peak RSS of the function process:             {second['max_rss_mb']:.0f} MB")
    return 0


ESCALATING_RULE = """
  - id: complaint
    intent_keyword: complaint
    skills: [Retention]
    language: English
    routing_priority: 10
    escalate:
      - after: 60                  # relax: any billing agent will do
        add_skills: [Billing]
        remove_skills: [Retention]
      - after: 5m                  # raise, and tell the lead
        routing_priority: 50
        notify: [complaints.lead@example.com]
"""


def escalation(env: dict[str, str], sim: GenesysSimulator, queue: str) -> str:
    """A caller escalated while they wait: assigned, relaxed after a minute, raised and the lead
    emailed after five. The simulator's clock moves the caller's wait on, so it takes seconds."""
    print("Escalation while the caller waits (a rule's `escalate:` ladder, applied by the poller)")
    english = sim.add_language("English")
    # An agent who speaks English and has the ladder's skills, so the guard lets each step through.
    sim.add_member(queue, skills={BY_NAME["Retention"]: 3, BY_NAME["Billing"]: 3}, languages=[english])
    matrix = MATRIX.read_text() + ESCALATING_RULE
    client("s3", env["AWS_ENDPOINT_URL"], env["AWS_REGION"]).put_object(
        Bucket=env["SKILL_MATRIX_BUCKET"], Key=env["SKILL_MATRIX_KEY"], Body=matrix.encode()
    )
    print(
        "  rule 'complaint': Retention, English, priority 10; after 60 s Billing instead; after 5m priority 50 + email"
    )
    cid = sim.add_conversation(queue_id=queue, attributes={"intent": "complaint about my last bill"})
    rows = [("caller waited", "skills", "language", "priority", "PATCHes", "GETs", "steps", "emails")]
    emailed = 0
    for waited, step in ((0, "assigned"), (65, "relaxed"), (240, "raised")):
        sim.wait(cid, waited)
        sim.clear_log()
        poll = invoke(env, repeat=1)["invocations"][0]["result"]["polls"][0]
        skills, priority = sim.routing(cid)
        language = "English" if sim.language(cid) == english else (sim.language(cid) or "-")
        emailed += poll["notified"]
        rows.append(
            (
                f"{int(sim_waited(sim, cid))} s ({step})",
                ", ".join(SKILLS.get(s, s) for s in skills) or "-",
                language,
                str(priority),
                str(sim.count("PATCH", f"/api/v2/routing/conversations/{cid}")),
                str(sim.count("GET", f"/api/v2/conversations/{cid}")),
                str(poll["escalation_steps"]),
                str(poll["notified"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))
    print("  each step: one PATCH and no GET (the ledger holds the routing the last write left)\n")
    return cid


SPANISH_RULE = """
  - id: spanish
    intent_keyword: español
    skills: [Technical]
    language: Spanish
    routing_priority: 20
"""


def staffing_guard(env: dict[str, str], sim: GenesysSimulator) -> str:
    """A caller who would have been stranded: the rule asks for Spanish at night, when nobody on
    queue speaks it. The guard withholds the language (the priority is raised), and the next poll
    after a Spanish speaker comes on queue applies it."""
    print("Staffing guard: a caller who would have been stranded (STAFFING_GUARD=on, the default)")
    spanish = sim.add_language("Spanish")
    night = sim.add_queue("Night shift")
    sim.add_member(night, skills={BY_NAME["Technical"]: 3})  # on queue, speaks no Spanish
    speaker = sim.add_member(night, skills={BY_NAME["Technical"]: 3}, languages=[spanish], status="OFF_QUEUE")
    matrix = MATRIX.read_text() + ESCALATING_RULE + SPANISH_RULE
    client("s3", env["AWS_ENDPOINT_URL"], env["AWS_REGION"]).put_object(
        Bucket=env["SKILL_MATRIX_BUCKET"], Key=env["SKILL_MATRIX_KEY"], Body=matrix.encode()
    )
    print(
        "  rule 'spanish': Technical, language Spanish, priority 20; "
        "the night queue's one agent on queue has Technical but speaks no Spanish"
    )
    cid = sim.add_conversation(queue_id=night, attributes={"intent": "hablo español, por favor"})
    rows = [("poll", "agents on queue", "skills", "language", "priority", "withheld", "applied later")]
    withheld = applied = 0
    for label in ("1: nobody speaks Spanish", "2: a Spanish speaker is on queue"):
        if label.startswith("2"):
            sim.set_member(night, speaker, status="IDLE")
        sim.clear_log()
        poll = invoke(env, repeat=1)["invocations"][0]["result"]["polls"][0]
        withheld += poll["skills_withheld"]
        applied += poll["withheld_applied"]
        on_queue = sum(1 for m in sim.members.get(night, {}).values() if m.status != "OFF_QUEUE")
        language = "Spanish" if sim.language(cid) == spanish else (sim.language(cid) or "-")
        rows.append(
            (
                label,
                str(on_queue),
                ", ".join(SKILLS.get(x, x) for x in sim.routing(cid)[0]) or "-",
                language,
                str(sim.routing(cid)[1]),
                str(poll["skills_withheld"]),
                str(poll["withheld_applied"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))
    print(
        f"  stranded callers avoided: withheld {withheld}, applied later {applied} "
        "(without the guard the caller would have waited for a Spanish speaker with nobody able to answer)\n"
    )
    return cid


def sim_waited(sim: GenesysSimulator, conversation_id: str) -> float:
    with sim.lock:
        leg = sim.conversations[conversation_id].open_leg()
        return sim.clock() - leg.start if leg else 0.0


def audit(env: dict[str, str], *args: str) -> None:
    command = [str(Path(sys.executable).parent / "skill-router"), "audit", *args]
    print(f"$ skill-router audit {' '.join(args)}")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    print("\n".join("  " + line for line in (done.stdout + done.stderr).rstrip().splitlines()))


def invoke(env: dict[str, str], repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        result_file = Path(folder) / "result.json"
        completed = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "lambda_runner.py"),
                str(ROOT / "events" / "scheduled.json"),
                "--repeat",
                str(repeat),
                "--result-file",
                str(result_file),
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if not result_file.exists():
            sys.stderr.write(completed.stdout + completed.stderr)
            raise SystemExit(f"the handler process failed (exit {completed.returncode})")
        report: dict[str, Any] = json.loads(result_file.read_text())
    for invocation in report["invocations"]:
        if "errorMessage" in invocation:
            sys.stderr.write(completed.stdout + completed.stderr)
            raise SystemExit(f"the handler failed: {invocation['errorType']}: {invocation['errorMessage']}")
    return report


def print_poll(title: str, invocation: dict[str, Any], callers: list[Caller], sim: GenesysSimulator) -> None:
    poll = invocation["result"]["polls"][0]
    print(f"{title}  [window {poll['window']['start'][11:19]}-{poll['window']['end'][11:19]} UTC, {poll['seen']} seen]")
    rows = [("caller", "intent attribute", "skills before", "skills after", "PATCH")]
    for c in callers:
        after = (
            [SKILLS.get(s, s) for s in sim.routing(c.conversation_id)[0]]
            if not c.label.startswith(("hangs up", "hung up"))
            else c.before
        )
        changed = sim.count("PATCH", f"/api/v2/routing/conversations/{c.conversation_id}")
        rows.append((c.label, c.intent[:34], ", ".join(c.before) or "-", ", ".join(after) or "-", str(changed)))
        c.before = after
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))
    counts = ", ".join(
        f"{k} {poll[k]}" for k in ("applied", "unchanged", "no_match", "gone", "pending", "done") if poll[k]
    )
    print(f"  outcome: {counts}; supervisor emails {poll['notified']}; Genesys calls {poll['genesys_calls']}\n")


def print_emails(endpoint: str, sender: str) -> None:
    data = requests.get(f"{endpoint}/moto-api/data.json", timeout=5).json()
    messages = [m for m in data.get("ses", {}).get("Message", []) if m.get("source") == sender]
    print(f"Supervisor emails sent through SES ({len(messages)})")
    for message in messages:
        print(f"  to {', '.join(message['destinations']['ToAddresses'])}: {message['subject']}")
    print()


if __name__ == "__main__":
    sys.exit(main())
