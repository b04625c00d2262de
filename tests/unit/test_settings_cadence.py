"""POLL_INTERVAL_SECONDS and MAX_WAIT_SECONDS: the cadence and escalation settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from skill_router.errors import ConfigurationError
from skill_router.matrix import DEFAULT_MAX_WAIT_SECONDS
from skill_router.settings import load_settings
from tests.unit.test_settings import BASE

TEMPLATE = Path(__file__).parents[2] / "template.yaml"


def test_the_interval_defaults_to_the_templates_and_max_wait_to_a_day():
    settings = load_settings(BASE)
    assert settings.poll_interval_seconds == 30
    assert settings.max_wait_seconds == DEFAULT_MAX_WAIT_SECONDS == 86_400


def test_the_template_offers_10_to_60_seconds_and_passes_it_on():
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load(TEMPLATE.read_text(), Loader=Loader)  # noqa: S506 # nosec B506 (SafeLoader subclass)
    parameter = template["Parameters"]["PollIntervalSeconds"]
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (30, 10, 60)
    assert "PollsPerInvocation" not in template["Parameters"]
    variables = template["Resources"]["PollFunction"]["Properties"]["Environment"]["Variables"]
    assert "POLL_INTERVAL_SECONDS" in variables and "POLLS_PER_INVOCATION" not in variables


@pytest.mark.parametrize("retired", ["POLLS_PER_INVOCATION", "SECONDS_BETWEEN_POLLS"])
def test_a_retired_variable_says_what_replaces_it(retired: str):
    with pytest.raises(ConfigurationError, match=f"{retired} is no longer read; set POLL_INTERVAL_SECONDS"):
        load_settings({**BASE, retired: "2"})


def test_an_interval_beyond_a_minute_is_refused():
    with pytest.raises(ConfigurationError, match=r"POLL_INTERVAL_SECONDS=61 is outside 1\.\.60"):
        load_settings({**BASE, "POLL_INTERVAL_SECONDS": "61"})


def test_max_wait_cannot_outlive_the_ledger():
    with pytest.raises(ConfigurationError, match="MAX_WAIT_SECONDS=864000 outlives the ledger"):
        load_settings({**BASE, "MAX_WAIT_SECONDS": "864000", "LEDGER_TTL_DAYS": "7"})
    assert load_settings({**BASE, "MAX_WAIT_SECONDS": "864000", "LEDGER_TTL_DAYS": "30"}).max_wait_seconds == 864000
