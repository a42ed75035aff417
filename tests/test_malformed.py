"""Malformed answers are faults: retried for reads, unknown outcomes for writes; downloads resume within a call.

Loopback servers only (no CKAN): each answers exactly the fault under test."""

from __future__ import annotations

import hashlib
import json
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable

import pytest

from ckan_api_client import CkanLowlevelClient
from ckan_api_client import AsyncCkanLowlevelClient
from ckan_api_client import exceptions as exc
from ckan_api_client import RetryPolicy
from ckan_api_client.core import entities
from ckan_api_client.core.operation import Call
from ckan_api_client.core.writes import CreateOutcome, create_resolving
from async_facade import Blocking
from loopback_servers import LoopbackServer

TOKEN = "tok-" + "m" * 40
FAST = RetryPolicy(max_attempts=5, backoff_base=0.01)
GOOD = json.dumps({"success": True, "result": {"id": "d1", "name": "d1"}}).encode()
CUT_JSON = GOOD[:25]
HTML = b"<!doctype html><html><head><title>Down for maintenance</title></head><body>back soon</body></html>"
NULL_RESULT = json.dumps({"success": True, "result": None}).encode()


class Script(LoopbackServer):
    """Each request is answered by the next of ``steps``: (status, body, close-delimited?) or a callable."""

    def __init__(self, steps: list[Any]) -> None:
        self.steps = steps
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # no Content-Length below means: the body ends when the connection does

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.seen.append((self.command, self.path, dict(self.headers.items())))
                step = server.steps[min(len(server.seen), len(server.steps)) - 1]
                if callable(step):
                    step(self)
                    return
                status, body, with_length = step
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if with_length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = handle_one

        super().__init__(Handler)


def client_for(server: LoopbackServer, mode: str = "sync", **options: Any) -> Any:
    """The sync client, or the async one behind blocking calls: both must behave the same."""
    if mode == "sync":
        return CkanLowlevelClient(server.url, TOKEN, retry=FAST, **options)
    return Blocking(AsyncCkanLowlevelClient(server.url, TOKEN, retry=FAST, **options))


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("fault", [NULL_RESULT, CUT_JSON, HTML, b"", b'{"success": true}'],
                         ids=["null-result", "cut-json", "html-page", "empty", "no-result"])
def test_a_read_answered_with_a_malformed_200_is_retried(mode: str, fault: bytes) -> None:
    with Script([(200, fault, False), (200, GOOD, True)]) as server:
        client = client_for(server, mode)
        assert client.get_dataset("d1") == {"id": "d1", "name": "d1"}
        assert len(server.seen) == 2
        assert client.transport.stats.retry_reasons == {"a malformed answer": 1}


def test_a_read_that_stays_malformed_ends_in_a_typed_error(mode: str) -> None:
    with Script([(200, HTML, False)]) as server:
        with pytest.raises(exc.MalformedAnswer, match="Down for maintenance"):
            client_for(server, mode).get_dataset("d1")
        assert len(server.seen) == FAST.max_attempts


def test_a_write_answered_with_a_cut_body_is_an_unknown_outcome_not_sent_again(mode: str) -> None:
    with Script([(200, CUT_JSON, False)]) as server:
        with pytest.raises(exc.MalformedAnswer) as raised:
            client_for(server, mode).call_action("package_create", {"name": "d1"})
        assert len(server.seen) == 1
        assert exc.outcome_unknown(raised.value)


def test_an_uncertain_create_is_resolved_only_by_a_well_formed_read_back() -> None:
    # create: cut; read-back: null result (malformed: retried), then the dataset.
    with Script([(200, CUT_JSON, False), (200, NULL_RESULT, True), (200, GOOD, True)]) as server:
        client = client_for(server)

        created = client.run(create_resolving(Call("package_create", {"name": "d1"}),
                                              lambda: entities.find_dataset("d1")))
        assert created.outcome is CreateOutcome.RESOLVED and created.result["id"] == "d1"
        assert [path.rsplit("/", 1)[1] for _, path, _ in server.seen] == ["package_create", "package_show",
                                                                          "package_show"]


def test_a_409_whose_body_is_cut_keeps_its_status_and_is_resolved_by_reading_back() -> None:
    conflict = json.dumps({"success": False, "error": {"__type": "Validation Error",
                                                       "name": ["That URL is already in use."]}}).encode()
    with Script([(409, conflict[:30], False), (409, conflict[:30], False), (200, GOOD, True)]) as server:
        client = client_for(server)
        with pytest.raises(exc.ValidationError) as raised:
            client.call_action("package_create", {"name": "d1"})
        assert raised.value.status_code == 409 and raised.value.reason_lost
        created = client.run(create_resolving(Call("package_create", {"name": "d1"}),
                                              lambda: entities.find_dataset("d1")))
        assert created.outcome is CreateOutcome.TAKEN and created.result["id"] == "d1"


def trickle(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(GOOD) + 10_000))
    handler.end_headers()
    try:
        for byte in GOOD + b" " * 10_000:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.05)
    except OSError:
        pass


def test_a_trickled_body_ends_in_a_typed_timeout_at_the_deadline(mode: str) -> None:
    with Script([trickle]) as server:
        client = client_for(server, mode, read_deadline=1.5)
        started = time.monotonic()
        with pytest.raises(exc.RequestTimeout, match="deadline"):
            client.get_dataset("d1")
        assert time.monotonic() - started < 5


FILE = bytes(range(256)) * 4096  # 1 MiB


def serve_file(cut_at: int | None) -> Callable[[BaseHTTPRequestHandler], None]:
    """Answer the file (or the range asked for), closing the connection after ``cut_at`` bytes of it."""
    def answer(handler: BaseHTTPRequestHandler) -> None:
        start = 0
        asked = handler.headers.get("Range")
        if asked:
            start = int(asked.split("=")[1].rstrip("-"))
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{len(FILE) - 1}/{len(FILE)}")
        else:
            handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(FILE) - start))
        handler.end_headers()
        end = len(FILE) if cut_at is None else min(len(FILE), start + cut_at)
        handler.wfile.write(FILE[start:end])
    return answer


def download(client: Any, *args: Any) -> Any:
    return client.download_resource(*args)


def resource(server: LoopbackServer) -> dict[str, Any]:
    return {"id": "r1", "url": f"{server.url}/download/data.bin", "size": len(FILE),
            "hash": "sha256:" + hashlib.sha256(FILE).hexdigest()}


def test_a_download_cut_mid_body_finishes_byte_identical_in_one_call(mode: str, tmp_path: Path) -> None:
    with Script([serve_file(300_000), serve_file(300_000), serve_file(None)]) as server:
        client = client_for(server, mode)
        result = download(client, resource(server), tmp_path / "data.bin")
        assert (tmp_path / "data.bin").read_bytes() == FILE and result.size == len(FILE)
        assert [h.get("Range") for _, _, h in server.seen] == [None, "bytes=300000-", "bytes=600000-"]
        assert client.transport.stats.retry_reasons == {"a download cut short": 2}
        assert not (tmp_path / "data.bin.part").exists()


def test_a_reset_that_keeps_happening_is_typed_and_keeps_the_part_for_later(mode: str, tmp_path: Path) -> None:
    with Script([serve_file(100_000)]) as server:
        client = client_for(server, mode)
        with pytest.raises(exc.TransportError) as raised:
            download(client, resource(server), tmp_path / "data.bin")
        assert raised.value.body_cut
        part = tmp_path / "data.bin.part"
        assert part.read_bytes() == FILE[:part.stat().st_size] and part.stat().st_size == 5 * 100_000
        server.steps = [serve_file(None)]
        download(client, resource(server), tmp_path / "data.bin")
        assert (tmp_path / "data.bin").read_bytes() == FILE
        assert server.seen[-1][2].get("Range") == "bytes=500000-"


def test_bulk_delete_counts_what_it_saw_not_what_it_assumed() -> None:
    from ckan_api_client import engines as bulk

    gone = (404, json.dumps({"success": False, "error": {"__type": "Not Found Error", "message": "Not found"}}).encode(),
            True)
    purged = (200, json.dumps({"success": True, "result": None}).encode(), True)
    gateway = (502, b"<html><title>Bad Gateway</title></html>", True)

    def run(steps: list[Any]) -> dict[str, int]:
        with Script([(200, json.dumps({"success": True, "result": ["u"]}).encode(), True),  # user_list
                     (200, json.dumps({"success": True, "result": False}).encode(), True),  # am_following_user
                     *steps]) as server:
            return bulk.delete(client_for(server), "datasets", ["d1"], purge=True, concurrency=1).counts

    assert run([purged]) == {"purged": 1}
    assert run([gone]) == {"not found": 1}
    # The first purge's outcome is unknown (a gateway error): its repeat meets a 404. Gone, but maybe by us.
    assert run([gateway, gone]) == {"gone after an uncertain attempt": 1}
