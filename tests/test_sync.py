"""SynchronizationClient against the real stack, with the real records of ../shared/data/real-portals."""

from __future__ import annotations

import copy
import json
import math
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from ckan_api_client import exceptions as exc
from ckan_api_client.blocking.concurrency import run_concurrently
from ckan_api_client.low_level import CkanLowlevelClient
from ckan_api_client.engines.state import StateError
import figures
from ckan_api_client.engines.sync import SOURCE_ID_KEY, SynchronizationClient
from ckan_stack_plugin import Factory, Stack
from ckan_api_client.testing import unique_name
from killing import kill_after
from real_portals import depositar, portal_datasets



def make_source(records: list[dict[str, Any]], suffix: str) -> list[dict[str, Any]]:
    """Real records under names unique to this test run (their ids stay: they are source ids)."""
    source = copy.deepcopy(records)
    for record in source:
        record["name"] = f"{record['name'][:80]}-{suffix}"
    return source


def owned_by(client: CkanLowlevelClient, source_name: str) -> dict[str, dict[str, Any]]:
    owned = SynchronizationClient(client, source_name, state=False).owned_datasets()
    assert all(len(copies) == 1 for copies in owned.values()), "a source id is held by two datasets"
    return {source_id: copies[0] for source_id, copies in owned.items()}


def snapshot(client: CkanLowlevelClient, source_name: str) -> dict[str, tuple[str, str]]:
    """Source id → (dataset id, metadata_modified): what a run that changes nothing leaves as it was."""
    return {sid: (d["id"], d["metadata_modified"]) for sid, d in owned_by(client, source_name).items()}


def actions_during(client: CkanLowlevelClient, before: dict[str, int]) -> dict[str, int]:
    after = client.transport.stats.snapshot()
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


@pytest.fixture
def purge_source(client: CkanLowlevelClient) -> Iterator[list[str]]:
    """Source names whose datasets are purged after the test."""
    names: list[str] = []
    yield names
    for name in names:
        ids = [dataset["id"] for dataset in owned_by(client, name).values()]
        for _ in run_concurrently(ids, lambda i: client.call_action("dataset_purge", {"id": i}), concurrency=4):
            pass


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return depositar()


def test_a_real_catalog_syncs_then_costs_only_what_changed(client: CkanLowlevelClient, factory: Factory,
                                                            records: list[dict[str, Any]],
                                                            purge_source: list[str], tmp_path: Path) -> None:
    """The 1,839 depositar records in; then re-syncs with and without the state; then a few changes."""
    suffix = uuid.uuid4().hex[:8]
    source_name = f"depositar-{suffix}"
    purge_source.extend([source_name, f"other-{suffix}"])
    default_org = factory.make_org()
    state = tmp_path / "state.sqlite"
    sync = SynchronizationClient(client, source_name, default_organization=default_org["name"], concurrency=4,
                                 state=state, cleaners=["names", "tags"])
    source = make_source(records, suffix)
    assert len(source) == 1839 and sum(1 for r in source if not r.get("organization")) > 100

    # Bystanders: a dataset made by hand, and datasets owned by another source.
    by_hand = factory.make_dataset(org=default_org, title="made by hand")
    other = SynchronizationClient(client, f"other-{suffix}", default_organization=default_org["name"], state=False)
    assert other.sync(make_source(records[:2], f"o{suffix}")).created == 2
    bystanders = {d["id"]: d["metadata_modified"] for d in [by_hand, *owned_by(client, f"other-{suffix}").values()]}

    # 1. Into the portal: every record (the cleaners mend the 1-character CJK tags and the three names
    # with "%28" that today's CKAN refuses).
    first = sync.sync(source)
    figures.record("sync measurements", f"first sync (1,839 records): {json.dumps(first.summary())}")
    assert first.failures == [] and first.invalid == [] and first.conflicts == []
    assert first.created == 1839 and first.notes  # each mended tag is reported with its record
    owned = owned_by(client, source_name)
    assert set(owned) == {r["id"] for r in source}
    sample = next(r for r in source if r.get("organization") and r.get("keywords"))
    assert owned[sample["id"]]["organization"]["name"] == sample["organization"]["name"]
    assert owned[sample["id"]]["title"] == sample["title"]
    assert {e["key"]: e["value"] for e in owned[sample["id"]]["extras"]}["keywords"] == \
        json.dumps(sample["keywords"], ensure_ascii=False, sort_keys=True)  # scheming fields kept as extras
    before = snapshot(client, source_name)

    # 2. Unchanged, with the state: compact search pages only, nothing read in full, nothing written.
    actions = client.transport.stats.snapshot()
    again = sync.sync(source)
    figures.record("sync measurements", f"re-sync with state (unchanged): {json.dumps(again.summary())}")
    assert again.unchanged == 1839 and again.write_requests == 0
    assert actions_during(client, actions) == {"package_search": math.ceil(1839 / 1000)}

    # 3. Unchanged, without the state: the full pages are read instead; the same verdict.
    stateless = SynchronizationClient(client, source_name, default_organization=default_org["name"], state=False,
                                      cleaners=["names", "tags"])
    blind = stateless.sync(source)
    figures.record("sync measurements", f"re-sync without state (unchanged): {json.dumps(blind.summary())}")
    assert blind.unchanged == 1839 and blind.write_requests == 0
    assert snapshot(client, source_name) == before  # the same portal, whichever way it was read

    # 4. Three records edited, two deleted, two added: exactly seven writes, three reads.
    changed = copy.deepcopy(source)
    for record in changed[:3]:
        record["title"] += " (revised)"
    removed = changed[3:5]
    changed = changed[:3] + changed[5:] + make_source(records[:2], f"n{suffix}")
    for record in changed[-2:]:
        record["id"] = f"new-{record['id']}"
    dry = list(sync.plan(changed))
    assert [w.operation for w in dry].count("update") == 3 and "(revised)" in dry[0].diff_text
    assert sorted(w.operation for w in dry if w.operation != "unchanged") == \
        ["create"] * 2 + ["delete"] * 2 + ["update"] * 3
    actions = client.transport.stats.snapshot()
    step = sync.sync(changed)
    figures.record("sync measurements", f"re-sync after 3 edits, 2 deletes, 2 adds: {json.dumps(step.summary())}")
    assert (step.updated, step.deleted, step.created, step.write_requests) == (3, 2, 2, 7)
    assert actions_during(client, actions).get("package_show", 0) == 3
    now = owned_by(client, source_name)
    assert now[changed[0]["id"]]["title"].endswith("(revised)")
    for record in removed:
        assert client.get_dataset(owned[record["id"]]["id"])["state"] == "deleted"

    # 5. A dataset edited by hand on the portal is put back, and reported.
    victim = now[changed[10]["id"]]
    client.call_action("package_patch", {"id": victim["id"], "title": "vandalised"})
    fixed = sync.sync(changed)
    assert fixed.restored == [victim["name"]] and fixed.write_requests == 1
    assert client.get_dataset(victim["id"])["title"] == changed[10]["title"]

    for dataset_id, modified in bystanders.items():  # never touched
        assert client.get_dataset(dataset_id)["metadata_modified"] == modified


def test_minimal_records_are_not_rewritten_on_every_run(client: CkanLowlevelClient, factory: Factory,
                                                        purge_source: list[str], tmp_path: Path) -> None:
    org = factory.make_org()
    source_name = unique_name("minimal")
    purge_source.append(source_name)
    source = [{"id": f"m-{i}", "name": unique_name("minimal"), "owner_org": org["name"]} for i in range(3)]
    sync = SynchronizationClient(client, source_name, state=tmp_path / "s.sqlite")
    assert sync.sync(source).created == 3
    for state in (tmp_path / "s.sqlite", False):  # CKAN filled in each title from the name: no change
        again = SynchronizationClient(client, source_name, state=state).sync(source)
        assert again.unchanged == 3 and again.write_requests == 0
        assert all(w.operation == "unchanged" for w in SynchronizationClient(client, source_name,
                                                                              state=False).plan(source))


def test_a_corrupt_or_foreign_state_is_refused_before_any_write(client: CkanLowlevelClient, factory: Factory,
                                                               purge_source: list[str], tmp_path: Path) -> None:
    org = factory.make_org()
    source = [{"id": "s-1", "name": unique_name("stated"), "owner_org": org["name"]}]
    mine, theirs = unique_name("mine"), unique_name("theirs")
    purge_source.extend([mine, theirs])
    SynchronizationClient(client, theirs, state=tmp_path / "theirs.sqlite").sync(
        [{"id": "t-1", "name": unique_name("theirs"), "owner_org": org["name"]}])
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all" * 100)
    for path, message in ((garbage, "not a readable sync state"), (tmp_path / "theirs.sqlite", "not of"),
                          (tmp_path / "typo" / "mine.sqlite", "the folder of the state .* does not exist")):
        before = client.transport.stats.snapshot()
        with pytest.raises(StateError, match=message):
            SynchronizationClient(client, mine, state=path).sync(source)
        assert "package_create" not in actions_during(client, before)
    assert owned_by(client, mine) == {} and not (tmp_path / "typo").exists()


def test_name_collision_is_a_conflict_not_an_overwrite(client: CkanLowlevelClient, factory: Factory,
                                                       records: list[dict[str, Any]],
                                                       purge_source: list[str]) -> None:
    source_name = unique_name("collide")
    purge_source.append(source_name)
    org = factory.make_org()
    squatter = factory.make_dataset(org=org, title="someone else's")
    source = make_source(records[:3], uuid.uuid4().hex[:8])
    source[1]["name"] = squatter["name"]
    sync = SynchronizationClient(client, source_name, default_organization=org["name"], cleaners=["tags"])
    dry = list(sync.plan(source))
    assert [w.name for w in dry if w.operation == "conflict"] == [squatter["name"]]
    report = sync.sync(source)
    assert [c.source_id for c in report.conflicts] == [source[1]["id"]]
    assert report.created == 2
    after = client.get_dataset(squatter["id"])
    assert after["title"] == "someone else's" and after["metadata_modified"] == squatter["metadata_modified"]


def test_a_soft_deleted_name_is_reused(client: CkanLowlevelClient, factory: Factory,
                                       records: list[dict[str, Any]], purge_source: list[str]) -> None:
    source_name = unique_name("reuse")
    purge_source.append(source_name)
    org = factory.make_org()
    source = make_source(records[:2], uuid.uuid4().hex[:8])
    sync = SynchronizationClient(client, source_name, default_organization=org["name"], cleaners=["tags"],
                                 max_delete="100%")
    sync.sync(source)
    gone = owned_by(client, source_name)[source[0]["id"]]
    assert sync.sync(source[1:]).deleted == 1
    back = sync.sync(source)
    assert back.created == 1 and back.conflicts == [] and back.failures == []
    revived = client.get_dataset(source[0]["name"])
    assert revived["state"] == "active" and revived["id"] != gone["id"]


def test_organization_strategies(client: CkanLowlevelClient, factory: Factory, records: list[dict[str, Any]],
                                 purge_source: list[str]) -> None:
    org = factory.make_org()
    source = make_source(records[:4], uuid.uuid4().hex[:8])
    missing_org = unique_name("nowhere")
    source[0]["organization"] = {"name": missing_org, "title": "Nowhere"}
    source[0].pop("owner_org", None)

    strict = SynchronizationClient(client, unique_name("strict"), organization_strategy="fail",
                                   default_organization=org["name"], cleaners=["tags"])
    before = client.transport.stats.snapshot()
    with pytest.raises(exc.OperationFailure, match=missing_org):
        strict.sync(source)
    assert not {"package_create", "organization_create"} & set(actions_during(client, before))

    mapping_name = unique_name("map")
    purge_source.append(mapping_name)
    mapping = SynchronizationClient(client, mapping_name, organization_strategy="map",
                                    default_organization=org["name"], cleaners=["tags"])
    report = mapping.sync(source)
    assert [f.source_id for f in report.failures] == [source[0]["id"]] and report.created == 3
    assert missing_org in report.failures[0].reason
    with pytest.raises(exc.NotFound):
        client.get_organization(missing_org)

    creating_name = unique_name("create")
    purge_source.append(creating_name)
    creating = SynchronizationClient(client, creating_name, default_organization=org["name"], cleaners=["tags"])
    for record in source:
        record["name"] += "-c"
    report = creating.sync(source)
    try:
        assert report.invalid == [] and report.failures == [] and report.created == 4
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
    good = make_source(records[:3], uuid.uuid4().hex[:8])
    sync = SynchronizationClient(client, source_name, default_organization=org["name"], cleaners=["tags"])
    assert sync.sync(good).created == 3
    no_id = dict(good[0], name="no-id-" + uuid.uuid4().hex[:6])
    no_id.pop("id")
    twin = dict(good[1])
    no_name = {k: v for k, v in good[2].items() if k != "name"}
    report = sync.sync([good[0], "not a dict", no_id, good[1], twin, no_name])
    reasons = sorted(f.reason for f in report.invalid)
    assert len(reasons) == 4 and report.unchanged == 2
    assert any("must be a dict" in r for r in reasons) and any("no source id" in r for r in reasons)
    assert any("same source id" in r for r in reasons) and any("no name" in r for r in reasons)
    # Records that could not be identified might be any owned dataset: nothing is deleted, and the one
    # without a name keeps its dataset.
    assert report.deleted == 0 and set(owned_by(client, source_name)) == {r["id"] for r in good}


def test_small_real_portals_sync_with_the_cleaners(client: CkanLowlevelClient, factory: Factory,
                                                  purge_source: list[str]) -> None:
    org = factory.make_org()

    def source(suffix: str) -> list[dict[str, Any]]:  # into one organization of the local portal
        records = []
        for portal in ("birmingham", "catalog-data-gov", "datagovuk-2015", "datagovuk-2018", "govdata-de",
                       "hdx-2017"):
            records.extend({**r, "organization": None, "owner_org": None}
                           for r in make_source(portal_datasets(portal), suffix))
        return records

    assert len(source("x")) == 40
    raw_name, clean_name = unique_name("raw"), unique_name("clean")
    purge_source.extend([raw_name, clean_name])
    raw = SynchronizationClient(client, raw_name, default_organization=org["name"], organization_strategy="map",
                                state=False)
    failed = raw.sync(source(uuid.uuid4().hex[:8]))
    assert len(failed.failures) == 5 and failed.created == 35  # "/" in tags, "None" emails, a 40 KB field
    cleaned = SynchronizationClient(client, clean_name, default_organization=org["name"],
                                    organization_strategy="map", state=False, cleaners=["tags", "emails", "oversized"])
    report = cleaned.sync(source(uuid.uuid4().hex[:8]))
    assert report.failures == [] and report.created == 40
    notes = " ".join(n.reason for n in report.notes)
    assert "written as" in notes and "not an email address" in notes and "over the search index's limit" in notes


RUNNER = """
import json, sys
from ckan_api_client import CkanLowlevelClient
from ckan_api_client.engines.sync import SynchronizationClient
url, token, source_name, org, path, state = sys.argv[1:7]
records = (json.loads(line) for line in open(path, encoding="utf-8"))
client = CkanLowlevelClient(url, token)
SynchronizationClient(client, source_name, default_organization=org, concurrency=4, cleaners=["tags"],
                      state=state if state != "-" else False).sync(records)
"""


@pytest.mark.parametrize("with_state", [True, False], ids=["with-state", "without-state"])
def test_a_run_killed_midway_then_rerun_ends_complete(ckan_stack: Stack, client: CkanLowlevelClient,
                                                      factory: Factory, records: list[dict[str, Any]],
                                                      purge_source: list[str], tmp_path: Path,
                                                      with_state: bool) -> None:
    source_name = unique_name("killed")
    purge_source.append(source_name)
    org = factory.make_org()
    source = make_source(records[:150], uuid.uuid4().hex[:8])
    path = tmp_path / "source.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in source), encoding="utf-8")
    state = str(tmp_path / "state.sqlite") if with_state else "-"
    kill_after(RUNNER, [ckan_stack.url, ckan_stack.token, source_name, org["name"], str(path), state], client,
               source_name, 40)
    partial = owned_by(client, source_name)
    assert 40 <= len(partial) < len(source)

    sync = SynchronizationClient(client, source_name, default_organization=org["name"], cleaners=["tags"],
                                 state=state if with_state else False)
    report = sync.sync(source)
    assert report.failures == [] and report.conflicts == []
    assert report.unchanged >= len(partial) and report.created + report.unchanged == len(source)
    assert set(owned_by(client, source_name)) == {r["id"] for r in source}  # one dataset per source id
    assert all(w.operation == "unchanged" for w in sync.plan(source))
    for record in source[:10]:
        dataset = client.get_dataset(record["name"])
        assert {e["key"]: e["value"] for e in dataset["extras"]}[SOURCE_ID_KEY] == record["id"]
