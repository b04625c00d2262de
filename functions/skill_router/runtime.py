"""The composition root: settings and adapters, built once per Lambda container.

Warm invocations reuse them: the token stays in memory, the matrix is re-read only when its
ETag changes, and HTTP connections stay open.
"""

from __future__ import annotations

from dataclasses import dataclass

from skill_router.genesys.budget import RateBudget
from skill_router.genesys.client import GenesysClient
from skill_router.genesys.token import TokenProvider
from skill_router.leg import Adapters
from skill_router.matrix import resolve_matrix
from skill_router.matrix_source import MatrixSource
from skill_router.notify import GenesysEmailNotifier, NoNotifier, Notifier, SesNotifier
from skill_router.poller import Poller
from skill_router.secrets import SecretsAdapter
from skill_router.settings import Settings, load_settings
from skill_router.staffing import StaffingCache
from skill_router.store import StateStore


@dataclass
class Runtime:
    settings: Settings
    secrets: SecretsAdapter
    genesys: GenesysClient
    store: StateStore
    matrix_source: MatrixSource
    poller: Poller


def build_runtime(settings: Settings | None = None) -> Runtime:
    settings = settings or load_settings()
    secrets = SecretsAdapter(settings.credentials_secret, settings.token_secret)
    tokens = TokenProvider(
        settings.login_url,
        load_credentials=secrets.load_credentials,
        read_cache=secrets.read_token,
        write_cache=secrets.write_token,
        timeout=(settings.http_connect_timeout, settings.http_read_timeout),
        on_rejected=secrets.forget_credentials,
    )
    genesys = GenesysClient(
        settings.api_url,
        tokens,
        connect_timeout=settings.http_connect_timeout,
        read_timeout=settings.http_read_timeout,
        max_attempts=settings.max_attempts,
        # One budget per container: warm invocations keep counting where the last one stopped.
        budget=RateBudget(settings.requests_per_minute, settings.rate_headroom),
        pool_size=settings.concurrency + 2,
    )
    store = StateStore(settings.state_table, ttl_days=settings.ledger_ttl_days, dry_run=settings.dry_run)
    matrix_source = matrix_source_for(settings, genesys)
    notifier: Notifier
    if settings.dry_run or settings.notify_channel == "none":
        notifier = NoNotifier()
    elif settings.notify_channel == "genesys":
        notifier = GenesysEmailNotifier(settings.notify_from, genesys)
    else:
        notifier = SesNotifier(settings.notify_from)
    # One staffing cache per container, for both functions (the poller and the event function
    # build the same runtime): a queue's members are read once per STAFFING_CACHE_SECONDS.
    staffing = StaffingCache(genesys, settings.staffing_cache_seconds) if settings.staffing_guard == "on" else None
    adapters = Adapters(genesys=genesys, store=store, notifier=notifier, settings=settings, staffing=staffing)
    poller = Poller(settings=settings, genesys=genesys, store=store, matrix_source=matrix_source, adapters=adapters)
    return Runtime(settings, secrets, genesys, store, matrix_source, poller)


def matrix_source_for(settings: Settings, genesys: GenesysClient) -> MatrixSource:
    """The matrix as the function loads it: names resolved through Genesys, and the deployment's
    own bounds (MAX_WAIT_SECONDS, the channel's recipient limit, what DISCOVERY_LOOKBACK_DAYS sees).
    `skill-router doctor` uses it too."""
    return MatrixSource(
        settings.matrix_bucket,
        settings.matrix_key,
        resolver=lambda matrix: resolve_matrix(
            matrix, genesys.skill_ids_by_name, genesys.user_email, genesys.language_ids_by_name
        ),
        limits={
            "max_wait_seconds": settings.max_wait_seconds,
            "notify_channel": settings.notify_channel,
            "lookback_days": settings.discovery_lookback_days,
        },
    )


_current: Runtime | None = None


def current() -> Runtime:
    """The container's runtime, built on the first invocation (so a configuration error is
    reported by that invocation, not as an import crash) and reused by the warm ones."""
    global _current
    if _current is None:
        _current = build_runtime()
    return _current


def use(runtime: Runtime | None) -> None:
    """Replace the container's runtime (None: build it afresh, as a new container would)."""
    global _current
    _current = runtime
