"""First contact, as a new user meets it: a token pasted from a file, a URL with a typo, a server that is
not a CKAN. One clear line and exit 1, no traceback, the token never shown in any form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ckan_stack_plugin import Factory, Stack
from cli_runner import cli, jsonl
from loopback_servers import Reply, ScriptedServer, free_port


def test_a_token_read_from_a_file_with_its_newline_works(ckan_stack: Stack) -> None:
    pasted = ckan_stack.token + "\n"
    proc = cli(ckan_stack, "action", "status_show", env={"CKAN_API_TOKEN": pasted})
    assert '"ckan_version"' in proc.stdout
    assert "stripped" in proc.stderr and "retrying" not in proc.stderr


def test_a_token_with_a_newline_inside_is_one_line_naming_the_flag(ckan_stack: Stack) -> None:
    broken = ckan_stack.token[:30] + "\n" + ckan_stack.token[30:]
    proc = cli(ckan_stack, "action", "status_show", env={"CKAN_API_TOKEN": broken}, check=1)
    assert proc.stderr.startswith("error: --token:") and proc.stderr.count("\n") == 1
    assert ckan_stack.token[:30] not in proc.stderr and ckan_stack.token[30:] not in proc.stderr


@pytest.mark.parametrize("url, says", [
    ("http://127.0.0.1:15000x", "no valid port"),
    ("http://127.0.0.1:99999", "no valid port"),
    ("127.0.0.1:15000", "'https://127.0.0.1:15000'"),
    ("http://127.0.0.1:15000/api/3/action", "site's root URL"),
    ("https://", "not a usable site URL"),
    ("http://[::1", "is not a URL"),
])
def test_a_malformed_url_is_one_line_naming_url(url: str, says: str) -> None:
    proc = cli(None, "--url", url, "action", "status_show", check=1)
    assert proc.stderr.startswith("error: --url:") and says in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1


@pytest.mark.parametrize("args, says", [
    (["--timeout", "-1"], "'--timeout': -1.0 is not in the range x>0"),
    (["--timeout", "0"], "'--timeout': 0.0 is not in the range x>0"),
    (["--max-rps", "0"], "'--max-rps': 0.0 is not in the range x>0"),
    (["--retries", "-1"], "'--retries': -1 is not in the range x>=0"),
])
def test_an_option_out_of_its_range_is_one_line(args: list[str], says: str) -> None:
    proc = cli(None, "--url", "http://127.0.0.1:9", *args, "action", "status_show", check=1)
    assert says in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_a_config_file_that_is_not_ini_is_one_line_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "config.ini"
    config.write_text("[portal\nurl = https://data.example.org\n")
    proc = cli(None, "--config", str(config), "--profile", "portal", "action", "status_show", check=1)
    assert f"--profile portal: {config} is not a config file of [profile] sections" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_a_server_that_is_not_ckan_says_so() -> None:
    page = "<!doctype html><html><head><title>Welcome to nginx!</title></head></html>"
    with ScriptedServer([Reply(404, page, {"Content-Type": "text/html"})]) as server:
        proc = cli(None, "--url", server.url, "action", "status_show", check=1)
    assert "not answer as a CKAN site root" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_a_ckan_page_path_suggests_the_site_root(ckan_stack: Stack) -> None:
    proc = cli(None, "--url", f"{ckan_stack.url}/dataset", "action", "status_show", check=1)
    assert f"try {ckan_stack.url!r}" in proc.stderr, proc.stderr


def test_connection_refused_is_one_line_without_library_internals() -> None:
    proc = cli(None, "--url", f"http://127.0.0.1:{free_port()}", "--retries", "0", "action", "status_show", check=1)
    assert proc.stderr.strip().endswith("(connection refused)"), proc.stderr
    assert "Max retries" not in proc.stderr and "urllib3" not in proc.stderr and "HTTPConnection" not in proc.stderr


# ---------------------------------------------------------------- ckanapi habits

def test_ckanapi_key_json_arguments(ckan_stack: Stack, factory: Factory) -> None:
    org = factory.make_org()
    for _ in range(3):
        factory.make_dataset(org=org)
    found = json.loads(cli(ckan_stack, "action", "package_search", "rows:2", f"fq=owner_org:{org['id']}",
                           "include_private:true").stdout)
    assert found["count"] == 3 and len(found["results"]) == 2  # rows:2 is the number 2, fq keeps its colon
    bad = cli(ckan_stack, "action", "package_search", "rows:two", check=1)
    assert "must be JSON" in bad.stderr and "rows=two" in bad.stderr


def test_action_data_from_stdin_or_a_file(ckan_stack: Stack, factory: Factory, tmp_path: Path) -> None:
    dataset = factory.make_dataset()
    shown = json.loads(cli(ckan_stack, "action", "package_show", "-i", input=json.dumps({"id": dataset["id"]})).stdout)
    assert shown["name"] == dataset["name"]
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"id": dataset["name"]}))
    assert json.loads(cli(ckan_stack, "action", "package_show", "-I", str(data)).stdout)["id"] == dataset["id"]


def test_search_in_ckanapis_words(ckan_stack: Stack, factory: Factory) -> None:
    org = factory.make_org()
    made = {factory.make_dataset(org=org)["id"] for _ in range(2)}
    proc = cli(ckan_stack, "search", "datasets", f"fq=owner_org:{org['id']}", "include_private=true")
    assert {json.loads(line)["id"] for line in proc.stdout.splitlines()} == made
    assert len(cli(ckan_stack, "search", "datasets", f"fq=owner_org:{org['id']}", "rows=1",
                   "include_private=true").stdout.splitlines()) == 1


def test_dump_writes_to_stdout_by_default_and_takes_ckanapis_flags(ckan_stack: Stack, factory: Factory,
                                                                   tmp_path: Path) -> None:
    org = factory.make_org()
    dataset = factory.make_dataset(org=org)
    proc = cli(ckan_stack, "dump", "datasets", dataset["id"])
    assert json.loads(proc.stdout)["id"] == dataset["id"]
    assert json.loads(proc.stderr.splitlines()[0])["counts"]["written"] == 1  # the summary on stderr
    out = tmp_path / "d.jsonl"
    cli(ckan_stack, "dump", "datasets", dataset["id"], "-O", str(out), "-p", "2")
    assert jsonl(out)[0]["id"] == dataset["id"]
    loaded = json.loads(cli(ckan_stack, "load", "datasets", "-I", str(out)).stdout)
    assert loaded["counts"]["updated"] == 1


@pytest.mark.parametrize("flag, hint", [("-z", "FILE.jsonl.gz"), ("-l", "--error-log"), ("-c", "give --url"),
                                        ("--datapackages", "export datapackage"), ("-s", "--resume"),
                                        ("-m", "head -n MAX")])
def test_ckanapi_options_we_do_not_have_get_a_hint(flag: str, hint: str) -> None:
    proc = cli(None, "--url", "http://127.0.0.1:1", "dump", "datasets", "--all", flag, "x", check=1)
    assert hint in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


# ---------------------------------------------------------------- input that is not what was expected

def test_a_json_array_is_named_not_read_line_by_line(ckan_stack: Stack, tmp_path: Path) -> None:
    array = tmp_path / "records.json"
    array.write_text(json.dumps([{"name": f"x-{i}"} for i in range(200)], indent=1))
    proc = cli(ckan_stack, "load", "datasets", "-i", str(array), check=1)
    assert "JSON Lines expected" in proc.stderr and "jq -c" in proc.stderr and proc.stderr.count("\n") == 1
    one_line = tmp_path / "one.json"
    one_line.write_text(json.dumps([{"name": "x"}]))
    assert "JSON array" in cli(ckan_stack, "sync", str(one_line), "--source-name", "s", check=1).stderr
    ids = tmp_path / "ids.json"
    ids.write_text('["a", "b"]\n')
    assert "JSON array" in cli(ckan_stack, "delete", "datasets", "-i", str(ids), check=1).stderr


def test_an_empty_input_is_said_plainly(ckan_stack: Stack, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    loaded = cli(ckan_stack, "load", "datasets", "-i", str(empty))
    assert "nothing to load" in loaded.stderr and str(empty) in loaded.stderr
    deleted = cli(ckan_stack, "delete", "datasets", "-i", str(empty))
    assert "nothing to delete" in deleted.stderr and "give ids" not in deleted.stderr


def test_a_gzip_dump_names_its_own_file_in_the_header(ckan_stack: Stack, factory: Factory, tmp_path: Path) -> None:
    dataset = factory.make_dataset()
    out = tmp_path / "site.jsonl.gz"
    cli(ckan_stack, "dump", "datasets", dataset["id"], "-o", str(out))
    header = out.read_bytes()[:64]
    assert b"site.jsonl\x00" in header and b".part" not in header
