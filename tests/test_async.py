"""What only the async client has: many portals at once, a concurrency limit, async iterators of
DataStore rows and files; the rest of its behaviour is tested with the sync client's tests
(``test_low_level``, ``test_high_level``, ``test_malformed`` run for both)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from ckan_api_client import AsyncCkanLowlevelClient, AsyncDataStore
from ckan_api_client import DataStore
from ckan_api_client.low_level import CkanLowlevelClient
from ckan_stack_plugin import Factory, Stack
from loopback_servers import LoopbackServer


def test_three_portals_read_at_once_give_what_each_gives_alone(ckan_stack: Stack, other_stack: Stack,
                                                               factory: Factory) -> None:
    """The 2.12 stack and another release, each read in full at the same time by one event loop."""
    factory.make_dataset()
    stacks = [ckan_stack, other_stack, ckan_stack]
    alone = [[d["id"] for d in stack.client().iter_datasets()] for stack in stacks]
    pages = max(2, min(map(len, alone)) // 10)  # several pages from each, whatever their sizes

    async def read(stack: Stack) -> list[str]:
        async with AsyncCkanLowlevelClient(stack.url, stack.token, page_size=pages) as client:
            return [d["id"] async for d in client.iter_datasets()]

    async def everything() -> list[list[str]]:
        return list(await asyncio.gather(*(read(stack) for stack in stacks)))

    got = asyncio.run(everything())
    # Several id ranges of each portal walked at once: the same datasets, each once, by id within a range.
    assert [sorted(ids) for ids in got] == [sorted(ids) for ids in alone]
    assert all(len(ids) == len(set(ids)) for ids in got)


class Counting(LoopbackServer):
    """Answers every request after 0.1 s, counting how many are in flight at once."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.times: list[float] = []
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    server.in_flight += 1
                    server.most = max(server.most, server.in_flight)
                    server.times.append(time.monotonic())
                time.sleep(0.1)
                with lock:
                    server.in_flight -= 1
                body = b'{"success": true, "result": {"id": "x"}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)


def test_the_concurrency_limit_holds_and_the_pool_follows_it() -> None:
    with Counting() as server:
        async def many() -> None:
            async with AsyncCkanLowlevelClient(server.url, concurrency=3) as client:
                await asyncio.gather(*(client.get_dataset("x") for _ in range(12)))

        asyncio.run(many())
        assert server.most == 3


def test_the_async_rate_limit_spaces_requests() -> None:
    with Counting() as server:
        async def many() -> None:
            async with AsyncCkanLowlevelClient(server.url, concurrency=8, max_rps=10) as client:
                await asyncio.gather(*(client.get_dataset("x") for _ in range(6)))

        asyncio.run(many())
        starts = sorted(server.times)
        assert starts[-1] - starts[0] >= 0.45  # 6 requests at 10 per second: at least 0.5 s apart end to end


def test_clients_share_one_tls_context_per_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the CA bundle costs tens of milliseconds: built once per setting, not once per client (P9
    creates a client per portal); a changed ``SSL_CERT_FILE`` or another ``verify`` gives another one."""
    def context(client: AsyncCkanLowlevelClient) -> Any:
        return client.transport.client._transport._pool._ssl_context  # type: ignore[attr-defined]

    first, second = AsyncCkanLowlevelClient("http://127.0.0.1:9"), AsyncCkanLowlevelClient("http://127.0.0.1:9")
    assert context(first) is context(second)
    assert context(AsyncCkanLowlevelClient("http://127.0.0.1:9", verify=False)) is not context(first)
    import certifi
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert context(AsyncCkanLowlevelClient("http://127.0.0.1:9")) is not context(first)


def test_datastore_rows_async_equal_the_sync_ones(client: CkanLowlevelClient, factory: Factory) -> None:
    dataset = factory.make_dataset(resources=[{"url": "http://example.com/t.csv", "name": "t"}])
    resource_id = dataset["resources"][0]["id"]
    rows = [{"n": i, "label": f"row {i} ü"} for i in range(2_345)]
    DataStore(client, chunk_size=1000).create(resource_id, records=rows)
    expected = list(DataStore(client, page_size=500).iter_records(resource_id))
    assert len(expected) == len(rows)

    async def read() -> tuple[list[dict[str, Any]], bool]:
        async with AsyncCkanLowlevelClient(client.base_url, client.api_key) as aclient:
            store = AsyncDataStore(aclient, page_size=500)
            got = [row async for row in store.iter_records(resource_id)]
            return got, await store.exists(resource_id)

    got, exists = asyncio.run(read())
    assert got == expected and exists


def test_upload_and_download_async_byte_identical(client: CkanLowlevelClient, factory: Factory,
                                                  tmp_path: Path) -> None:
    dataset = factory.make_dataset()
    payload = os.urandom(3_000_000)
    source = tmp_path / "upload.bin"
    source.write_bytes(payload)
    seen: list[int] = []

    async def round_trip() -> Path:
        async with AsyncCkanLowlevelClient(client.base_url, client.api_key) as aclient:
            resource = await aclient.call_action("resource_create", {"package_id": dataset["id"], "name": "big"},
                                                 files={"upload": source}, progress=seen.append)
            result = await aclient.download_resource(resource, tmp_path / "back.bin")
            return result.path

    back = asyncio.run(round_trip())
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(payload).digest()
    assert seen and seen[-1] == len(payload)


@pytest.mark.parametrize("wrong", [{"concurrency": 0}, {"max_rps": 0}, {"timeout_seconds": 3}])
def test_wrong_options_are_refused_before_anything_is_sent(wrong: dict[str, Any]) -> None:
    from ckan_api_client import exceptions as exc

    with pytest.raises(exc.InvalidInput):
        AsyncCkanLowlevelClient("http://127.0.0.1:9", **wrong)
