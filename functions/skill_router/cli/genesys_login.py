"""The CLI's own way to Genesys, for `why`, `report` and `matrix validate --online`: the
deployment's settings (`--stack NAME`, or this environment's with `--env`) and a client logged in
with the stack's own OAuth client. The function's token cache is neither read nor written, and the
client has a rate budget of its own sized like the function's (`doctor` builds its own client the
same way, step by step, so that each step is a line of its report)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from skill_router.cli.errors import UserError, aws_problem
from skill_router.errors import ConfigurationError, SkillRouterError

if TYPE_CHECKING:
    from skill_router.genesys.client import GenesysClient
    from skill_router.genesys.token import TokenProvider
    from skill_router.settings import Settings


def stack_settings(args: argparse.Namespace, option: str = "") -> Settings:
    """The deployment's settings: the stack's function environment (--stack NAME) or this
    environment's (--env); --region first, when given. `option` names the flag that needs them."""
    from skill_router.cli.doctor import chosen_environment
    from skill_router.settings import load_settings

    env, _ = chosen_environment(args, option)
    try:
        return load_settings(env)
    except ConfigurationError as exc:
        raise UserError(f"the function's settings: {exc}") from None


def client(settings: Settings, max_attempts: int | None = 2) -> tuple[GenesysClient, TokenProvider]:
    """A Genesys client of the CLI's own (not logged in yet), and its token provider."""
    from skill_router.genesys.budget import RateBudget
    from skill_router.genesys.client import GenesysClient
    from skill_router.genesys.token import TokenProvider
    from skill_router.secrets import SecretsAdapter

    secrets = SecretsAdapter(settings.credentials_secret, settings.token_secret)
    tokens = TokenProvider(
        settings.login_url,
        load_credentials=secrets.load_credentials,
        read_cache=lambda: None,  # a login of its own: the function's token cache is left alone
        write_cache=lambda token: None,
        timeout=(settings.http_connect_timeout, settings.http_read_timeout),
    )
    extra: dict[str, Any] = {} if max_attempts is None else {"max_attempts": max_attempts}
    genesys = GenesysClient(
        settings.api_url,
        tokens,
        connect_timeout=settings.http_connect_timeout,
        read_timeout=settings.http_read_timeout,
        budget=RateBudget(settings.requests_per_minute, settings.rate_headroom),
        **extra,
    )
    return genesys, tokens


def login(settings: Settings, seconds: float, problem: Any = str) -> GenesysClient:
    """A client logged in now, every call of it bounded by `seconds` from now; a failure is one
    line (`problem` words a Genesys failure)."""
    from skill_router.deadline import Deadline

    genesys, tokens = client(settings)
    genesys.begin(Deadline.fixed(seconds))
    try:
        tokens.token()
    except ConfigurationError as exc:
        raise UserError(f"{exc} (README Deploy step 3; `skill-router doctor` checks it)") from None
    except SkillRouterError as exc:
        raise UserError(f"Genesys login failed: {problem(exc)}") from None
    except Exception as exc:  # the credentials secret could not be read: an AWS failure
        raise UserError(aws_problem(exc, f"reading secret {settings.credentials_secret!r}")) from None
    return genesys
