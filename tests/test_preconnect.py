"""Connections opened ahead: where the entry point opens them, and that the first requests go out on them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from ckan_api_client import CkanLowlevelClient
from ckan_api_client.__main__ import VALUE_OPTIONS, connections_ahead
from ckan_api_client.blocking import preconnect
from loopback_servers import LoopbackServer, free_port

URL = "https://data.example.org/portal"
NO_ENV: dict[str, str] = {}


@pytest.mark.parametrize(("argv", "environ", "expected"), [
    (["--url", URL, "dump", "datasets", "--all"], NO_ENV, ("data.example.org", 443, 4)),
    (["dump", "datasets", "--all", "-r", "http://127.0.0.1:5000", "-j", "16"], NO_ENV, ("127.0.0.1", 5000, 8)),
    (["--url=http://[::1]:8080/", "-j2", "load", "datasets", "-I", "x.jsonl"], NO_ENV, ("::1", 8080, 2)),
    (["--remote", "http://ckan.local", "--processes=3", "mirror", "--to", "http://other"], NO_ENV, ("ckan.local", 80, 3)),
    (["action", "package_show", "id=x", "-j", "8"], {"CKAN_URL": URL}, ("data.example.org", 443, 1)),
    (["-a", "dump", "--url", URL, "search", "q=x"], NO_ENV, ("data.example.org", 443, 1)),  # "dump" is the token
    (["--url", URL, "dump", "--help"], NO_ENV, None),
    (["--version"], {"CKAN_URL": URL}, None),
    (["--url", URL], NO_ENV, None),  # no command: click prints the usage
    (["dump", "datasets", "--all"], NO_ENV, None),  # no URL: the command line says so
    (["--profile", "prod", "dump", "datasets"], {"CKAN_URL": URL}, None),  # the profile's URL is in its file
    (["--url", URL, "dump", "datasets"], {"HTTPS_PROXY": "http://proxy:3128"}, None),
    (["--url", "ftp://data.example.org", "dump", "datasets"], NO_ENV, None),
    (["--url", "http://host:99999", "dump", "datasets"], NO_ENV, None),
    (["--url", URL, "-j", "many", "dump", "datasets"], NO_ENV, None),
    (["--url", URL, "-j", "0", "dump", "datasets"], NO_ENV, None),
    (["--url"], NO_ENV, None),
    (["--", "--url", URL, "dump"], NO_ENV, None),
])
def test_the_entry_point_opens_connections_ahead_where_the_command_goes(
        argv: list[str], environ: dict[str, str], expected: tuple[str, int, int] | None) -> None:
    assert connections_ahead(argv, environ) == expected


def test_the_entry_point_knows_every_global_option_that_takes_a_value() -> None:
    from ckan_api_client.cli.app import _options_of, main
    assert {name for name, takes_value in _options_of(main).items() if takes_value} == set(VALUE_OPTIONS)


class Counting(LoopbackServer):
    """Answers every POST with an ok envelope; counts the connections it accepted and notes each request's
    client port."""

    def __init__(self) -> None:
        self.connections = 0
        self.ports: list[int] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                server.connections += 1

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.ports.append(self.client_address[1])
                body = b'{"success": true, "result": {"ckan_version": "2.11.0"}}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)


def wait_for(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within 5 s"
        time.sleep(0.01)


def test_the_first_requests_go_out_on_the_connection_opened_ahead() -> None:
    with Counting() as server:
        port = server.httpd.server_address[1]
        preconnect.open_ahead("127.0.0.1", port, 1)
        wait_for(lambda: server.connections == 1)  # accepted before the client exists
        with CkanLowlevelClient(server.url) as client:
            client.call_action("status_show")
            client.call_action("status_show")
        assert server.connections == 1 and len(set(server.ports)) == 1  # no second connection was made
        assert preconnect.take("127.0.0.1", port) is None  # it was taken


def test_a_connection_the_server_closed_or_that_failed_is_not_used() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        preconnect.open_ahead("127.0.0.1", port, 1)
        accepted, _ = listener.accept()
        accepted.close()  # the server drops it before any request
        time.sleep(0.2)  # the FIN reaches the client (loopback: well under a millisecond)
        assert preconnect.take("127.0.0.1", port) is None
    refused = free_port()
    preconnect.open_ahead("127.0.0.1", refused, 1)
    assert preconnect.take("127.0.0.1", refused) is None


def test_the_command_line_runs_on_its_connection_opened_ahead() -> None:
    """The entry point as people run it: one connection ahead for ``action``, and the request went out on it."""
    with Counting() as server:
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        done = subprocess.run([sys.executable, "-m", "ckan_api_client", "--url", server.url, "-j", "4", "action",
                               "status_show"], capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        assert '"ckan_version": "2.11.0"' in done.stdout
        assert server.connections == 1 and len(server.ports) == 1


def test_threads_opening_ahead_do_not_outlive_their_handshake() -> None:
    before = {t.name for t in threading.enumerate()}
    with Counting() as server:
        port = server.httpd.server_address[1]
        preconnect.open_ahead("127.0.0.1", port, 3)
        wait_for(lambda: server.connections == 3)
        wait_for(lambda: not any(t.name == "ckan-api-client-preconnect" for t in threading.enumerate()))
        for _ in range(3):
            sock = preconnect.take("127.0.0.1", port)
            assert sock is not None
            sock.close()
    assert {t.name for t in threading.enumerate()} - before <= {"ckan-api-client-preconnect"} - before


def test_the_entry_point_opens_them_before_the_command_line_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    import ckan_api_client.__main__ as entry
    import ckan_api_client.cli

    with Counting() as server:
        port = server.httpd.server_address[1]
        monkeypatch.setattr(sys, "argv", ["ckan-api-client", "-j", "2", "--url", server.url, "dump", "datasets"])
        monkeypatch.setattr(ckan_api_client.cli, "run", lambda: 0)  # the command itself is not what is tested
        assert entry.main() == 0
        wait_for(lambda: server.connections == 2)
        opened = [preconnect.take("127.0.0.1", port) for _ in range(3)]
        assert opened[0] is not None and opened[1] is not None and opened[2] is None
        for sock in opened[:2]:
            assert sock is not None
            sock.close()
