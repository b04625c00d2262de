import pytest

from skill_router.errors import ConfigurationError
from skill_router.settings import GENESYS_ENVIRONMENTS, load_settings

BASE = {
    "GENESYS_CREDENTIALS_SECRET": "creds",
    "GENESYS_TOKEN_SECRET": "token",
    "STATE_TABLE": "state",
    "SKILL_MATRIX_BUCKET": "bucket",
    "NOTIFY_FROM": "router@example.com",
}


def test_defaults_follow_the_contract():
    settings = load_settings(BASE)
    assert settings.api_url == "https://api.mypurecloud.com"
    assert settings.login_url == "https://login.mypurecloud.com"
    assert settings.matrix_key == "skill_matrix.yaml"
    assert settings.intent_attribute == "intent"
    # One truth with template.yaml's NotifyChannel: a deployment with defaults needs no sender.
    assert settings.notify_channel == "none" and not settings.dry_run


def test_region_domain_gives_both_hosts():
    settings = load_settings({**BASE, "GENESYS_ENVIRONMENT": "euw2.pure.cloud"})
    assert (settings.api_url, settings.login_url) == ("https://api.euw2.pure.cloud", "https://login.euw2.pure.cloud")


def test_unknown_environment_is_named_with_the_valid_ones():
    with pytest.raises(ConfigurationError) as caught:
        load_settings({**BASE, "GENESYS_ENVIRONMENT": "mypurecloud.con"})
    assert "GENESYS_ENVIRONMENT='mypurecloud.con' is not a Genesys Cloud region" in str(caught.value)
    assert "mypurecloud.ie" in str(caught.value)


def test_url_overrides_allow_a_local_simulator():
    settings = load_settings(
        {
            **BASE,
            "GENESYS_ENVIRONMENT": "local",
            "GENESYS_API_URL": "http://127.0.0.1:9/",
            "GENESYS_LOGIN_URL": "http://127.0.0.1:9",
        }
    )
    assert settings.api_url == settings.login_url == "http://127.0.0.1:9"


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"DRY_RUN": "maybe", "POLL_INTERVAL_SECONDS": "90", "NOTIFY_CHANNEL": "sms"})
    message = str(caught.value)
    for expected in ("STATE_TABLE is not set", "DRY_RUN='maybe'", "POLL_INTERVAL_SECONDS=90", "NOTIFY_CHANNEL='sms'"):
        assert expected in message


def test_known_environments_match_the_sdk_region_hosts():
    from PureCloudPlatformClientV2 import PureCloudRegionHosts

    sdk_domains = {host.value.removeprefix("https://api.") for host in PureCloudRegionHosts}
    assert sdk_domains == set(GENESYS_ENVIRONMENTS)


@pytest.mark.parametrize(
    "name", ["SETTLE_LAG_SECONDS", "WINDOW_OVERLAP_SECONDS", "FIRST_RUN_LOOKBACK_SECONDS", "MAX_WINDOW_SECONDS"]
)
def test_the_retired_discovery_settings_are_refused_by_name(name: str):
    """They bounded the old window and do nothing since discovery asks for everyone waiting now:
    a deployment that still sets one is told so at cold start, in one line, like POLLS_PER_INVOCATION."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings({**BASE, name: "600"})
    assert f"{name} is no longer read; remove it: discovery asks for every caller waiting now" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_staffing_settings_default_to_the_contract_and_are_bounded():
    settings = load_settings(BASE)
    staffing = (settings.staffing_cache_seconds, settings.unstaffed_relax_seconds, settings.staffing_guard)
    assert staffing == (60, 60, "on")
    off = load_settings({**BASE, "STAFFING_GUARD": "OFF", "STAFFING_CACHE_SECONDS": "300"})
    assert off.staffing_guard == "off" and off.staffing_cache_seconds == 300
    with pytest.raises(ConfigurationError) as refused:
        bad = {"STAFFING_GUARD": "maybe", "STAFFING_CACHE_SECONDS": "1", "UNSTAFFED_RELAX_SECONDS": "-1"}
        load_settings({**BASE, **bad})
    assert all(name in str(refused.value) for name in ("STAFFING_GUARD", "STAFFING_CACHE_SECONDS", "UNSTAFFED_RELAX"))


def test_no_expression_queues_default_to_none_and_must_be_genesys_ids():
    assert load_settings(BASE).no_expression_queue_ids == frozenset()
    queues = "0F0E0D0C-0000-4000-8000-00000000000A,0f0e0d0c-0000-4000-8000-00000000000b"
    assert len(load_settings({**BASE, "NO_EXPRESSION_QUEUES": queues}).no_expression_queue_ids) == 2
    with pytest.raises(ConfigurationError) as refused:
        load_settings({**BASE, "NO_EXPRESSION_QUEUES": "0f0e0d0c-0000-4000-8000-00000000000a,Support"})
    assert "NO_EXPRESSION_QUEUES" in str(refused.value) and "'Support'" in str(refused.value)
