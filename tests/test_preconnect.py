"""The connection opened ahead: where the entry point opens it, that the first requests go out on it, and that
it never holds a server's worker for long."""

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
from ckan_api_client.__main__ import MAX_WALKS, VALUE_OPTIONS, connection_ahead
from ckan_api_client.blocking import preconnect
from loopback_servers import LoopbackServer, free_port

URL = "https://data.example.org/portal"
NO_ENV: dict[str, str] = {}


@pytest.mark.parametrize(("argv", "environ", "expected"), [
    (["--url", URL, "action", "status_show"], NO_ENV, ("data.example.org", 443, 1)),
    (["dump", "datasets", "-r", "http://127.0.0.1:5000", "x", "y"], NO_ENV, ("127.0.0.1", 5000, 1)),
    (["--url=http://[::1]:8080/", "-j2", "load", "datasets", "-I", "x.jsonl"], NO_ENV, ("::1", 8080, 1)),
    (["--remote", "http://CKAN.local", "--processes=3", "mirror", "--to", "http://other"], NO_ENV,
     ("ckan.local", 80, 1)),
    (["action", "package_show", "id=x", "-j", "8"], {"CKAN_URL": URL}, ("data.example.org", 443, 1)),
    (["-a", "dump", "--url", URL, "search", "q=x"], NO_ENV, ("data.example.org", 443, 1)),  # "dump" is the token
    (["-adump", "--url", URL, "search"], NO_ENV, ("data.example.org", 443, 1)),
    # A dump of all datasets starts with a walk per job (at most 8), and the token check when there is a token
    (["--url", URL, "dump", "datasets", "--all"], NO_ENV, ("data.example.org", 443, 4)),
    (["--url", URL, "dump", "datasets", "--all"], {"CKAN_API_TOKEN": "t"}, ("data.example.org", 443, 5)),
    (["-j", "2", "--token", "t", "--url", URL, "dump", "datasets", "--all"], NO_ENV, ("data.example.org", 443, 3)),
    (["-j16", "-at", "--url", URL, "dump", "datasets", "-o", "x", "--all"], NO_ENV, ("data.example.org", 443, 9)),
    (["--url", URL, "dump", "datasets", "--all", "--resume", "-o", "x"], NO_ENV, ("data.example.org", 443, 1)),
    (["--url", URL, "dump", "organizations", "--all"], NO_ENV, ("data.example.org", 443, 1)),
    (["--url", URL, "-j", "many", "dump", "datasets", "--all"], NO_ENV, ("data.example.org", 443, 1)),
    (["--url", URL, "dump", "--help"], NO_ENV, None),
    (["--version"], {"CKAN_URL": URL}, None),
    (["--url", URL], NO_ENV, None),  # no command: click prints the usage
    (["dump", "datasets", "--all"], NO_ENV, None),  # no URL: the command line says so
    (["--profile", "prod", "dump", "datasets"], {"CKAN_URL": URL}, None),  # the profile's URL is in its file
    (["--url", URL, "dump", "datasets"], {"HTTPS_PROXY": "http://proxy:3128"}, None),
    (["--url", URL, "dump", "datasets"], {"all_proxy": "socks5://proxy:1080"}, None),
    (["--url", "ftp://data.example.org", "dump", "datasets"], NO_ENV, None),
    (["--url", "http://host:99999", "dump", "datasets"], NO_ENV, None),
    (["--url"], NO_ENV, None),
    (["--", "--url", URL, "dump"], NO_ENV, None),
])
def test_the_entry_point_opens_connections_ahead_where_the_command_goes(
        argv: list[str], environ: dict[str, str], expected: tuple[str, int, int] | None) -> None:
    assert connection_ahead(argv, environ) == expected


def test_the_entry_point_knows_how_many_ranges_a_dump_walks() -> None:
    from ckan_api_client.engines.dump import MAX_WALKS as WALKED
    assert MAX_WALKS == WALKED


def test_the_entry_point_knows_every_global_option_that_takes_a_value() -> None:
    from ckan_api_client.cli.app import _options_of, main
    assert {name for name, takes_value in _options_of(main).items() if takes_value} == set(VALUE_OPTIONS)


class Counting(LoopbackServer):
    """Answers every POST with an ok envelope (``answer_after`` seconds late); counts the connections it
    accepted and notes each request's client port."""

    def __init__(self, answer_after: float = 0.0) -> None:
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
                time.sleep(answer_after)
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
        preconnect.open_ahead("127.0.0.1", port)
        wait_for(lambda: server.connections == 1)  # accepted before the client exists
        with CkanLowlevelClient(server.url) as client:
            client.call_action("status_show")
            client.call_action("status_show")
        assert server.connections == 1 and len(set(server.ports)) == 1  # no second connection was made
        assert preconnect.take("127.0.0.1", port) is None  # it was taken


def test_requests_sent_at_once_each_take_a_connection_opened_ahead() -> None:
    with Counting(answer_after=0.3) as server:  # the three are in flight together: none reuses another's
        port = server.httpd.server_address[1]
        preconnect.open_ahead("127.0.0.1", port, count=3)
        wait_for(lambda: server.connections == 3)
        with CkanLowlevelClient(server.url, concurrency=3) as client:
            barrier = threading.Barrier(3)

            def call() -> None:
                barrier.wait()
                client.call_action("status_show")

            calls = [threading.Thread(target=call) for _ in range(3)]
            for thread in calls:
                thread.start()
            for thread in calls:
                thread.join(10)
        assert server.connections == 3 and preconnect.take("127.0.0.1", port) is None  # none made anew, none left


def test_a_connection_the_server_closed_or_that_failed_is_not_used() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        preconnect.open_ahead("127.0.0.1", port)
        accepted, _ = listener.accept()
        accepted.close()  # the server drops it before any request
        time.sleep(0.2)  # the FIN reaches the client (loopback: well under a millisecond)
        assert preconnect.take("127.0.0.1", port) is None
    refused = free_port()
    preconnect.open_ahead("127.0.0.1", refused)
    assert preconnect.take("127.0.0.1", refused) is None


def test_the_command_line_runs_on_its_connection_opened_ahead() -> None:
    """The entry point as people run it: the request went out on the connection opened ahead (no second one)."""
    with Counting() as server:
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        done = subprocess.run([sys.executable, "-m", "ckan_api_client", "--url", server.url, "-j", "4", "action",
                               "status_show"], capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        assert '"ckan_version": "2.11.0"' in done.stdout
        assert server.connections == 1 and len(server.ports) == 1


def test_a_connection_not_taken_soon_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """It would hold a worker of a server with few synchronous workers from everyone else."""
    monkeypatch.setattr(preconnect, "MAX_AGE", 0.2)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        preconnect.open_ahead("127.0.0.1", port)
        preconnect.open_ahead("127.0.0.1", port)  # one at a time, never more
        accepted, _ = listener.accept()
        listener.settimeout(0.5)
        with pytest.raises(TimeoutError):
            listener.accept()
        accepted.settimeout(5)
        assert accepted.recv(1) == b""  # closed by the client after MAX_AGE, untaken
        accepted.close()
        assert preconnect.take("127.0.0.1", port) is None


def test_the_entry_point_opens_it_before_the_command_line_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    import ckan_api_client.__main__ as entry
    import ckan_api_client.cli

    with Counting() as server:
        port = server.httpd.server_address[1]
        monkeypatch.setattr(sys, "argv", ["ckan-api-client", "-j", "2", "--url", server.url, "dump", "datasets"])
        monkeypatch.setattr(ckan_api_client.cli, "run", lambda: 0)  # the command itself is not what is tested
        assert entry.main() == 0
        wait_for(lambda: server.connections == 1)
        opened = preconnect.take("127.0.0.1", port)
        assert opened is not None and preconnect.take("127.0.0.1", port) is None
        opened.close()


def test_a_server_with_one_synchronous_worker_serves_every_request() -> None:
    """gunicorn's sync worker: one connection at a time, closed after its answer. The connection opened ahead
    is accepted first and the client's first request goes out on it, so nothing waits behind an idle one
    (with several opened ahead, a command hung this way against the test stack's two workers)."""
    from http.server import HTTPServer

    served: list[int] = []

    class OneAtATime(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the answer closes the connection

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            served.append(self.client_address[1])
            body = b'{"success": true, "result": {"ckan_version": "2.11.0"}}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = HTTPServer(("127.0.0.1", 0), OneAtATime)
    worker = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    worker.start()
    port = server.server_address[1]
    try:
        preconnect.open_ahead("127.0.0.1", port)
        done = threading.Event()

        def three_requests() -> None:
            with CkanLowlevelClient(f"http://127.0.0.1:{port}") as client:
                for _ in range(3):
                    client.call_action("status_show")
            done.set()

        threading.Thread(target=three_requests, daemon=True).start()
        assert done.wait(10), "a request waited behind an idle connection"
        assert len(served) == 3
    finally:
        server.shutdown()
        server.server_close()
