"""At 30% faults of every kind a proxy makes (malformed 200s, cut bodies, gateway errors, stalls),
the full reads, the dump, the load and the sync still finish complete: nothing lost, nothing twice.

The faults are those a proxy or a crashing worker in front of CKAN makes (``fault_proxy.MALFORMED``);
the portal behind is the real local stack."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from ckan_api_client import engines as bulk
from ckan_api_client.testing import discard
from ckan_api_client import AsyncCkanLowlevelClient
from ckan_api_client import RetryPolicy
from ckan_api_client.low_level import CkanLowlevelClient
from ckan_api_client.engines.sync import SynchronizationClient
from ckan_api_client.testing import unique_name
from ckan_stack_plugin import Factory, Stack
from cli_runner import cli
from fault_proxy import MALFORMED, FaultProxy
from real_portals import depositar

RATE = 0.30
POLICY = RetryPolicy(max_attempts=12, backoff_base=0.02, backoff_max=0.2)
OPTIONS: dict[str, Any] = {"timeout": (2, 1.0), "retry": POLICY}


@pytest.fixture
def proxy(ckan_stack: Stack) -> Iterator[FaultProxy]:
    with FaultProxy(ckan_stack.url, rate=RATE, seed=11, faults=MALFORMED, stall_seconds=1.5) as running:
        yield running


@pytest.fixture
def thirty(factory: Factory) -> dict[str, Any]:
    org = factory.make_org()
    for _ in range(30):
        factory.make_dataset(org=org)
    return org


def test_iter_datasets_sync_and_async_are_complete_through_malformed_answers(
        ckan_stack: Stack, client: CkanLowlevelClient, proxy: FaultProxy, thirty: dict[str, Any]) -> None:
    expected = [d["id"] for d in client.iter_datasets()]
    pages = max(2, len(expected) // 30)  # about 30 pages, whatever the size of the site
    faulty = CkanLowlevelClient(proxy.url, ckan_stack.token, page_size=pages, **OPTIONS)
    assert [d["id"] for d in faulty.iter_datasets()] == expected

    async def read() -> list[str]:
        async with AsyncCkanLowlevelClient(proxy.url, ckan_stack.token, page_size=pages, **OPTIONS) as aclient:
            return [d["id"] async for d in aclient.iter_datasets()]

    got = asyncio.run(read())  # several id ranges at once: every dataset once, in another order
    assert sorted(got) == sorted(expected) and len(got) == len(set(got))
    kinds = set(proxy.injected)
    assert {"null_result", "cut_json", "html_200"} <= kinds, proxy.injected
    assert faulty.transport.stats.retry_reasons.get("a malformed answer", 0) > 0


def test_dump_all_on_the_command_line_is_complete_through_malformed_answers(
        ckan_stack: Stack, client: CkanLowlevelClient, proxy: FaultProxy, thirty: dict[str, Any],
        tmp_path: Path) -> None:
    direct = tmp_path / "direct.jsonl"
    bulk.dump(client, "datasets", direct)
    through = tmp_path / "through.jsonl"
    cli(None, "--url", proxy.url, "--token", ckan_stack.token, "--retries", "11", "--timeout", "5",
        "dump", "datasets", "--all", "-o", str(through))
    assert through.read_bytes() == direct.read_bytes()
    assert sum(proxy.injected.values()) >= 2  # a dump of the whole site is a handful of large pages


def renamed(records: list[dict[str, Any]], suffix: str, org: str) -> list[dict[str, Any]]:
    out = copy.deepcopy(records)
    for record in out:
        record["name"] = f"{record['name'][:80]}-{suffix}"
        record["organization"] = {"name": org}
    return out


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return [r for r in depositar(150) if not any(len(t["name"]) < 2 for t in r.get("tags") or [])][:80]


def test_load_counts_only_what_was_verified_and_loses_nothing(
        ckan_stack: Stack, client: CkanLowlevelClient, proxy: FaultProxy, factory: Factory,
        records: list[dict[str, Any]], tmp_path: Path) -> None:
    org = factory.make_org()
    source = renamed(records, uuid.uuid4().hex[:8], org["name"])
    path = tmp_path / "load.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in source), encoding="utf-8")
    faulty = CkanLowlevelClient(proxy.url, ckan_stack.token, **OPTIONS)
    try:
        first = bulk.load(faulty, "datasets", path, concurrency=4)
        assert first.errors == [], first.errors[:3]
        counts = first.counts
        assert counts.get("created", 0) + counts.get("confirmed by reading back", 0) + counts.get("updated", 0) \
            == len(source)
        assert all(proxy.created_names[("package_create", r["name"])] == 1 for r in source)
        held = {d["name"] for d in bulk.search(client, fq=f"owner_org:{org['id']}", include_private=True)}
        assert held == {r["name"] for r in source}
        # Loaded again: everything exists, so nothing may be counted as created.
        again = bulk.load(faulty, "datasets", path, concurrency=4)
        assert again.errors == [], again.errors[:3]
        assert again.counts.get("created", 0) == 0
        assert again.counts.get("updated", 0) + again.counts.get("confirmed by reading back", 0) == len(source)
    finally:
        for record in source:
            discard(client, "dataset_purge", record["name"])


def test_sync_is_complete_through_malformed_answers(
        ckan_stack: Stack, client: CkanLowlevelClient, proxy: FaultProxy, factory: Factory,
        records: list[dict[str, Any]]) -> None:
    org = factory.make_org()
    source_name = unique_name("malformed-sync")
    source = renamed(records, uuid.uuid4().hex[:8], org["name"])
    faulty = CkanLowlevelClient(proxy.url, ckan_stack.token, **OPTIONS)
    try:
        report = SynchronizationClient(faulty, source_name, concurrency=4).sync(source)
        assert report.failures == [] and report.conflicts == []
        clean = SynchronizationClient(client, source_name)
        owned = clean.owned_datasets()
        assert set(owned) == {r["id"] for r in source}
        assert all(len(copies) == 1 for copies in owned.values())
        assert all(proxy.created_names[("package_create", r["name"])] == 1 for r in source)
        again = clean.sync(source)
        assert again.write_requests == 0 and again.unchanged == len(source)
    finally:
        for copies in SynchronizationClient(client, source_name).owned_datasets().values():
            for dataset in copies:
                client.call_action("dataset_purge", {"id": dataset["id"]})
