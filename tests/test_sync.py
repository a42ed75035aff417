"""SynchronizationClient against the real stack, with the real depositar records."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from ckan_api_client import exceptions as exc
from ckan_api_client.low_level import CkanLowlevelClient
from ckan_api_client.objects import Dataset, diff
from ckan_api_client.syncing import SOURCE_ID_KEY, SynchronizationClient
from ckan_stack_plugin import REPO, Factory, Stack, unique_name
from real_portals import depositar

MEASUREMENTS: dict[str, Any] = {}


def bad_tags(record: dict[str, Any]) -> bool:
    """CKAN refuses tags shorter than 2 characters (real depositar records have some)."""
    return any(len(t.get("name", "")) < 2 for t in record.get("tags") or [])


def make_source(records: list[dict[str, Any]], suffix: str) -> list[dict[str, Any]]:
    """Real records under names unique to this test run (their ids stay: they are source ids)."""
    source = copy.deepcopy(records)
    for record in source:
        record["name"] = f"{record['name'][:80]}-{suffix}"
    return source


def owned_by(client: CkanLowlevelClient, source_name: str) -> dict[str, dict[str, Any]]:
    owned = SynchronizationClient(client, source_name).owned_datasets()
    assert all(len(copies) == 1 for copies in owned.values()), "a source id is held by two datasets"
    return {source_id: copies[0] for source_id, copies in owned.items()}


def assert_portal_matches(client: CkanLowlevelClient, sync: SynchronizationClient,
                          source: list[dict[str, Any]]) -> None:
    expected = {r["id"] for r in source if not bad_tags(r)}
    owned = owned_by(client, sync.source_name)
    assert set(owned) == expected
    plan = sync.plan(source)
    assert plan.updates == [] and plan.deletes == [] and plan.conflicts == []
    assert {w.source_id for w in plan.creates} == {r["id"] for r in source if bad_tags(r)}


@pytest.fixture
def purge_source(client: CkanLowlevelClient) -> Iterator[list[str]]:
    """Source names whose datasets are purged after the test."""
    names: list[str] = []
    yield names
    for name in names:
        for dataset in owned_by(client, name).values():
            client.call_action("dataset_purge", {"id": dataset["id"]})


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return depositar(400)


def test_sync_lifecycle(client: CkanLowlevelClient, factory: Factory, records: list[dict[str, Any]],
                        purge_source: list[str]) -> None:
    suffix = uuid.uuid4().hex[:8]
    source_name = f"depositar-{suffix}"
    purge_source.extend([source_name, f"other-{suffix}"])
    default_org = factory.make_org()
    sync = SynchronizationClient(client, source_name, default_organization=default_org["name"], concurrency=4)
    first_source = make_source(records[:300], suffix)
    assert sum(1 for r in first_source if not r.get("organization")) > 10  # some go to the default org

    # Bystanders: a dataset made by hand, and datasets owned by another source.
    by_hand = factory.make_dataset(org=default_org, title="made by hand")
    other = SynchronizationClient(client, f"other-{suffix}", default_organization=default_org["name"])
    other_report = other.sync(make_source(records[350:352], f"o{suffix}"))
    assert len(other_report.created) == 2
    bystanders = {d["id"]: d["metadata_modified"] for d in
                  [by_hand, *owned_by(client, f"other-{suffix}").values()]}

    # 1. Into the portal.
    first = sync.sync(first_source)
    MEASUREMENTS["first sync (300 records)"] = first.summary()
    expected_failures = {r["id"] for r in first_source if bad_tags(r)}
    assert {f.source_id for f in first.failures} == expected_failures
    assert all("Tag" in f.reason for f in first.failures)
    assert len(first.created) == 300 - len(expected_failures)
    assert first.plan.conflicts == [] and first.plan.invalid == []
    assert_portal_matches(client, sync, first_source)
    owned = owned_by(client, source_name)
    sample = next(r for r in first_source if r.get("organization") and r.get("keywords") and r["id"] in owned)
    assert owned[sample["id"]]["organization"]["name"] == sample["organization"]["name"]
    assert owned[sample["id"]]["title"] == sample["title"]
    assert {e["key"]: e["value"] for e in owned[sample["id"]]["extras"]}["keywords"] == \
        json.dumps(sample["keywords"], ensure_ascii=False, sort_keys=True)  # scheming fields kept as extras

    # 2. A new state of the source: some changed, some removed, some added.
    second_source = [r for r in copy.deepcopy(first_source) if not bad_tags(r)]
    removed = second_source[:30]
    second_source = second_source[30:]
    for record in second_source[:20]:
        record["title"] = record["title"] + " (revised)"
    second_source[20]["notes"] = "新的說明 — new notes"
    second_source[21]["resources"] = second_source[21]["resources"][:1] + [
        {"name": "added resource", "url": "https://example.org/new.csv", "format": "CSV"}]
    added = [r for r in make_source(records[300:330], suffix) if not bad_tags(r)]
    second_source += added

    dry = sync.sync(second_source, dry_run=True)
    assert dry.write_requests == 0 and dry.created == dry.updated == dry.deleted == []
    assert {w.source_id for w in dry.plan.creates} == {r["id"] for r in added}
    assert {w.source_id for w in dry.plan.deletes} == {r["id"] for r in removed}
    assert {w.source_id for w in dry.plan.updates} == {r["id"] for r in second_source[:22]}
    revised = next(w for w in dry.plan.updates if w.source_id == second_source[0]["id"])
    assert "title" in revised.diff_text and "(revised)" in revised.diff_text
    assert owned_by(client, source_name).keys() == owned.keys()  # nothing was written

    second = sync.sync(second_source)
    assert second.failures == []
    assert sorted(second.created) == sorted(w.name for w in dry.plan.creates)
    assert sorted(second.updated) == sorted(w.name for w in dry.plan.updates)
    assert sorted(second.deleted) == sorted(w.name for w in dry.plan.deletes)
    assert_portal_matches(client, sync, second_source)
    now = owned_by(client, source_name)
    assert now[second_source[0]["id"]]["title"].endswith("(revised)")
    assert [r["name"] for r in now[second_source[21]["id"]]["resources"]][-1] == "added resource"
    for record in removed:
        assert client.get_dataset(owned[record["id"]]["id"])["state"] == "deleted"

    # Bystanders untouched.
    for dataset_id, modified in bystanders.items():
        assert client.get_dataset(dataset_id)["metadata_modified"] == modified

    # 3. No change: nothing written.
    third = sync.sync(second_source)
    MEASUREMENTS["no-change re-sync (300 records)"] = third.summary()
    assert third.write_requests == 0
    assert third.created == third.updated == third.deleted == [] and third.failures == []
    assert len(third.plan.unchanged) == len(second_source)
    print(f"\nsync measurements: {json.dumps(MEASUREMENTS, indent=1)}")


def test_name_collision_is_a_conflict_not_an_overwrite(client: CkanLowlevelClient, factory: Factory,
                                                       records: list[dict[str, Any]],
                                                       purge_source: list[str]) -> None:
    source_name = unique_name("collide")
    purge_source.append(source_name)
    org = factory.make_org()
    squatter = factory.make_dataset(org=org, title="someone else's")
    source = make_source(records[:3], uuid.uuid4().hex[:8])
    source[1]["name"] = squatter["name"]
    sync = SynchronizationClient(client, source_name, default_organization=org["name"])
    dry = sync.sync(source, dry_run=True)
    assert [c.name for c in dry.plan.conflicts] == [squatter["name"]]
    report = sync.sync(source)
    assert [c.source_id for c in report.plan.conflicts] == [source[1]["id"]]
    assert len(report.created) == 2
    after = client.get_dataset(squatter["id"])
    assert after["title"] == "someone else's" and after["metadata_modified"] == squatter["metadata_modified"]


def test_a_soft_deleted_name_is_reused(client: CkanLowlevelClient, factory: Factory,
                                       records: list[dict[str, Any]], purge_source: list[str]) -> None:
    source_name = unique_name("reuse")
    purge_source.append(source_name)
    org = factory.make_org()
    source = make_source(records[:2], uuid.uuid4().hex[:8])
    sync = SynchronizationClient(client, source_name, default_organization=org["name"])
    sync.sync(source)
    gone = owned_by(client, source_name)[source[0]["id"]]
    assert sync.sync(source[1:]).deleted == [source[0]["name"]]
    back = sync.sync(source)
    assert back.created == [source[0]["name"]] and back.plan.conflicts == [] and back.failures == []
    revived = client.get_dataset(source[0]["name"])
    assert revived["state"] == "active" and revived["id"] != gone["id"]
    assert_portal_matches(client, sync, source)


def test_organization_strategies(client: CkanLowlevelClient, factory: Factory, records: list[dict[str, Any]],
                                 purge_source: list[str]) -> None:
    org = factory.make_org()
    source = make_source(records[:4], uuid.uuid4().hex[:8])
    missing_org = unique_name("nowhere")
    source[0]["organization"] = {"name": missing_org, "title": "Nowhere"}
    source[0].pop("owner_org", None)

    strict = SynchronizationClient(client, unique_name("strict"), organization_strategy="fail",
                                   default_organization=org["name"])
    before = client.transport.stats.snapshot()
    with pytest.raises(exc.OperationFailure, match=missing_org):
        strict.sync(source)
    after = client.transport.stats.snapshot()
    assert all(after.get(a, 0) == before.get(a, 0) for a in ("package_create", "organization_create"))

    mapping_name = unique_name("map")
    purge_source.append(mapping_name)
    mapping = SynchronizationClient(client, mapping_name, organization_strategy="map",
                                    default_organization=org["name"])
    report = mapping.sync(source)
    assert [f.source_id for f in report.plan.invalid] == [source[0]["id"]]
    assert missing_org in report.plan.invalid[0].reason
    with pytest.raises(exc.NotFound):
        client.get_organization(missing_org)

    creating_name = unique_name("create")
    purge_source.append(creating_name)
    creating = SynchronizationClient(client, creating_name, default_organization=org["name"])
    source[0]["name"] += "-c"
    for record in source[1:]:
        record["name"] += "-c"
    report = creating.sync(source)
    try:
        assert report.plan.invalid == [] and report.failures == []
        created_org = client.get_organization(missing_org)
        assert created_org["title"] == "Nowhere"
        assert owned_by(client, creating_name)[source[0]["id"]]["owner_org"] == created_org["id"]
    finally:
        for dataset in owned_by(client, creating_name).values():
            client.call_action("dataset_purge", {"id": dataset["id"]})
        client.delete_organization(missing_org)


def test_invalid_source_records_are_reported_and_the_rest_synced(client: CkanLowlevelClient, factory: Factory,
                                                                 records: list[dict[str, Any]],
                                                                 purge_source: list[str]) -> None:
    source_name = unique_name("invalid")
    purge_source.append(source_name)
    org = factory.make_org()
    good = make_source(records[:2], uuid.uuid4().hex[:8])
    no_id = dict(good[0], name="no-id-" + uuid.uuid4().hex[:6])
    no_id.pop("id")
    twin = dict(good[1])
    sync = SynchronizationClient(client, source_name, default_organization=org["name"])
    report = sync.sync([good[0], "not a dict", no_id, good[1], twin])  # type: ignore[list-item]
    assert len(report.created) == 2
    reasons = sorted(f.reason for f in report.plan.invalid)
    assert len(reasons) == 3
    assert any("must be a dict" in r for r in reasons) and any("no source id" in r for r in reasons)
    assert any("same source id" in r for r in reasons)


RUNNER = """
import json, sys
from ckan_api_client import CkanLowlevelClient
from ckan_api_client.syncing import SynchronizationClient
url, token, source_name, org, path = sys.argv[1:6]
records = [json.loads(line) for line in open(path, encoding="utf-8")]
client = CkanLowlevelClient(url, token)
SynchronizationClient(client, source_name, default_organization=org, concurrency=4).sync(records)
"""


def test_a_run_killed_midway_then_rerun_ends_complete(ckan_stack: Stack, client: CkanLowlevelClient,
                                                      factory: Factory, records: list[dict[str, Any]],
                                                      purge_source: list[str], tmp_path: Path) -> None:
    source_name = unique_name("killed")
    purge_source.append(source_name)
    org = factory.make_org()
    source = [r for r in make_source(records[:150], uuid.uuid4().hex[:8]) if not bad_tags(r)]
    path = tmp_path / "source.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in source), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, ckan_stack.url, ckan_stack.token, source_name,
                             org["name"], str(path)], env=dict(os.environ, PYTHONPATH=str(REPO / "src")))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            count = client.call_action("package_search", {
                "fq": f'extras_sync_source:"{source_name}"', "rows": 0, "include_private": True})["count"]
            if count >= 40:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the sync finished before it could be killed: make the source larger"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    partial = owned_by(client, source_name)
    assert 40 <= len(partial) < len(source)

    sync = SynchronizationClient(client, source_name, default_organization=org["name"])
    report = sync.sync(source)
    assert report.failures == [] and report.plan.conflicts == []
    # What the killed run finished is unchanged now (a create in flight at the kill may have landed too).
    assert len(report.plan.unchanged) >= len(partial)
    assert len(report.created) + len(report.plan.unchanged) == len(source)
    assert_portal_matches(client, sync, source)
    for record in source[:10]:
        dataset = client.get_dataset(record["name"])
        assert {e["key"]: e["value"] for e in dataset["extras"]}[SOURCE_ID_KEY] == record["id"]
        assert diff(sync._desired(record, record["id"], dataset["owner_org"],
                                  [g["name"] for g in dataset["groups"]]), dataset, kind=Dataset) == []
