"""DynamoDB state, one table (partition key `pk`, TTL attribute `expires_at`), by job:
- `table`: the client, DynamoDB's clock, the conditional update written once;
- `codec`: plain values to and from items, times;
- `ledger`: what was decided and done on each queue leg; a final outcome is never rewritten;
- `claims`: one expiring claim (lease, caller, email, steps), in DynamoDB's time.
Dry runs keep their own items (`dryrun#...`), so trying a matrix never blocks the real thing.
"""

from __future__ import annotations

from skill_router.store.claims import LONGEST_HOLD_SECONDS, SKEW_MARGIN_SECONDS, ClaimsTable, Lease
from skill_router.store.codec import format_time, parse_time
from skill_router.store.ledger import FINAL_OUTCOMES, LedgerTable, emails_owed

__all__ = [
    "FINAL_OUTCOMES",
    "LONGEST_HOLD_SECONDS",
    "SKEW_MARGIN_SECONDS",
    "Lease",
    "StateStore",
    "emails_owed",
    "format_time",
    "parse_time",
]


class StateStore(LedgerTable, ClaimsTable):
    """The table as the product uses it: the ledger and the claims."""
