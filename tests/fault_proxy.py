"""A fault-injecting HTTP proxy on loopback, between the client and the real CKAN (a test tool).

By a seeded schedule it answers a fraction of the requests with a fault instead of a clean relay
(after an opening in which each kind of fault comes once, on every fifth request):

* ``reset_before``  the connection is reset before anything is forwarded
* ``reset_after``   the request is forwarded (CKAN does the work), then the connection is reset
* ``502``/``503``/``504``  a gateway error page, without forwarding
* ``429``           Too Many Requests with ``Retry-After``, without forwarding
* ``stall``         forwarded, then no answer for longer than the client's read timeout
* ``truncate``      forwarded, then the body is cut short (the length announced, the connection reset)

and the malformed answers of :data:`MALFORMED` (a proxy or a crashing worker in front of CKAN):

* ``null_result``   forwarded, then ``200 {"success": true, "result": null}`` instead of the answer
* ``cut_json``      forwarded, then the answer's status and half its body, ending with the connection
                    (no length announced: the client cannot tell it was cut but by the JSON)
* ``html_200``      a maintenance page with status 200, without forwarding
* ``cut_error``     forwarded; an error answer (a 409, a 404) comes with half its body, close-delimited

It counts what reached CKAN (by method and path), so a test can tell a retried read from a
doubled write. It serves only on 127.0.0.1, and stops with its context manager.
"""

from __future__ import annotations

import collections
import http.client
import json
import random
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from loopback_servers import LoopbackServer

FAULTS = ("reset_before", "reset_after", "502", "503", "504", "429", "stall", "truncate")
MALFORMED = ("null_result", "cut_json", "html_200", "cut_error", "502", "504", "stall", "truncate")
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection"}


class FaultProxy(LoopbackServer):
    def __init__(self, upstream: str, *, rate: float = 0.1, seed: int = 1, faults: tuple[str, ...] = FAULTS,
                 stall_seconds: float = 2.0, retry_after: str = "1", every_kind_first: bool = True) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.rate = rate
        self.faults = faults
        self.stall_seconds = stall_seconds
        self.retry_after = retry_after
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        # Each kind of fault once, on every fifth request, before the random schedule: even a
        # short run meets every fault, and the retries in between are not all faulted too.
        self._opening = [kind for fault in faults for kind in (fault, None, None, None, None)] \
            if every_kind_first else []
        self.requests = 0
        self.injected: collections.Counter[str] = collections.Counter()
        self.forwarded: collections.Counter[str] = collections.Counter()
        """Requests that reached CKAN, by ``METHOD path``."""
        self.created_names: collections.Counter[tuple[str, str]] = collections.Counter()
        """``(action, name)`` of each ``*_create`` that reached CKAN."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._draw()
                if fault == "reset_before":
                    return self._reset()
                if fault in ("502", "503", "504"):
                    page = f"<html><head><title>{fault} Gateway trouble</title></head><body>x</body></html>".encode()
                    return self._answer(int(fault), page, {"Content-Type": "text/html"}, close=True)
                if fault == "429":
                    return self._answer(429, b"slow down", {"Retry-After": proxy.retry_after}, close=True)
                if fault == "html_200":
                    page = b"<!doctype html><html><head><title>Down for maintenance</title></head><body>x</body></html>"
                    return self._answer(200, page, {"Content-Type": "text/html"}, close=True)
                status, headers, payload = proxy._forward(self.command, self.path, self.headers, body)
                if fault == "null_result":
                    return self._answer(200, b'{"help": "", "success": true, "result": null}',
                                        {"Content-Type": "application/json"})
                if fault == "cut_json" or (fault == "cut_error" and status >= 400):
                    self.send_response(status)
                    for key, value in headers:
                        self.send_header(key, value)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(payload[: len(payload) // 2])
                    self.close_connection = True
                    return None
                    return self._reset()
                if fault == "stall":
                    proxy._stop.wait(proxy.stall_seconds)
                    return self._reset()
                if fault == "truncate":
                    self.send_response(status)
                    for key, value in headers:
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    return self._reset()
                self._answer(status, payload, dict(headers))

            def _answer(self, status: int, payload: bytes, headers: dict[str, str], close: bool = False) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(payload)

            def _reset(self) -> None:
                self.close_connection = True
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass

            do_GET = do_POST = do_HEAD = handle_one

        super().__init__(Handler)

    def _draw(self) -> str | None:
        with self._lock:
            self.requests += 1
            if self._opening:
                fault = self._opening.pop(0)
            elif self._rng.random() < self.rate:
                fault = self._rng.choice(self.faults)
            else:
                fault = None
            if fault is not None:
                self.injected[fault] += 1
            return fault

    def _forward(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=120)
        try:
            forward = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS}
            forward["Host"] = f"{self.upstream_host}:{self.upstream_port}"
            if body or method in ("POST", "PUT"):
                forward["Content-Length"] = str(len(body))
            conn.request(method, path, body=body or None, headers=forward)
            with self._lock:
                self.forwarded[f"{method} {path.split('?')[0]}"] += 1
                action = path.split("?")[0].rsplit("/", 1)[-1]
                if action.endswith("_create") and body.startswith(b"{"):
                    name = json.loads(body).get("name")
                    if isinstance(name, str):
                        self.created_names[(action, name)] += 1
            response = conn.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_HEADERS]
            return response.status, kept, payload
        finally:
            conn.close()

    def reached(self, action: str) -> int:
        """How many requests for this action reached CKAN."""
        return sum(n for key, n in self.forwarded.items() if key.endswith(f"/api/3/action/{action}"))
