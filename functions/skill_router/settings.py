"""The environment, parsed once into one typed, validated settings object.

SETTINGS is the one table of what a deployment can set: the environment variable, its default,
its bounds, one line of meaning, and the template parameter that sets it. Parsing, the README's
settings table (scripts/settings_table.py writes it) and `skill-router doctor` are driven by it,
and tests keep template.yaml and the README in step with it. Every problem is reported at once so
a misconfigured deployment is fixed in one go.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from skill_router.errors import ConfigurationError
from skill_router.ids import event_source_org, is_genesys_id
from skill_router.matrix.model import DEFAULT_MAX_WAIT_SECONDS

# The region domains of PureCloudPlatformClientV2.PureCloudRegionHosts (269.0.0), kept here so
# settings can be validated without importing the SDK; a unit test keeps the two in step.
GENESYS_ENVIRONMENTS = (
    "mypurecloud.com",
    "mypurecloud.ie",
    "mypurecloud.com.au",
    "mypurecloud.jp",
    "mypurecloud.de",
    "usw2.pure.cloud",
    "cac1.pure.cloud",
    "apne2.pure.cloud",
    "euw2.pure.cloud",
    "aps1.pure.cloud",
    "use2.us-gov-pure.cloud",
    "sae1.pure.cloud",
    "mec1.pure.cloud",
    "apne3.pure.cloud",
    "euc2.pure.cloud",
    "mxc1.pure.cloud",
    "apse1.pure.cloud",
    "edee1.eusc-pure.cloud",
)
NOTIFY_CHANNELS = ("none", "ses", "genesys")
# DynamoDB's TTL never deletes before `expires_at`; callers are served until the TTL minus this.
LEDGER_TTL_SLACK_SECONDS = 3600
# The functions' `Timeout` in template.yaml (a test keeps them in step): what SAFETY_MARGIN_SECONDS
# is checked against at cold start. The invocation's own remaining time is checked too
# (deadline.Deadline.from_context), since a function's timeout can be changed outside the template.
POLL_FUNCTION_TIMEOUT_SECONDS = 58
EVENT_FUNCTION_TIMEOUT_SECONDS = 30
# poller.MIN_POLL_SECONDS (a test keeps them in step; the poller imports settings, not the reverse).
MIN_POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Setting:
    """One environment variable. The type of `default` is the type of the value (bool: a flag,
    int, float, str); `default=None` means the template always sets it and it is required."""

    env: str
    field: str
    default: str | int | float | bool | None
    meaning: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    # The template parameter that sets it; "" when the template sets it from a resource or a
    # condition (then `set_by` says how), or when only local runs set it.
    parameter: str = ""
    set_by: str = ""
    # The lowest value the template's parameter allows, when it is above `low` (local runs go lower).
    deploy_low: float | None = None
    # "both", "poll" or "event": which functions the template gives it to.
    functions: str = "both"

    @property
    def kind(self) -> str:
        if self.choices:
            return "choice"
        if isinstance(self.default, bool):
            return "flag"
        if isinstance(self.default, int):
            return "integer"
        if isinstance(self.default, float):
            return "number"
        return "text"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "GENESYS_ENVIRONMENT",
        "genesys_environment",
        "mypurecloud.com",
        "your org's region domain, e.g. `mypurecloud.ie`, `euw2.pure.cloud` (the part after `login.`)",
        parameter="GenesysEnvironment",
    ),
    Setting(
        "GENESYS_API_URL",
        "api_url",
        "",
        "a full base URL overriding `https://api.<environment>` (the simulator, `sam local invoke`); empty in AWS",
        set_by="local runs only",
    ),
    Setting(
        "GENESYS_LOGIN_URL",
        "login_url",
        "",
        "a full base URL overriding `https://login.<environment>`; empty in AWS",
        set_by="local runs only",
    ),
    Setting(
        "GENESYS_CREDENTIALS_SECRET",
        "credentials_secret",
        None,
        'Secrets Manager id of `{"client_id": "...", "client_secret": "..."}`',
        set_by="the stack (`GenesysCredentialsSecret`)",
    ),
    Setting(
        "GENESYS_TOKEN_SECRET",
        "token_secret",
        None,
        'Secrets Manager id where the access token is cached: `{"access_token": "...", "expires_at": <epoch s>}`',
        set_by="the stack (`GenesysTokenSecret`)",
    ),
    Setting(
        "STATE_TABLE",
        "state_table",
        None,
        "DynamoDB table: watermark, lease, per-leg ledger (`pk` string, TTL `expires_at`)",
        set_by="the stack (`StateTable`)",
    ),
    Setting(
        "SKILL_MATRIX_BUCKET",
        "matrix_bucket",
        None,
        "the S3 bucket of the skill matrix",
        set_by="the stack (`SkillMatrixBucket`)",
    ),
    Setting(
        "SKILL_MATRIX_KEY",
        "matrix_key",
        "skill_matrix.yaml",
        "the matrix's key in the bucket",
        parameter="SkillMatrixKey",
    ),
    Setting(
        "NOTIFY_CHANNEL",
        "notify_channel",
        "none",
        "supervisor emails: `none`, `ses` or `genesys` (agentless email); `ses` and `genesys` need `NOTIFY_FROM`",
        choices=NOTIFY_CHANNELS,
        parameter="NotifyChannel",
    ),
    Setting(
        "NOTIFY_FROM",
        "notify_from",
        "",
        "sender address (an SES verified identity, or a Genesys agentless sender)",
        parameter="NotifyFrom",
    ),
    Setting(
        "DRY_RUN",
        "dry_run",
        False,
        "`true`: decide and record (under `dryrun#` ledger keys), change nothing in Genesys, send nothing",
        parameter="DryRun",
    ),
    Setting(
        "INTENT_ATTRIBUTE",
        "intent_attribute",
        "intent",
        "the participant attribute holding the caller's intent",
        parameter="IntentAttribute",
    ),
    Setting(
        "POLL_INTERVAL_SECONDS",
        "poll_interval_seconds",
        30,
        "seconds between polls within the one-minute invocation; a poll starts only with 2 s of the invocation "
        "left (local runs may go down to 1)",
        1,
        60,
        parameter="PollIntervalSeconds",
        deploy_low=10,
        functions="poll",
    ),
    Setting(
        "MAX_WAIT_SECONDS",
        "max_wait_seconds",
        DEFAULT_MAX_WAIT_SECONDS,
        "the latest an escalation step may fall due; a matrix with a later step is rejected; at most `LEDGER_TTL_DAYS`",
        60,
        365 * 86400,
        parameter="MaxWaitSeconds",
    ),
    Setting(
        "DISCOVERY_LOOKBACK_DAYS",
        "discovery_lookback_days",
        1,
        "whole UTC days before today that discovery covers: a caller waiting since before midnight is found "
        "(the details query allows 31 days with a filter); a matrix step later than this many days is refused",
        0,
        30,
        parameter="DiscoveryLookbackDays",
    ),
    Setting(
        "DISCOVERY_BUDGET_SHARE",
        "discovery_budget_share",
        0.10,
        "at most this share of the rate budget goes to discovery's query pages in any 60 s; a longer list "
        "is read over several polls, oldest caller first",
        0.01,
        0.5,
        parameter="DiscoveryBudgetShare",
    ),
    Setting(
        "INTENT_RECHECK_SECONDS",
        "intent_recheck_seconds",
        30,
        "a queued caller without an intent is read again after this, doubling up to ten times it",
        0,
        300,
        parameter="IntentRecheckSeconds",
    ),
    Setting(
        "MAX_PENDING_AGE_SECONDS",
        "max_pending_age_seconds",
        3600,
        "how long after entering the queue a caller without an intent is still read again (then `no_intent`); "
        "at least `INTENT_RECHECK_SECONDS`",
        60,
        86400,
        parameter="MaxPendingAgeSeconds",
    ),
    Setting(
        "GENESYS_CONNECT_TIMEOUT_SECONDS",
        "http_connect_timeout",
        3.0,
        "per-request connect timeout; a request is also bounded by the invocation's deadline",
        0.1,
        30,
        parameter="GenesysConnectTimeoutSeconds",
    ),
    Setting(
        "GENESYS_READ_TIMEOUT_SECONDS",
        "http_read_timeout",
        10.0,
        "per-request read timeout; a request is also bounded by the invocation's deadline",
        0.1,
        60,
        parameter="GenesysReadTimeoutSeconds",
    ),
    Setting(
        "SAFETY_MARGIN_SECONDS",
        "safety_margin_seconds",
        5.0,
        "work stops, and no wait or retry starts, unless this much of the invocation would be left; a margin "
        "that leaves a function no time, or cancels a poll `POLL_INTERVAL_SECONDS` promises, is refused",
        0,
        60,
        parameter="SafetyMarginSeconds",
    ),
    Setting(
        "MAX_ATTEMPTS",
        "max_attempts",
        5,
        "tries per Genesys call, and polls a transiently failing caller is tried on before it is `failed`",
        1,
        100,
        parameter="MaxAttempts",
    ),
    Setting(
        "LEDGER_TTL_DAYS",
        "ledger_ttl_days",
        7,
        "how long decisions stay in the ledger and the audit trail; must outlast `MAX_PENDING_AGE_SECONDS` by 1 h",
        1,
        365,
        parameter="LedgerTtlDays",
    ),
    Setting(
        "GENESYS_REQUESTS_PER_MINUTE",
        "requests_per_minute",
        300,
        "the rate budget of one container: the token's whole limit (containers pace each other from the count "
        "Genesys reports); raise it only when Genesys raised your org's limit",
        10,
        100_000,
        parameter="GenesysRequestsPerMinute",
    ),
    Setting(
        "GENESYS_RATE_HEADROOM",
        "rate_headroom",
        0.05,
        "the share of the rate budget kept free",
        0.0,
        0.5,
        parameter="GenesysRateHeadroom",
    ),
    Setting(
        "GENESYS_CONCURRENCY",
        "concurrency",
        4,
        "callers handled at once",
        1,
        16,
        parameter="GenesysConcurrency",
    ),
    Setting(
        "STAFFING_GUARD",
        "staffing_guard",
        "on",
        "`on`: before a PATCH adds a skill or sets a language, check that someone on queue can serve the caller "
        '(queue members, README "Staffing guard"); `off`: apply rules as written',
        choices=("on", "off"),
        parameter="StaffingGuard",
    ),
    Setting(
        "STAFFING_CACHE_SECONDS",
        "staffing_cache_seconds",
        60,
        "a queue's members (who is on queue, with which skills) are read at most once per this many seconds per "
        "container; at most 20% of the rate budget a minute, never its last 25%",
        10,
        3600,
        parameter="StaffingCacheSeconds",
    ),
    Setting(
        "UNSTAFFED_RELAX_SECONDS",
        "unstaffed_relax_seconds",
        60,
        "a requirement skill-router added is removed only after nobody on queue could serve it for this long",
        0,
        3600,
        parameter="UnstaffedRelaxSeconds",
    ),
    Setting(
        "NO_EXPRESSION_QUEUES",
        "no_expression_queues",
        "",
        "comma-separated ids of queues that do not evaluate skill expressions: there a rule's `require:`/"
        "`expression:` is applied as its skills and language, without proficiency (the API does not say which)",
        parameter="NoExpressionQueues",
    ),
    Setting(
        "EVENT_MODE",
        "event_mode",
        False,
        "event mode is on: the poller reports what it `reconciled` and claims each caller",
        set_by="the stack (`true` when `GenesysEventSourceName` is given)",
    ),
    Setting(
        "GENESYS_EVENT_SOURCE",
        "event_source",
        "",
        "the one partner event source whose events are acted on; an event function without it fails every "
        "invocation saying so",
        parameter="GenesysEventSourceName",
        functions="event",
    ),
    Setting(
        "GENESYS_ORG_ID",
        "org_id",
        "",
        "the org whose events are acted on; a source naming another org is a configuration error",
        parameter="GenesysOrganizationId",
        functions="event",
    ),
)
BY_ENV = {s.env: s for s in SETTINGS}

# Read by no code any more: refused by name, so a stale setting is removed instead of trusted.
DISCOVERY_NOW = "discovery asks for every caller waiting now, whenever they arrived (docs/design.md, Discovery)"
RETIRED = {
    "POLLS_PER_INVOCATION": "set POLL_INTERVAL_SECONDS (1 poll a minute: 60; 2: 30)",
    "SECONDS_BETWEEN_POLLS": "set POLL_INTERVAL_SECONDS",
    "SETTLE_LAG_SECONDS": f"remove it: {DISCOVERY_NOW}",
    "WINDOW_OVERLAP_SECONDS": f"remove it: {DISCOVERY_NOW}",
    "FIRST_RUN_LOOKBACK_SECONDS": f"remove it: {DISCOVERY_NOW}",
    "MAX_WINDOW_SECONDS": f"remove it: {DISCOVERY_NOW}",
}


@dataclass(frozen=True)
class Settings:
    genesys_environment: str
    api_url: str
    login_url: str
    credentials_secret: str
    token_secret: str
    state_table: str
    matrix_bucket: str
    matrix_key: str
    notify_channel: str
    notify_from: str
    dry_run: bool
    intent_attribute: str
    poll_interval_seconds: int
    max_wait_seconds: int
    discovery_lookback_days: int
    discovery_budget_share: float
    intent_recheck_seconds: int
    max_pending_age_seconds: int
    http_connect_timeout: float
    http_read_timeout: float
    safety_margin_seconds: float
    max_attempts: int
    ledger_ttl_days: int
    requests_per_minute: int
    rate_headroom: float
    concurrency: int
    staffing_guard: str
    staffing_cache_seconds: int
    unstaffed_relax_seconds: int
    no_expression_queues: str
    event_mode: bool
    event_source: str
    org_id: str

    @property
    def no_expression_queue_ids(self) -> frozenset[str]:
        """The queues named in NO_EXPRESSION_QUEUES (lower case): rules' requirements apply without proficiency."""
        return queue_ids(self.no_expression_queues)


def _read(setting: Setting, env: Mapping[str, str], problems: list[str]) -> Any:
    """One setting's value, or its default with a problem added."""
    name, default = setting.env, setting.default
    raw = env.get(name, "").strip()
    if not raw:
        if default is None:
            problems.append(f"{name} is not set")
            return ""
        if name in env and isinstance(default, str) and default:
            # Set, but to nothing (a blank template parameter): not the default silently.
            problems.append(f"{name} is set but empty; give {setting.meaning.split(',')[0]} (default {default!r})")
        return default
    kind = setting.kind
    if kind == "text":
        return raw
    if kind == "choice":
        value = raw.lower()
        if value not in setting.choices:
            problems.append(f"{name}={value!r} is not one of {', '.join(setting.choices)}")
            return default
        return value
    if kind == "flag":
        value = raw.lower()
        if value in ("true", "1", "yes"):
            return True
        if value in ("false", "0", "no"):
            return False
        problems.append(f"{name}={value!r} is not true or false")
        return default
    try:
        number = float(raw)
    except ValueError:
        problems.append(f"{name}={raw!r} is not a number")
        return default
    low = setting.low if setting.low is not None else float("-inf")
    high = setting.high if setting.high is not None else float("inf")
    if not low <= number <= high:  # NaN too: it compares false with everything
        problems.append(f"{name}={raw} is outside {setting.low:g}..{setting.high:g}")
        return default
    if kind == "integer":
        if not number.is_integer():  # 2.5 attempts, 1.9 days: never truncated into another value
            problems.append(f"{name}={raw} is not a whole number; give one within {setting.low:g}..{setting.high:g}")
            return default
        return int(number)
    return number


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse the environment; raise ConfigurationError listing every problem."""
    env = os.environ if env is None else env
    problems: list[str] = []
    values = {s.field: _read(s, env, problems) for s in SETTINGS}
    environment = values["genesys_environment"] = values["genesys_environment"].lower()
    if environment not in GENESYS_ENVIRONMENTS and not values["api_url"]:
        problems.append(
            f"GENESYS_ENVIRONMENT={environment!r} is not a Genesys Cloud region; "
            f"use one of {', '.join(GENESYS_ENVIRONMENTS)} (or set GENESYS_API_URL and GENESYS_LOGIN_URL)"
        )
    values["api_url"] = (values["api_url"] or f"https://api.{environment}").rstrip("/")
    values["login_url"] = (values["login_url"] or f"https://login.{environment}").rstrip("/")
    values["org_id"] = values["org_id"].lower()
    _check_queues(values["no_expression_queues"], problems)
    if values["notify_channel"] != "none" and not values["notify_from"]:
        problems.append(f"NOTIFY_FROM is not set, but NOTIFY_CHANNEL={values['notify_channel']} needs a sender")
    settings = Settings(**values)
    _check_event_source(settings, problems)
    _check_discovery_share(settings, problems)
    for retired, instead in RETIRED.items():
        if env.get(retired, "").strip():
            problems.append(f"{retired} is no longer read; {instead}")
    if not problems and settings.max_wait_seconds > settings.ledger_ttl_days * 86400:
        problems.append(
            f"MAX_WAIT_SECONDS={settings.max_wait_seconds} outlives the ledger (LEDGER_TTL_DAYS="
            f"{settings.ledger_ttl_days}): a step could fire twice once the leg's record expired"
        )
    # A caller is served only while younger than the ledger's TTL minus a slack, so the entry
    # that says "done" is still there when a later poll or event sees the caller again.
    served_for = settings.ledger_ttl_days * 86400 - LEDGER_TTL_SLACK_SECONDS
    if not problems and served_for < settings.max_pending_age_seconds:
        problems.append(
            f"LEDGER_TTL_DAYS={settings.ledger_ttl_days} is too short for MAX_PENDING_AGE_SECONDS="
            f"{settings.max_pending_age_seconds}: the ledger must remember a caller for longer than it "
            "may be served; raise LEDGER_TTL_DAYS or lower MAX_PENDING_AGE_SECONDS"
        )
    if not problems:
        _check_meaning(settings, problems)
    if problems:
        raise ConfigurationError("configuration problem(s): " + "; ".join(problems))
    return settings


def _check_meaning(settings: Settings, problems: list[str]) -> None:
    """Values each within its range that together would silently do nothing: a margin that leaves
    a function no time to work or cancels a poll the interval promises, or a pending age that ends
    before the first re-read."""
    margin = settings.safety_margin_seconds
    shown_margin = f"SAFETY_MARGIN_SECONDS={margin:g}"
    # A poll starts only while the timeout less the margin leaves it MIN_POLL_SECONDS.
    works_until = POLL_FUNCTION_TIMEOUT_SECONDS - margin - MIN_POLL_SECONDS
    if works_until <= 0:
        problems.append(
            f"{shown_margin} leaves no poll any time: the poll function's {POLL_FUNCTION_TIMEOUT_SECONDS} s timeout "
            f"less the margin is under the {MIN_POLL_SECONDS:g} s a poll needs, so every run would do nothing; "
            f"keep it below {POLL_FUNCTION_TIMEOUT_SECONDS - MIN_POLL_SECONDS:g} (default 5)"
        )
    else:
        # The polls the interval promises (at 0, I, 2I... s of each minute) that only the margin
        # cancels; those past the timeout's own reach (56 s) are the interval's to explain.
        interval = settings.poll_interval_seconds
        reach = POLL_FUNCTION_TIMEOUT_SECONDS - MIN_POLL_SECONDS
        cancelled = [s for s in range(0, 60, interval) if works_until <= s < reach]
        if cancelled:
            problems.append(
                f"{shown_margin} cancels the poll at {cancelled[0]} s of every minute that POLL_INTERVAL_SECONDS="
                f"{interval} promises (the {POLL_FUNCTION_TIMEOUT_SECONDS} s timeout less the margin leaves it under "
                f"{MIN_POLL_SECONDS:g} s), so callers would wait longer than the interval between polls; "
                f"keep the margin below {POLL_FUNCTION_TIMEOUT_SECONDS - MIN_POLL_SECONDS - cancelled[0]:g}"
            )
    if (settings.event_mode or settings.event_source) and margin >= EVENT_FUNCTION_TIMEOUT_SECONDS:
        problems.append(
            f"{shown_margin} is as long as the event function's {EVENT_FUNCTION_TIMEOUT_SECONDS} s timeout: every "
            f"event would be left to the poller; keep it below {EVENT_FUNCTION_TIMEOUT_SECONDS} (default 5)"
        )
    if settings.max_pending_age_seconds < settings.intent_recheck_seconds:
        problems.append(
            f"MAX_PENDING_AGE_SECONDS={settings.max_pending_age_seconds} ends before the first re-read "
            f"(INTENT_RECHECK_SECONDS={settings.intent_recheck_seconds}): a caller without an intent would never "
            "be read again; raise MAX_PENDING_AGE_SECONDS or lower INTENT_RECHECK_SECONDS"
        )


def changed_from_default(env: Mapping[str, str]) -> list[str]:
    """`NAME=value (default D)` for each setting the environment sets to other than its default:
    what `skill-router doctor` shows under its settings line."""
    lines = []
    for setting in SETTINGS:
        raw = env.get(setting.env, "").strip()
        if raw and setting.default is not None and _read(setting, {setting.env: raw}, []) != setting.default:
            lines.append(f"{setting.env}={raw} (default {show(setting.default)})")
    return lines


def show(value: str | int | float | bool | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "":
        return "empty"
    return "required" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def markdown_table() -> str:
    """The README's settings table (scripts/settings_table.py writes it between its markers)."""
    rows = [
        "| variable | template parameter | default | range | meaning |",
        "|---|---|---|---|---|",
    ]
    for s in SETTINGS:
        low = s.deploy_low if s.deploy_low is not None else s.low
        bounds = f"{show(low)}\u2013{show(s.high)}" if s.low is not None and s.high is not None else ""
        if s.choices:
            bounds = ", ".join(f"`{c}`" for c in s.choices)
        who = f"`{s.parameter}`" if s.parameter else s.set_by
        if s.functions != "both":
            who += f" ({s.functions} function only)"
        default = show(s.default)
        default = default if default in ("required", "empty") else f"`{default}`"
        rows.append(f"| `{s.env}` | {who} | {default} | {bounds} | {s.meaning} |")
    return "\n".join(rows) + "\n"


def discovery_pages_per_minute(requests_per_minute: int, headroom: float, share: float) -> int:
    """The analytics query pages discovery may read in any 60 s (docs/design.md, "Bounded discovery")."""
    return math.floor(math.floor(requests_per_minute * (1.0 - headroom)) * share)


def _check_discovery_share(settings: Settings, problems: list[str]) -> None:
    """The sweep's bound (README, "Discovery and the watermark") needs at least one query page a
    minute: a share that rounds to none could only be met by spending more than it allows."""
    rpm, headroom, share = settings.requests_per_minute, settings.rate_headroom, settings.discovery_budget_share
    if discovery_pages_per_minute(rpm, headroom, share) < 1:
        problems.append(
            f"DISCOVERY_BUDGET_SHARE={share:g} of GENESYS_REQUESTS_PER_MINUTE={rpm} (GENESYS_RATE_HEADROOM="
            f"{headroom:g}) leaves discovery no query page a minute, so waiting callers could never all be "
            f"reached; raise the share to at least {math.ceil(100 / math.floor(rpm * (1.0 - headroom))) / 100:g}"
        )


def queue_ids(text: str) -> frozenset[str]:
    """NO_EXPRESSION_QUEUES' queue ids, lower case (blanks between commas ignored)."""
    return frozenset(part.strip().lower() for part in text.split(",") if part.strip())


def _check_queues(text: str, problems: list[str]) -> None:
    wrong = sorted(q for q in {p.strip() for p in text.split(",")} if q and not is_genesys_id(q))
    if wrong:
        problems.append(
            f"NO_EXPRESSION_QUEUES names {', '.join(repr(q) for q in wrong)}: give queue ids (UUIDs), comma-separated"
        )


def _check_event_source(settings: Settings, problems: list[str]) -> None:
    """GENESYS_EVENT_SOURCE is aws.partner/genesys.com/cloud/<org id>/<name>; GENESYS_ORG_ID, when
    set, must be that org (a source name copied from another org's setup is caught at deploy)."""
    if settings.org_id and not is_genesys_id(settings.org_id):
        problems.append(f"GENESYS_ORG_ID={settings.org_id!r} is not a Genesys org id (a UUID)")
        return
    if not settings.event_source:
        return
    org = event_source_org(settings.event_source)
    if org is None:
        problems.append(
            f"GENESYS_EVENT_SOURCE={settings.event_source!r} is not a Genesys partner event source name "
            "(aws.partner/genesys.com/cloud/<org id>/<name>)"
        )
    elif settings.org_id and org != settings.org_id:
        problems.append(
            f"GENESYS_EVENT_SOURCE names org {org}, but GENESYS_ORG_ID is {settings.org_id}: "
            "use the event source of your own org's EventBridge integration"
        )
