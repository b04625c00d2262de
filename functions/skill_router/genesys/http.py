"""The SDK's HTTP client with the behaviour made explicit: no hidden retries, real timeouts.

The SDK's RESTClientObject installs `urllib3.util.Retry()` (silent retries of every method,
429 included) and no timeout, so a hung socket blocks until Lambda kills the invocation.
Retries are ours (client.py): bounded by the invocation's remaining time and counted.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import Any

import certifi
import urllib3

from skill_router.genesys.sdk import ApiException, sdk


class BoundedHttpClient(sdk.default_http_client.DefaultHttpClient):
    def __init__(
        self,
        connect_timeout: float,
        read_timeout: float,
        pool_size: int = 8,
        on_headers: Callable[[Mapping[str, str]], None] | None = None,
    ) -> None:
        super().__init__()
        self.on_headers = on_headers
        self.rest_client.pool_manager = urllib3.PoolManager(
            num_pools=4,
            maxsize=pool_size,
            block=True,
            retries=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            cert_reqs=ssl.CERT_REQUIRED,
            ca_certs=certifi.where(),
        )

    def request(self, http_request_options: Any) -> Any:
        """Every answer's headers go to `on_headers` (the rate budget reads Genesys's limits there)."""
        try:
            response = super().request(http_request_options)
        except ApiException as exc:
            if self.on_headers and exc.headers:
                self.on_headers(exc.headers)
            raise
        if self.on_headers:
            self.on_headers(response.getheaders())
        return response
