"""The ckan-api-client command, end to end: run as a subprocess, then check what CKAN or the files hold."""

from __future__ import annotations

import gzip
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from ckan_api_client.low_level import CkanLowlevelClient
from ckan_stack_plugin import Factory, Stack
from ckan_api_client.testing import unique_name
from cli_runner import cli, jsonl
from real_portals import as_core_dataset, depositar


def test_action_with_values_json_and_files(ckan_stack: Stack, factory: Factory, tmp_path: Path) -> None:
    org = factory.make_org()
    name = unique_name("cli")
    proc = cli(ckan_stack, "action", "package_create", f"name={name}", f"owner_org={org['id']}",
               'extras:=[{"key": "k", "value": "ü"}]', "private:=true")
    created = json.loads(proc.stdout)
    factory.track_dataset(created["id"])
    assert created["name"] == name and created["private"] is True and created["extras"][0]["value"] == "ü"
    upload = tmp_path / "data.csv"
    upload.write_bytes(b"a,b\n1,2\n")
    resource = json.loads(cli(ckan_stack, "action", "resource_create", f"package_id={name}", "upload@" + str(upload))
                          .stdout)
    assert resource["url_type"] == "upload"
    shown = json.loads(cli(ckan_stack, "action", "--get", "package_show", f"id={name}").stdout)
    assert shown["resources"][0]["id"] == resource["id"]
    # ckanapi's output forms: plain JSON on one line (its -j, --compact here), a list as JSON Lines (-J).
    compact = cli(ckan_stack, "action", "package_show", f"id={name}", "--compact").stdout
    assert compact.count("\n") == 1 and json.loads(compact)["id"] == created["id"]
    listed = cli(ckan_stack, "action", "organization_list", "all_fields:=true", "-J").stdout.splitlines()
    assert org["name"] in {json.loads(line)["name"] for line in listed}
    jobs_not_json = cli(ckan_stack, "action", "package_show", f"id={name}", "-j", check=1).stderr
    assert "--compact" in jobs_not_json and jobs_not_json.count("\n") == 1


def test_errors_and_exit_codes(ckan_stack: Stack) -> None:
    missing = cli(ckan_stack, "action", "package_show", "id=" + unique_name("nothing"), check=1)
    assert "Not found" in missing.stderr and missing.stdout == ""
    assert "key=value" in cli(ckan_stack, "action", "package_show", "oops", check=1).stderr
    assert cli(ckan_stack, "no-such-command", check=1).stderr
    solr = cli(ckan_stack, "search", "datasets", "--fq", "name:[", check=1)
    assert solr.stderr.startswith("error: HTTP 409 package_search [Search Error]: Solr cannot run this search: "
                                  "SyntaxError: Cannot parse") and solr.stderr.count("\n") == 1, solr.stderr
    refused = cli(None, "--url", "http://127.0.0.1:9", "--retries", "0", "action", "status_show", check=1)
    assert "transport error" in refused.stderr
    plain = cli(None, "--url", "http://data.example.org", "--token", "tok-zzz", "action", "status_show", check=1)
    assert "plain http" in plain.stderr and "tok-zzz" not in plain.stderr


def test_search_pages_everything_in_a_stable_order(ckan_stack: Stack, factory: Factory) -> None:
    org = factory.make_org()
    made = [factory.make_dataset(org=org) for _ in range(5)]
    lines = cli(ckan_stack, "search", "--fq", f"owner_org:{org['id']}").stdout.splitlines()
    found = [json.loads(line) for line in lines]
    assert sorted(d["id"] for d in found) == sorted(d["id"] for d in made) == [d["id"] for d in found]
    assert len(cli(ckan_stack, "search", "--fq", f"owner_org:{org['id']}", "--limit", "2").stdout.splitlines()) == 2


@pytest.fixture
def source_site(ckan_stack: Stack, factory: Factory) -> dict[str, Any]:
    """Two organizations with real records (CJK text, resources), on the default stack."""
    orgs = [factory.make_org(title=f"來源組織 {i}", description="real records") for i in range(2)]
    records = [r for r in depositar(40) if r.get("resources")][:8]
    datasets = []
    for index, record in enumerate(records):
        dataset = as_core_dataset(record, unique_name("site"), orgs[index % 2]["id"])
        dataset["tags"] = [t for t in dataset["tags"] if len(t["name"]) >= 2]
        datasets.append(factory.make_dataset(org=orgs[index % 2], **{k: v for k, v in dataset.items()
                                                                      if k not in ("name", "owner_org")}))
    return {"orgs": orgs, "datasets": datasets}


def test_dump_of_one_site_loads_into_another(ckan_stack: Stack, other_stack: Stack, source_site: dict[str, Any],
                                             tmp_path: Path) -> None:
    orgs_file, datasets_file = tmp_path / "orgs.jsonl", tmp_path / "datasets.jsonl.gz"
    cli(ckan_stack, "dump", "organizations", *[o["id"] for o in source_site["orgs"]], "-o", str(orgs_file))
    dumped = cli(ckan_stack, "dump", "datasets", *[d["id"] for d in source_site["datasets"]], "-o", str(datasets_file))
    assert json.loads(dumped.stdout)["counts"]["written"] == len(source_site["datasets"])

    target = other_stack.client()
    try:
        loaded = json.loads(cli(other_stack, "load", "organizations", "-i", str(orgs_file)).stdout)
        assert loaded["counts"]["created"] == 2
        result = json.loads(cli(other_stack, "-j", "3", "load", "datasets", "-i", str(datasets_file)).stdout)
        assert result["counts"]["created"] == len(source_site["datasets"]) and result["failed"] == 0
        for original in source_site["datasets"]:
            copy = target.get_dataset(original["name"])
            assert copy["organization"]["name"] == original["organization"]["name"]  # org for org
            assert copy["organization"]["title"] == original["organization"]["title"]
            assert copy["title"] == original["title"] and copy["notes"] == original["notes"]
            assert [r["url"] for r in copy["resources"]] == [r["url"] for r in original["resources"]]
            assert {e["key"]: e["value"] for e in copy["extras"]} == {e["key"]: e["value"] for e in original["extras"]}
        # Loading the same dump again updates in place: nothing doubles.
        again = json.loads(cli(other_stack, "load", "datasets", "-i", str(datasets_file)).stdout)
        assert again["counts"]["updated"] == len(source_site["datasets"]) and again["counts"].get("created", 0) == 0
    finally:
        for original in source_site["datasets"]:
            target.call_action("dataset_purge", {"id": original["name"]})
        for org in source_site["orgs"]:
            target.delete_organization(org["name"])


def test_a_cut_off_dump_resumes_without_duplicates(ckan_stack: Stack, source_site: dict[str, Any],
                                                   tmp_path: Path) -> None:
    full = tmp_path / "full.jsonl"
    dumped = cli(ckan_stack, "dump", "datasets", "--all", "-o", str(full))
    assert "pool is full" not in dumped.stderr  # the walks and the token check alongside them fit in the pool
    everything = jsonl(full)
    assert len(everything) >= len(source_site["datasets"])
    for name in ("cut.jsonl", "cut.jsonl.gz"):
        cut = tmp_path / name
        raw = full.read_bytes()
        torn = raw[: raw.index(b"\n", len(raw) // 2) + 40]  # half the records and a torn line
        part = tmp_path / (name + ".part")  # what a dump cut short leaves
        part.write_bytes(gzip.compress(torn)[:-30] if name.endswith(".gz") else torn)  # gzip cut mid-stream too
        resumed = json.loads(cli(ckan_stack, "dump", "datasets", "--all", "--resume", "-o", str(cut)).stdout)
        assert not part.exists()
        assert resumed["counts"]["kept from before"] > 0 and resumed["counts"]["written"] > 0
        ids = [d["id"] for d in jsonl(cut)]
        assert len(ids) == len(set(ids))
        assert ids == [d["id"] for d in everything]

    named = tmp_path / "named.jsonl"
    first_ids = [d["id"] for d in source_site["datasets"]]
    cli(ckan_stack, "dump", "datasets", *first_ids[:3], "-o", str(named))
    resumed = json.loads(cli(ckan_stack, "dump", "datasets", *first_ids, "--resume", "-o", str(named)).stdout)
    assert resumed["counts"]["kept from before"] == 3 and resumed["counts"]["written"] == len(first_ids) - 3
    assert [d["id"] for d in jsonl(named)] == first_ids


def test_load_logs_bad_records_and_loads_the_good(ckan_stack: Stack, client: CkanLowlevelClient,
                                                  factory: Factory, tmp_path: Path) -> None:
    org = factory.make_org()
    good = [{"name": unique_name("good"), "title": f"Good {i}", "organization": {"name": org["name"]}}
            for i in range(4)]
    lines = [json.dumps(good[0]), "{not json", json.dumps(["a list"]), json.dumps(good[1]),
             json.dumps({"name": "Bad Name!", "organization": {"name": org["name"]}}),
             json.dumps({"title": "no name"}), json.dumps(good[2]), json.dumps(good[3])]
    source = tmp_path / "load.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    errors = tmp_path / "errors.jsonl"
    proc = cli(ckan_stack, "load", "datasets", "-i", str(source), "--error-log", str(errors), check=3)
    for record in good:
        factory.track_dataset(record["name"])
    summary = json.loads(proc.stdout)
    assert summary["counts"]["created"] == 4 and summary["failed"] == 1 and summary["invalid"] == 3
    assert ckan_stack.token not in errors.read_text(encoding="utf-8")
    logged = {e["line"]: e for e in jsonl(errors)}
    assert sorted(logged) == [2, 3, 5, 6]
    assert "not JSON" in logged[2]["reason"] and logged[3]["reason"] == "the line is a JSON array, not an object"
    assert "name" in logged[5]["field_errors"] and "no name" in logged[6]["reason"]
    assert logged[2]["record"] == "{not json" and logged[5]["record"]["name"] == "Bad Name!"  # ready to fix
    # Bad input is invalid; what the server refused (line 5) failed.
    assert [logged[n]["kind"] for n in (2, 3, 5, 6)] == ["invalid", "invalid", "failed", "invalid"]
    assert "invalid: line 3: upsert dataset: the line is a JSON array, not an object" in proc.stderr
    for record in good:
        assert client.get_dataset(record["name"])["organization"]["name"] == org["name"]

    # Resume: the lines done before are skipped, the new ones loaded.
    more = {"name": unique_name("more"), "organization": {"name": org["name"]}}
    factory.track_dataset(more["name"])
    with open(source, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(more) + "\n")
    resumed = json.loads(cli(ckan_stack, "load", "datasets", "-i", str(source), "--resume", check=3).stdout)
    assert resumed["counts"]["skipped (done before)"] == 4 and resumed["counts"]["created"] == 1
    assert resumed["failed"] == 1 and resumed["invalid"] == 3
    assert client.get_dataset(more["name"])["name"] == more["name"]

    updated = json.loads(cli(ckan_stack, "load", "datasets", "-i", str(source), "--update-only", check=3).stdout)
    assert updated["counts"]["updated"] == 5
    only_new = json.loads(cli(ckan_stack, "load", "datasets", "-i", str(source), "--create-only", check=3).stdout)
    assert only_new["counts"].get("created", 0) == 0 and only_new["failed"] == 6 and only_new["invalid"] == 3


def test_a_dump_of_all_datasets_takes_drafts_and_a_load_keeps_them_drafts(
        ckan_stack: Stack, client: CkanLowlevelClient, factory: Factory, tmp_path: Path) -> None:
    org = factory.make_org()
    public, draft = factory.make_dataset(org=org), factory.make_dataset(org=org, state="draft")
    assert draft["state"] == "draft"
    base = ["dump", "datasets", "--all", "--include-private", "--fq", f"owner_org:{org['id']}"]
    assert [json.loads(line)["id"] for line in cli(ckan_stack, *base).stdout.splitlines()] == [public["id"]]
    both = [json.loads(line)["id"] for line in cli(ckan_stack, *base, "--include-drafts").stdout.splitlines()]
    assert both == sorted([public["id"], draft["id"]])
    assert "--include-drafts widens" in cli(ckan_stack, "dump", "datasets", draft["id"], "--include-drafts",
                                            check=1).stderr
    # Loaded again (here under other names), a draft stays a draft, not published; published at the
    # source, its copy follows on the next load.
    dumped = {d["id"]: d for d in map(json.loads, cli(ckan_stack, *base, "--include-drafts").stdout.splitlines())}
    copies = {i: {**d, "name": d["name"] + "-copy"} for i, d in dumped.items()}
    for record in copies.values():
        factory.track_dataset(record["name"])
    records = tmp_path / "copies.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in copies.values()), encoding="utf-8")
    cli(ckan_stack, "load", "datasets", "-i", str(records))
    assert client.get_dataset(copies[draft["id"]]["name"])["state"] == "draft"
    assert client.get_dataset(copies[public["id"]]["name"])["state"] == "active"
    records.write_text(json.dumps({**copies[draft["id"]], "state": "active"}) + "\n", encoding="utf-8")
    assert json.loads(cli(ckan_stack, "load", "datasets", "-i", str(records)).stdout)["counts"] == {"updated": 1}
    assert client.get_dataset(copies[draft["id"]]["name"])["state"] == "active"


def test_batch_runs_a_file_of_actions_in_order_and_resumes(ckan_stack: Stack, client: CkanLowlevelClient,
                                                            factory: Factory, tmp_path: Path) -> None:
    org = factory.make_org()
    name = unique_name("batch")
    factory.track_dataset(name)
    upload = tmp_path / "data.csv"
    upload.write_bytes(b"a,b\n1,2\n")
    lines = [{"action": "package_create", "data": {"name": name, "owner_org": org["id"]}},
             {"action": "package_patch", "data": {"id": name, "title": "Patched by batch"}},  # needs line 1
             {"action": "resource_create", "data": {"package_id": name, "name": "file"},
              "files": {"upload": str(upload)}},
             {"action": "package_show", "data": {"id": unique_name("not-there")}},
             ["not", "an", "action"],
             {"data": {"id": name}}]
    actions = tmp_path / "actions.jsonl"
    actions.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    results, errors = tmp_path / "results.jsonl", tmp_path / "errors.jsonl"
    first = cli(ckan_stack, "batch", "-i", str(actions), "-o", str(results), "--error-log", str(errors), check=3)
    summary = json.loads(first.stdout)
    assert summary["counts"] == {"package_create": 1, "package_patch": 1}
    assert summary["failed"] == 1 and summary["invalid"] == 3  # a file to upload needs --local-files
    assert [(r["line"], r["action"]) for r in jsonl(results)] == [(1, "package_create"), (2, "package_patch")]
    assert client.get_dataset(name)["title"] == "Patched by batch" and not client.get_dataset(name)["resources"]
    logged = {e["line"]: e for e in jsonl(errors)}
    assert logged[3]["kind"] == "invalid" and "--local-files" in logged[3]["reason"]
    assert logged[4]["kind"] == "failed" and logged[4]["error_type"] == "NotFound"
    assert logged[5]["reason"] == "the line is a JSON array, not an object" and "no action" in logged[6]["reason"]

    # Resumed with --local-files: the lines done before are not run again, the upload is.
    again = json.loads(cli(ckan_stack, "batch", "-i", str(actions), "-o", str(results), "--local-files", "--resume",
                           check=3).stdout)
    assert again["counts"] == {"skipped (done before)": 2, "resource_create": 1} and again["write_requests"] == 1
    resources = client.get_dataset(name)["resources"]
    assert len(resources) == 1 and resources[0]["url_type"] == "upload"
    assert [r["line"] for r in jsonl(results)] == [1, 2, 3]

    # Independent lines, -j at a time, results in the input's order, from stdin to stdout.
    shows = "".join(json.dumps({"action": "package_show", "data": {"id": name}}) + "\n" for _ in range(6))
    piped = cli(ckan_stack, "-j", "3", "batch", input=shows)
    assert [json.loads(line)["line"] for line in piped.stdout.splitlines()] == [1, 2, 3, 4, 5, 6]
    assert json.loads(piped.stderr.splitlines()[0])["counts"] == {"package_show": 6}


def test_delete_and_purge(ckan_stack: Stack, client: CkanLowlevelClient, factory: Factory, tmp_path: Path) -> None:
    org = factory.make_org()
    made = [factory.make_dataset(org=org) for _ in range(4)]
    out = json.loads(cli(ckan_stack, "delete", "datasets", made[0]["id"], made[1]["name"]).stdout)
    assert out["counts"]["deleted"] == 2
    assert client.get_dataset(made[0]["id"])["state"] == "deleted"
    listing = tmp_path / "ids.txt"
    listing.write_text(f"{made[2]['id']}\n{json.dumps({'name': made[3]['name']})}\n{unique_name('ghost')}\n")
    out = json.loads(cli(ckan_stack, "delete", "datasets", "-i", str(listing), "--purge").stdout)
    assert out["counts"]["purged"] == 2 and out["counts"]["not found"] == 1
    for dataset in made[2:]:
        assert client.call_action("package_search", {"fq": f"id:{dataset['id']}"})["count"] == 0
        with pytest.raises(Exception):
            client.get_dataset(dataset["id"])


def test_sync_dry_run_writes_nothing(ckan_stack: Stack, client: CkanLowlevelClient, factory: Factory,
                                     tmp_path: Path) -> None:
    org = factory.make_org()
    suffix = uuid.uuid4().hex[:8]
    records = depositar(5)
    for record in records:
        record["name"] = f"{record['name']}-{suffix}"
    source = tmp_path / "source.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    source_name = unique_name("clisync")
    before = client.call_action("package_search", {"rows": 0, "include_private": True})["count"]
    lines = cli(ckan_stack, "sync", str(source), "--source-name", source_name, "--dry-run",
                "--default-organization", org["name"]).stdout.splitlines()
    planned, summary = [json.loads(line) for line in lines[:-1]], json.loads(lines[-1])
    assert summary["operation"] == "sync" and summary["dry_run"] is True and summary["write_requests"] == 0
    assert sorted(p["name"] for p in planned if p["operation"] == "create") == sorted(r["name"] for r in records)
    assert client.call_action("package_search", {"rows": 0, "include_private": True})["count"] == before
    real = json.loads(cli(ckan_stack, "sync", str(source), "--source-name", source_name,
                          "--default-organization", org["name"]).stdout)
    for record in records:
        factory.track_dataset(record["name"])
    assert real["counts"]["created"] == 5 and real["failed"] == 0
    again = json.loads(cli(ckan_stack, "sync", str(source), "--source-name", source_name,
                           "--default-organization", org["name"]).stdout)
    assert again["write_requests"] == 0 and again["counts"]["unchanged"] == 5
    # One compact page, status_show, and the token check's two reads (made while the source is read).
    assert again["search_requests"] == 1 and again["requests"] == 4


def test_sync_puts_a_record_without_an_organization_in_the_default_one(ckan_stack: Stack, client: CkanLowlevelClient,
                                                                       factory: Factory, tmp_path: Path) -> None:
    org = factory.make_org()
    name = unique_name("clisync-default-org")
    source = tmp_path / "source.jsonl"
    source.write_text(json.dumps({"id": name, "name": name, "title": "no organization of its own"}) + "\n")
    done = json.loads(cli(ckan_stack, "sync", str(source), "--source-name", unique_name("clisync"),
                          "--default-organization", org["name"]).stdout)
    factory.track_dataset(name)
    assert done["counts"]["created"] == 1 and done["failed"] == 0
    assert client.get_dataset(name)["owner_org"] == org["id"]


def test_profiles_from_the_config_file(ckan_stack: Stack, tmp_path: Path) -> None:
    config = tmp_path / "config.ini"
    config.write_text(f"[local]\nurl = {ckan_stack.url}\ntoken = {ckan_stack.token}\n")
    proc = cli(None, "--config", str(config), "--profile", "local", "action", "status_show")
    assert json.loads(proc.stdout)["site_url"] == ckan_stack.url
    assert ckan_stack.token not in proc.stdout + proc.stderr
    assert "no [missing] section" in cli(None, "--config", str(config), "--profile", "missing", "action",
                                         "status_show", check=1).stderr


def test_dump_with_files(ckan_stack: Stack, client: CkanLowlevelClient, factory: Factory, tmp_path: Path) -> None:
    dataset = factory.make_dataset()
    payload = os.urandom(200_000)
    upload = tmp_path / "report.bin"
    upload.write_bytes(payload)
    good = client.call_action("resource_create", {"package_id": dataset["id"], "name": "good"},
                              files={"upload": upload})
    html = client.call_action("resource_create", {"package_id": dataset["id"], "name": "a page",
                                                  "url": f"{ckan_stack.url}/dataset/{dataset['name']}",
                                                  "format": "CSV"})
    sneaky = client.call_action("resource_create", {"package_id": dataset["id"], "name": "../../escape",
                                                    "url": f"{ckan_stack.url}/api/3/action/status_show?x=/../../..%2F..%2Fetc%2Fpasswd",
                                                    "format": "JSON"})
    files = tmp_path / "files"
    out = tmp_path / "dump.jsonl"
    proc = cli(ckan_stack, "dump", "datasets", dataset["id"], "-o", str(out), "--with-files", str(files), check=3)
    summary = json.loads(proc.stdout)
    assert summary["counts"]["files downloaded"] == 2 and summary["failed"] == 1
    assert "HTML page" in proc.stderr
    manifest = {m["resource"]: m for m in jsonl(files / "manifest.jsonl")}
    assert (files / manifest[good["id"]]["path"]).read_bytes() == payload
    assert html["id"] not in manifest
    escaped = (files / manifest[sneaky["id"]]["path"]).resolve()
    assert escaped.is_relative_to(files.resolve())
    assert all(p.resolve().is_relative_to(files.resolve()) for p in files.rglob("*"))
    assert not list(files.rglob("*.part"))
    again = json.loads(cli(ckan_stack, "dump", "datasets", dataset["id"], "-o", str(out), "--with-files",
                           str(files), check=3).stdout)
    assert again["counts"]["files skipped"] == 2 and again["counts"].get("files downloaded", 0) == 0


def test_resource_upload_and_download(ckan_stack: Stack, factory: Factory, tmp_path: Path) -> None:
    dataset = factory.make_dataset()
    data = os.urandom(3_000_000)
    source = tmp_path / "séries.bin"
    source.write_bytes(data)
    created = json.loads(cli(ckan_stack, "resource", "upload", dataset["name"], str(source), "format=BIN",
                             'schema:={"fields": []}').stdout)
    assert created["name"] == "séries.bin" and created["schema"] == {"fields": []}
    out = tmp_path / "back.bin"
    result = json.loads(cli(ckan_stack, "resource", "download", created["id"], "-o", str(out)).stdout)
    assert out.read_bytes() == data and result["sha256"] == __import__("hashlib").sha256(data).hexdigest()
    newer = tmp_path / "v2.txt"
    newer.write_text("version 2")
    cli(ckan_stack, "resource", "upload", dataset["name"], str(newer), "--replace", created["id"])
    cli(ckan_stack, "resource", "download", created["id"], "-o", str(tmp_path / "v2-back.txt"))
    assert (tmp_path / "v2-back.txt").read_text() == "version 2"


def test_datastore_load_and_dump(ckan_stack: Stack, factory: Factory, tmp_path: Path) -> None:
    dataset = factory.make_dataset()
    source = tmp_path / "rows.csv"
    source.write_text("city,n\nTaipei,1\nZürich,2\n\"Kaohsiung, South\",3\n", encoding="utf-8")
    loaded = json.loads(cli(ckan_stack, "datastore", "load", "--dataset", dataset["id"], "-i", str(source),
                            "--name", "cities").stdout)
    resource_id = loaded["details"]["resource_id"]
    dumped = tmp_path / "dump.csv"
    cli(ckan_stack, "datastore", "dump", resource_id, "-o", str(dumped))
    assert dumped.read_text(encoding="utf-8").replace("\r\n", "\n") == source.read_text(encoding="utf-8")
    more = tmp_path / "more.jsonl.gz"
    with gzip.open(more, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"city": "東京", "n": "4"}, ensure_ascii=False) + "\n")
    cli(ckan_stack, "datastore", "load", resource_id, "-i", str(more), "--append")
    as_jsonl = tmp_path / "dump.jsonl"
    summary = json.loads(cli(ckan_stack, "datastore", "dump", resource_id, "-o", str(as_jsonl),
                             "--filters", '{"city": "東京"}').stdout)
    assert summary["counts"] == {"written": 1} and jsonl(as_jsonl) == [{"city": "東京", "n": 4}]  # typed by the table
    assert cli(ckan_stack, "datastore", "load", "-i", str(source), check=1).stderr
