"""Harvesting DCAT into real CKANs, and exporting from them: every published example harvests without a
failure and a second run writes nothing; a changed title costs one write and keeps the name; a dataset
gone from the source is deleted; a real ckanext-dcat /catalog.ttl (Hydra pages) harvested into another
CKAN completely; the depositar export harvested back round-trips every mapped field; Data Packages pass
frictionless; bad sources delete nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import figures
from ckan_api_client import CkanLowlevelClient
from ckan_api_client.dcat import read_catalog
from ckan_api_client.dcat.serialize import iri, text
from ckan_api_client.blocking.concurrency import run_concurrently
from ckan_api_client.engines.harvest import Harvest
from ckan_api_client.testing import discard, unique_name
from ckan_stack_plugin import Factory, Stack
from cli_runner import cli
from test_dcat import DEPOSITAR, EXAMPLES, EXAMPLES_CONTEXT, WITHOUT_DATASETS, depositar


def harvested(client: CkanLowlevelClient, name: str) -> dict[str, dict[str, Any]]:
    """The datasets a harvest owns, by name."""
    found = client.call_action("package_search", {"fq": f'extras_sync_source:"{name}"', "rows": 1000,
                                                   "include_private": True})
    return {d["name"]: d for d in found["results"]}


def purge_harvest(client: CkanLowlevelClient, name: str) -> None:
    """Every dataset of the harvest ``name`` (or of those whose names begin with ``roundtrip*``), however many."""
    quoted = name if name.endswith("*") else f'"{name}"'
    ids = [d["id"] for page in client.search_pages("id", 1000, fq=f"extras_sync_source:{quoted}",
                                                   include_private=True) for d in page]
    for _ in run_concurrently(ids, lambda dataset_id: discard(client, "dataset_purge", dataset_id), concurrency=6):
        pass


HARVESTABLE = [e for e in EXAMPLES if e.name not in WITHOUT_DATASETS]


def test_every_published_example_harvests_then_writes_nothing(client: CkanLowlevelClient, factory: Factory,
                                                              tmp_path: Path) -> None:
    org = factory.make_org()
    for example in HARVESTABLE:
        name = unique_name("ex")
        try:
            first = Harvest(client, str(example), name=name, owner_org=org["name"], contexts=EXAMPLES_CONTEXT,
                            state=tmp_path / f"{name}.sqlite").run()
            assert first.ok and first.created >= 1, (example.name, first.failures)
            again = Harvest(client, str(example), name=name, owner_org=org["name"], contexts=EXAMPLES_CONTEXT,
                            state=tmp_path / f"{name}.sqlite").run()
            assert again.ok and again.write_requests == 0 and again.unchanged == first.created, example.name
        finally:
            purge_harvest(client, name)


CATALOG = """@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix foaf: <http://xmlns.com/foaf/0.1/> .
""" + "".join(f"""
<https://example.org/ds/{i}> a dcat:Dataset ; dct:title "{{title{i}}}"@en ; dct:description "Dataset {i}"@en ;
    dcat:keyword "air", "water/rivers" ; dct:publisher [ a foaf:Agent ; foaf:name "Agency {i % 2}" ] ;
    dcat:distribution <https://example.org/ds/{i}/csv> .
<https://example.org/ds/{i}/csv> a dcat:Distribution ; dcat:downloadURL <https://example.org/files/{i}.csv> ;
    dcat:mediaType <https://www.iana.org/assignments/media-types/text/csv> .
""" for i in range(3))


def catalog(path: Path, titles: dict[int, str], drop: int | None = None) -> Path:
    text = CATALOG.format(**{f"title{i}": t for i, t in titles.items()})
    if drop is not None:
        text = "\n".join(line for line in text.split("\n\n") if f"/ds/{drop}" not in line.split(" ")[0]) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_retitle_costs_one_write_and_a_dataset_gone_is_deleted(client: CkanLowlevelClient, factory: Factory,
                                                                 tmp_path: Path) -> None:
    name = unique_name("rt")
    titles = {0: f"Air quality {name}", 1: f"River levels {name}", 2: f"Noise {name}"}
    source = catalog(tmp_path / "catalog.ttl", titles)
    state = tmp_path / "state.sqlite"
    try:
        first = Harvest(client, str(source), name=name, organization_from="publisher", state=state).run()
        assert first.ok and first.created == 3, first.failures
        held = harvested(client, name)
        assert {d["organization"]["title"] for d in held.values()} == {"Agency 0", "Agency 1"}
        before = {d["title"]: d["name"] for d in held.values()}
        catalog(source, {**titles, 1: f"River levels, revised {name}"})
        second = Harvest(client, str(source), name=name, organization_from="publisher", state=state).run()
        assert second.updated == 1 and second.write_requests == 1 and second.unchanged == 2
        after = {d["title"]: d["name"] for d in harvested(client, name).values()}
        assert after[f"River levels, revised {name}"] == before[f"River levels {name}"]  # the name stays
        catalog(source, titles, drop=2)
        third = Harvest(client, str(source), name=name, organization_from="publisher", state=state).run()
        assert third.deleted == 1 and set(harvested(client, name)) == set(after.values()) - {before[titles[2]]}
    finally:
        purge_harvest(client, name)
        for org in client.call_action("organization_list", {"q": "agency"}) or []:
            if org.startswith("agency-"):
                discard(client, "organization_purge", org)


def test_a_name_taken_by_a_dataset_the_harvest_does_not_own_gets_a_number(client: CkanLowlevelClient,
                                                                         factory: Factory, tmp_path: Path) -> None:
    """Names come from titles and are labels, not identity: a title whose name another dataset holds is created
    as name-2 (a note says so), the other dataset is never touched, and the next run writes nothing."""
    name = unique_name("nm")
    titles = {0: f"Air quality {name}", 1: f"River levels {name}", 2: f"Noise {name}"}
    source = catalog(tmp_path / "catalog.ttl", titles)
    org = factory.make_org()
    squatter = factory.make_dataset(org=org, name=f"river-levels-{name}", title="Someone else's")
    state = tmp_path / "state.sqlite"
    try:
        first = Harvest(client, str(source), name=name, owner_org=org["name"], state=state).run()
        assert first.ok and first.created == 3 and not first.conflicts, first.failures
        assert f"river-levels-{name}-2" in harvested(client, name)
        assert any(f"created as 'river-levels-{name}-2'" in n.reason for n in first.notes)
        assert client.get_dataset(squatter["id"])["title"] == "Someone else's"
        again = Harvest(client, str(source), name=name, owner_org=org["name"], state=state).run()
        assert again.ok and again.write_requests == 0 and again.unchanged == 3
    finally:
        purge_harvest(client, name)


def test_an_unchanged_catalogue_is_not_parsed_and_hand_edits_are_still_put_back(
        client: CkanLowlevelClient, factory: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-page catalogue identical to the last complete run's is not parsed again (its datasets are known
    from the state); a dataset edited or deleted on the portal meanwhile is still put back, from a read of it."""
    from ckan_api_client.dcat import Catalog

    name = unique_name("fp")
    source = catalog(tmp_path / "catalog.ttl", {0: f"Air {name}", 1: f"Rivers {name}", 2: f"Noise {name}"})
    org = factory.make_org()
    state = tmp_path / "state.sqlite"
    parsed = []
    real_datasets = Catalog.datasets

    def counted(self: Catalog) -> Any:
        parsed.append(self.source)
        return real_datasets(self)

    monkeypatch.setattr(Catalog, "datasets", counted)
    try:
        first = Harvest(client, str(source), name=name, owner_org=org["name"], state=state).run()
        assert first.ok and first.created == 3 and len(parsed) == 1
        second = Harvest(client, str(source), name=name, owner_org=org["name"], state=state).run()
        assert second.details["catalogue"] == "unchanged since the last complete run" and len(parsed) == 1
        assert second.ok and second.unchanged == 3 and second.write_requests == 0
        held = sorted(harvested(client, name).values(), key=lambda d: d["title"])
        client.call_action("package_patch", {"id": held[0]["id"], "title": "edited by hand"})
        client.call_action("dataset_purge", {"id": held[1]["id"]})
        third = Harvest(client, str(source), name=name, owner_org=org["name"], state=state).run()
        assert third.ok and third.created == 1 and len(third.restored) == 1, third.summary()
        assert sorted(d["title"] for d in harvested(client, name).values()) == sorted(d["title"] for d in held)
        fourth = Harvest(client, str(source), name=name, owner_org=org["name"], state=state).run()
        assert fourth.write_requests == 0 and fourth.details["catalogue"] == "unchanged since the last complete run"
        catalog(source, {0: f"Air {name}", 1: f"Rivers {name}", 2: f"Noise, revised {name}"})
        fifth = Harvest(client, str(source), name=name, owner_org=org["name"], state=state).run()
        assert fifth.details["catalogue"] == "read" and fifth.updated == 1 and fifth.write_requests == 1
    finally:
        purge_harvest(client, name)


def test_a_source_that_fails_deletes_nothing_on_the_command_line(ckan_stack: Stack, client: CkanLowlevelClient,
                                                                  factory: Factory, tmp_path: Path) -> None:
    org = factory.make_org()
    name = unique_name("gone")
    good = catalog(tmp_path / "catalog.ttl", {0: f"A {name}", 1: f"B {name}", 2: f"C {name}"})
    try:
        cli(ckan_stack, "harvest", str(good), "--name", name, "--owner-org", org["name"], "-q")
        assert len(harvested(client, name)) == 3
        for broken, says in (("@prefix dcat: <http://www.w3.org/ns/dcat#> .\n<a> a dcat:Dataset\n", "line"),
                             ("<html><title>Moved</title></html>", "HTML page"),
                             ("@prefix ex: <http://example.org/> .\nex:a ex:b ex:c .\n", "holds no dataset")):
            good.write_text(broken, encoding="utf-8")
            proc = cli(ckan_stack, "harvest", str(good), "--name", name, "--owner-org", org["name"], check=1)
            assert says in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
            assert len(harvested(client, name)) == 3
    finally:
        purge_harvest(client, name)


def test_a_real_ckanext_dcat_catalog_harvested_into_another_ckan(ckan_stack: Stack, other_stack: Stack,
                                                                 factory: Factory, tmp_path: Path) -> None:
    """The source is ckanext-dcat's own /catalog.ttl (100 datasets a page, Hydra-paged) on the 2.12 stack."""
    if other_stack.requested != "2.11.6":
        pytest.skip("one destination is enough: the 2.11 stack")
    source = ckan_stack.client()
    if not source.capabilities.has_extension("dcat"):
        pytest.fail("the 2.12 test stack runs without ckanext-dcat (CKAN_STACK_PLUGINS=dcat)")
    org = factory.make_org()
    made = {factory.make_dataset(org=org, title=f"Harvested {i}", notes="from ckanext-dcat",
                                 tags=[{"name": "dcat"}], resources=[{"url": f"http://example.com/{i}.csv",
                                                                      "format": "CSV"}])["id"] for i in range(130)}
    destination = other_stack.client()
    target = destination.call_action("organization_create", {"name": unique_name("into")})
    name = unique_name("ckandcat")
    try:
        url = f"{ckan_stack.url}/catalog.ttl?q=organization:{org['name']}"
        report = Harvest(destination, url, name=name, owner_org=target["name"], state=tmp_path / "s.sqlite").run()
        assert report.ok and report.created == 130, report.failures[:3]
        got = harvested(destination, name)
        assert {d["title"] for d in got.values()} == {f"Harvested {i}" for i in range(130)}
        assert {json.loads(e["value"]) if e["value"].startswith("[") else e["value"]
                for d in got.values() for e in d["extras"] if e["key"] == "uri"} == \
            {f"{ckan_stack.url}/dataset/{ref}" for ref in made}
        assert all(d["resources"][0]["format"] == "CSV" for d in got.values())
    finally:
        purge_harvest(destination, name)
        discard(destination, "organization_purge", target["id"])


def test_the_depositar_export_harvested_back_round_trips(other_stack: Stack, tmp_path: Path) -> None:
    """Export the 1,839 records as DCAT-AP 3, harvest that file into the 2.11 stack: every field the mapping
    reads from the file is on the portal, as it was read, and the core fields are the original records'."""
    if other_stack.requested != "2.11.6":
        pytest.skip("one destination is enough: the 2.11 stack")
    exported = tmp_path / "depositar.ttl"
    cli(None, "export", "dcat", "-i", str(DEPOSITAR), "--base-url", "https://data.depositar.io", "-o", str(exported),
        "-q")
    read = {d["uri"]: d for d in read_catalog(str(exported))}
    destination = other_stack.client()
    purge_harvest(destination, "roundtrip*")  # a run cut short before its cleanup: its names would be taken
    org = destination.call_action("organization_create", {"name": unique_name("depo")})
    name = unique_name("roundtrip")
    try:
        report = Harvest(destination, str(exported), name=name, owner_org=org["name"], cleaners=("tags", "oversized"),
                         state=tmp_path / "s.sqlite", concurrency=8).run()
        assert report.ok and report.created == 1839, report.failures[:3]
        back = {}
        for page in destination.search_pages(None, 1000, fq=f'extras_sync_source:"{name}"'):
            for dataset in page:
                extras = {e["key"]: e["value"] for e in dataset["extras"]}
                back[extras["uri"]] = {**extras, **{k: v for k, v in dataset.items() if k != "extras"}}
        assert set(back) == set(read)
        compared: Counter[str] = Counter()
        for uri, wanted in read.items():
            got = back[uri]
            for key, value in wanted.items():
                if key in ("name", "resources", "tags", "license_url"):
                    continue  # CKAN computes license_url from license_id (the register's URL, or none)
                held = got.get(key)
                if isinstance(value, (list, dict)) and isinstance(held, str):
                    held = json.loads(held)
                assert held == value, (uri, key, value, held)
                compared[key] += 1
            assert {t["name"] for t in got["tags"]} <= {t["name"] for t in wanted["tags"]}  # cleaned, never invented
            resources = {r.get("uri"): r for r in got["resources"]}
            for resource in wanted["resources"]:
                for key, value in resource.items():
                    held = resources[resource["uri"]].get(key)
                    if key == "format":  # CKAN writes the formats it knows its own way (DBASE: dBase)
                        held, value = str(held).upper(), str(value).upper()
                    assert held == value, (uri, resource["uri"], key, value, held)
                    compared[f"resource {key}"] += 1
        for record in depositar():
            got = back[f"https://data.depositar.io/dataset/{record['id']}"]
            assert got["title"] == record["title"] and got["identifier"] == record["id"]
            assert (got.get("notes") or None) == (record.get("notes") or record["title"])
            assert (got.get("url") or None) == (record.get("url") or None)
            assert got["modified"].startswith(record["metadata_modified"][:19])
            page = f"https://data.depositar.io/dataset/{record['id']}/resource/"
            assert sorted(r["url"] for r in got["resources"]) == sorted(  # as IRIs: a space is escaped
                str(iri(r["url"])) if r.get("url", "").startswith("http") else page + r["id"]
                for r in record["resources"])
            assert got.get("contact_name") == (record.get("maintainer") or got.get("contact_name"))
            publisher = (record.get("organization") or {}).get("title")
            assert got.get("publisher_name") == (str(text(publisher)) if publisher else None)  # XML-safe text
        figures.record("DCAT", "depositar export harvested into 2.11: every field read from the file is on the "
                               "portal; values compared: " + ", ".join(f"{k} {n}" for k, n in sorted(compared.items())))
    finally:
        purge_harvest(destination, name)
        discard(destination, "organization_purge", org["id"])


def test_data_packages_pass_frictionless(ckan_stack: Stack, factory: Factory, tmp_path: Path) -> None:
    from ckan_api_client import DataStore

    client = ckan_stack.client()
    dataset = factory.make_dataset(title="Packaged", notes="a package", tags=[{"name": "pkg"}], license_id="cc-by",
                                   resources=[{"url": f"{ckan_stack.url}/api/3/action/status_show", "name": "Link",
                                               "format": "JSON"}])
    client.upload_resource(dataset["id"], ("data.csv", __import__("io").BytesIO(b"a,b\n1,2\n3,4\n")),
                           name="Uploaded file", format="CSV")
    DataStore(client).create(resource={"package_id": dataset["id"], "name": "Table"},
                             fields=[{"id": "city", "type": "text"}, {"id": "n", "type": "int"},
                                     {"id": "when", "type": "timestamp"}],
                             records=[{"city": "東京", "n": 4, "when": "2024-01-02T03:04:05"}])
    out = tmp_path / "packages"
    summary = json.loads(cli(ckan_stack, "export", "datapackage", dataset["name"], "-o", str(out)).stdout)
    assert summary["counts"]["packages written"] == 1
    package = out / dataset["name"] / "datapackage.json"
    descriptor = json.loads(package.read_text())
    assert {r["name"] for r in descriptor["resources"]} == {"link", "uploaded-file", "table"}
    proc = subprocess.run([sys.executable, "-m", "frictionless", "validate", str(package), "--json"],
                          capture_output=True, text=True, timeout=300)
    result = json.loads(proc.stdout)
    assert result["valid"], json.dumps(result)[:3000]
    # Nothing changed, nothing written again; an id that is not there fails alone, the others go on.
    again = cli(ckan_stack, "export", "datapackage", "not-a-dataset-here", dataset["name"], "-o", str(out), check=3)
    assert json.loads(again.stdout)["counts"]["packages unchanged"] == 1
    assert "failed: export not-a-dataset-here: HTTP 404 package_show" in again.stderr
