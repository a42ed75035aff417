"""Tiny scripted HTTP servers on 127.0.0.1, for what a real CKAN cannot do on demand.

A :class:`ScriptedServer` answers each request with the next :class:`Reply` of its script (the last
one repeats), records what it received, and can hang, drop the connection or send any body.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator, TypeVar, Union


@dataclass
class Reply:
    status: int = 200
    body: Union[bytes, str, dict[str, Any], list[Any], None] = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    """Never answer (until the server stops, at most 30 s)."""
    drop: bool = False
    """Close the connection after reading the request, without a word."""
    stream: Callable[[], Iterator[bytes]] | None = None
    """Send the body from this generator, chunked (for endless or very large bodies)."""


def ok(result: Any) -> Reply:
    return Reply(200, {"help": "", "success": True, "result": result})


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class LoopbackServer:
    """An HTTP server on 127.0.0.1 (a free port) in a daemon thread; the context manager stops it.

    ``self._stop`` is set on exit, so a handler that waits on it (a stall, a hang) ends at once."""

    scheme = "http"

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._stop = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self: S) -> S:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


S = TypeVar("S", bound=LoopbackServer)


class ScriptedServer(LoopbackServer):
    def __init__(self, script: list[Reply] | Callable[[Recorded], Reply]) -> None:
        self.script = script
        self.requests: list[Recorded] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorded = Recorded(self.command, self.path, dict(self.headers.items()), body)
                server.requests.append(recorded)
                reply = server._next(recorded)
                if reply.hang:
                    server._stop.wait(30)
                    self.close_connection = True
                    return
                if reply.drop:
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if reply.stream is not None:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    try:
                        for chunk in reply.stream():
                            if server._stop.is_set():
                                break
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.write(b"0\r\n\r\n")
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                data = reply.body
                if isinstance(data, (dict, list)):
                    data = json.dumps(data)
                    if "Content-Type" not in reply.headers:
                        self.send_header("Content-Type", "application/json")
                if isinstance(data, str):
                    data = data.encode("utf-8")
                data = data or b""
                if "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(data)))
                else:
                    self.close_connection = True  # a lying length: do not reuse this connection
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        super().__init__(Handler)

    def _next(self, recorded: Recorded) -> Reply:
        if callable(self.script):
            return self.script(recorded)
        index = min(len(self.requests) - 1, len(self.script) - 1)
        return self.script[index]


def free_port() -> int:
    """A loopback port with nothing listening on it (for connection-refused tests)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.monotonic()
    try:
        result: Any = fn()
    except Exception as error:  # the caller asserts on it
        result = error
    return time.monotonic() - started, result
