"""Secrets Manager: the Genesys client credentials (read) and the token cache (read/write)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

from skill_router import aws
from skill_router.errors import ConfigurationError, NotConfigured
from skill_router.genesys.token import Credentials

# What template.yaml puts in the secret at deploy: the stack is not set up until it is replaced.
PLACEHOLDER = {"client_id": "", "client_secret": ""}  # nosec B105 - the empty value, not a secret
CREDENTIALS_FORMAT = '{"client_id": "...", "client_secret": "..."}'
# The client credentials are read through Powertools' parameters with this cache age; a login
# the credentials fail drops the cached copy, so a corrected secret is used at once.
CREDENTIALS_MAX_AGE_SECONDS = 300


class SecretsAdapter:
    def __init__(self, credentials_secret: str, token_secret: str, client: Any = None) -> None:
        self.credentials_secret = credentials_secret
        self.token_secret = token_secret
        self.client = client or aws.client("secretsmanager")
        self.provider = SecretsProvider(boto3_client=self.client)
        self.calls = 0

    def forget_credentials(self) -> None:
        self.provider.clear_cache()

    def load_credentials(self) -> Credentials:
        try:
            self.calls += 1
            raw = self.provider.get(self.credentials_secret, max_age=CREDENTIALS_MAX_AGE_SECONDS)
            if not isinstance(raw, str):
                raise KeyError("SecretString")
        except GetParameterError as wrapped:
            exc = wrapped.__context__
            if not isinstance(exc, ClientError):
                raise ConfigurationError(
                    f"cannot read credentials secret {self.credentials_secret!r}: {wrapped}"
                ) from None
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise ConfigurationError(
                    f"credentials secret {self.credentials_secret!r} (GENESYS_CREDENTIALS_SECRET) does not exist; "
                    f"create it with {CREDENTIALS_FORMAT}"
                ) from None
            raise ConfigurationError(
                f"cannot read credentials secret {self.credentials_secret!r}: {code or exc}"
            ) from None
        except KeyError:
            raise ConfigurationError(
                f"credentials secret {self.credentials_secret!r} has no SecretString; put {CREDENTIALS_FORMAT}"
            ) from None
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ConfigurationError(
                f"credentials secret {self.credentials_secret!r} is not a JSON object; put {CREDENTIALS_FORMAT}"
            )
        missing = [k for k in ("client_id", "client_secret") if not str(data.get(k) or "").strip()]
        if data == PLACEHOLDER:
            raise NotConfigured(
                f"credentials secret {self.credentials_secret!r} still holds the empty placeholder; "
                f"put {CREDENTIALS_FORMAT} (README Deploy step 3)"
            )
        if missing:
            raise ConfigurationError(
                f"credentials secret {self.credentials_secret!r} has no {' or '.join(missing)}; "
                f"put {CREDENTIALS_FORMAT} (the Genesys OAuth client, grant type Client Credentials)"
            )
        return Credentials(str(data["client_id"]).strip(), str(data["client_secret"]).strip())

    def read_token(self) -> Mapping[str, Any] | None:
        try:
            self.calls += 1
            raw = self.client.get_secret_value(SecretId=self.token_secret).get("SecretString")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise ConfigurationError(
                    f"token cache secret {self.token_secret!r} (GENESYS_TOKEN_SECRET) does not exist"
                ) from None
            raise
        if not raw:
            return None
        data = json.loads(raw)
        return data if isinstance(data, dict) else None

    def write_token(self, token: Mapping[str, Any]) -> None:
        self.calls += 1
        self.client.put_secret_value(SecretId=self.token_secret, SecretString=json.dumps(dict(token)))
