"""Reliability at a 10% fault rate: a fault-injecting proxy in front of the real CKAN.

Each test reads or writes the real depositar records through the proxy and checks that the
portal (or the dump file) ends exactly right: nothing lost, nothing created twice. The figures
(faults injected, retries made) are printed for the closing note.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

import figures
from ckan_api_client import engines as bulk
from ckan_api_client.testing import discard
from ckan_api_client.low_level import CkanLowlevelClient
from ckan_api_client.engines.sync import SynchronizationClient
from ckan_api_client import RetryPolicy
from ckan_stack_plugin import Factory, Stack
from ckan_api_client.testing import unique_name
from async_facade import make_client
from fault_proxy import FaultProxy
from real_portals import depositar

RATE = 0.10
POLICY = RetryPolicy(max_attempts=8, backoff_base=0.05, backoff_max=0.5)


def faulty_client(proxy: FaultProxy, stack: Stack, **options: Any) -> CkanLowlevelClient:
    return CkanLowlevelClient(proxy.url, stack.token, timeout=(2, 1.0), retry=POLICY, **options)


def figure(name: str, proxy: FaultProxy, client: Any, records: int, lost: int, doubled: int) -> None:
    line = (f"{name}: fault rate {RATE:.0%}, {proxy.requests} requests, {sum(proxy.injected.values())} faults "
            f"{dict(proxy.injected)}, {records} records, {client.transport.stats.retries} retries, "
            f"lost {lost}, duplicated {doubled}")
    figures.record("fault figures", line)
    print("\n" + line)


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return [r for r in depositar(400) if not any(len(t["name"]) < 2 for t in r.get("tags") or [])][:300]


@pytest.fixture
def proxy(ckan_stack: Stack) -> Iterator[FaultProxy]:
    with FaultProxy(ckan_stack.url, rate=RATE, seed=7, stall_seconds=1.5) as running:
        yield running


def renamed(records: list[dict[str, Any]], suffix: str) -> list[dict[str, Any]]:
    out = copy.deepcopy(records)
    for record in out:
        record["name"] = f"{record['name'][:80]}-{suffix}"
    return out


def test_iter_datasets_through_faults(ckan_stack: Stack, client: CkanLowlevelClient, proxy: FaultProxy,
                                      factory: Factory) -> None:
    org = factory.make_org()
    for _ in range(30):
        factory.make_dataset(org=org)
    expected = [d["id"] for d in client.iter_datasets()]
    pages = max(2, len(expected) // 40)  # about 40 pages, whatever the size of the site
    faulty = faulty_client(proxy, ckan_stack, page_size=pages)
    got = [d["id"] for d in faulty.iter_datasets()]
    assert got == expected  # every dataset, once, in order
    assert sum(proxy.injected.values()) > 0 and faulty.transport.stats.retries > 0
    figure("iter_datasets", proxy, faulty, len(got), len(set(expected) - set(got)), len(got) - len(set(got)))
    # The async client, through the same kinds of faults (a proxy of its own: every kind comes early).
    with FaultProxy(ckan_stack.url, rate=RATE, seed=8, stall_seconds=1.5) as second:
        faulty_async = make_client("async", second.url, ckan_stack.token, timeout=(2, 1.0), retry=POLICY,
                                   page_size=pages)
        got_async = [d["id"] for d in faulty_async.iter_datasets()]
        assert sorted(got_async) == sorted(expected) and len(got_async) == len(set(got_async))
        assert sum(second.injected.values()) > 0 and faulty_async.transport.stats.retries > 0
        figure("iter_datasets (async)", second, faulty_async, len(got_async), len(set(expected) - set(got_async)),
               len(got_async) - len(set(got_async)))


def test_dump_through_faults(ckan_stack: Stack, client: CkanLowlevelClient, proxy: FaultProxy,
                             factory: Factory, tmp_path: Path) -> None:
    org = factory.make_org()
    for _ in range(30):
        factory.make_dataset(org=org)
    direct, through = tmp_path / "direct.jsonl", tmp_path / "faulty.jsonl"
    bulk.dump(client, "datasets", direct)
    faulty = faulty_client(proxy, ckan_stack, page_size=10)
    report = bulk.dump(faulty, "datasets", through, concurrency=4)
    assert report.errors == []
    assert through.read_bytes() == direct.read_bytes()
    count = report.counts.get("written", 0)
    assert count >= 30 and sum(proxy.injected.values()) > 0
    figure("dump", proxy, faulty, count, 0, 0)


def test_load_through_faults(ckan_stack: Stack, client: CkanLowlevelClient, proxy: FaultProxy, factory: Factory,
                             records: list[dict[str, Any]], tmp_path: Path) -> None:
    org = factory.make_org()
    suffix = uuid.uuid4().hex[:8]
    source = renamed(records, suffix)
    for record in source:
        record["organization"] = {"name": org["name"]}
    path = tmp_path / "load.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in source), encoding="utf-8")
    faulty = faulty_client(proxy, ckan_stack)
    try:
        report = bulk.load(faulty, "datasets", path, concurrency=4)
        assert report.errors == [], report.errors[:3]
        assert report.counts.get("created", 0) + report.counts.get("updated", 0) + \
            report.counts.get("confirmed by reading back", 0) == len(source)
        held = {d["name"]: d for d in bulk.search(client, fq=f"owner_org:{org['id']}", include_private=True)}
        assert set(held) == {r["name"] for r in source}  # nothing lost, and names are unique: nothing twice
        for record in source:
            assert held[record["name"]]["title"] == record["title"]
            assert len(held[record["name"]]["resources"]) == len(record["resources"])  # no doubled resources
        # A create whose answer was lost was read back, never sent again.
        assert all(proxy.created_names[("package_create", r["name"])] == 1 for r in source)
        resolved = report.counts.get("uncertain writes resolved by reading back", 0)
        assert resolved > 0
        figure(f"load ({resolved} uncertain writes resolved by reading back)", proxy, faulty, len(source), 0, 0)
    finally:
        for record in source:
            discard(client, "dataset_purge", record["name"])


def test_sync_through_faults(ckan_stack: Stack, client: CkanLowlevelClient, proxy: FaultProxy, factory: Factory,
                             records: list[dict[str, Any]]) -> None:
    org = factory.make_org()
    source_name = unique_name("faulty-sync")
    suffix = uuid.uuid4().hex[:8]
    source = renamed(records, suffix)
    for record in source:  # organizations new to the portal: the sync creates them through the faults too
        if isinstance(record.get("organization"), dict):
            record["organization"] = dict(record["organization"], name=f"{record['organization']['name'][:50]}-{suffix}")
    new_orgs = {r["organization"]["name"] for r in source if isinstance(r.get("organization"), dict)}
    faulty = faulty_client(proxy, ckan_stack)
    sync = SynchronizationClient(faulty, source_name, default_organization=org["name"], concurrency=4)
    try:
        report = sync.sync(source)
        assert report.failures == [] and report.conflicts == []
        clean = SynchronizationClient(client, source_name, default_organization=org["name"])
        owned = clean.owned_datasets()
        assert set(owned) == {r["id"] for r in source}
        assert all(len(copies) == 1 for copies in owned.values())  # nothing created twice
        again = clean.sync(source)  # the portal already matches the source exactly
        assert again.write_requests == 0 and again.unchanged == len(source)
        assert all(proxy.created_names[("package_create", r["name"])] == 1 for r in source)
        assert len(new_orgs) > 20 and all(proxy.created_names[("organization_create", name)] == 1 for name in new_orgs)
        figure(f"sync ({report.resolved} uncertain writes resolved by reading back)", proxy, faulty, len(source), 0, 0)
    finally:
        for copies in SynchronizationClient(client, source_name).owned_datasets().values():
            for dataset in copies:
                client.call_action("dataset_purge", {"id": dataset["id"]})
        for name in new_orgs:
            client.delete_organization(name)
