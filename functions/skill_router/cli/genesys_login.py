"""`skill-router matrix validate --online`: a login to Genesys with the stack's own OAuth client,
as `doctor` and `why` log in (the function's token cache is neither read nor written)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from skill_router.cli.errors import EXIT_USAGE, UserError, aws_problem
from skill_router.cli.expressions import TIME_BUDGET_SECONDS
from skill_router.errors import ConfigurationError, SkillRouterError


def login(args: argparse.Namespace) -> Any:
    """A GenesysClient with the stack's own OAuth client (--stack NAME) or this environment's (--env),
    as `doctor` and `why` log in: the function's token cache is neither read nor written."""
    from skill_router.cli.doctor import stack_environment
    from skill_router.deadline import Deadline
    from skill_router.genesys.budget import RateBudget
    from skill_router.genesys.client import GenesysClient
    from skill_router.genesys.token import TokenProvider
    from skill_router.secrets import SecretsAdapter
    from skill_router.settings import load_settings

    if bool(args.stack) == bool(args.env):
        raise UserError(
            "--online: give --stack NAME (a deployed stack) or --env (this environment's settings)", EXIT_USAGE
        )
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    env: Mapping[str, str] = os.environ
    if args.stack:
        try:
            env, _ = stack_environment(args.stack)
        except SkillRouterError:
            raise
        except Exception as exc:
            raise UserError(aws_problem(exc, f"reading stack {args.stack!r}")) from None
    try:
        settings = load_settings(env)
    except ConfigurationError as exc:
        raise UserError(f"the function's settings: {exc}") from None
    secrets = SecretsAdapter(settings.credentials_secret, settings.token_secret)
    tokens = TokenProvider(
        settings.login_url,
        load_credentials=secrets.load_credentials,
        read_cache=lambda: None,
        write_cache=lambda token: None,
        timeout=(settings.http_connect_timeout, settings.http_read_timeout),
    )
    genesys = GenesysClient(
        settings.api_url,
        tokens,
        connect_timeout=settings.http_connect_timeout,
        read_timeout=settings.http_read_timeout,
        max_attempts=2,
        budget=RateBudget(settings.requests_per_minute, settings.rate_headroom),
    )
    genesys.begin(Deadline.fixed(TIME_BUDGET_SECONDS))
    try:
        tokens.token()
    except ConfigurationError as exc:
        raise UserError(f"{exc} (README Deploy step 3; `skill-router doctor` checks it)") from None
    except SkillRouterError as exc:
        raise UserError(f"Genesys login failed: {exc}") from None
    except Exception as exc:  # the credentials secret could not be read: an AWS failure
        raise UserError(aws_problem(exc, f"reading secret {settings.credentials_secret!r}")) from None
    return genesys
