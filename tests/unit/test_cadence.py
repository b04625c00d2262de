"""The invocation's cadence: a poll every POLL_INTERVAL_SECONDS while the next would still have
time to work, on a fake clock (the polls themselves are stand-ins: their cost is the test's)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from skill_router.deadline import Deadline
from skill_router.poller import MIN_POLL_SECONDS, Poller, PollReport, lease_seconds
from skill_router.settings import load_settings
from skill_router.store import SKEW_MARGIN_SECONDS
from skill_router.store.claims import holds, times

ENV = {
    "GENESYS_CREDENTIALS_SECRET": "c",
    "GENESYS_TOKEN_SECRET": "t",
    "STATE_TABLE": "s",
    "SKILL_MATRIX_BUCKET": "b",
    "NOTIFY_CHANNEL": "none",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


@dataclass
class Lease:
    window_end: datetime | None = None
    sweep: str | None = None


@dataclass
class FakeStore:
    released: list[str] = field(default_factory=list)

    def acquire_lease(self, owner: str, seconds: float) -> Lease:
        return Lease()

    def release_lease(self, owner: str) -> None:
        self.released.append(owner)


@dataclass
class FakeGenesys:
    stats: Counter[str] = field(default_factory=Counter)

    def begin(self, deadline: Deadline) -> None:
        pass


class TimedPoller(Poller):
    """Records when each poll starts; each poll takes `work` seconds of the fake clock."""

    def __init__(self, clock: Clock, interval: int, work: list[float]) -> None:
        settings = load_settings({**ENV, "POLL_INTERVAL_SECONDS": str(interval)})
        super().__init__(settings, FakeGenesys(), FakeStore(), None, None, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
        self.fake_clock = clock
        self.work = work
        self.starts: list[float] = []
        self.releases: list[bool] = []

    def poll(self, deadline: Deadline, owner: str, watermark: Any, release: bool = False) -> PollReport:
        self.starts.append(self.fake_clock.now)
        self.releases.append(release)
        self.fake_clock.now += self.work[min(len(self.starts) - 1, len(self.work) - 1)]
        return PollReport("a", "b", None, None, released=release)


def run(interval: int, timeout: float = 58, margin: float = 5, work: tuple[float, ...] = (0.5,)) -> TimedPoller:
    clock = Clock()
    began = clock.now
    poller = TimedPoller(clock, interval, list(work))
    deadline = Deadline(lambda: int((began + timeout - clock.now) * 1000), margin)
    poller.run_invocation(deadline, owner="run")
    poller.starts = [round(s - began, 3) for s in poller.starts]
    return poller


@pytest.mark.parametrize(
    ("interval", "starts"),
    [
        (10, [0, 10, 20, 30, 40, 50]),
        (15, [0, 15, 30, 45]),
        (20, [0, 20, 40]),
        (30, [0, 30]),
        (60, [0]),
    ],
)
def test_polls_run_at_the_interval_across_the_whole_minute(interval: int, starts: list[float]):
    poller = run(interval)
    assert poller.starts == starts
    assert poller.releases == [False] * (len(starts) - 1) + [True], "only the last poll frees the lease"


def test_no_poll_starts_without_min_poll_seconds_left():
    # The template's earlier 55 s timeout: the 50 s poll would have 0 s, so it is not started.
    assert run(10, timeout=55).starts == [0, 10, 20, 30, 40]
    assert MIN_POLL_SECONDS <= 58 - 5 - 50


def test_a_poll_that_overruns_its_interval_is_followed_at_once_then_the_interval_resumes():
    poller = run(10, work=(0.5, 23.0, 0.5))
    assert poller.starts == [0, 10, 33, 43]


def test_the_lease_is_released_once_when_no_poll_released_it():
    poller = run(30)
    assert poller.store.released == []  # type: ignore[attr-defined]
    clock = Clock()
    began = clock.now
    short = TimedPoller(clock, 10, [52.0])  # one long poll leaves no time for a second
    short.run_invocation(Deadline(lambda: int((began + 58 - clock.now) * 1000), 5), owner="run")
    assert short.releases == [False] and short.store.released == ["run"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("margin", [0.0, 1.0, 5.0, 30.0])
@pytest.mark.parametrize("started_at", [1_000_000.0, 1_000_000.5, 1_000_000.99])
def test_a_crashed_runs_lease_is_lapsed_when_the_next_scheduled_run_starts(margin: float, started_at: float):
    """Issue 19, class 12: the template's Timeout is 58 s and the schedule one minute."""
    deadline = Deadline(lambda: 58_000, margin)
    expires = times(started_at, lease_seconds(deadline))[0]
    assert not holds(expires, started_at + 58), "still held when the crashed run's invocation timed out"
    assert holds(expires, started_at + min(58 - margin, 58 - SKEW_MARGIN_SECONDS - 1) - 1), "not held while working"
