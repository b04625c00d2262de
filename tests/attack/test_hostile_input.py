"""Hostile input (issue #12, classes 6, 7 and 11): events, regular expressions, huge matrices.

Each test feeds the real handler (or the real parser, in a process of its own where a hang is
the failure) what an attacker or a broken sender could, and checks the promise the README makes:
a bad event is rejected (returned, never raised into Lambda's retries and the DLQ) before any id
reaches a URL or a key; no caller's intent stalls the run; a matrix loads in time or is refused
with one clear line.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from skill_router import runtime
from skill_router.errors import MatrixError
from skill_router.genesys.errors import GenesysError
from skill_router.matrix import parse_matrix
from tests.integration.conftest import BILLING, EVENT_ORG, EVENT_SOURCE, ROOT, TECH, App, patches, queued
from tests.integration.test_event_mode import acd_start, event, send

ORG = EVENT_ORG
SOURCE = EVENT_SOURCE
VICTIM_USER = "0d9c8b7a-6f5e-4d3c-8b2a-19f8e7d6c5b4"


@pytest.fixture
def events_app(app: App, queue: str) -> App:
    """The event function of a stack deployed for org ORG and the partner event source SOURCE."""
    app.set(GENESYS_EVENT_SOURCE=SOURCE, GENESYS_ORG_ID=ORG, EVENT_MODE="true")
    return app


def assert_rejected(app: App, envelope: Any) -> dict[str, Any]:
    """Rejected as a result (Lambda does not retry it), and nothing was asked of Genesys."""
    app.sim.clear_log()
    result = send(envelope)
    assert result["status"] == "rejected", result
    assert app.sim.count(path_prefix="/api/v2/") == 0
    return result


# --- class 7: hostile events ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "event_time",
    [
        1e20,
        10**30,
        10**400,  # JSON allows it; int / 1000 overflows a float
        math.nan,
        math.inf,
        -math.inf,
        -1e15,  # far past: before year 1
        0,  # 1970
        "now-30d",
        "now+1d",
    ],
    ids=["1e20", "10**30", "10**400", "nan", "inf", "-inf", "-1e15", "epoch0", "30-days-old", "a-day-ahead"],
)
def test_event_time_out_of_range_is_rejected_not_raised(events_app: App, queue: str, event_time: Any):
    conversation = queued(events_app, queue, "billing")
    envelope = acd_start(events_app, conversation, queue)
    now_ms = time.time() * 1000
    if event_time == "now-30d":
        event_time = int(now_ms - 30 * 86400_000)
    elif event_time == "now+1d":
        event_time = int(now_ms + 86400_000)
    envelope["detail"]["eventBody"]["eventTime"] = event_time
    result = assert_rejected(events_app, envelope)
    assert "eventTime" in result["reason"]
    assert events_app.ledger(conversation) is None


TRAVERSAL = f"x/../../users/{VICTIM_USER}"
GOOD = "7b4e1c0a-3d2f-4a5b-8c6d-9e0f1a2b3c4d"


@pytest.mark.parametrize(
    "conversation_id",
    [
        "c" * 3000,
        TRAVERSAL,
        f"{GOOD}/../../users/{VICTIM_USER}",
        f"{GOOD}\n",  # `$` in a regex accepts a trailing newline
        GOOD.replace("7", "\uff17"),  # a fullwidth digit: \d would accept it
        f"{GOOD}?x=1",
        "%2e%2e%2fusers",
        "",
        12345,
        None,
        [GOOD],
        {"id": GOOD},
    ],
    ids=[
        "3000-chars",
        "traversal",
        "uuid-then-traversal",
        "trailing-newline",
        "fullwidth-digit",
        "query",
        "encoded-dots",
        "empty",
        "int",
        "null",
        "list",
        "object",
    ],
)
def test_conversation_id_that_is_not_a_genesys_id_is_rejected(events_app: App, queue: str, conversation_id: Any):
    envelope = event("attributes", GOOD, attributes={"intent": "billing"})
    envelope["detail"]["eventBody"]["conversationId"] = conversation_id
    result = assert_rejected(events_app, envelope)
    assert "conversationId" in result["reason"]
    assert events_app.sim.count(path_prefix="/api/v2/users") == 0


def test_traversal_in_an_acd_start_never_reaches_genesys_users(events_app: App, queue: str):
    """The issue's own case: `x/../../users/<id>` made the SDK send PATCH /api/v2/users/<id>."""
    envelope = event("acd_start", GOOD, queueId=queue, requestedRoutingSkillIds=[], routingPriority=0)
    envelope["detail"]["eventBody"]["conversationId"] = TRAVERSAL
    assert_rejected(events_app, envelope)
    assert events_app.sim.count("PATCH") == 0 and events_app.sim.count(path_prefix="/api/v2/users") == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("queueId", "../../users/" + VICTIM_USER),
        ("queueId", "q" * 3000),
        ("queueId", 7),
        ("requestedRoutingSkillIds", ["../x"]),
        ("requestedRoutingSkillIds", [str(uuid.uuid4()) for _ in range(5000)]),
        ("requestedRoutingSkillIds", "5b1c2f7e-0000-4000-8000-000000000001"),
        ("routingPriority", 10**20),
        ("routingPriority", -(10**12)),
        ("routingPriority", 1.5),
        ("routingPriority", True),
    ],
    ids=[
        "queue-traversal",
        "queue-3000",
        "queue-int",
        "skill-traversal",
        "5000-skills",
        "skills-string",
        "priority-1e20",
        "priority-minus-1e12",
        "priority-float",
        "priority-bool",
    ],
)
def test_acd_start_fields_are_bounded_and_checked(events_app: App, queue: str, field: str, value: Any):
    conversation = queued(events_app, queue, "billing")
    envelope = acd_start(events_app, conversation, queue)
    envelope["detail"]["eventBody"][field] = value
    result = assert_rejected(events_app, envelope)
    assert field in result["reason"]
    assert patches(events_app, conversation) == 0


OTHER_ORG = "11111111-2222-4333-8444-555555555555"


@pytest.mark.parametrize(
    "source",
    [
        f"aws.partner/genesys.com/cloud/{OTHER_ORG}/skill-router",
        f"aws.partner/genesys.com.evil/cloud/{ORG}/skill-router",
        f"aws.partner/genesys.com/cloud/{ORG}/skill-router-2",
        f"aws.partner/genesys.com/cloud/{ORG}/skill-router/../x",
        f"{SOURCE}\n",
        SOURCE.upper(),
        "aws.partner/genesys.com",
        None,
    ],
    ids=[
        "other-org",
        "lookalike-domain",
        "other-name",
        "suffix",
        "trailing-newline",
        "upper-case",
        "bare-prefix",
        "missing",
    ],
)
def test_event_from_another_org_or_source_is_not_acted_on(events_app: App, queue: str, source: Any):
    conversation = queued(events_app, queue, "billing")
    envelope = acd_start(events_app, conversation, queue)
    envelope["source"] = source
    result = assert_rejected(events_app, envelope)
    assert "source" in result["reason"]
    assert patches(events_app, conversation) == 0 and events_app.ledger(conversation) is None


@pytest.mark.parametrize("shape", ["as-sent", "upper-case-ids", "null-skills-and-priority"])
def test_the_configured_source_is_still_served(events_app: App, queue: str, shape: str):
    """The checks above must not turn event mode off: the real source's events are applied, with
    ids in either case (one ledger key: lower case) and the optional fields null."""
    conversation = queued(events_app, queue, "billing")
    envelope = acd_start(events_app, conversation, queue)
    body = envelope["detail"]["eventBody"]
    if shape == "upper-case-ids":
        body.update(conversationId=conversation.upper(), queueId=queue.upper())
    elif shape == "null-skills-and-priority":
        body.update(requestedRoutingSkillIds=None, routingPriority=None)
    result = send(envelope)
    assert result["status"] == "ok" and result["outcome"] == "applied"
    assert BILLING in events_app.sim.routing(conversation)[0]


@pytest.mark.parametrize(
    "envelope",
    [[], "event", 42, None, {"source": SOURCE}, {"source": SOURCE, "detail-type": ["x"]}],
    ids=["list", "string", "number", "null", "source-only", "detail-type-list"],
)
def test_envelopes_of_the_wrong_shape_are_rejected(events_app: App, envelope: Any):
    assert_rejected(events_app, envelope)


def test_attributes_of_hostile_shape_and_size_are_handled_not_raised(events_app: App, queue: str):
    conversation = queued(events_app, queue, None)
    attributes: dict[str, Any] = {f"k{i}": "v" * 10 for i in range(5000)}
    attributes.update(nested={"intent": "billing"}, listed=["billing"], none=None)
    attributes["intent"] = "x" * 200_000 + "billing"  # past what is matched: no match, no stall
    result = send(event("attributes", conversation, attributes=attributes))
    assert result["status"] == "ok" and result["outcome"] == "pending"


# --- the Genesys client: no id changes the path of a request -------------------------------------


@pytest.mark.parametrize("method", ["get_conversation", "patch_routing", "user_email"])
def test_client_refuses_an_id_that_would_change_the_request_path(events_app: App, queue: str, method: str):
    client = runtime.current().genesys
    calls = {
        "get_conversation": lambda: client.get_conversation(TRAVERSAL),
        "patch_routing": lambda: client.patch_routing(TRAVERSAL, [TECH], None),
        "user_email": lambda: client.user_email(f"{VICTIM_USER}/../../../routing/skills"),
    }
    events_app.sim.clear_log()
    with pytest.raises(GenesysError, match="not a Genesys id"):
        calls[method]()
    assert events_app.sim.count(path_prefix="/api/v2/") == 0


def test_a_poll_never_sends_an_analytics_id_that_is_not_a_uuid(app: App, queue: str):
    hostile = queued(app, queue, "billing")
    app.sim.conversations[TRAVERSAL] = app.sim.conversations.pop(hostile)
    app.sim.conversations[TRAVERSAL].id = TRAVERSAL
    served = queued(app, queue, "billing")
    report = app.invoke()["polls"][0]
    assert app.sim.count(path_prefix="/api/v2/users") == 0
    assert BILLING in app.sim.routing(served)[0], report


# --- class 6: regular expressions -----------------------------------------------------------------

HOSTILE_VALUE = "a" * 900 + "!"  # within what is matched: the "!" is what makes a backtracker fail slowly


@pytest.mark.parametrize(
    "pattern",
    ["(a|aa)+$", "^((a+))+$", "(a|a?)+$", "(\\w|[a-z])+$", "((ab)*|a+)+$", "(a+)+$", "(.*a){25}$"],
    ids=[
        "alternation",
        "doubly-nested",
        "optional-alternation",
        "overlapping-classes",
        "nested-star",
        "classic",
        "counted-dotstar",
    ],
)
def test_no_regex_shape_stalls_a_match(tmp_path, pattern: str):
    """In a process of its own: the failure is a hang. Loaded and matched in time, or refused at load."""
    script = (
        "import sys, json\n"
        "from skill_router.errors import MatrixError\n"
        "from skill_router.matrix import parse_matrix\n"
        "pattern, value = json.loads(sys.argv[1])\n"
        "text = 'skill_matrix:\\n  - keywords: [' + json.dumps(pattern) + ']\\n    match: regex\\n"
        "    skill_id: 5b1c2f7e-0000-4000-8000-000000000001\\n'\n"
        "try:\n"
        "    m = parse_matrix(text, 'm.yaml')\n"
        "except MatrixError as exc:\n"
        "    print('refused', exc); sys.exit(0)\n"
        "print('matched' if m.match({'intent': value}, 'intent') else 'nomatch')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps([pattern, HOSTILE_VALUE])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] in ("matched", "nomatch", "refused")


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("(a)\\\\1", "backreference"),
        ("foo(?=bar)", "lookahead"),
        ("(?<=a)b", "lookbehind"),
        ("(?>ab)c", "atomic group"),
        ("a++b", "possessive"),
        ("billing\\\\Z", "python-only escape"),
    ],
    ids=["backreference", "lookahead", "lookbehind", "atomic", "possessive", "backslash-Z"],
)
def test_a_regex_re2_cannot_run_is_refused_at_load_with_file_and_line(pattern: str, why: str):
    text = (
        "skill_matrix:\n"
        "  - intent_keyword: billing\n"
        f"    skill_id: {BILLING}\n"
        f'  - keywords: ["{pattern}"]\n'
        "    match: regex\n"
        f"    skill_id: {TECH}\n"
    )
    with pytest.raises(MatrixError) as raised:
        parse_matrix(text, "skill_matrix.yaml")
    problem = raised.value.problems[0]
    assert problem.startswith("skill_matrix.yaml:4 rule 2 'keywords'"), problem
    assert "RE2" in problem, problem


def test_a_huge_regex_program_is_refused_at_load():
    text = (
        f'skill_matrix:\n  - keywords: ["(?:(?:a{{100}}){{100}}){{100}}"]\n    match: regex\n    skill_id: {BILLING}\n'
    )
    with pytest.raises(MatrixError, match=r"m\.yaml:2 rule 1 'keywords'"):
        parse_matrix(text, "m.yaml")


@pytest.mark.slow
def test_a_real_poll_with_a_hostile_rule_and_hostile_intents_serves_every_other_caller(app: App, queue: str):
    app.upload_matrix(
        "skill_matrix:\n"
        "  - keywords: ['(a|aa)+$', '^((a+))+$']\n"
        "    match: regex\n"
        f"    skill_id: {TECH}\n"
        "  - intent_keyword: billing\n"
        f"    skill_id: {BILLING}\n"
    )
    hostile = [queued(app, queue, "a" * 900 + "!" + str(i)) for i in range(4)]
    callers = [queued(app, queue, f"billing question {i}") for i in range(8)]
    run = app.spawn(timeout=20)
    try:
        run.wait(timeout=40)
    finally:
        if run.process.returncode is None:
            run.kill()
    result = run.result()
    assert result["polls"][0]["applied"] == 8, result
    for caller in callers:
        assert BILLING in app.sim.routing(caller)[0]
    for caller in hostile:
        assert app.sim.routing(caller)[0] == []


def test_a_megabyte_intent_is_matched_on_its_bounded_prefix(app: App, queue: str):
    near = queued(app, queue, "billing" + "x" * 1_000_000)
    far = queued(app, queue, "x" * 1_000_000 + "billing")
    report = app.invoke()["polls"][0]
    assert BILLING in app.sim.routing(near)[0], report
    assert app.sim.routing(far)[0] == []  # documented: only the first MAX_MATCHED_CHARS are matched


# --- class 11: scale of input ---------------------------------------------------------------------


def _many_rules(count: int) -> str:
    lines = ["skill_matrix:"]
    lines += [f"  - {{intent_keyword: kw{i:05d}x, skill_id: {BILLING}}}" for i in range(count)]
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_ten_thousand_rules_load_within_a_cold_start(tmp_path):
    """The issue measured 30 s (a quadratic shadowed-rule check). A process of its own, cut at
    15 s: far above the linear figure (`make bench`), far below the quadratic one."""
    path = tmp_path / "big.yaml"
    path.write_text(_many_rules(10_000))
    script = (
        "import sys\nfrom skill_router.matrix import parse_matrix\n"
        "m = parse_matrix(open(sys.argv[1]).read(), 'big.yaml')\nprint(len(m.rules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=15, check=False
    )
    assert done.stdout.strip() == "10000", done.stderr


def test_shadowed_rules_are_still_found_among_many():
    text = _many_rules(3000) + f"  - {{intent_keyword: kw00042x please, skill_id: {TECH}}}\n"
    matrix = parse_matrix(text, "big.yaml")
    assert any("rule 3001 can never match: rule 43 " in w for w in matrix.warnings), matrix.warnings[:3]


def test_more_rules_than_the_limit_are_refused_with_one_clear_line():
    with pytest.raises(MatrixError) as raised:
        parse_matrix(_many_rules(10_001), "big.yaml")
    assert raised.value.problems == ["big.yaml:1 'skill_matrix': 10001 rules; the limit is 10,000"]


def test_aliases_cannot_multiply_a_small_file_into_a_huge_matrix():
    """YAML aliases: a 300 KB file naming one rule 60,000 times. Refused, and quickly."""
    first = f"&r {{intent_keyword: billing, skill_id: {BILLING}}}"
    text = "skill_matrix: [" + ", ".join([first] + ["*r"] * 59_999) + "]\n"
    with pytest.raises(MatrixError, match="60000 rules; the limit is 10,000"):
        parse_matrix(text, "alias.yaml")


def test_a_keyword_list_aliased_into_every_rule_is_refused():
    words = ", ".join(f"w{i}" for i in range(5000))
    rules = ", ".join(f"{{keywords: *k, skill_id: {BILLING}}}" for _ in range(199))
    text = f"skill_matrix: [{{keywords: &k [{words}], skill_id: {BILLING}}}, {rules}]\n"
    with pytest.raises(MatrixError, match="'keywords': 5000 keywords; the limit is 100 a rule"):
        parse_matrix(text, "alias.yaml")


def test_a_lone_surrogate_in_an_intent_neither_crashes_a_regex_rule_nor_the_poll(app: App, queue: str):
    """JSON can carry "\\ud800"; RE2 matches UTF-8, and encoding that raised in every poll."""
    app.upload_matrix(
        f"skill_matrix:\n  - keywords: ['bill(ing)?']\n    match: regex\n    skill_id: {BILLING}\n"
        f"  - intent_keyword: technical\n    skill_id: {TECH}\n"
    )
    odd = queued(app, queue, "\ud800 billing")
    other = queued(app, queue, "technical")
    report = app.invoke()["polls"][0]
    assert report["applied"] == 2, report
    assert BILLING in app.sim.routing(odd)[0] and TECH in app.sim.routing(other)[0]


def test_a_lone_surrogate_in_an_attributes_event_is_matched_not_raised(events_app: App, queue: str):
    app = events_app
    app.upload_matrix(f"skill_matrix:\n  - keywords: ['bill(ing)?']\n    match: regex\n    skill_id: {BILLING}\n")
    conversation = queued(app, queue, None)
    result = send(event("attributes", conversation, attributes={"intent": "\udfff billing"}))
    assert result["status"] == "ok" and result["outcome"] == "pending"  # matched; applied at acd.start


def test_an_event_function_deployed_without_its_source_acts_on_nothing(events_app: App, queue: str):
    """Fail closed and loudly: a configuration error (errors alarm), never an event acted on."""
    from skill_router.errors import ConfigurationError

    conversation = queued(events_app, queue, "billing")
    envelope = acd_start(events_app, conversation, queue)
    events_app.set(GENESYS_EVENT_SOURCE="")
    with pytest.raises(ConfigurationError, match="GENESYS_EVENT_SOURCE is not set"):
        send(envelope)
    assert patches(events_app, conversation) == 0


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"GENESYS_EVENT_SOURCE": SOURCE, "GENESYS_ORG_ID": OTHER_ORG}, "names org"),
        ({"GENESYS_EVENT_SOURCE": "aws.partner/genesys.com/skill-router"}, "not a Genesys partner event source"),
        ({"GENESYS_ORG_ID": "my-org"}, "not a Genesys org id"),
    ],
    ids=["source-of-another-org", "source-without-org", "org-not-a-uuid"],
)
def test_a_deployment_for_the_wrong_org_is_a_configuration_error(env: dict[str, str], problem: str):
    from skill_router.errors import ConfigurationError
    from skill_router.settings import load_settings

    base = {"GENESYS_CREDENTIALS_SECRET": "c", "GENESYS_TOKEN_SECRET": "t", "STATE_TABLE": "s"}
    with pytest.raises(ConfigurationError, match=problem):
        load_settings({**base, "SKILL_MATRIX_BUCKET": "b", "NOTIFY_CHANNEL": "none", **env})


@pytest.mark.parametrize(
    ("keyword", "mode", "limit"),
    [("k" * 201, "contains", 200), ("k" * 201, "exact", 200), ("a" * 501, "regex", 500)],
    ids=["contains-201", "exact-201", "regex-501"],
)
def test_a_keyword_past_its_length_limit_is_refused_with_its_line(keyword: str, mode: str, limit: int):
    text = f"skill_matrix:\n  - keywords: [{keyword}]\n    match: {mode}\n    skill_id: {BILLING}\n"
    with pytest.raises(MatrixError) as raised:
        parse_matrix(text, "m.yaml")
    assert raised.value.problems == [
        f"m.yaml:2 rule 1 'keywords': {keyword[:30]!r}... is {len(keyword)} characters; the limit is {limit}"
    ]


def test_the_template_routes_only_the_configured_source_and_names_the_org():
    """Defence in depth: EventBridge itself delivers only the deployed source's events, the function
    is told the source and org, and a stack in event mode cannot be deployed without the org."""
    from scripts.local_aws import load_template

    template = load_template()
    function = template["Resources"]["EventFunction"]["Properties"]
    pattern = function["Events"]["ConversationEvents"]["Properties"]["Pattern"]
    assert pattern["source"] == [{"Ref": "GenesysEventSourceName"}]
    variables = function["Environment"]["Variables"]
    assert variables["GENESYS_EVENT_SOURCE"] == {"Ref": "GenesysEventSourceName"}
    assert variables["GENESYS_ORG_ID"] == {"Ref": "GenesysOrganizationId"}
    rule = template["Rules"]["EventModeNamesTheOrg"]
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "GenesysOrganizationId"}, ""]}]}
