"""Hostile and broken servers, TLS, and file-path safety: typed errors, bounded memory, nothing leaked."""

from __future__ import annotations

import os
import ssl
import subprocess
import tracemalloc
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ckan_api_client import exceptions as exc
from ckan_api_client.core.files import resource_path
from ckan_api_client import RetryPolicy
from async_facade import MODES, download, make_client
from loopback_servers import LoopbackServer, Reply, ScriptedServer, ok, timed

TOKEN = "hostile-test-token-0123456789"
ONCE = RetryPolicy(max_attempts=1)


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Each test with a client runs for the sync client and for the async one."""
    return str(request.param)


def endless(chunk: bytes = b"x" * 65536, limit_bytes: int | None = None) -> Any:
    def generate() -> Iterator[bytes]:
        sent = 0
        while limit_bytes is None or sent < limit_bytes:
            yield chunk
            sent += len(chunk)
    return generate


def test_an_endless_ok_body_is_an_error_not_a_hang(mode: str) -> None:
    with ScriptedServer([Reply(200, headers={"Content-Type": "application/json"}, stream=endless()),
                         ok({"id": "fine"})]) as server:
        client = make_client(mode, server.url, TOKEN, retry=ONCE, max_response_bytes=8 << 20)
        elapsed, error = timed(lambda: client.get_dataset("x"))
        assert isinstance(error, exc.BadApiError) and "limit" in str(error)
        assert elapsed < 10
        assert client.get_dataset("fine") == {"id": "fine"}  # still usable


def test_a_huge_error_body_is_not_buffered(mode: str) -> None:
    with ScriptedServer([Reply(500, headers={"Content-Type": "text/html"},
                               stream=endless(b"<html>" + b"y" * 65530, limit_bytes=400 << 20))]) as server:
        client = make_client(mode, server.url, TOKEN, retry=ONCE)
        tracemalloc.start()
        try:
            elapsed, error = timed(lambda: client.call_action("package_create", {"name": "x"}))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert isinstance(error, exc.ServerError) and error.status_code == 500
    assert len(error.original or "") <= 64 * 1024
    assert elapsed < 10
    assert peak < 10 << 20  # a 400 MB body, and at most 10 MB allocated while reading it


def test_a_huge_declared_ok_body_is_refused_up_front(mode: str) -> None:
    with ScriptedServer([Reply(200, body=b"{}", headers={"Content-Length": str(5 << 30)})]) as server:
        client = make_client(mode, server.url, TOKEN, retry=ONCE)
        with pytest.raises(exc.BadApiError, match="over the limit"):
            client.get_dataset("x")


def test_a_body_cut_short_is_retried_for_reads(mode: str) -> None:
    # Content-Length promises more than is sent, then the connection closes.
    calls = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            calls["n"] += 1
            body = b'{"success": true, "result": {"id": "whole"}}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + (100 if calls["n"] == 1 else 0)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

    with LoopbackServer(Handler) as server:
        client = make_client(mode, server.url, TOKEN, retry=RetryPolicy(max_attempts=3, backoff_base=0.01))
        assert client.get_dataset("x") == {"id": "whole"}
        assert calls["n"] == 2 and client.transport.stats.retry_reasons == {"a body cut short": 1}


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A loopback HTTPS server with a self-signed certificate for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b'{"success": true, "result": {"id": "over-tls"}}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = LoopbackServer(Handler)
    server.scheme = "https"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    with server:
        yield server.url, cert


def test_tls_self_signed_is_refused_by_default_and_accepted_with_its_ca(mode: str, tls_server: tuple[str, Path]) -> None:
    url, cert = tls_server
    refused = make_client(mode, url, TOKEN, retry=ONCE)
    with pytest.raises(exc.TransportError) as caught:
        refused.get_dataset("x")
    assert "certificate" in str(caught.value).lower() and caught.value.request_sent is False
    assert TOKEN not in str(caught.value)
    trusted = make_client(mode, url, TOKEN, verify=str(cert), retry=ONCE)
    assert trusted.get_dataset("x") == {"id": "over-tls"}


names = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ["../../etc/passwd", "/etc/passwd", "..", ".", "", "a/../../b", "C:\\Windows\\x.dll", "\u202e.exe", "名前.csv",
     "%2e%2e%2f%2e%2e%2fetc", "\x00null"])


@settings(max_examples=300)
@given(names, names, names)
def test_resource_paths_stay_inside_the_folder(resource_id: str, url_tail: str, name: str) -> None:
    root = Path("/tmp/ckan-path-test-root")
    resource = {"id": resource_id, "url": "http://example.org/" + url_tail, "name": name}
    path = resource_path(root, resource)
    assert path.resolve().is_relative_to(root.resolve())
    assert path.parent.parent.resolve() == root.resolve()  # always <root>/<id>/<file>


def test_existing_files_are_not_overwritten_unless_asked(mode: str, tmp_path: Path) -> None:
    with ScriptedServer([Reply(200, b"new content", {"Content-Type": "text/csv"})]) as server:
        client = make_client(mode, server.url, TOKEN)
        resource = {"id": "r1", "url": server.url + "/data.csv", "format": "CSV", "size": len(b"new content")}
        dest = tmp_path / "data.csv"
        dest.write_bytes(b"precious local edits")
        with pytest.raises(exc.DestinationExists, match="differs"):  # it differs from what the resource declares
            download(client, resource, dest)
        assert dest.read_bytes() == b"precious local edits"
        undeclared = {k: v for k, v in resource.items() if k != "size"}
        assert download(client, undeclared, dest).skipped  # cannot tell: kept as it is
        assert dest.read_bytes() == b"precious local edits" and server.requests == []
        result = download(client, resource, dest, overwrite=True)
        assert dest.read_bytes() == b"new content" and not result.skipped
        assert download(client, resource, dest).skipped  # complete already: nothing fetched
        assert len(server.requests) == 1


def test_html_instead_of_data_is_rejected_and_nothing_is_written(mode: str, tmp_path: Path) -> None:
    login = b"<!DOCTYPE html><html><head><title>Log in</title></head><body>please log in</body></html>"
    with ScriptedServer([Reply(200, login, {"Content-Type": "text/html; charset=utf-8"})]) as server:
        client = make_client(mode, server.url, TOKEN)
        dest = tmp_path / "data.csv"
        with pytest.raises(exc.DownloadError, match="HTML page"):
            download(client, {"id": "r", "url": server.url + "/download/data.csv", "format": "CSV"}, dest)
        assert not dest.exists() and not list(tmp_path.iterdir())


def test_size_and_hash_are_verified(mode: str, tmp_path: Path) -> None:
    import hashlib

    data = os.urandom(5000)
    with ScriptedServer([Reply(200, data, {"Content-Type": "application/octet-stream"})]) as server:
        client = make_client(mode, server.url, TOKEN)
        base = {"id": "r", "url": server.url + "/f.bin"}
        with pytest.raises(exc.DownloadError, match="declares"):
            download(client, dict(base, size=4999), tmp_path / "a.bin")
        with pytest.raises(exc.DownloadError, match="hash"):
            download(client, dict(base, hash="0" * 64), tmp_path / "b.bin")
        good = download(client, dict(base, size=5000, hash=hashlib.md5(data).hexdigest()), tmp_path / "c.bin")
        assert good.size == 5000 and (tmp_path / "c.bin").read_bytes() == data
        assert not list(tmp_path.glob("*.part"))


def test_download_resumes_with_a_range(mode: str, tmp_path: Path) -> None:
    data = os.urandom(10000)

    def answer(recorded: Any) -> Reply:
        wanted = recorded.headers.get("Range")
        if wanted:
            start = int(wanted.split("=")[1].rstrip("-"))
            return Reply(206, data[start:], {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
        return Reply(200, data)

    with ScriptedServer(answer) as server:
        client = make_client(mode, server.url, TOKEN)
        dest = tmp_path / "big.bin"
        (tmp_path / "big.bin.part").write_bytes(data[:4000])  # an earlier, interrupted download
        result = download(client, {"id": "r", "url": server.url + "/big.bin", "size": 10000}, dest)
        assert dest.read_bytes() == data and result.size == 10000
        assert server.requests[0].headers["Range"] == "bytes=4000-"


# ---------------------------------------------------------------- tokens as people paste them

JWT_LIKE = "eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJ0ZXN0LXRva2VuIn0.s1gn4tur3-_x"


def spellings(token: str) -> list[str]:
    """Every form in which an HTTP library or a log could print the token."""
    from urllib.parse import quote

    return [token, repr(token), repr(token)[1:-1], json_escaped(token), quote(token, safe=""), token.strip()]


def json_escaped(text: str) -> str:
    import json

    return json.dumps(text)[1:-1]


@pytest.mark.parametrize("pasted", [JWT_LIKE + "\n", JWT_LIKE + "\r\n", " " + JWT_LIKE, "\t" + JWT_LIKE + " \n"])
def test_whitespace_around_a_token_is_stripped_with_a_warning(mode: str, pasted: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    with ScriptedServer([ok({"id": "x"})]) as server:
        client = make_client(mode, server.url, pasted)
        assert client.get_dataset("x") == {"id": "x"}
        assert len(server.requests) == 1  # sent once: nothing refused it, nothing was retried
        assert server.requests[0].headers["Authorization"] == JWT_LIKE
    assert "stripped" in caplog.text
    for form in spellings(pasted):
        assert form not in caplog.text and form not in repr(client)


@pytest.mark.parametrize("pasted", [JWT_LIKE[:20] + "\n" + JWT_LIKE[20:], JWT_LIKE + " x", JWT_LIKE + "é",
                                    JWT_LIKE + "\x00"])
def test_a_token_no_header_can_carry_is_refused_before_any_request(mode: str, pasted: str,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    with ScriptedServer([ok({"id": "x"})]) as server:
        with pytest.raises(exc.InvalidInput, match="API token") as refused:
            make_client(mode, server.url, pasted)
        assert server.requests == []
    for form in spellings(pasted):
        assert form not in str(refused.value) and form not in caplog.text


@pytest.mark.parametrize("header", ["x\ny", "é", " leading"])
def test_a_header_the_http_library_refuses_is_a_local_error_never_retried(mode: str, header: str,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    with ScriptedServer([ok({"id": "x"})]) as server:
        client = make_client(mode, server.url, JWT_LIKE)
        elapsed, error = timed(lambda: client.request("GET", "/api/3/action/status_show",
                                                      headers={"X-Extra": header}))
        assert isinstance(error, exc.InvalidInput), error
        assert server.requests == [] and "retrying" not in caplog.text and elapsed < 2
        assert JWT_LIKE not in str(error)


def test_every_spelling_of_the_token_is_masked_in_errors(mode: str) -> None:
    """A server (or a proxy) that echoes the token back, raw, escaped or URL-encoded: masked in the error."""
    from urllib.parse import quote

    token = JWT_LIKE + "/+="  # characters that URL-encoding and escaping change
    echoed = f"raw {token} | repr {token!r} | json {json_escaped(token)} | url {quote(token, safe='')}"
    with ScriptedServer([Reply(403, body=echoed)]) as server:
        client = make_client(mode, server.url, token, retry=ONCE)
        with pytest.raises(exc.NotAuthorized) as refused:
            client.get_dataset("x")
    text = f"{refused.value} {refused.value.original} {refused.value!r}"
    for form in spellings(token):
        assert form not in text, form
    assert "********" in text


def test_a_user_agent_no_header_can_carry_is_refused(mode: str) -> None:
    with pytest.raises(exc.InvalidInput, match="User-Agent"):
        make_client(mode, "http://127.0.0.1:1", user_agent="me\r\nX-Injected: 1")


def test_a_batch_sends_a_write_once_and_says_when_its_outcome_is_unknown(tmp_path: Path) -> None:
    import json

    from cli_runner import cli

    # Every answer is lost: the connection closes once the request is read.
    with ScriptedServer(lambda request: Reply(drop=True)) as server:
        actions = tmp_path / "actions.jsonl"
        actions.write_text(json.dumps({"action": "package_patch", "data": {"id": "x", "title": "T"}}) + "\n" +
                           json.dumps({"action": "package_show", "data": {"id": "x"}}) + "\n")
        run = cli(None, "--url", server.url, "--retries", "2", "batch", "-i", str(actions), check=3)
        sent = [r.path.rsplit("/", 1)[-1] for r in server.requests]
    assert sent.count("package_patch") == 1 and sent.count("package_show") == 3  # a read is tried again
    failures = [line for line in run.stderr.splitlines() if line.startswith("failed: ")]
    assert "package_patch x" in failures[0] and "the write may have been applied" in failures[0]
    assert "package_show x" in failures[1] and "may have been applied" not in failures[1]
    assert (tmp_path / "actions.jsonl.checkpoint").read_text() == ""  # neither line is done
