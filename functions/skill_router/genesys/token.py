"""Client-credentials token: memory, then the token-cache secret, then POST /oauth/token.

`ApiClient.get_client_credentials_token` drops `expires_in`, so the endpoint is called here
and the expiry kept. A token is used until 60 s before it expires (the seed's margin).

The login goes through the same bounded HTTP pool as the API calls (http.py): its time and
size are bounded, redirects are not followed (the client secret goes nowhere else). A login
that answers without a usable token (an HTML page, a 200 without `access_token`, a redirect,
a 5xx) is a transient failure (status 0, "no usable answer"): retried, never mistaken for an
answer about the conversation the call was for.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3

from skill_router.errors import ConfigurationError
from skill_router.genesys.errors import GenesysError
from skill_router.genesys.http import BoundedResponse, bounded_pool
from skill_router.observability import logger

REFRESH_MARGIN_SECONDS = 60
LOGIN = "POST /oauth/token"
# What an Authorization header can carry (RFC 6750's b64token is a subset): visible ASCII, no
# whitespace. A token with a newline or a control character is refused by the HTTP library before
# Genesys sees it, so no 401 would ever mark it bad: it is never used.
_SENDABLE = re.compile(r"[\x21-\x7e]+")


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
        self._clock = clock
        self._token: Token | None = None
        self._rejected: str | None = None
        # The API client replaces this with its own pool, bounded by the invocation's deadline.
        self.pool: Any = bounded_pool(timeout[0], timeout[1])
        # Conversations are handled on a few threads: one login at a time, one refresh per 401 wave.
        self._lock = threading.RLock()

    def token(self) -> str:
        with self._lock:
            return self._token_locked()

    def _token_locked(self) -> str:
        now = self._clock()
        if self._token and self._token.fresh(now):
            return self._token.access_token
        cached = self._from_cache()
        if cached and cached.fresh(now) and cached.access_token != self._rejected:
            self._token = cached
            return cached.access_token
        return self._fetch()

    def refresh(self, stale: str | None = None) -> str:
        """After a 401: the token in hand was revoked or expired early; get a new one, unless
        another thread already replaced the `stale` one."""
        with self._lock:
            if stale is not None and self._token is not None and self._token.access_token != stale:
                return self._token.access_token
            # Genesys rejected it: not to be taken from the token cache again (if this login
            # fails, the next try must log in, not reuse the rejected token).
            self._rejected = stale or (self._token.access_token if self._token else None)
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
        if not isinstance(token, str) or not isinstance(expires_at, int | float) or not sendable(token):
            logger.warning(
                "token cache malformed (needs a sendable access_token and expires_at); requesting a new token"
            )
            return None
        return Token(token, float(expires_at))

    def _fetch(self) -> str:
        credentials = self._load_credentials()
        url = f"{self.login_url}/oauth/token"
        basic = base64.b64encode(f"{credentials.client_id}:{credentials.client_secret}".encode()).decode()
        try:
            response: BoundedResponse = self.pool.request(
                "POST",
                url,
                fields={"grant_type": "client_credentials"},
                encode_multipart=False,
                headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
            )
        except urllib3.exceptions.HTTPError as exc:
            raise GenesysError(LOGIN, 0, f"no usable answer from {url} ({type(exc).__name__})") from None
        if response.status in (400, 401, 403):
            if self._on_rejected:
                self._on_rejected()  # read the credentials afresh next time: someone may fix them
            raise ConfigurationError(
                f"Genesys login rejected the client credentials (HTTP {response.status} from {url}: "
                f"{_error_text(response)}). Check client_id and client_secret in the credentials secret and "
                "that the OAuth client's grant type is Client Credentials in the same region as "
                "GENESYS_ENVIRONMENT."
            )
        if response.status != 200:
            raise GenesysError(
                LOGIN,
                0,
                f"no usable answer from {url} (HTTP {response.status}: {_error_text(response)})",
                retry_after=response.getheader("Retry-After"),
            )
        token = self._parse(response)
        if token is None:
            kind = response.getheader("Content-Type") or "no content type"
            raise GenesysError(
                LOGIN, 0, f"no usable answer from {url} (HTTP 200 without access_token/expires_in, {kind})"
            )
        self._token = token
        logger.info("new Genesys access token", extra={"expires_at": int(token.expires_at)})
        try:
            self._write_cache({"access_token": token.access_token, "expires_at": int(token.expires_at)})
        except Exception as exc:  # the next cold start pays one more token request; not worth failing for
            logger.warning("could not write the token cache", extra={"reason": str(exc)})
        return token.access_token

    def _parse(self, response: BoundedResponse) -> Token | None:
        try:
            body = json.loads(response.data)
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        token, lifetime = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not sendable(token) or isinstance(lifetime, bool):
            return None
        if not isinstance(lifetime, int | float) or not math.isfinite(lifetime) or lifetime <= 0:
            return None
        return Token(token, self._clock() + float(lifetime))


def sendable(token: str) -> bool:
    """True when `token` can travel in an Authorization header as it is."""
    return _SENDABLE.fullmatch(token) is not None


def _error_text(response: BoundedResponse) -> str:
    try:
        body = json.loads(response.data)
    except ValueError:
        return response.data[:200].decode("utf-8", "replace")
    if isinstance(body, dict):
        return str(body.get("error_description") or body.get("description") or body.get("error") or body)[:200]
    return str(body)[:200]
