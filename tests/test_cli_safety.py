"""The command line on a real terminal and with real files: no crash, no silent loss, no surprise writes.

Each test runs the command as people do (a subprocess; under a pseudo-terminal where the
behaviour is about a terminal) against the real stack, then checks what CKAN and the files hold.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from ckan_api_client import exceptions as exc
from ckan_api_client import engines as bulk
from ckan_api_client.low_level import CkanLowlevelClient
from ckan_api_client.engines.sync import SynchronizationClient
from ckan_stack_plugin import Factory, Stack
from ckan_api_client.testing import unique_name
from cli_runner import cli, cli_pty, jsonl
from loopback_servers import Reply, ScriptedServer

RATE = re.compile(r"\d[\d.]*\s*\w*/s")  # "12.3records/s", "1.2MB/s": the rate a bar shows


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


# ------------------------------------------------------------------ a terminal on stderr


def test_every_long_command_shows_progress_on_a_terminal(ckan_stack: Stack, factory: Factory,
                                                         tmp_path: Path) -> None:
    org = factory.make_org()
    group = factory.make_group()
    made = [factory.make_dataset(org=org) for _ in range(3)]
    upload = tmp_path / "table.csv"
    upload.write_text("city,n\n" + "".join(f"c{i},{i}\n" for i in range(300)), encoding="utf-8")
    records = write_jsonl(tmp_path / "load.jsonl", [{"name": unique_name("tty"), "owner_org": org["name"]}
                                                    for _ in range(3)])
    for record in jsonl(records):
        factory.track_dataset(record["name"])

    for args in (["dump", "organizations", "--all", "-o", str(tmp_path / "o.jsonl")],
                 ["dump", "groups", "--all", "-o", str(tmp_path / "g.jsonl")],
                 ["dump", "datasets", "--all", "--fq", f"owner_org:{org['id']}", "-o", str(tmp_path / "d.jsonl")],
                 ["load", "datasets", "-i", str(records)],
                 ["delete", "datasets", made[0]["id"]]):
        run = cli_pty(ckan_stack, *args)
        assert RATE.search(run.screen), f"{args[:2]}: no progress shown:\n{run.screen}"
    assert {o["id"] for o in jsonl(tmp_path / "o.jsonl")} >= {org["id"]}
    assert {g["id"] for g in jsonl(tmp_path / "g.jsonl")} >= {group["id"]}
    assert {d["id"] for d in jsonl(tmp_path / "d.jsonl")} == {d["id"] for d in made}

    loaded = cli_pty(ckan_stack, "datastore", "load", "--dataset", made[1]["id"], "-i", str(upload))
    resource_id = json.loads(loaded.screen[loaded.screen.index("{"):].splitlines()[0])["details"]["resource_id"]
    run = cli_pty(ckan_stack, "datastore", "dump", resource_id, "-o", str(tmp_path / "rows.csv"))
    assert RATE.search(run.screen)
    assert len((tmp_path / "rows.csv").read_text().splitlines()) == 301

    quiet = cli_pty(ckan_stack, "-q", "dump", "organizations", "--all", "-o", str(tmp_path / "o2.jsonl"))
    assert not RATE.search(quiet.screen)  # -q: no bar, only the summary
    piped = cli(ckan_stack, "dump", "organizations", "--all", "-o", str(tmp_path / "o3.jsonl"))
    assert piped.stderr == ""  # stderr not a terminal: silent


# ------------------------------------------------------------------ the token


def test_a_token_the_site_does_not_know_is_an_error_before_anything_is_written(ckan_stack: Stack, factory: Factory,
                                                                    tmp_path: Path) -> None:
    private = factory.make_dataset(private=True)
    backup = tmp_path / "backup.jsonl"
    wrong = {"CKAN_API_TOKEN": "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.e30.not-a-real-token"}
    # The dump checks the token while its first pages come: still nothing written, not even to stdout.
    for args in (["dump", "datasets", "--all", "--include-private", "-o", str(backup)],
                 ["dump", "datasets", "--all", "--include-private", "-o", "-"],
                 ["action", "package_show", f"id={private['id']}"],
                 ["delete", "datasets", private["id"]]):
        run = cli(ckan_stack, *args, env=wrong, check=1)
        assert "token is not valid" in run.stderr and run.stdout == ""
    assert not backup.exists() and not Path(str(backup) + ".part").exists()

    # sync checks the token alongside its reads: the same error, and nothing written on the portal.
    name = unique_name("wrong-token")
    source = tmp_path / "source.jsonl"
    source.write_text(json.dumps({"id": name, "name": name, "title": "t"}) + "\n")
    sync = cli(ckan_stack, "sync", str(source), "--source-name", name, env=wrong, check=1)
    assert "token is not valid" in sync.stderr and sync.stdout == ""
    with ckan_stack.client() as client:
        assert client.call_action("package_search", {"fq": f"name:{name}", "include_private": True})["count"] == 0

    # A real user's token (not a sysadmin) is recognised; the library's bulk engine checks too.
    user = factory.make_user()
    cli(ckan_stack, "dump", "datasets", "--all", "-o", str(backup), env={"CKAN_API_TOKEN": user["token"]})
    with CkanLowlevelClient(ckan_stack.url, wrong["CKAN_API_TOKEN"]) as client:
        with pytest.raises(exc.InvalidToken):
            bulk.dump(client, "datasets", tmp_path / "lib.jsonl", include_private=True)
    assert not (tmp_path / "lib.jsonl").exists()


def test_a_mirror_with_a_token_either_portal_does_not_know_writes_nothing(ckan_stack: Stack, other_stack: Stack,
                                                                          factory: Factory, tmp_path: Path) -> None:
    if other_stack.requested != "2.11.6":
        pytest.skip("one destination is enough: the 2.11 stack")
    made = factory.make_dataset()
    wrong = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.e30.not-a-real-token"
    # The mirror checks both portals' tokens at once, alongside its first reads.
    for tokens in ((wrong, other_stack.token), (ckan_stack.token, wrong)):
        mirror = cli(ckan_stack, "mirror", "--from", ckan_stack.url, "--from-token", tokens[0], "--to", other_stack.url,
                     "--to-token", tokens[1], "--fq", f"name:{made['name']}", "--state",
                     str(tmp_path / "mirror.sqlite"), check=1)
        assert "token is not valid" in mirror.stderr and mirror.stdout == "" and other_stack.token not in mirror.stderr
    with other_stack.client() as client:
        assert client.call_action("package_search", {"fq": f"name:{made['name']}", "include_private": True})["count"] == 0


# ------------------------------------------------------------------ -, links and special files


def test_dash_symlinks_and_special_files(ckan_stack: Stack, client: CkanLowlevelClient, factory: Factory,
                                         tmp_path: Path) -> None:
    org = factory.make_org()
    made = [factory.make_dataset(org=org) for _ in range(2)]
    ids = [d["id"] for d in made]

    out = cli(ckan_stack, "dump", "datasets", *ids, "-o", "-", cwd=tmp_path)
    assert [json.loads(line)["id"] for line in out.stdout.splitlines()] == ids
    assert not (tmp_path / "-").exists()

    # load -i - reads stdin, even with a stale file named "-" in the folder.
    (tmp_path / "-").write_text(json.dumps({"name": unique_name("stale"), "owner_org": org["name"]}) + "\n")
    fresh = {"name": unique_name("stdin"), "owner_org": org["name"]}
    factory.track_dataset(fresh["name"])
    loaded = json.loads(cli(ckan_stack, "load", "datasets", "-i", "-", input=json.dumps(fresh) + "\n",
                            cwd=tmp_path).stdout)
    assert loaded["counts"]["created"] == 1 and client.get_dataset(fresh["name"])["name"] == fresh["name"]
    assert not list(tmp_path.glob("*.checkpoint"))
    stale = json.loads((tmp_path / "-").read_text())["name"]
    assert client.call_action("package_search", {"fq": f"name:{stale}"})["count"] == 0

    # /dev/stdin: no checkpoint written beside it.
    again = json.dumps({**fresh, "title": "via /dev/stdin"}) + "\n"
    cli(ckan_stack, "load", "datasets", "-i", "/dev/stdin", input=again)
    assert not Path("/dev/stdin.checkpoint").exists()
    assert client.get_dataset(fresh["name"])["title"] == "via /dev/stdin"

    # A symlink stays a link, its target gets the dump; /dev/stdout is written through.
    target = tmp_path / "real.jsonl"
    target.write_text("old\n")
    link = tmp_path / "latest.jsonl"
    link.symlink_to(target)
    cli(ckan_stack, "dump", "datasets", *ids, "-o", str(link))
    assert link.is_symlink() and [d["id"] for d in jsonl(target)] == ids
    through = cli(ckan_stack, "dump", "datasets", *ids, "-o", "/dev/stdout")
    assert [json.loads(line)["id"] for line in through.stdout.splitlines()[:2]] == ids
    assert Path("/dev/stdout").exists() and not Path("/dev/stdout.part").exists()


def test_files_as_people_have_them_are_bad_records_or_one_line(ckan_stack: Stack, client: CkanLowlevelClient,
                                                               factory: Factory, tmp_path: Path) -> None:
    org = factory.make_org()
    good = {"name": unique_name("utf8"), "title": "Café", "owner_org": org["name"]}
    factory.track_dataset(good["name"])
    mixed = tmp_path / "mixed.jsonl"  # a line saved in Latin-1 between two good ones: that line only is bad
    mixed.write_bytes(json.dumps(good, ensure_ascii=False).encode() + b'\n{"name": "caf\xe9"}\n')
    loaded = cli(ckan_stack, "load", "datasets", "-i", str(mixed), check=3)
    assert json.loads(loaded.stdout)["counts"]["created"] == 1 and client.get_dataset(good["name"])["title"] == "Café"
    assert "invalid: line 2: upsert dataset: not JSON: its bytes are not UTF-8" in loaded.stderr

    ids = tmp_path / "ids.txt"
    ids.write_bytes(b"caf\xe9\n")
    refused = cli(ckan_stack, "delete", "datasets", "-i", str(ids), check=1)
    assert f"{ids} is not UTF-8 text" in refused.stderr and refused.stderr.count("\n") == 1

    cut = tmp_path / "cut.jsonl.gz"  # a download cut short: an error, not "interrupted" (exit 130) as for Ctrl-C
    cut.write_bytes(gzip.compress(mixed.read_bytes() * 50)[:60])
    broken = cli(ckan_stack, "sync", str(cut), "--source-name", unique_name("cut"), "--dry-run", check=1)
    assert broken.stderr.splitlines()[-1].startswith(f"error: {cut} cannot be read as gzip, it is cut short")

    nowhere = cli(ckan_stack, "dump", "datasets", good["name"], "-o", str(tmp_path / "no" / "out.jsonl"), check=1)
    assert f"there is no folder {tmp_path / 'no'}" in nowhere.stderr and nowhere.stderr.count("\n") == 1
    catalogue = cli(ckan_stack, "export", "dcat", "--all", "-o", str(tmp_path / "no" / "c.ttl"), check=1)
    assert catalogue.stderr == f"error: cannot write {tmp_path / 'no' / 'c.ttl'}: there is no folder {tmp_path / 'no'}\n"
    full = cli(ckan_stack, "dump", "datasets", "--all", "-o", "/dev/full", check=1)
    assert full.stderr.splitlines()[-1] == "error: /dev/full: No space left on device"


# ------------------------------------------------------------------ sync: no mass delete by accident


def test_sync_never_deletes_what_an_empty_or_broken_source_does_not_name(
        ckan_stack: Stack, client: CkanLowlevelClient, factory: Factory, tmp_path: Path) -> None:
    org = factory.make_org()
    source_name = unique_name("guard")
    records = [{"id": f"src-{i}", "name": unique_name("guarded"), "owner_org": org["name"]} for i in range(6)]
    full = write_jsonl(tmp_path / "full.jsonl", records)
    cli(ckan_stack, "sync", str(full), "--source-name", source_name)
    owned = SynchronizationClient(client, source_name).owned_datasets()
    for copies in owned.values():
        factory.track_dataset(copies[0]["id"])
    assert len(owned) == 6

    def still_owned() -> int:
        return len(SynchronizationClient(client, source_name).owned_datasets())

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    refused = cli(ckan_stack, "sync", str(empty), "--source-name", source_name, check=1)
    assert "no readable record" in refused.stderr and "--allow-empty-source" in refused.stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "src-0", "name": oops\n')
    out = cli(ckan_stack, "sync", str(broken), "--source-name", source_name, check=3)
    assert json.loads(out.stdout)["counts"].get("deleted", 0) == 0 and "withheld" in out.stderr
    assert still_owned() == 6

    most = write_jsonl(tmp_path / "two.jsonl", records[:2])  # would delete 4 of 6
    refused = cli(ckan_stack, "sync", str(most), "--source-name", source_name, check=1)
    assert "4 of the 6" in refused.stderr and "--max-delete" in refused.stderr
    dry = cli(ckan_stack, "sync", str(most), "--source-name", source_name, "--dry-run", check=1)
    assert json.loads(dry.stdout.splitlines()[-1])["refused"]
    assert still_owned() == 6
    done = json.loads(cli(ckan_stack, "sync", str(most), "--source-name", source_name, "--max-delete", "4").stdout)
    assert done["counts"]["deleted"] == 4 and still_owned() == 2
    emptied = json.loads(cli(ckan_stack, "sync", str(empty), "--source-name", source_name,
                             "--allow-empty-source").stdout)
    assert emptied["counts"]["deleted"] == 2 and still_owned() == 0


# ------------------------------------------------------------------ DataStore tables are not doubled


def test_datastore_load_into_an_existing_table_needs_to_be_told_how(ckan_stack: Stack, factory: Factory,
                                                                   tmp_path: Path) -> None:
    dataset = factory.make_dataset()
    rows = tmp_path / "rows.csv"
    rows.write_text("code,value\n" + "".join(f"c{i},{i}\n" for i in range(100)), encoding="utf-8")
    first = json.loads(cli(ckan_stack, "datastore", "load", "--dataset", dataset["id"], "-i", str(rows),
                           "--primary-key", "code").stdout)
    resource_id = first["details"]["resource_id"]
    assert first["counts"] == {"written": 100}

    def count() -> int:
        return int(CkanLowlevelClient(ckan_stack.url, ckan_stack.token).call_action(
            "datastore_search", {"resource_id": resource_id, "limit": 0})["total"])

    def written(path: Path, how: str) -> Any:
        return json.loads(cli(ckan_stack, "datastore", "load", resource_id, "-i", str(path), how).stdout)["counts"]

    again = cli(ckan_stack, "datastore", "load", resource_id, "-i", str(rows), check=1)
    assert "--append" in again.stderr and "--replace" in again.stderr
    assert count() == 100
    assert written(rows, "--upsert") == {"written": 100}
    assert count() == 100
    assert written(rows, "--replace") == {"written": 100}
    assert count() == 100
    more = tmp_path / "more.csv"
    more.write_text("code,value\nnew,1\n", encoding="utf-8")
    assert written(more, "--append") == {"written": 1}
    assert count() == 101


def test_datastore_load_reports_lines_that_are_not_rows_and_loads_the_rest(ckan_stack: Stack, factory: Factory,
                                                                          tmp_path: Path) -> None:
    dataset = factory.make_dataset()
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(b'{"code": "a", "value": 1}\n{"code": "b", \n[1, 2]\n{"code": "\xff"}\n{"code": "c", "value": 3}\n')
    log = tmp_path / "errors.jsonl"
    run = cli(ckan_stack, "datastore", "load", "--dataset", dataset["id"], "-i", str(rows), "--error-log", str(log),
              check=3)
    summary = json.loads(run.stdout)
    assert summary["counts"] == {"written": 2} and summary["invalid"] == 3
    assert [(f["line"], f["record"]) for f in jsonl(log)] == [(2, '{"code": "b", '), (3, [1, 2]),
                                                               (4, '{"code": "\ufffd"}')]
    assert "line 3: datastore load" in run.stderr and "is a JSON array, not an object" in run.stderr
    assert "not UTF-8" in run.stderr
    table = CkanLowlevelClient(ckan_stack.url, ckan_stack.token).call_action(
        "datastore_search", {"resource_id": summary["details"]["resource_id"], "sort": "code"})
    assert [(r["code"], r["value"]) for r in table["records"]] == [("a", 1), ("c", 3)]


# ------------------------------------------------------------------ load: the organization asked for


def test_load_puts_a_dataset_in_the_organization_its_owner_org_names(ckan_stack: Stack, client: CkanLowlevelClient,
                                                                     factory: Factory, tmp_path: Path) -> None:
    old, new, fallback = factory.make_org(), factory.make_org(), factory.make_org()
    moved = {"name": unique_name("moved"), "owner_org": new["name"], "organization": {"name": old["name"]}}
    by_id = {"name": unique_name("byid"), "owner_org": new["id"], "organization": {"name": old["name"]}}
    foreign = {"name": unique_name("foreign"), "owner_org": "3f1c-not-here", "organization": {"name": old["name"]}}
    orphan = {"name": unique_name("orphan")}
    source = write_jsonl(tmp_path / "in.jsonl", [moved, by_id, foreign, orphan])
    for record in (moved, by_id, foreign, orphan):
        factory.track_dataset(record["name"])
    # A default organization that is not there would fail every record that needs it: refused, nothing written.
    typo = cli(ckan_stack, "load", "datasets", "-i", str(source), "--default-organization", fallback["name"] + "x",
               check=1)
    assert f"the default organization '{fallback['name']}x' is not an organization of" in typo.stderr
    assert len(typo.stderr.strip().splitlines()) == 1
    assert client.call_action("package_search", {"fq": f"name:{moved['name']}", "include_private": True})["count"] == 0
    out = json.loads(cli(ckan_stack, "load", "datasets", "-i", str(source), "--default-organization",
                         fallback["name"]).stdout)
    assert out["counts"]["created"] == 4
    assert client.get_dataset(moved["name"])["owner_org"] == new["id"]
    assert client.get_dataset(by_id["name"])["owner_org"] == new["id"]
    assert client.get_dataset(foreign["name"])["owner_org"] == old["id"]  # a foreign id: the embedded org
    assert client.get_dataset(orphan["name"])["owner_org"] == fallback["id"]


# ------------------------------------------------------------------ Ctrl-C


def test_a_dump_cut_by_ctrl_c_leaves_no_whole_looking_file(ckan_stack: Stack, factory: Factory,
                                                          tmp_path: Path) -> None:
    org = factory.make_org()
    ids = [factory.make_dataset(org=org)["id"] for _ in range(12)]
    out = tmp_path / "backup.jsonl"
    run = cli_pty(ckan_stack, "-j", "1", "--max-rps", "4", "dump", "datasets", *ids, "-o", str(out),
                  check=130, interrupt_after=2.0)
    assert not out.exists(), "a cut dump must not appear under its final name"
    part = tmp_path / "backup.jsonl.part"
    assert part.exists() and "--resume" in run.screen and str(part) in run.screen.replace("\r\n", "")
    assert 0 < len(jsonl(part)) < len(ids)
    cli(ckan_stack, "dump", "datasets", *ids, "-o", str(out), "--resume")
    assert [d["id"] for d in jsonl(out)] == ids and not part.exists()


# ------------------------------------------------------------------ uploaded files survive a dump and a load


def test_dump_and_load_with_files_restore_uploads(ckan_stack: Stack, client: CkanLowlevelClient, factory: Factory,
                                                  tmp_path: Path) -> None:
    org = factory.make_org()
    dataset = factory.make_dataset(org=org)
    payload = os.urandom(1_500_000)
    upload = tmp_path / "measurements.bin"
    upload.write_bytes(payload)
    client.call_action("resource_create", {"package_id": dataset["id"], "name": "data"}, files={"upload": upload})
    client.call_action("resource_create", {"package_id": dataset["id"], "name": "link",
                                           "url": "https://example.org/elsewhere.csv"})
    dump_file, files = tmp_path / "site.jsonl", tmp_path / "files"
    cli(ckan_stack, "dump", "datasets", dataset["id"], "-o", str(dump_file), "--with-files", str(files), check=3)
    client.call_action("dataset_purge", {"id": dataset["id"]})  # the old download URL now answers 404

    loaded = json.loads(cli(ckan_stack, "load", "datasets", "-i", str(dump_file), "--with-files", str(files)).stdout)
    assert loaded["counts"]["created"] == 1 and loaded["counts"]["files uploaded"] == 1
    copy = client.get_dataset(dataset["name"])
    factory.track_dataset(copy["id"])
    data, link = copy["resources"]
    assert data["url_type"] == "upload" and link["url"] == "https://example.org/elsewhere.csv"
    back = tmp_path / "back.bin"
    cli(ckan_stack, "resource", "download", data["id"], "-o", str(back))
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(payload).digest()

    # Loading again changes nothing about the file: same resource, no new upload.
    again = json.loads(cli(ckan_stack, "load", "datasets", "-i", str(dump_file), "--with-files", str(files)).stdout)
    assert again["counts"]["updated"] == 1 and again["counts"].get("files uploaded", 0) == 0
    assert client.get_dataset(dataset["name"])["resources"][0]["id"] == data["id"]


# ------------------------------------------------------------------ reports that tell the truth


def test_reports_tell_the_whole_truth(ckan_stack: Stack, client: CkanLowlevelClient, factory: Factory,
                                      tmp_path: Path) -> None:
    org = factory.make_org()
    bad = {"name": "Not A Valid Name!", "owner_org": org["name"], "title": "keep me"}
    source = write_jsonl(tmp_path / "in.jsonl", [bad])
    with open(source, "a", encoding="utf-8") as fh:
        fh.write("{broken\n")
    errors = tmp_path / "errors.jsonl"
    cli(ckan_stack, "load", "datasets", "-i", str(source), "--error-log", str(errors), check=3)
    logged = {e["line"]: e for e in jsonl(errors)}
    assert logged[1]["record"] == bad and logged[2]["record"] == "{broken"

    dataset = factory.make_dataset(org=org)
    flaky = ScriptedServer([Reply(503), Reply(503), Reply(200, b"x" * 1000, {"Content-Type": "text/csv"})])
    with flaky:
        client.call_action("resource_create", {"package_id": dataset["id"], "name": "flaky",
                                               "url": f"{flaky.url}/data.csv", "format": "CSV"})
        client.call_action("resource_create", {"package_id": dataset["id"], "name": "dead link",
                                               "url": "http://no-such-host.invalid/data.csv", "format": "CSV"})
        files = tmp_path / "files"
        run = cli(ckan_stack, "--retries", "4", "--max-rps", "5", "dump", "datasets", dataset["id"],
                  "-o", str(tmp_path / "d.jsonl"), "--with-files", str(files), check=3)
    summary = json.loads(run.stdout)
    assert summary["counts"]["files downloaded"] == 1 and summary["failed"] == 1
    assert summary["retries"] == 2  # the flaky file's two 503s; the dead link is not retried
    # The token check's two reads (made by the dump, alongside its first reads), package_show, three tries of
    # the flaky file, one of the dead link.
    assert summary["requests"] == 7
    assert summary["seconds"] >= 1.2  # the rate limit spaces those 7 requests over 1.2 s at least: files counted
    assert run.stderr.count("no-such-host.invalid") == 1
    assert [p for p in files.iterdir() if p.is_dir() and not any(p.iterdir())] == []


# ------------------------------------------------------------------ the options people reach for


def test_the_options_people_reach_for(ckan_stack: Stack, client: CkanLowlevelClient, factory: Factory,
                                      tmp_path: Path) -> None:
    org, other = factory.make_org(), factory.make_org()
    mine = [factory.make_dataset(org=org) for _ in range(2)]
    factory.make_dataset(org=other)
    one_org = tmp_path / "one.jsonl"
    cli(ckan_stack, "dump", "datasets", "--all", "--fq", f"organization:{org['name']}", "-o", str(one_org))
    assert sorted(d["id"] for d in jsonl(one_org)) == sorted(d["id"] for d in mine)

    source_name = unique_name("field")
    records = [{"ref": "A-1", "name": unique_name("byref"), "owner_org": org["name"]}]
    source = write_jsonl(tmp_path / "src.jsonl", records)
    out = json.loads(cli(ckan_stack, "sync", str(source), "--source-name", source_name, "--source-id", "ref").stdout)
    factory.track_dataset(records[0]["name"])
    assert out["counts"]["created"] == 1
    assert "A-1" in SynchronizationClient(client, source_name).owned_datasets()

    api = cli(None, "--url", f"{ckan_stack.url}/api/3", "action", "status_show", check=1)
    assert "root URL" in api.stderr and repr(ckan_stack.url) in api.stderr

    resource = client.call_action("resource_create", {"package_id": mine[0]["id"], "name": "r",
                                                      "url": f"{ckan_stack.url}/api/3/action/status_show",
                                                      "format": "JSON", "hash": "0" * 64})
    target = tmp_path / "status.json"
    target.write_text("something else")
    refused = cli(ckan_stack, "resource", "download", resource["id"], "-o", str(target), check=1)
    assert "--overwrite" in refused.stderr and "overwrite=True" not in refused.stderr
    assert target.read_text() == "something else"


def test_a_resumed_dump_with_files_fetches_the_files_of_what_it_kept(ckan_stack: Stack, client: CkanLowlevelClient,
                                                                     factory: Factory, tmp_path: Path) -> None:
    org = factory.make_org()
    made = [factory.make_dataset(org=org) for _ in range(2)]
    for dataset in made:
        client.call_action("resource_create", {"package_id": dataset["id"], "name": "f"},
                           files={"upload": ("data.bin", io.BytesIO(os.urandom(1000)))})
    ids = [d["id"] for d in made]
    whole = tmp_path / "whole.jsonl"
    cli(ckan_stack, "dump", "datasets", *ids, "-o", str(whole))
    out = tmp_path / "cut.jsonl"
    (tmp_path / "cut.jsonl.part").write_text(whole.read_text().splitlines(keepends=True)[0])  # cut after one
    files = tmp_path / "files"
    summary = json.loads(cli(ckan_stack, "dump", "datasets", *ids, "-o", str(out), "--resume",
                             "--with-files", str(files)).stdout)
    assert summary["counts"]["kept from before"] == 1 and summary["counts"]["written"] == 1
    assert summary["counts"]["files downloaded"] == 2  # the kept record's file too, not only the new one's
    assert {m["dataset"] for m in jsonl(files / "manifest.jsonl")} == {d["name"] for d in made}
