"""Loaded by a handler process started with this directory first on PYTHONPATH: its wall clock
(time.time, which the lease, the claims and the ledger read) runs SKEW_SECONDS off the real one,
as a container whose clock drifted would. Monotonic time (deadlines) is left alone."""

import os
import time

_skew = float(os.environ.get("SKILL_ROUTER_TEST_CLOCK_SKEW_SECONDS", "0") or 0)
if _skew:
    _real_time = time.time

    def _skewed_time() -> float:
        return _real_time() + _skew

    time.time = _skewed_time
