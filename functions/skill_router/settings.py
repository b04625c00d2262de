"""The environment, parsed once into one typed, validated settings object.

Names are the interface contract in DESIGN.md; template.yaml sets them. Every problem is
reported at once so a misconfigured deployment is fixed in one go.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from skill_router.errors import ConfigurationError
from skill_router.ids import event_source_org, is_genesys_id
from skill_router.matrix import DEFAULT_MAX_WAIT_SECONDS

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
NOTIFY_CHANNELS = ("ses", "genesys", "none")
# DynamoDB's TTL never deletes before `expires_at`; callers are served until the TTL minus this.
LEDGER_TTL_SLACK_SECONDS = 3600


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
    # Seconds between polls within the one-minute invocation (template PollIntervalSeconds, 10-60).
    poll_interval_seconds: int = 30
    # The latest an escalation step may fall due; a matrix step beyond it is rejected.
    max_wait_seconds: int = DEFAULT_MAX_WAIT_SECONDS
    # Window figures, in seconds (see README "Windows and the watermark").
    overlap_seconds: int = 900
    settle_seconds: int = 10
    first_run_lookback_seconds: int = 900
    max_window_seconds: int = 3600
    max_pending_age_seconds: int = 3600
    # Discovery reaches back over this many whole UTC days before today (docs/design.md "Discovery").
    discovery_lookback_days: int = 1
    # A caller queued without an intent is read again after this, doubling up to ten times it.
    intent_recheck_seconds: int = 30
    # Per-call and per-invocation limits.
    http_connect_timeout: float = 3.0
    http_read_timeout: float = 10.0
    safety_margin_seconds: float = 5.0
    max_attempts: int = 5
    ledger_ttl_days: int = 7
    requests_per_minute: int = 300
    rate_headroom: float = 0.05
    concurrency: int = 4
    event_mode: bool = False
    # Event mode: the one partner event source, and the org, whose events are acted on.
    event_source: str = ""
    org_id: str = ""


class _Reader:
    """Collects every problem instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str, default: str | None = None) -> str:
        value = self.env.get(name, "").strip()
        if value:
            return value
        if default is None:
            self.problems.append(f"{name} is not set")
            return ""
        return default

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(name, default).lower()
        if value not in choices:
            self.problems.append(f"{name}={value!r} is not one of {', '.join(choices)}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.text(name, "true" if default else "false").lower()
        if value in ("true", "1", "yes"):
            return True
        if value in ("false", "0", "no"):
            return False
        self.problems.append(f"{name}={value!r} is not true or false")
        return default

    def number(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.text(name, str(default))
        try:
            value = float(raw)
        except ValueError:
            self.problems.append(f"{name}={raw!r} is not a number")
            return default
        if not low <= value <= high:
            self.problems.append(f"{name}={raw} is outside {low:g}..{high:g}")
            return default
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        return int(self.number(name, default, low, high))


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse the environment; raise ConfigurationError listing every problem."""
    r = _Reader(os.environ if env is None else env)
    environment = r.text("GENESYS_ENVIRONMENT", "mypurecloud.com").lower()
    api_override = r.text("GENESYS_API_URL", "-")
    login_override = r.text("GENESYS_LOGIN_URL", "-")
    if environment not in GENESYS_ENVIRONMENTS and api_override == "-":
        r.problems.append(
            f"GENESYS_ENVIRONMENT={environment!r} is not a Genesys Cloud region; "
            f"use one of {', '.join(GENESYS_ENVIRONMENTS)} (or set GENESYS_API_URL and GENESYS_LOGIN_URL)"
        )
    notify_channel = r.choice("NOTIFY_CHANNEL", NOTIFY_CHANNELS, "ses")
    notify_from = r.text("NOTIFY_FROM", "")
    if notify_channel != "none" and not notify_from:
        r.problems.append(f"NOTIFY_FROM is not set, but NOTIFY_CHANNEL={notify_channel} needs a sender")
    settle = r.integer("SETTLE_LAG_SECONDS", 10, 0, 600)
    settings = Settings(
        genesys_environment=environment,
        api_url=(api_override if api_override != "-" else f"https://api.{environment}").rstrip("/"),
        login_url=(login_override if login_override != "-" else f"https://login.{environment}").rstrip("/"),
        credentials_secret=r.text("GENESYS_CREDENTIALS_SECRET"),
        token_secret=r.text("GENESYS_TOKEN_SECRET"),
        state_table=r.text("STATE_TABLE"),
        matrix_bucket=r.text("SKILL_MATRIX_BUCKET"),
        matrix_key=r.text("SKILL_MATRIX_KEY", "skill_matrix.yaml"),
        notify_channel=notify_channel,
        notify_from=notify_from,
        dry_run=r.flag("DRY_RUN", False),
        intent_attribute=r.text("INTENT_ATTRIBUTE", "intent"),
        # The template allows 10-60; shorter intervals are for local runs on a fast clock.
        poll_interval_seconds=r.integer("POLL_INTERVAL_SECONDS", 30, 1, 60),
        max_wait_seconds=r.integer("MAX_WAIT_SECONDS", DEFAULT_MAX_WAIT_SECONDS, 60, 365 * 86400),
        overlap_seconds=r.integer("WINDOW_OVERLAP_SECONDS", 900, 0, 86400),
        settle_seconds=settle,
        first_run_lookback_seconds=r.integer("FIRST_RUN_LOOKBACK_SECONDS", 900, 60, 86400),
        max_window_seconds=r.integer("MAX_WINDOW_SECONDS", 7200, 60, 86400),
        max_pending_age_seconds=r.integer("MAX_PENDING_AGE_SECONDS", 3600, 60, 86400),
        # The details query allows 31 days with a filter: today plus at most 30 before it.
        discovery_lookback_days=r.integer("DISCOVERY_LOOKBACK_DAYS", 1, 0, 30),
        intent_recheck_seconds=r.integer("INTENT_RECHECK_SECONDS", 30, 0, 300),
        http_connect_timeout=r.number("GENESYS_CONNECT_TIMEOUT_SECONDS", 3.0, 0.1, 30),
        http_read_timeout=r.number("GENESYS_READ_TIMEOUT_SECONDS", 10.0, 0.1, 60),
        safety_margin_seconds=r.number("SAFETY_MARGIN_SECONDS", 5.0, 0, 60),
        max_attempts=r.integer("MAX_ATTEMPTS", 5, 1, 100),
        ledger_ttl_days=r.integer("LEDGER_TTL_DAYS", 7, 1, 365),
        requests_per_minute=r.integer("GENESYS_REQUESTS_PER_MINUTE", 300, 10, 100_000),
        rate_headroom=r.number("GENESYS_RATE_HEADROOM", 0.05, 0.0, 0.5),
        concurrency=r.integer("GENESYS_CONCURRENCY", 4, 1, 16),
        event_mode=r.flag("EVENT_MODE", False),
        event_source=r.text("GENESYS_EVENT_SOURCE", ""),
        org_id=r.text("GENESYS_ORG_ID", "").lower(),
    )
    _check_event_source(settings, r.problems)
    for retired, instead in (
        ("POLLS_PER_INVOCATION", "POLL_INTERVAL_SECONDS (1 poll a minute: 60; 2: 30)"),
        ("SECONDS_BETWEEN_POLLS", "POLL_INTERVAL_SECONDS"),
    ):
        if r.env.get(retired, "").strip():
            r.problems.append(f"{retired} is no longer read; set {instead}")
    if not r.problems and settings.max_wait_seconds > settings.ledger_ttl_days * 86400:
        r.problems.append(
            f"MAX_WAIT_SECONDS={settings.max_wait_seconds} outlives the ledger (LEDGER_TTL_DAYS="
            f"{settings.ledger_ttl_days}): a step could fire twice once the leg's record expired"
        )
    # WINDOW_OVERLAP_SECONDS, FIRST_RUN_LOOKBACK_SECONDS and MAX_WINDOW_SECONDS no longer bound
    # discovery (docs/design.md "Discovery"): only their ranges are checked, never against
    # MAX_PENDING_AGE_SECONDS, which callbacks waiting for hours need raised.
    # A caller is served only while younger than the ledger's TTL minus a slack (assign.py), so
    # the entry that says "done" is still there when a later poll or event sees the caller again.
    served_for = settings.ledger_ttl_days * 86400 - LEDGER_TTL_SLACK_SECONDS
    if not r.problems and served_for < settings.max_pending_age_seconds:
        r.problems.append(
            f"LEDGER_TTL_DAYS={settings.ledger_ttl_days} is too short for MAX_PENDING_AGE_SECONDS="
            f"{settings.max_pending_age_seconds}: the ledger must remember a caller for longer than it "
            "may be served; raise LEDGER_TTL_DAYS or lower MAX_PENDING_AGE_SECONDS"
        )
    if r.problems:
        raise ConfigurationError("configuration problem(s): " + "; ".join(r.problems))
    return settings


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
