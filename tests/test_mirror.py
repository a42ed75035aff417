"""Mirror a portal into another, on the real stacks: 2.12 → 2.11, 2.11 → 2.12 and 2.10 → 2.12."""

from __future__ import annotations

import io
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from ckan_api_client import CkanLowlevelClient, DataStore, Dataset, Mirror, diff
from ckan_api_client.engines.mirror import MIRROR_KEY
from ckan_api_client.engines.planning import SOURCE_ID_KEY, SOURCE_KEY
from ckan_api_client.engines.state import StateError
from ckan_api_client.exceptions import CkanError
from ckan_api_client.testing import discard
from ckan_stack_plugin import DEFAULT_VERSION, REPO, Stack, bring_up
from fault_proxy import FaultProxy
from killing import kill_after, owned_count

PAIRS = [("2.12.0", "2.11.6"), ("2.11.6", "2.12.0"), ("2.10.11", "2.12.0")]
_stacks: dict[str, Stack] = {}


def stack(version: str, ckan_stack: Stack) -> Stack:
    if version == DEFAULT_VERSION:
        return ckan_stack
    if version not in _stacks:
        if version not in os.environ.get("CKAN_TEST_OTHER_VERSIONS", "2.11.6 2.10.11").split():
            pytest.skip(f"CKAN {version} is not in CKAN_TEST_OTHER_VERSIONS")
        _stacks[version] = bring_up(version)
    return _stacks[version]


class Site:
    """A small catalog on a source portal: what a mirror must copy whole, and clean up after."""

    def __init__(self, client: CkanLowlevelClient, tag: str) -> None:
        self.client, self.tag = client, tag
        self.orgs = [client.call_action("organization_create", {
            "name": f"mo-{tag}-{i}", "title": f"Organisation {i} ü", "description": "來源組織",
            "extras": [{"key": "region", "value": f"r{i}"}]}) for i in range(2)]
        self.group = client.call_action("group_create", {"name": f"mg-{tag}", "title": "A group",
                                                          "image_url": "https://example.org/logo.png"})
        self.datasets: list[dict[str, Any]] = []
        for i in range(5):
            self.add(i)
        big, small = self.datasets[0], self.datasets[1]
        self.upload(big, "measurements.bin", os.urandom(4_000_000))
        self.upload(small, "notes.txt", "小檔案\n".encode() * 100)
        DataStore(client).create(resource={"package_id": self.datasets[2]["id"], "name": "table"},
                                 fields=[{"id": "station", "type": "text"}, {"id": "reading", "type": "float8"},
                                         {"id": "day", "type": "date"}],
                                 records=[{"station": f"s{i % 7}", "reading": i / 4, "day": f"2024-01-{1 + i % 28:02d}"}
                                          for i in range(300)])

    def add(self, i: int, suffix: str = "") -> dict[str, Any]:
        dataset = self.client.call_action("package_create", {
            "name": f"md-{self.tag}-{i}{suffix}", "title": f"Dataset {i} — 資料", "notes": "Real-ish notes",
            "owner_org": self.orgs[i % 2]["id"], "private": i == 3, "groups": [{"name": self.group["name"]}],
            "tags": [{"name": "air"}, {"name": f"t{i}x"}], "license_id": "cc-by",
            "extras": [{"key": "keywords", "value": json.dumps(["a", "b"])}, {"key": "spatial", "value": f"{i}"}],
            "resources": [{"name": "link", "url": f"https://example.org/{i}.csv", "format": "CSV"}]})
        self.datasets.append(dataset)
        return dataset

    def upload(self, dataset: dict[str, Any], name: str, data: bytes) -> dict[str, Any]:
        resource: dict[str, Any] = self.client.call_action("resource_create", {"package_id": dataset["id"],
                                                                                "name": name},
                                                           files={"upload": (name, io.BytesIO(data))})
        return resource

    @property
    def fq(self) -> str:
        return "organization:(" + " OR ".join(o["name"] for o in self.orgs) + ")"

    def cleanup(self, *clients: CkanLowlevelClient) -> None:
        for client in (self.client, *clients):
            for dataset in self.datasets:
                discard(client, "dataset_purge", dataset["id"])
            for group in [*self.orgs, self.group]:
                discard(client, f"{'organization' if group in self.orgs else 'group'}_purge", group["id"])


def assert_equal_copy(source: CkanLowlevelClient, destination: CkanLowlevelClient, site: Site,
                      tmp_path: Path, gone: list[str] = ()) -> None:  # type: ignore[assignment]
    """Every source dataset equals its copy (server fields aside); files by hash; DataStore rows."""
    found = source.call_action("package_search", {"fq": site.fq, "rows": 100, "include_private": True})["results"]
    assert len(found) == len([d for d in site.datasets if d["id"] not in gone])
    for original in found:
        copy = destination.get_dataset(original["id"])  # the ids were kept
        extras = {e["key"]: e["value"] for e in copy["extras"]}
        assert extras.pop(SOURCE_KEY) and extras.pop(SOURCE_ID_KEY) == original["id"]
        copy["extras"] = [{"key": k, "value": v} for k, v in extras.items()]
        assert diff(original, copy, kind=Dataset) == [], original["name"]
        assert copy["organization"]["name"] == original["organization"]["name"]
        assert [r["name"] for r in copy["resources"]] == [r["name"] for r in original["resources"]]
        for theirs, ours in zip(original["resources"], copy["resources"]):
            if theirs.get("url_type") == "upload":
                assert ours["url_type"] == "upload" and ours["url"].startswith(destination.base_url)
                a = source.download_resource(theirs, tmp_path / f"a-{theirs['id']}", overwrite=True)
                b = destination.download_resource(ours, tmp_path / f"b-{ours['id']}", overwrite=True)
                assert a.sha256 == b.sha256
            if theirs.get("datastore_active"):
                assert list(DataStore(source).iter_records(theirs["id"], include_id=False)) == \
                    list(DataStore(destination).iter_records(ours["id"], include_id=False))
    for group in [*site.orgs, site.group]:
        kind = "organization" if group in site.orgs else "group"
        copy = destination.call_action(f"{kind}_show", {"id": group["name"]})
        assert copy["id"] == group["id"] and copy["title"] == group["title"]
        assert {e["key"]: e["value"] for e in copy.get("extras") or []}.get(MIRROR_KEY)


@pytest.fixture
def pair(request: pytest.FixtureRequest, ckan_stack: Stack) -> Iterator[tuple[CkanLowlevelClient, CkanLowlevelClient]]:
    source_version, destination_version = request.param
    source, destination = stack(source_version, ckan_stack), stack(destination_version, ckan_stack)
    with source.client() as a, destination.client() as b:
        yield a, b


@pytest.mark.parametrize("pair", PAIRS, indirect=True, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_a_mirror_copies_a_portal_then_only_what_changed(pair: tuple[CkanLowlevelClient, CkanLowlevelClient],
                                                        tmp_path: Path) -> None:
    source, destination = pair
    site = Site(source, uuid.uuid4().hex[:8])
    try:
        mirror = Mirror(source, destination, name=f"mirror-{site.tag}", include_private=True, fq=site.fq,
                        state=tmp_path / "state.sqlite")
        first = mirror.run()
        assert first.ok, first.failures
        assert first.details["identity"].startswith("ids kept")
        assert first.created == 5 and first.counts["files copied"] == 2 and first.counts["tables copied"] == 1
        assert first.counts["organizations created"] == 2 and first.counts["groups created"] == 1
        assert_equal_copy(source, destination, site, tmp_path)

        # Three datasets edited, two deleted, two added, one file replaced, on the source.
        for dataset in site.datasets[2:5]:
            source.call_action("package_patch", {"id": dataset["id"], "notes": "edited on the source"})
        removed = [site.datasets[4]["id"], site.datasets[3]["id"]]
        for dataset_id in removed:
            source.call_action("package_delete", {"id": dataset_id})
        site.add(5, "-new")
        site.add(6, "-new")
        replaced = [r for r in source.get_dataset(site.datasets[0]["id"])["resources"] if r["url_type"] == "upload"][0]
        source.call_action("resource_patch", {"id": replaced["id"]},
                           files={"upload": ("measurements.bin", io.BytesIO(os.urandom(3_000_000)))})
        second = mirror.run()
        assert second.ok, second.failures
        # Read in full: #2 (edited), #0 (its file replaced), #5 and #6 (new); the rest only in compact pages.
        assert second.details["incremental"] and second.counts["source datasets read"] == 4
        assert (second.created, second.updated, second.deleted) == (2, 2, 2)  # edits of #2 and #0
        assert second.counts["files copied"] == 1 and second.counts.get("tables copied", 0) == 0
        assert_equal_copy(source, destination, site, tmp_path, gone=removed)
        for dataset_id in removed:
            assert destination.get_dataset(dataset_id)["state"] == "deleted"

        third = mirror.run()  # nothing changed: nothing written, nothing read in full
        assert third.write_requests == 0 and not third.counts.get("files copied")
        assert not third.counts.get("source datasets read")
        assert all(n <= 8 for n in third.details["requests_by_site"].values()), third.details
    finally:
        site.cleanup(destination)


def test_through_faults_and_a_kill_the_copy_ends_equal(ckan_stack: Stack, tmp_path: Path) -> None:
    """10% faults in front of both portals; then a run killed midway and run again."""
    source_stack = stack("2.11.6", ckan_stack)
    with source_stack.client() as source, ckan_stack.client() as destination:
        site = Site(source, uuid.uuid4().hex[:8])
        for i in range(7, 25):
            site.add(i)
        try:
            with FaultProxy(source_stack.url, rate=0.1, seed=3) as from_proxy, \
                    FaultProxy(ckan_stack.url, rate=0.1, seed=4) as to_proxy:
                options: dict[str, Any] = {"timeout": (2, 1.5)}
                faulty_source = CkanLowlevelClient(from_proxy.url, source_stack.token, **options)
                faulty_destination = CkanLowlevelClient(to_proxy.url, ckan_stack.token, **options)
                mirror = Mirror(faulty_source, faulty_destination, name=f"mirror-{site.tag}", include_private=True,
                                fq=site.fq, state=tmp_path / "faulty.sqlite")
                report = mirror.run()
                for _ in range(3):  # what the faults left undone, the next runs finish
                    if report.ok:
                        break
                    report = mirror.run()
                assert report.ok, report.failures
                assert sum(to_proxy.injected.values()) > 5 and sum(from_proxy.injected.values()) >= 3  # both sides
                assert all(n == 1 for (action, _), n in to_proxy.created_names.items() if action == "package_create")
            assert_equal_copy(source, destination, site, tmp_path)
        finally:
            site.cleanup(destination)

        site = Site(source, uuid.uuid4().hex[:8])
        for i in range(7, 60):
            site.add(i)
        try:
            args = [source_stack.url, source_stack.token, ckan_stack.url, ckan_stack.token, f"mirror-{site.tag}",
                    site.fq, str(tmp_path / "killed.sqlite")]
            kill_after(KILLED_RUNNER, args, destination, f"mirror-{site.tag} [fq:{site.fq}]", 10)
            again = Mirror(source, destination, name=f"mirror-{site.tag}", include_private=True, fq=site.fq,
                           state=tmp_path / "killed.sqlite").run()
            assert again.ok, again.failures
            assert_equal_copy(source, destination, site, tmp_path)
            owner = f"mirror-{site.tag} [fq:{site.fq}]"  # a part of the source: its copies are owned as that part
            assert owned_count(destination, owner) == len(site.datasets)  # nothing twice
        finally:
            site.cleanup(destination)


KILLED_RUNNER = """
import sys
from ckan_api_client import CkanLowlevelClient
from ckan_api_client.engines.mirror import Mirror
source_url, source_token, url, token, name, fq, state = sys.argv[1:8]
Mirror(CkanLowlevelClient(source_url, source_token), CkanLowlevelClient(url, token), name=name, fq=fq,
       include_private=True, state=state, concurrency=2).run()
"""


def test_the_command_line_mirror(ckan_stack: Stack, tmp_path: Path) -> None:
    from cli_runner import cli

    source_stack = stack("2.10.11", ckan_stack)
    with source_stack.client() as source, ckan_stack.client() as destination:
        site = Site(source, uuid.uuid4().hex[:8])
        try:
            common = ["mirror", "--from", source_stack.url, "--from-token", source_stack.token,
                      "--fq", site.fq, "--include-private", "--name", f"m-{site.tag}",
                      "--state", str(tmp_path / "s.sqlite")]
            dry = cli(ckan_stack, *common, "--dry-run").stdout.splitlines()
            assert sorted(json.loads(line)["operation"] for line in dry[:-1]) == ["create"] * 5
            assert destination.call_action("package_search", {"fq": f"id:{site.datasets[0]['id']}"})["count"] == 0
            done = json.loads(cli(ckan_stack, *common, "--error-log", str(tmp_path / "e.jsonl")).stdout)
            counts = done["counts"]
            assert counts["created"] == 5 and counts["files copied"] == 2 and done["failed"] == 0
            assert (tmp_path / "e.jsonl").read_text() == ""
            assert_equal_copy(source, destination, site, tmp_path)
        finally:
            site.cleanup(destination)


def test_many_portals_on_dask(ckan_stack: Stack, tmp_path: Path) -> None:
    """The example: one mirror job per source portal on a Dask LocalCluster with two workers; the next night,
    each job runs on the other worker, finds its state where every worker can read it, and writes nothing."""
    distributed = pytest.importorskip("distributed")
    sys.path.insert(0, str(REPO / "examples"))
    from many_portals import mirror_job, mirror_many

    sources = [stack("2.11.6", ckan_stack), stack("2.10.11", ckan_stack)]
    clients = [s.client() for s in sources]
    sites = [Site(client, uuid.uuid4().hex[:8]) for client in clients]
    shared = tmp_path / "shared-state"  # as a shared filesystem or a bucket would be: given as a URL (fsspec)
    try:
        jobs = [{"source": s.url, "source_token": s.token, "destination": ckan_stack.url,
                 "destination_token": ckan_stack.token, "name": f"dask-{site.tag}", "fq": site.fq,
                 "include_private": True, "state": f"file://{shared}/{site.tag}.sqlite"}
                for s, site in zip(sources, sites)]
        results = mirror_many(jobs, workers=2)
        assert [r["ok"] for r in results] == [True, True], results
        assert len({r["worker"] for r in results}) == 2  # the two jobs ran on the two workers at once
        with ckan_stack.client() as destination:
            for client, site in zip(clients, sites):
                assert_equal_copy(client, destination, site, tmp_path)
        # The next night: each job on the worker the other one ran on.
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as dask:
            workers = sorted(dask.scheduler_info()["workers"])
            nights = [dask.submit(mirror_job, job, workers=[workers[(i + 1) % 2]], pure=False)
                      for i, job in enumerate(jobs)]
            again = dask.gather(nights)
        assert [r["worker"].split(":", 1)[1] for r in again] == [workers[1], workers[0]]
        for result in again:
            assert result["ok"] and result["write_requests"] == 0 and result["details"]["incremental"], result
            assert result["counts"].get("source datasets read", 0) == 0  # nothing read in full
    finally:
        with ckan_stack.client() as destination:
            for site in sites:
                site.cleanup(destination)


def test_an_image_that_cannot_be_fetched_does_not_hold_back_its_organization(ckan_stack: Stack,
                                                                              tmp_path: Path) -> None:
    source_stack = stack("2.11.6", ckan_stack)
    tag = uuid.uuid4().hex[:8]
    with source_stack.client() as source, ckan_stack.client() as destination:
        # An organization whose image_url names an upload the source no longer has (it answers 404).
        org = source.call_action("organization_create", {"name": f"img-{tag}", "image_url": "gone-logo.png"})
        dataset = source.call_action("package_create", {"name": f"img-{tag}", "owner_org": org["id"]})
        try:
            report = Mirror(source, destination, name=f"img-{tag}", organization=org["name"],
                            state=tmp_path / "s.sqlite").run()
            assert report.created == 1 and report.ok, report.failures  # a file the source lacks: said, not failed
            assert report.counts["images missing at the source"] == 1
            assert [(n.operation, n.ref) for n in report.notes] == [("copy image of organization", org["name"])]
            assert destination.get_organization(org["name"])["id"] == org["id"]
            assert destination.get_dataset(dataset["id"])["owner_org"] == org["id"]
        finally:
            for client in (source, destination):
                for action, ref in (("dataset_purge", dataset["id"]), ("organization_purge", org["id"])):
                    discard(client, action, ref)


def test_a_table_or_a_file_the_source_lacks_is_said_not_failed(ckan_stack: Stack, tmp_path: Path) -> None:
    """Records loaded from another portal's dump keep ``datastore_active`` on resources whose table stayed behind,
    and ``url_type: upload`` on resources whose file did (CKAN answers 500 for such a file): the mirror copies
    the dataset, says what is missing at the source, fails nothing, and its next run is incremental."""
    source_stack = stack("2.11.6", ckan_stack)
    tag = uuid.uuid4().hex[:8]
    with source_stack.client() as source, ckan_stack.client() as destination:
        org = source.call_action("organization_create", {"name": f"dsa-{tag}"})
        dataset = source.call_action("package_create", {
            "name": f"dsa-{tag}", "owner_org": org["id"],
            "resources": [{"url": "http://example.com/t.csv", "name": "table", "datastore_active": True},
                          {"url": "report.pdf", "url_type": "upload", "name": "file left behind", "size": 1000}]})
        try:
            assert dataset["resources"][0].get("datastore_active") in (True, "True")
            with pytest.raises(CkanError):  # the source itself cannot give the file
                source.download_resource(dataset["resources"][1], tmp_path / "report.pdf")
            mirror = Mirror(source, destination, name=f"dsa-{tag}", organization=org["name"],
                            state=tmp_path / "s.sqlite")
            report = mirror.run()
            assert report.ok and report.created == 1, report.failures
            assert report.counts["tables missing at the source"] == 1
            assert report.counts["files missing at the source"] == 1
            assert sorted(note.operation for note in report.notes) == ["copy file", "copy table"]
            copy = destination.get_dataset(dataset["id"])
            assert [r["name"] for r in copy["resources"]] == ["table", "file left behind"]
            again = mirror.run()
            assert again.ok and again["source datasets read"] == 0 and again.write_requests == 0, again.summary()
        finally:
            for client in (source, destination):
                for action, ref in (("dataset_purge", dataset["id"]), ("organization_purge", org["id"])):
                    discard(client, action, ref)


def test_lasting_conflicts_are_stable_and_the_next_run_is_incremental(ckan_stack: Stack, tmp_path: Path) -> None:
    """A name taken on the destination, and an id taken by a dataset the mirror does not own: reported as
    conflicts, remembered, not tried again while the source does not change them; every other dataset copied."""
    source_stack = stack("2.11.6", ckan_stack)
    with source_stack.client() as source, ckan_stack.client() as destination:
        site = Site(source, uuid.uuid4().hex[:8])
        squatter_org = destination.call_action("organization_create", {"name": f"sq-{site.tag}"})
        name_taker = destination.call_action("package_create", {"name": site.datasets[1]["name"],
                                                                "owner_org": squatter_org["id"]})
        id_taker = destination.call_action("package_create", {"name": f"other-{site.tag}", "id": site.datasets[2]["id"],
                                                              "owner_org": squatter_org["id"]})
        try:
            mirror = Mirror(source, destination, name=f"c-{site.tag}", include_private=True, fq=site.fq,
                            state=tmp_path / "state.sqlite")
            first = mirror.run()
            reasons = {c.source_id: c.reason for c in first.conflicts}
            assert set(reasons) == {site.datasets[1]["id"], site.datasets[2]["id"]}, first.failures
            assert "name" in reasons[site.datasets[1]["id"]] and "id" in reasons[site.datasets[2]["id"]]
            assert first.errors == [] and first.created == 3
            again = mirror.run()
            assert again.details["incremental"] and again.write_requests == 0
            assert not again.counts.get("source datasets read")  # no failing write repeated, nothing read in full
            assert {c.source_id for c in again.conflicts} == set(reasons)  # still said, every run
            assert all("earlier run" in c.reason for c in again.conflicts)
            source.call_action("package_patch", {"id": site.datasets[1]["id"], "title": "changed at the source"})
            third = mirror.run()  # its source changed: tried once more (and still a conflict)
            assert third.counts["source datasets read"] == 1 and third.created == 0
            assert destination.get_dataset(name_taker["id"])["owner_org"] == squatter_org["id"]  # never touched
            assert destination.get_dataset(id_taker["id"])["name"] == f"other-{site.tag}"
        finally:
            for dataset in (name_taker, id_taker):
                discard(destination, "dataset_purge", dataset["id"])
            discard(destination, "organization_purge", squatter_org["id"])
            site.cleanup(destination)


@pytest.mark.parametrize("named", [True, False], ids=["one --name", "default name"])
def test_two_parts_of_one_source_keep_each_others_copies(ckan_stack: Stack, tmp_path: Path, named: bool) -> None:
    """One organization of a source mirrored, then another, under one --name (each with its state) or the default
    name: neither deletes the other's copies. One state file given to both parts: the second is refused, in one
    line, before it writes anything."""
    source_stack = stack("2.11.6", ckan_stack)
    with source_stack.client() as source, ckan_stack.client() as destination:
        site = Site(source, uuid.uuid4().hex[:8])
        name = f"parts-{site.tag}" if named else None
        try:
            parts = [Mirror(source, destination, name=name, include_private=True, organization=org["name"],
                            state=tmp_path / f"part-{i}.sqlite" if named else True)
                     for i, org in enumerate(site.orgs)]
            first = parts[0].run()
            assert first.ok and first.created == 3, first.failures  # datasets 0, 2, 4 are in the first organization
            if named:
                shared = Mirror(source, destination, name=name, include_private=True, organization=site.orgs[1]["name"],
                                state=tmp_path / "part-0.sqlite")
                with pytest.raises(StateError, match="give this run its own --state"):
                    shared.run()
            second = parts[1].run()
            assert second.ok and second.created == 2 and second.deleted == 0, second.failures
            again = parts[0].run()
            assert again.ok and again.deleted == 0 and again.write_requests == 0
            for dataset in site.datasets:
                assert destination.get_dataset(dataset["id"])["state"] == "active"
        finally:
            site.cleanup(destination)
