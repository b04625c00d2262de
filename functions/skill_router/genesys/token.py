"""Client-credentials token: memory, then the token-cache secret, then POST /oauth/token.

`ApiClient.get_client_credentials_token` drops `expires_in`, so the endpoint is called here
and the expiry kept. A token is used until 60 s before it expires (the seed's margin).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from skill_router.errors import ConfigurationError
from skill_router.genesys.errors import GenesysError
from skill_router.observability import logger

REFRESH_MARGIN_SECONDS = 60


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str

    def __repr__(self) -> str:  # never print the secret, even in a traceback
        return f"Credentials(client_id={self.client_id!r}, client_secret=***)"


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: float

    def __repr__(self) -> str:
        return f"Token(expires_at={self.expires_at})"

    def fresh(self, now: float) -> bool:
        return bool(self.access_token) and now < self.expires_at - REFRESH_MARGIN_SECONDS


class TokenProvider:
    def __init__(
        self,
        login_url: str,
        load_credentials: Callable[[], Credentials],
        read_cache: Callable[[], Mapping[str, Any] | None],
        write_cache: Callable[[Mapping[str, Any]], None],
        timeout: tuple[float, float] = (3.0, 10.0),
        clock: Callable[[], float] = time.time,
        on_rejected: Callable[[], None] | None = None,
    ) -> None:
        self._on_rejected = on_rejected
        self.login_url = login_url.rstrip("/")
        self._load_credentials = load_credentials
        self._read_cache = read_cache
        self._write_cache = write_cache
        self._timeout = timeout
        self._clock = clock
        self._token: Token | None = None
        self.last_source = ""
        # Conversations are handled on a few threads: one login at a time, one refresh per 401 wave.
        self._lock = threading.RLock()

    def token(self) -> str:
        with self._lock:
            return self._token_locked()

    def _token_locked(self) -> str:
        now = self._clock()
        if self._token and self._token.fresh(now):
            self.last_source = "memory"
            return self._token.access_token
        cached = self._from_cache()
        if cached and cached.fresh(now):
            self._token = cached
            self.last_source = "secret"
            return cached.access_token
        return self._fetch()

    def refresh(self, stale: str | None = None) -> str:
        """After a 401: the token in hand was revoked or expired early; get a new one, unless
        another thread already replaced the `stale` one."""
        with self._lock:
            if stale is not None and self._token is not None and self._token.access_token != stale:
                return self._token.access_token
            self._token = None
            return self._fetch()

    def _from_cache(self) -> Token | None:
        try:
            data = self._read_cache()
        except Exception as exc:  # a missing or unreadable cache costs one token request, nothing more
            logger.warning("token cache unreadable; requesting a new token", extra={"reason": str(exc)})
            return None
        if not data:
            return None
        token, expires_at = data.get("access_token"), data.get("expires_at")
        if not isinstance(token, str) or not isinstance(expires_at, int | float):
            logger.warning("token cache malformed (needs access_token and expires_at); requesting a new token")
            return None
        return Token(token, float(expires_at))

    def _fetch(self) -> str:
        credentials = self._load_credentials()
        url = f"{self.login_url}/oauth/token"
        try:
            response = requests.post(
                url,
                data={"grant_type": "client_credentials"},
                auth=(credentials.client_id, credentials.client_secret),
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise GenesysError("POST /oauth/token", 0, f"cannot reach {url}: {type(exc).__name__}") from None
        if response.status_code in (400, 401, 403):
            if self._on_rejected:
                self._on_rejected()  # read the credentials afresh next time: someone may fix them
            raise ConfigurationError(
                f"Genesys login rejected the client credentials (HTTP {response.status_code} from {url}: "
                f"{_error_text(response)}). Check client_id and client_secret in the credentials secret and "
                "that the OAuth client's grant type is Client Credentials in the same region as "
                "GENESYS_ENVIRONMENT."
            )
        if response.status_code != 200:
            raise GenesysError(
                "POST /oauth/token",
                response.status_code,
                _error_text(response),
                retry_after=response.headers.get("Retry-After"),
            )
        try:
            body = response.json()
            token = Token(str(body["access_token"]), self._clock() + float(body["expires_in"]))
        except (ValueError, KeyError, TypeError):
            raise GenesysError("POST /oauth/token", 200, "response without access_token/expires_in") from None
        self._token = token
        self.last_source = "oauth"
        logger.info("new Genesys access token", extra={"expires_at": int(token.expires_at)})
        try:
            self._write_cache({"access_token": token.access_token, "expires_at": int(token.expires_at)})
        except Exception as exc:  # the next cold start pays one more token request; not worth failing for
            logger.warning("could not write the token cache", extra={"reason": str(exc)})
        return token.access_token


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("error_description") or body.get("description") or body.get("error") or body)[:200]
    return str(body)[:200]
