"""A misbehaving network between skill-router and Genesys: a real HTTP proxy (its own thread and
sockets) in front of the simulator that forwards every request unless a rule says otherwise.

Rules match a method and a path regex, apply to the next `count` matching requests (None: all),
and do one thing: answer with a status/body/headers of their own (a login page, a redirect, a
429 with an absurd Retry-After), forward but add headers (a rate-limit header from another
bucket), drip the answer one byte at a time, or inflate it (a gzip bomb, a huge body).
"""

from __future__ import annotations

import http.client
import re
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_BOMB_CACHE: dict[tuple[int, str], bytes] = {}


def bomb(inflated_bytes: int, encoding: str = "gzip") -> bytes:
    """`inflated_bytes` of spaces compressed (about 1,000:1): a few hundred KB on the wire."""
    key = (inflated_bytes, encoding)
    if key not in _BOMB_CACHE:
        cache = Path("/tmp") / f"skill-router-bomb-{encoding}-{inflated_bytes}.bin"
        if cache.exists():
            _BOMB_CACHE[key] = cache.read_bytes()
        else:
            wbits = 31 if encoding == "gzip" else 15
            compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
            block = b" " * (1 << 20)
            parts = [compressor.compress(block) for _ in range(inflated_bytes >> 20)]
            parts.append(compressor.flush())
            _BOMB_CACHE[key] = b"".join(parts)
            cache.write_bytes(_BOMB_CACHE[key])
    return _BOMB_CACHE[key]


@dataclass
class Rule:
    method: str
    pattern: re.Pattern[str]
    action: str  # "answer", "add_headers", "drip", "drip_headers", "bomb", "huge"
    count: int | None
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    interval: float = 0.2  # drip: seconds between bytes
    size: int = 0  # bomb/huge: bytes once inflated
    encoding: str = "gzip"
    hits: int = 0


class MisbehavingProxy:
    def __init__(self, upstream: str) -> None:
        url = urlsplit(upstream)
        self.upstream_host, self.upstream_port = url.hostname or "127.0.0.1", url.port or 80
        self.rules: list[Rule] = []
        self.lock = threading.Lock()
        self.seen: list[tuple[str, str, dict[str, str]]] = []  # method, path, request headers
        self._server: ThreadingHTTPServer | None = None

    # --- control --------------------------------------------------------------------------

    def rule(self, method: str, path_regex: str, action: str, count: int | None = 1, **params: Any) -> Rule:
        if isinstance(params.get("body"), str):
            params["body"] = params["body"].encode()
        rule = Rule(method.upper(), re.compile(path_regex), action, count, **params)
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def _take(self, method: str, path: str) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.method == method and rule.pattern.search(path):
                    rule.hits += 1
                    if rule.count is not None:
                        rule.count -= 1
                        if rule.count <= 0:
                            self.rules.remove(rule)
                    return rule
        return None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> MisbehavingProxy:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> MisbehavingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    owner: MisbehavingProxy
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        with self.owner.lock:
            self.owner.seen.append((method, path, dict(self.headers.items())))
        rule = self.owner._take(method, path)
        try:
            if rule is None or rule.action in ("add_headers", "drip", "drip_headers"):
                status, headers, body = self._forward(method, raw)
                if rule is not None and rule.action == "add_headers":
                    headers = {**headers, **rule.headers}
                if rule is not None and rule.action.startswith("drip"):
                    self._drip(status, headers, body, rule.interval, rule.action == "drip_headers")
                    return
                self._answer(status, headers, body)
            elif rule.action == "answer":
                self._answer(rule.status, {"Content-Type": "application/json", **rule.headers}, rule.body)
            elif rule.action == "bomb":
                payload = bomb(rule.size, rule.encoding)
                headers = {"Content-Type": "application/json", "Content-Encoding": rule.encoding}
                self._answer(200, headers, payload)
            elif rule.action == "huge":
                self._huge(rule.size, chunked=bool(rule.headers.get("chunked")))
            else:
                raise ValueError(rule.action)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _forward(self, method: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(self.owner.upstream_host, self.owner.upstream_port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            connection.request(method, self.path, body=raw or None, headers=headers)
            response = connection.getresponse()
            body = response.read()
            kept = {
                k: v
                for k, v in response.getheaders()
                if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server")
            }
            return response.status, kept, body
        finally:
            connection.close()

    def _answer(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drip(self, status: int, headers: Mapping[str, str], body: bytes, interval: float, head_too: bool) -> None:
        lines = [f"HTTP/1.1 {status} Dripping\r\n"]
        lines += [f"{k}: {v}\r\n" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        head = "".join(lines).encode()
        self.close_connection = True
        if not head_too:
            self.wfile.write(head)
            self.wfile.flush()
            head = b""
        for chunk in _bytes(head + body):
            time.sleep(interval)
            self.wfile.write(chunk)
            self.wfile.flush()

    def _huge(self, size: int, chunked: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(size))
        self.end_headers()
        block = b" " * (1 << 20)
        self.close_connection = True
        for _ in range(size >> 20):
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
            else:
                self.wfile.write(block)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")


def _bytes(data: bytes) -> Iterator[bytes]:
    for i in range(len(data)):
        yield data[i : i + 1]
