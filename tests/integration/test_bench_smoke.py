"""A smoke run of one `make bench` scenario: the bench still drives the product through its handler
at the template's defaults, on its virtual clock, and counts from the simulator's log (a few seconds)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from skill_router import runtime


@pytest.fixture
def bench() -> Iterator[Any]:
    """scripts/bench.py; the environment and the container's runtime it sets are undone afterwards."""
    saved = dict(os.environ)
    import scripts.bench as module

    yield module
    runtime.use(None)
    os.environ.clear()
    os.environ.update(saved)


def test_an_idle_invocation_at_the_template_defaults_polls_twice_and_costs_one_query_a_poll(
    bench: Any, moto_endpoint: str
) -> None:
    figures = bench.idle_invocation(moto_endpoint, speed=60.0)
    assert figures["polls"] == 2  # a poll every 30 s (PollIntervalSeconds' default) in a 58 s invocation
    assert figures["genesys_calls"] == figures["polls"]  # one query page a poll, counted by the simulator
    assert 0 < figures["aws_calls"] <= 1 + 2 * figures["polls"]  # counted by botocore's events
    assert figures["wall"] > 0


def test_staffing_reads_cost_at_most_one_page_per_queue_per_cache_period(bench: Any, moto_endpoint: str) -> None:
    """Issue 20's bench figure, small: callers waiting in several queues, each poll asking the
    staffing cache for every waiting caller's queue; members pages counted from the simulator's log."""
    figures = bench.staffing_calls(moto_endpoint, speed=60.0, queues=4, callers=80, minutes=3)
    # The staffing guard reads staffing itself (guard-20): the bench's StaffingDriver stands aside.
    assert figures["guard_reads"] or figures["gets"] >= 80 * 3  # every waiting caller's queue, every poll
    assert figures["pages"] > 0 and figures["busiest_queue_minute"] <= 1
    assert figures["pages_per_queue_minute"] <= 60 / figures["cache_seconds"] + 0.01
    assert figures["min_gap"] >= figures["cache_seconds"]
