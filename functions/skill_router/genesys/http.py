"""The SDK's HTTP client with the behaviour made explicit: no hidden retries, bounded requests.

The SDK's RESTClientObject installs `urllib3.util.Retry()` (silent retries of every method,
429 included) and no timeout, so a hung socket blocks until Lambda kills the invocation.
Retries are ours (client.py): bounded by the invocation's remaining time and counted.

Every request (the login's too) is bounded three ways, because a read timeout alone is per
`recv`: an answer dripped one byte every few seconds never trips it.
- Its total time: a watchdog shuts the socket down when the request outlives
  min(connect + read timeout, the invocation's remaining time), headers included.
- The bytes read: at most MAX_RESPONSE_BYTES on the wire.
- The bytes inflated: gzip/deflate are decoded here, MAX_RESPONSE_BYTES at most, so a
  compression bomb costs a few KB of memory, not gigabytes (urllib3 would inflate it whole).
Redirects are never followed (the token must not travel to wherever a Location points); a
3xx comes back as what it is, and client.py treats it as a transient failure.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import certifi
import urllib3
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from skill_router.genesys.sdk import ApiException, sdk

# The largest answer the product reads is an analytics page of 100 conversations (a few hundred
# KB); 8 MB is far above it and far below a 256 MB function.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
_CHUNK = 64 * 1024
_current = threading.local()  # the connection this thread is using, for the watchdog


class ResponseTooLarge(urllib3.exceptions.HTTPError):
    """The answer was larger than MAX_RESPONSE_BYTES (raw or once inflated)."""


class RequestTooSlow(urllib3.exceptions.HTTPError):
    """The answer did not arrive in full within the request's total time."""


class _HTTPPool(HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        _current.connection = conn
        return conn


class _HTTPSPool(HTTPSConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        _current.connection = conn
        return conn


class BoundedResponse:
    """What the SDK's RESTResponse reads (status, reason, data, headers), read within bounds."""

    def __init__(self, status: int, reason: str | None, data: bytes, headers: Any) -> None:
        self.status, self.reason, self.data, self.headers = status, reason, data, headers

    def getheaders(self) -> Any:
        return self.headers

    def getheader(self, name: str, default: str | None = None) -> str | None:
        value = self.headers.get(name, default)
        return None if value is None else str(value)


class BoundedPoolManager(urllib3.PoolManager):
    """A PoolManager whose every request is bounded in time and size (see the module doc)."""

    def __init__(
        self,
        time_limit: Callable[[], float],
        max_bytes: int = MAX_RESPONSE_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        self.time_limit = time_limit
        self.max_bytes = max_bytes

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:  # type: ignore[override]
        limit = self.time_limit()
        if limit <= 0:
            raise RequestTooSlow("no time left in the invocation for another request")
        kw.update(preload_content=False, decode_content=False, retries=False)
        _current.connection = None
        timer = _WATCHDOG.watch(limit, _current.__dict__)
        response = None
        complete = False
        try:
            response = super().urlopen(method, url, redirect=False, **kw)
            data = self._read(response, timer)
            complete = True
            return BoundedResponse(response.status, response.reason, data, response.headers)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if timer.fired:
                raise RequestTooSlow(f"no complete answer within {limit:.1f} s") from None
            if isinstance(exc, urllib3.exceptions.HTTPError):
                raise
            raise urllib3.exceptions.ProtocolError(f"connection failed: {type(exc).__name__}") from None
        finally:
            _WATCHDOG.forget(timer)
            if response is not None:
                if not complete:
                    response.close()  # an unread or cut answer: its connection is not reused
                response.release_conn()

    def _read(self, response: Any, timer: _Watch) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise ResponseTooLarge(f"answer of {declared} bytes (at most {self.max_bytes})")
        encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            inflater: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            inflater = zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib or gzip header, as urllib3 accepts
        elif encoding == "identity":
            inflater = None
        else:
            raise urllib3.exceptions.DecodeError(f"unsupported Content-Encoding {encoding!r}")
        raw = 0
        out = bytearray()
        while True:
            chunk = response.read(_CHUNK, decode_content=False)
            if not chunk:
                break
            raw += len(chunk)
            if raw > self.max_bytes:
                raise ResponseTooLarge(f"answer larger than {self.max_bytes} bytes")
            if inflater is None:
                out += chunk
                continue
            data = chunk
            while data:
                try:
                    out += inflater.decompress(data, self.max_bytes + 1 - len(out))
                except zlib.error as exc:
                    raise urllib3.exceptions.DecodeError(f"undecodable {encoding} answer: {exc}") from None
                if len(out) > self.max_bytes:
                    raise ResponseTooLarge(f"answer larger than {self.max_bytes} bytes once inflated")
                data = inflater.unconsumed_tail
        if timer.fired:
            raise RequestTooSlow("the answer was cut off at the request's time limit")
        return bytes(out)


@dataclass(eq=False)
class _Watch:
    ends: float
    state: dict[str, Any]  # the requesting thread's slot of `_current`: its connection
    fired: bool = False


class _Watchdog:
    """One thread for the process: shuts a request's connection down when the request outlives
    its time, so a blocked `recv` (headers or body, plain or TLS) returns at once."""

    def __init__(self) -> None:
        self._watches: set[_Watch] = set()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, seconds: float, state: dict[str, Any]) -> _Watch:
        watch = _Watch(time.monotonic() + seconds, state)
        with self._wake:
            self._watches.add(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-watchdog", daemon=True)
                self._thread.start()
            self._wake.notify()
        return watch

    def forget(self, watch: _Watch) -> None:
        with self._wake:
            self._watches.discard(watch)

    def _run(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                for watch in [w for w in self._watches if w.ends <= now]:
                    self._watches.discard(watch)
                    watch.fired = True
                    sock = getattr(watch.state.get("connection"), "sock", None)
                    if sock is not None:
                        with contextlib.suppress(OSError):  # already closed: nothing left to stop
                            sock.shutdown(socket.SHUT_RDWR)
                soonest = min((w.ends for w in self._watches), default=now + 60.0)
                self._wake.wait(max(soonest - now, 0.001))


_WATCHDOG = _Watchdog()


class BoundedHttpClient(sdk.default_http_client.DefaultHttpClient):
    def __init__(
        self,
        connect_timeout: float,
        read_timeout: float,
        pool_size: int = 8,
        on_headers: Callable[[Mapping[str, str]], None] | None = None,
        remaining: Callable[[], float] | None = None,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        super().__init__()
        self.on_headers = on_headers
        self.remaining = remaining or (lambda: float("inf"))
        self.pool = bounded_pool(
            connect_timeout, read_timeout, pool_size, lambda: self.remaining(), max_bytes=max_bytes
        )
        self.rest_client.pool_manager = self.pool

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


def bounded_pool(
    connect_timeout: float,
    read_timeout: float,
    pool_size: int = 2,
    remaining: Callable[[], float] | None = None,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> BoundedPoolManager:
    """A pool whose requests each last at most connect + read timeout, and never past
    `remaining()` (the invocation's time left)."""
    per_request = connect_timeout + read_timeout
    left = remaining or (lambda: float("inf"))
    return BoundedPoolManager(
        time_limit=lambda: min(per_request, left()),
        max_bytes=max_bytes,
        num_pools=4,
        maxsize=pool_size,
        block=True,
        retries=False,
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        cert_reqs=ssl.CERT_REQUIRED,
        ca_certs=certifi.where(),
    )
