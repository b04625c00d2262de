"""Settings that would silently mean nothing (issue 19, class 10): each is refused at cold start
in one line that names the setting and what to do, instead of being truncated, defaulted or
obeyed into a run that does no work."""

from __future__ import annotations

import pytest

from skill_router.deadline import Deadline
from skill_router.errors import ConfigurationError
from skill_router.settings import SETTINGS, load_settings
from tests.unit.test_settings import BASE

INTEGERS = [s for s in SETTINGS if s.kind == "integer"]


def refused(env: dict[str, str], *words: str) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({**BASE, **env})
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize("setting", INTEGERS, ids=lambda s: s.env)
def test_a_fraction_of_a_whole_number_setting_is_refused_not_truncated(setting):
    value = f"{(setting.low or 0) + 1.5:g}"
    refused({setting.env: value}, f"{setting.env}={value} is not a whole number")


@pytest.mark.parametrize(("env", "value"), [("MAX_ATTEMPTS", "2.5"), ("LEDGER_TTL_DAYS", "1.9")])
def test_the_issues_fractions_are_refused(env: str, value: str):
    refused({env: value}, f"{env}={value} is not a whole number")


def test_a_whole_number_written_with_a_point_is_that_number():
    assert load_settings({**BASE, "MAX_ATTEMPTS": "3.0"}).max_attempts == 3


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
def test_a_number_that_is_no_number_is_refused(value: str):
    refused({"MAX_ATTEMPTS": value, "GENESYS_RATE_HEADROOM": value}, "MAX_ATTEMPTS=", "GENESYS_RATE_HEADROOM=")


@pytest.mark.parametrize("env", ["INTENT_ATTRIBUTE", "GENESYS_ENVIRONMENT", "SKILL_MATRIX_KEY"])
@pytest.mark.parametrize("blank", ["", "  "], ids=["empty", "spaces"])
def test_a_blank_value_is_refused_not_replaced_by_the_default(env: str, blank: str):
    refused({env: blank}, f"{env} is set but empty")


def test_an_unset_text_setting_still_takes_its_default():
    assert load_settings(BASE).intent_attribute == "intent"


@pytest.mark.parametrize("margin", ["56", "58", "60"])
def test_a_margin_that_leaves_the_poll_function_no_time_is_refused(margin: str):
    refused({"SAFETY_MARGIN_SECONDS": margin}, f"SAFETY_MARGIN_SECONDS={margin}", "58 s", "no poll")


def test_a_margin_as_long_as_the_event_functions_timeout_is_refused_in_event_mode():
    source = "aws.partner/genesys.com/cloud/3f9a2f3e-0000-4000-8000-000000000001/skill-router"
    refused(
        {"SAFETY_MARGIN_SECONDS": "30", "POLL_INTERVAL_SECONDS": "60", "GENESYS_EVENT_SOURCE": source},
        "SAFETY_MARGIN_SECONDS=30",
        "30 s",
        "event",
    )
    assert (
        load_settings({**BASE, "SAFETY_MARGIN_SECONDS": "30", "POLL_INTERVAL_SECONDS": "60"}).safety_margin_seconds
        == 30
    )


@pytest.mark.parametrize(
    ("interval", "margin", "cancelled"), [("10", "6", "50"), ("30", "26", "30"), ("15", "11", "45")]
)
def test_a_margin_that_cancels_a_poll_the_interval_promises_is_refused(interval: str, margin: str, cancelled: str):
    refused(
        {"POLL_INTERVAL_SECONDS": interval, "SAFETY_MARGIN_SECONDS": margin},
        f"SAFETY_MARGIN_SECONDS={margin}",
        f"the poll at {cancelled} s",
    )


@pytest.mark.parametrize(("interval", "margin"), [("10", "5"), ("30", "5"), ("30", "25"), ("60", "50"), ("1", "0.5")])
def test_margins_that_keep_every_poll_are_accepted(interval: str, margin: str):
    load_settings({**BASE, "POLL_INTERVAL_SECONDS": interval, "SAFETY_MARGIN_SECONDS": margin})


def test_a_pending_age_shorter_than_the_first_recheck_is_refused():
    refused(
        {"MAX_PENDING_AGE_SECONDS": "60", "INTENT_RECHECK_SECONDS": "300"},
        "MAX_PENDING_AGE_SECONDS=60",
        "INTENT_RECHECK_SECONDS=300",
    )
    load_settings({**BASE, "MAX_PENDING_AGE_SECONDS": "300", "INTENT_RECHECK_SECONDS": "300"})


class Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_an_invocation_the_margin_leaves_no_time_is_refused_in_one_line():
    """The timeout is known at run time from Lambda's context: a margin as long as it would make
    every run a silent no-op, whatever the template says."""
    with pytest.raises(ConfigurationError) as caught:
        Deadline.from_context(Context(20_000), 20.0)
    message = str(caught.value)
    assert "SAFETY_MARGIN_SECONDS=20" in message and "20.0 s" in message and "\n" not in message
    assert Deadline.from_context(Context(20_000), 5.0).remaining() == pytest.approx(15.0)


def test_the_timeouts_checked_are_the_templates_and_the_pollers_minimum():
    from scripts.local_aws import load_template
    from skill_router import poller, settings

    resources = load_template()["Resources"]
    assert resources["PollFunction"]["Properties"]["Timeout"] == settings.POLL_FUNCTION_TIMEOUT_SECONDS
    assert resources["EventFunction"]["Properties"]["Timeout"] == settings.EVENT_FUNCTION_TIMEOUT_SECONDS
    assert poller.MIN_POLL_SECONDS == settings.MIN_POLL_SECONDS
