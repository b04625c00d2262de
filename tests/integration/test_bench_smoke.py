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
