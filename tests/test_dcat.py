"""DCAT in and out, without a server: every published example read (or named malformed, with its line),
the depositar catalogue exported as DCAT-AP 3 that passes the official SHACL shapes, every serialization
read back to the same datasets, DCAT-US both ways against its JSON schema, Hydra pages, bad sources."""

from __future__ import annotations

import gzip
import io
import json
import logging
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import figures
from ckan_api_client.dcat import SourceError, identity, read_catalog, write
from ckan_api_client.dcat.serialize import CatalogInfo
from ckan_api_client.engines.export import export_dcat
from ckan_stack_plugin import SHARED, Stack
from loopback_servers import Recorded, Reply, ScriptedServer

DCAT_DIR = SHARED / "data" / "dcat"
DEPOSITAR = SHARED / "data" / "real-portals" / "depositar" / "datasets.jsonl.gz"
EXAMPLES = sorted([*(DCAT_DIR / "dcat-ap-3.0.1" / "examples").glob("example-*"),
                   *(DCAT_DIR / "dcat-ap-3.0.0-hvd" / "examples").glob("example-*"),
                   *(DCAT_DIR / "dcat-us-1.1").glob("catalog-sample*.json")])
EXAMPLES_CONTEXT = {"https://semiceu.github.io/uri.semic.eu-generated/DCAT-AP/releases/3.0.0/html/examples/"
                    "context.jsonld": str(DCAT_DIR / "dcat-ap-3.0.1" / "examples" / "context.jsonld")}
REPAIRED = {"example-bees_wasps_dataset.ttl": "line 1: an @prefix without its final '.'",
            "example-bee-population-dataset-series-api.ttl": "line 20: a '/' in the prefixed name",
            "example-bee-population-dataset-series-combined.ttl": "line 32: a '/' in the prefixed name"}
"""Published examples that are not well-formed Turtle, read as meant, and the warning that says so."""
WITHOUT_DATASETS = {"example-data_service_openapi_sla.ttl", "example-data_service_service_desk.ttl",
                    "example-map_licenses.ttl", "example-ms_catalogue_simple.ttl"}
"""Examples that describe a data service, a licence or an empty catalogue (typed dcat:Catalogue): no dataset."""


def depositar(limit: int | None = None) -> list[dict[str, Any]]:
    with gzip.open(DEPOSITAR, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    return records[:limit] if limit else records


def test_the_examples_are_all_there() -> None:
    assert len(EXAMPLES) >= 40, "the DCAT examples of ../shared/data/dcat are missing"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_published_example_is_read(example: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Every published example reads to its datasets (three after a warning that names the slip), or says
    it holds none."""
    if example.name in WITHOUT_DATASETS:
        with pytest.raises(SourceError, match="holds no dataset"):
            list(read_catalog(str(example), contexts=EXAMPLES_CONTEXT))
        return
    with caplog.at_level(logging.WARNING, logger="ckan_api_client"):
        datasets = list(read_catalog(str(example), contexts=EXAMPLES_CONTEXT))
    assert datasets and all(d["title"] and identity(d) for d in datasets)
    assert len({identity(d) for d in datasets}) == len(datasets)
    warned = [r.getMessage() for r in caplog.records if "not well-formed Turtle" in r.getMessage()]
    if example.name in REPAIRED:
        assert any(REPAIRED[example.name] in message for message in warned), warned
    else:
        assert not warned


def test_slips_in_turtle_are_mended_and_what_is_broken_still_names_its_line(tmp_path: Path) -> None:
    from ckan_api_client.dcat.source import repair_turtle

    text = ('@prefix ex: <https://example.org/a/b#>\n@prefix dcat: <http://www.w3.org/ns/dcat#> .\n'
            'ex:d/1 a dcat:Dataset ; ex:p "a ex:b/c string", <https://x.org/ex:y/z> . # ex:c/d\n')
    mended, said = repair_turtle(text)
    assert mended == ('@prefix ex: <https://example.org/a/b#> .\n@prefix dcat: <http://www.w3.org/ns/dcat#> .\n'
                      'ex:d\\/1 a dcat:Dataset ; ex:p "a ex:b/c string", <https://x.org/ex:y/z> . # ex:c/d\n')
    assert said == ["line 1: an @prefix without its final '.'", "line 3: a '/' in the prefixed name ex:d/1"]
    broken = tmp_path / "broken.ttl"
    broken.write_text('@prefix dcat: <http://www.w3.org/ns/dcat#> .\n\n<https://e.org/d> a dcat:Dataset ;; ] .\n')
    with pytest.raises(SourceError, match="line 3"):
        list(read_catalog(str(broken)))


def test_the_depositar_export_passes_the_dcat_ap_3_shacl_shapes(tmp_path: Path) -> None:
    import pyshacl
    import rdflib

    out = tmp_path / "depositar.ttl"
    started = time.monotonic()
    report = export_dcat(None, out, input_path=DEPOSITAR, base_url="https://data.depositar.io", title="depositar")
    seconds = time.monotonic() - started
    assert report["written"] == 1839 and report.ok
    data = rdflib.Graph()
    data.parse(out, format="turtle")
    shapes = rdflib.Graph()
    shapes.parse(DCAT_DIR / "dcat-ap-3.0.1" / "dcat-ap-SHACL.ttl")
    conforms, results, _ = pyshacl.validate(data, shacl_graph=shapes, inference="none", allow_warnings=True)
    sh = rdflib.Namespace("http://www.w3.org/ns/shacl#")
    found = Counter((str(results.value(r, sh.resultSeverity)).rsplit("#", 1)[-1], str(results.value(r, sh.resultPath)))
                    for r in results.subjects(rdflib.RDF.type, sh.ValidationResult))
    figures.record("DCAT", f"export of the 1,839 depositar records as DCAT-AP 3 Turtle: {seconds:.2f} s, "
                           f"{len(data):,} triples; SHACL: {dict(found) or 'no violation, no warning'}")
    assert conforms and not [k for k in found if k[0] == "Violation"], found


FORMATS = ["turtle", "xml", "json-ld", "nt"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_serialization_reads_back_to_the_same_datasets(fmt: str, tmp_path: Path) -> None:
    records = depositar(60)
    out = tmp_path / f"catalog.{fmt}"
    with open(out, "w", encoding="utf-8") as fh:
        write(records, fh, fmt=fmt, info=CatalogInfo("https://data.depositar.io", "depositar"))
    back = {d["uri"].rsplit("/", 1)[-1]: d for d in read_catalog(str(out))}
    assert set(back) == {r["id"] for r in records}
    for record in records:
        again = back[record["id"]]
        assert again["title"] == record["title"]
        assert again.get("notes") == (record.get("notes") or record["title"])
        assert sorted(t["name"] for t in again["tags"]) == sorted({t["name"] for t in record.get("tags") or []})
        # A resource without a link of its own gets its page on the portal as its access URL (DCAT-AP wants one).
        page = f"https://data.depositar.io/dataset/{record['id']}/resource/"
        assert sorted(r["url"] for r in again["resources"]) == sorted(
            r["url"] if r.get("url", "").startswith("http") else page + r["id"] for r in record["resources"])


def test_dcat_us_both_ways_and_against_its_schema(tmp_path: Path) -> None:
    import jsonschema
    from referencing import Registry, Resource

    schemas = {name: json.loads((DCAT_DIR / "dcat-us-1.1" / name).read_text()) for name in
               ("catalog.json", "dataset.json", "distribution.json")}
    # The samples ship three of the schemas; the two small ones they refer to (a vcard, an organization) are
    # checked here only as objects.
    schemas.update({name: {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"}
                    for name in ("vcard.json", "organization.json")})
    registry = Registry().with_resources(
        (f"https://project-open-data.cio.gov/v1.1/schema/{name}", Resource.from_contents(schema))
        for name, schema in schemas.items())
    sample = list(read_catalog(str(DCAT_DIR / "dcat-us-1.1" / "catalog-sample.json")))
    assert [d["identifier"] for d in sample] == [d["identifier"] for d in
                                                 json.loads((DCAT_DIR / "dcat-us-1.1" / "catalog-sample.json")
                                                            .read_text())["dataset"]]
    out = io.StringIO()
    write([*sample, *depositar(30)], out, profile="dcat-us")
    document = json.loads(out.getvalue())
    validator = jsonschema.Draft4Validator(schemas["catalog.json"], registry=registry)
    problems = [e.message for e in validator.iter_errors(document)]
    assert problems == [], problems[:5]


# ---------------------------------------------------------------- sources that are not catalogues


def page_of(n: int, datasets: range, next_page: str | None) -> str:
    lines = ["@prefix dcat: <http://www.w3.org/ns/dcat#> .", "@prefix dct: <http://purl.org/dc/terms/> .",
             "@prefix hydra: <http://www.w3.org/ns/hydra/core#> ."]
    for i in datasets:
        lines.append(f'<https://example.org/ds/{i}> a dcat:Dataset ; dct:title "Dataset {i}" .')
    if next_page:
        lines.append(f'<https://example.org/catalog?page={n}> a hydra:PagedCollection ; hydra:nextPage "{next_page}" .')
    return "\n".join(lines) + "\n"


def test_hydra_pages_are_followed_until_a_page_comes_again() -> None:
    def answer(request: Recorded) -> Reply:
        page = int(request.path.split("page=")[1]) if "page=" in request.path else 1
        nxt = f"/catalog.ttl?page={page % 3 + 1}"  # page 3 points back at page 1: a loop, ended
        return Reply(200, page_of(page, range(page * 10, page * 10 + 10), nxt), {"Content-Type": "text/turtle"})

    with ScriptedServer(answer) as server:
        datasets = list(read_catalog(f"{server.url}/catalog.ttl"))
        assert len(datasets) == 30 and len(server.requests) == 4  # the fourth page is the first again: stop


@pytest.mark.parametrize("reply, says", [
    (Reply(200, "<!doctype html><html><title>Portal</title></html>", {"Content-Type": "text/html"}), "HTML page"),
    (Reply(404, "<html><title>Not found</title></html>", {"Content-Type": "text/html"}), "cannot be read"),
    (Reply(200, "@prefix ex: <http://example.org/> .\nex:a ex:b ex:c .\n", {"Content-Type": "text/turtle"}),
     "holds no dataset"),
    (Reply(200, '{"conformsTo": "https://project-open-data.cio.gov/v1.1/schema", "dataset": []}',
           {"Content-Type": "application/json"}), "holds no dataset"),
    (Reply(200, "@prefix dcat: <http://www.w3.org/ns/dcat#> .\n<a> a dcat:Dataset\n<b> a dcat:Dataset .\n",
           {"Content-Type": "text/turtle"}), "line 3"),
    (Reply(200, '{"@context": "https://elsewhere.example/ctx.jsonld", "@type": "Dataset"}',
           {"Content-Type": "application/ld+json"}), "never fetched"),
])
def test_a_source_that_is_not_a_catalogue_is_one_clear_error(reply: Reply, says: str) -> None:
    with ScriptedServer([reply]) as server:
        with pytest.raises(SourceError, match=says):
            list(read_catalog(f"{server.url}/catalog"))


def test_a_source_over_the_size_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    big = page_of(1, range(2000), None)
    with ScriptedServer([Reply(200, big, {"Content-Type": "text/turtle"})]) as server:
        with pytest.raises(SourceError, match="over the size cap"):
            list(read_catalog(f"{server.url}/catalog.ttl", max_size=10_000))
    on_disk = tmp_path / "big.ttl"
    on_disk.write_text(big)
    with pytest.raises(SourceError, match="refused before parsing"):
        list(read_catalog(str(on_disk), max_size=10_000))


@pytest.mark.parametrize("fmt", ["turtle", "nt", "xml"])
def test_a_large_catalogue_is_read_from_disk_to_the_same_datasets(fmt: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the in-memory size a page is parsed into the SQLite store (Turtle in chunks of whole statements),
    from a file and from a URL spooled to disk: the datasets are the ones the in-memory path reads."""
    from ckan_api_client.dcat import source, store

    records = depositar(120)
    out = tmp_path / f"catalog.{fmt}"
    with open(out, "w", encoding="utf-8") as fh:
        write(records, fh, fmt=fmt, info=CatalogInfo("https://data.depositar.io", "depositar"))
    in_memory = list(read_catalog(str(out)))
    made: list[store.DiskStore] = []
    real_disk_graph = source.disk_graph

    def counted() -> Any:
        graph = real_disk_graph()
        made.append(graph.store)
        return graph

    monkeypatch.setattr(source, "LARGE_PAGE", 10_000)
    monkeypatch.setattr(source, "disk_graph", counted)
    monkeypatch.setattr(store, "_CHUNK", 7_000)  # many chunks, cut at lines that end in a dot
    assert list(read_catalog(str(out))) == in_memory and len(made) == 1
    with ScriptedServer([Reply(200, out.read_bytes(), {"Content-Type": "text/plain"})]) as server:
        assert list(read_catalog(f"{server.url}/catalog.{fmt}")) == in_memory and len(made) == 2
    assert not list(tmp_path.glob("dcat-*")), "temporary files left behind"


def test_the_disk_store_keeps_a_repeated_triple_once() -> None:
    """A catalogue written a dataset at a time repeats shared triples (a media type's, a licence's) once per
    dataset; kept each time, looking up that subject would read them all: the lookups of 100,000 datasets
    grew with the catalogue (O(n²), hours for P11). Kept once, a lookup stays a lookup."""
    from rdflib import Literal, URIRef
    from rdflib.namespace import DCTERMS, RDF

    from ckan_api_client.dcat.store import disk_graph

    graph = disk_graph()
    csv = URIRef("http://publications.europa.eu/resource/authority/file-type/CSV")
    for i in range(500):
        graph.add((csv, RDF.type, DCTERMS.MediaTypeOrExtent))
        graph.add((URIRef(f"https://example.org/d/{i}"), DCTERMS.title, Literal(f"d{i}")))
    assert list(graph.triples((csv, None, None))) == [(csv, RDF.type, DCTERMS.MediaTypeOrExtent)]
    assert len(graph) == 501
    assert graph.store._db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 501  # type: ignore[attr-defined]
    assert len(list(graph.triples((None, DCTERMS.title, None)))) == 500
    graph.close()


def test_turtle_fed_in_chunks_keeps_labels_prefixes_and_literals_that_end_lines_in_dots(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ckan_api_client.dcat import source, store

    notes = "See <https://ex.org/a> .\n" * 40  # a literal whose lines end like statements: a cut there is not one
    text = ("@prefix dcat: <http://www.w3.org/ns/dcat#> .\n@prefix dct: <http://purl.org/dc/terms/> .\n"
            + "".join(f'<https://ex.org/d{i}> a dcat:Dataset ; dct:title "D {i}" ;\n'
                      f'  dct:description """{notes}""" ;\n  dct:publisher _:p{i % 3} .\n' for i in range(30))
            + "".join(f'_:p{i} <http://xmlns.com/foaf/0.1/name> "Publisher {i}" .\n' for i in range(3)))
    catalog = tmp_path / "c.ttl"
    catalog.write_text(text)
    monkeypatch.setattr(source, "LARGE_PAGE", 100)
    monkeypatch.setattr(store, "_CHUNK", 301)
    datasets = list(read_catalog(str(catalog)))
    assert len(datasets) == 30
    for dataset in datasets:
        i = int(dataset["uri"].rsplit("d", 1)[1])
        assert dataset["notes"] == notes and dataset["title"] == f"D {i}"
        assert dataset["publisher_name"] == f"Publisher {i % 3}"  # a label used before its triples came
    broken = tmp_path / "broken.ttl"
    broken.write_text(text.replace('"D 17" ;', '"D 17" ;;;; oops', 1))
    line = text[:text.index('"D 17" ;')].count("\n") + 1
    with pytest.raises(SourceError, match=f"line {line}"):
        list(read_catalog(str(broken)))


CKANEXT_DCAT_PARSE = """
import json, sys
from ckanext.dcat.processors import RDFParser
parser = RDFParser(profiles=["euro_dcat_ap_3"])
parser.parse(open(sys.argv[1], "rb").read(), _format="turtle")
json.dump(list(parser.datasets()), sys.stdout)
"""


def test_ckanext_dcat_reads_our_export_as_we_do(ckan_stack: Stack, tmp_path: Path) -> None:
    """ckanext-dcat's own parser (2.4.4, its DCAT-AP 3 profile, in the stack's CKAN) reads the export of the
    1,839 depositar records to the same fields as ours: nothing we write is lost to a CKAN that harvests it."""
    if ckan_stack.python is None:
        pytest.skip("a CKAN given by CKAN_URL: its code is not on this machine")
    out = tmp_path / "depositar.ttl"
    export_dcat(None, out, input_path=DEPOSITAR, base_url="https://data.depositar.io", title="depositar")
    proc = subprocess.run([str(ckan_stack.python), "-c", CKANEXT_DCAT_PARSE, str(out)], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = {}
    for dataset in json.loads(proc.stdout):
        extras = {e["key"]: e["value"] for e in dataset.pop("extras")}
        theirs[extras["uri"]] = {**dataset, **extras}
    ours = {d["uri"]: d for d in read_catalog(str(out))}
    assert set(theirs) == set(ours) and len(ours) == 1839

    def same(key: str, mine: Any, their: Any) -> bool:
        if key.startswith("spatial") and mine and their:
            return bool(json.loads(mine) == json.loads(their))
        if key in ("format", "mimetype", "hash_algorithm") and mine and their:  # they keep the URI, we its name
            return str(their).lower().endswith(("/" + str(mine).lower(), "_" + str(mine).lower()))
        return (mine or None) == (their or None)

    compared = Counter()
    for uri, mine in ours.items():
        their = theirs[uri]
        for key in ("title", "notes", "url", "issued", "modified", "identifier", "contact_name", "contact_email",
                    "publisher_name", "spatial_bbox", "spatial_centroid", "version", "temporal_start",
                    "temporal_end", "frequency", "language", "conforms_to", "access_rights"):
            assert same(key, mine.get(key), their.get(key)), (uri, key, mine.get(key), their.get(key))
            compared[key] += bool(mine.get(key))
        assert sorted(t["name"] for t in mine["tags"]) == sorted(t["name"] for t in their["tags"]), uri
        their_resources = {r["uri"]: r for r in their["resources"]}
        assert set(their_resources) == {r["uri"] for r in mine["resources"]}, uri
        for resource in mine["resources"]:
            for key in ("url", "access_url", "download_url", "name", "description", "format", "mimetype", "size",
                        "hash", "hash_algorithm", "license"):
                assert same(key, resource.get(key), their_resources[resource["uri"]].get(key)), \
                    (uri, resource["uri"], key)
                compared[f"resource {key}"] += bool(resource.get(key))
    figures.record("DCAT", "ckanext-dcat 2.4.4 reads our export of the 1,839 as we do; values compared: "
                           + ", ".join(f"{k} {n}" for k, n in compared.items() if n))


@pytest.mark.parametrize("geojson, expected", [
    ('{"type": "Point", "coordinates": [121.5, 24.75]}', ("centroid", "POINT (121.5 24.75)")),
    ('{"type": "LineString", "coordinates": [[120, 23.5], [120.25, 23]]}',
     ("bbox", "POLYGON ((120 23, 120.25 23, 120.25 23.5, 120 23.5, 120 23))")),
    ('{"type": "MultiPolygon", "coordinates": [[[[1, 2], [3, 4], [1, 4], [1, 2]]], [[[-1, 0], [0, 0], [-1, 0]]]]}',
     ("bbox", "POLYGON ((-1 0, 3 0, 3 4, -1 4, -1 0))")),
    ("not json", None), ('{"type": "Point"}', None), ('["a"]', None),
])
def test_a_geometry_goes_out_as_its_centroid_or_its_box(geojson: str, expected: Any) -> None:
    from ckan_api_client.dcat.geometry import as_dcat, to_geojson

    assert as_dcat(geojson) == expected
    if expected:
        back = json.loads(to_geojson(expected[1]) or "null")
        assert back["type"] == ("Point" if expected[0] == "centroid" else "Polygon")


def test_wkt_and_geojson_come_in_as_geojson() -> None:
    from ckan_api_client.dcat.geometry import to_geojson

    assert json.loads(to_geojson("<http://www.opengis.net/def/crs/OGC/1.3/CRS84> POINT(4.5 50.25)") or "") == \
        {"type": "Point", "coordinates": [4.5, 50.25]}
    assert json.loads(to_geojson("LINESTRING (1 2, 3 4)") or "")["coordinates"] == [[1, 2], [3, 4]]
    assert json.loads(to_geojson("POLYGON ((0 0, 1 0, 1 1, 0 0), (0.2 0.2, 0.3 0.2, 0.2 0.2))") or "")[
        "coordinates"][1] == [[0.2, 0.2], [0.3, 0.2], [0.2, 0.2]]
    assert to_geojson('{"type": "Point", "coordinates": [1, 2]}') == '{"type": "Point", "coordinates": [1, 2]}'
    assert to_geojson("MULTIPOLYGON (((0 0, 1 0, 0 0)))") is None and to_geojson("Brussels") is None


def test_a_place_named_and_drawn_is_exported_and_read_back() -> None:
    record = {"id": "p1", "name": "p1", "title": "Place", "spatial_text": "Taipei",
              "spatial": '{"type": "Polygon", "coordinates": [[[121.4, 25.0], [121.6, 25.0], [121.6, 25.2], '
                         '[121.4, 25.0]]]}'}
    out = io.StringIO()
    write([record], out, info=CatalogInfo("https://portal.example", "p"))
    graph = __import__("rdflib").Graph().parse(data=out.getvalue(), format="turtle")
    from ckan_api_client.dcat.parse import datasets_in

    [back] = list(datasets_in(graph))
    assert back["spatial_text"] == "Taipei"
    assert json.loads(back["spatial_bbox"]) == json.loads(back["spatial"]) == {
        "type": "Polygon", "coordinates": [[[121.4, 25.0], [121.6, 25.0], [121.6, 25.2], [121.4, 25.2], [121.4, 25.0]]]}


def test_the_mapping_page_lists_every_mapped_field() -> None:
    """docs/reference/dcat.md is the table of ckan_api_client.dcat.vocab: no field mapped in code is missing
    from it, with its DCAT property."""
    from ckan_api_client.dcat.vocab import DATASET_FIELDS, PREFIXES, RESOURCE_FIELDS

    page = (Path(__file__).resolve().parent.parent / "docs" / "reference" / "dcat.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    for field in (*DATASET_FIELDS, *RESOURCE_FIELDS):
        prefix, namespace = next((p, str(n)) for p, n in PREFIXES.items() if str(field.predicate).startswith(str(n)))
        qname = f"`{prefix}:{str(field.predicate)[len(namespace):]}`"
        assert any(f"`{field.ckan}`" in row.split("|")[1] and qname in row for row in rows), (field.ckan, qname)


def test_a_catalogue_of_one_page_has_a_fingerprint_a_paged_one_none(tmp_path: Path) -> None:
    from ckan_api_client.dcat import Catalog

    one = tmp_path / "one.ttl"
    one.write_text(page_of(1, range(3), None))
    paged = tmp_path / "paged.ttl"
    paged.write_text(page_of(1, range(3), "/catalog.ttl?page=2"))
    with Catalog(str(one)) as first, Catalog(str(one)) as again, Catalog(str(paged)) as other:
        before = first.fingerprint()
        assert before is not None and before == again.fingerprint()
        assert other.fingerprint() is None  # its next pages are known only by parsing
        assert len(list(first.datasets())) == 3  # the page fetched for the fingerprint is the one parsed
    one.write_text(page_of(1, range(4), None))
    with Catalog(str(one)) as changed, Catalog(str(tmp_path / "one.ttl")) as same_file:
        assert changed.fingerprint() == same_file.fingerprint() != before
    # Our own export binds the hydra prefix, and a description may say "next": still one page.
    worded = tmp_path / "worded.ttl"
    worded.write_text(page_of(1, range(2), None) + '<https://example.org/ds/0> dct:description "The next survey" .\n')
    with Catalog(str(worded)) as catalogue:
        assert catalogue.fingerprint() is not None
    for spelling in ('hydra:next "/p2"', '<http://www.w3.org/ns/hydra/core#nextPage> "/p2"'):
        linked = tmp_path / "linked.ttl"
        linked.write_text(page_of(1, range(2), None) + f"<https://example.org/catalog> {spelling} .\n")
        with Catalog(str(linked)) as catalogue:
            assert catalogue.fingerprint() is None, spelling


def test_the_built_in_dcat_ap_context_says_what_the_official_one_says() -> None:
    """Every term of the DCAT-AP 3.0.1 JSON-LD context (../shared, SEMIC's file) means the same IRI, with the same
    kind of value, in the context this library resolves offline."""
    from ckan_api_client.dcat.contexts import DCAT_AP_CONTEXT

    official = json.loads((DCAT_DIR / "dcat-ap-3.0.1" / "dcat-ap.context.jsonld").read_text())["@context"]
    checked = 0
    for term, value in official.items():
        scoped = value.get("@context", {}) if isinstance(value, dict) else {}
        assert (value if isinstance(value, str) else value["@id"]) == _iri_of(DCAT_AP_CONTEXT[term]), term
        for inner, definition in scoped.items():
            ours = DCAT_AP_CONTEXT[inner]
            assert definition["@id"] == ours["@id"] and definition.get("@type") == ours.get("@type"), inner
            checked += 1
    assert checked >= 80


def _iri_of(definition: Any) -> str:
    return definition if isinstance(definition, str) else str(definition["@id"])


def test_a_json_ld_catalogue_naming_the_dcat_ap_context_is_read_offline(tmp_path: Path) -> None:
    """A JSON-LD document that names the official DCAT-AP context by URL reads, without the network, to the same
    datasets as its Turtle twin."""
    examples = DCAT_DIR / "dcat-ap-3.0.1" / "examples"
    local = json.loads((examples / "context.jsonld").read_text())["@context"]
    prefixes = {k: v for k, v in local.items() if isinstance(v, str) and k.startswith(("example", "nal-"))}
    compared = 0
    for twin in sorted(examples.glob("example-*.jsonld")):
        turtle = twin.with_suffix(".ttl")
        if turtle.name in REPAIRED or turtle.name in WITHOUT_DATASETS or not turtle.exists():
            continue
        document = json.loads(twin.read_text())
        if not isinstance(document.get("@context"), str):
            continue  # a context of its own, inline: nothing to resolve
        document["@context"] = ["https://semiceu.github.io/DCAT-AP/releases/3.0.1/context/dcat-ap.jsonld", prefixes]
        rewritten = tmp_path / twin.name
        rewritten.write_text(json.dumps(document))
        assert list(read_catalog(str(rewritten))) == list(read_catalog(str(turtle))), twin.name
        compared += 1
    assert compared >= 8
