"""The command line people already know: options where they type them, ckanapi's spellings, one-line errors."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import click

from ckan_api_client import __version__
from ckan_api_client.cli import hoist_global_options, main
from ckan_stack_plugin import Factory, Stack
from cli_runner import cli, jsonl


def test_global_options_move_in_front_of_the_subcommand() -> None:
    assert hoist_global_options(["dump", "datasets", "--all", "-o", "f", "--url", "U", "-a", "K", "-q"], main) == \
        ["--url", "U", "-a", "K", "-q", "dump", "datasets", "--all", "-o", "f"]
    assert hoist_global_options(["--url", "U", "search", "--q", "x", "--timeout=5", "-j", "2"], main) == \
        ["--timeout=5", "-j", "2", "--url", "U", "search", "--q", "x"]
    assert hoist_global_options(["action", "x", "--", "--url", "y"], main) == ["action", "x", "--", "--url", "y"]
    # A value missing at the end (ckanapi's `action NAME -j`) stays where it is: the command names it.
    assert hoist_global_options(["action", "x", "-j"], main) == ["action", "x", "-j"]
    # The subcommand's own option of the same name stays its own: export dcat --profile is DCAT's profile.
    assert hoist_global_options(["export", "dcat", "--profile", "dcat-us", "--url", "U", "-o", "x"], main) == \
        ["--url", "U", "export", "dcat", "--profile", "dcat-us", "-o", "x"]


def test_connection_options_after_the_subcommand_and_ckanapi_spellings(ckan_stack: Stack, factory: Factory,
                                                                       tmp_path: Path) -> None:
    dataset = factory.make_dataset()
    for spelling in (["--url", ckan_stack.url, "--token", ckan_stack.token],
                     ["-r", ckan_stack.url, "-a", ckan_stack.token],
                     ["--remote", ckan_stack.url, "--apikey", ckan_stack.token]):
        out = tmp_path / "f.jsonl"
        cli(None, "dump", "datasets", "--all", "-o", str(out), "--include-private", *spelling, "-q")
        assert dataset["id"] in {d["id"] for d in jsonl(out)}
        assert ckan_stack.token not in out.read_text()


def test_malformed_input_is_one_line_never_a_traceback(ckan_stack: Stack, tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text('some-name\n{"id": oops\n')
    bad = cli(ckan_stack, "delete", "datasets", "-i", str(ids), check=1)
    assert len(bad.stderr.strip().splitlines()) == 1 and "line 2 is not JSON" in bad.stderr
    filters = cli(ckan_stack, "datastore", "dump", "some-resource", "-o", str(tmp_path / "x.csv"),
                  "--filters", "{oops", check=1)
    assert "--filters must be JSON" in filters.stderr and len(filters.stderr.strip().splitlines()) == 1
    limit = cli(ckan_stack, "sync", str(ids), "--source-name", "s", "--max-delete", "lots", check=1)
    assert "delete limit" in limit.stderr and len(limit.stderr.strip().splitlines()) == 1
    missing = cli(ckan_stack, "load", "datasets", "-i", str(tmp_path / "nowhere.jsonl"), check=1)
    assert "no such file" in missing.stderr


def test_version_and_shell_completion() -> None:
    assert cli(None, "--version").stdout.strip().endswith(__version__)
    script = cli(None, env={"_CKAN_API_CLIENT_COMPLETE": "bash_source"}).stdout
    assert "complete" in script and "_CKAN_API_CLIENT_COMPLETE" in script
    words = cli(None, env={"_CKAN_API_CLIENT_COMPLETE": "bash_complete", "COMP_WORDS": "ckan-api-client du",
                           "COMP_CWORD": "1"}).stdout
    assert "dump" in words


def every_command(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in sorted(group.commands.items()):
        found += every_command(command, (*path, name)) if isinstance(command, click.Group) else [(*path, name)]
    return found


def test_every_help_page_renders_its_examples_line_by_line() -> None:
    """``-h`` of every command, as a user runs it: exit 0, examples kept one per line (click's ``\\b``
    marker, never printed), no line of usage text run together."""
    commands = every_command(main)
    assert ("harvest",) in commands and ("export", "dcat") in commands
    for command in commands:
        out = cli(None, *command, "-h")
        assert out.stdout.startswith("Usage: ckan-api-client"), command
        assert "\\b" not in out.stdout and "\b" not in out.stdout, command
        for line in out.stdout.splitlines():
            assert line.count("ckan-api-client ") <= 1, (command, line)  # two examples run into one line


def test_an_input_that_is_not_there_is_refused_before_any_request_or_output(tmp_path: Path) -> None:
    nowhere = ["--url", "http://127.0.0.1:9", "--retries", "0"]  # a port nothing answers: a request would say so
    missing = str(tmp_path / "missing.jsonl")
    for args in (["load", "datasets", "-i", missing], ["delete", "datasets", "-i", missing],
                 ["sync", missing, "--source-name", "s"], ["action", "package_create", "-I", missing],
                 ["datastore", "load", "-i", missing], ["export", "dcat", "-i", missing],
                 ["load", "groups", "-i", str(tmp_path)]):
        refused = cli(None, *nowhere, *args, check=1)
        assert refused.stdout == "" and len(refused.stderr.strip().splitlines()) == 1, args
        assert "no such file: " + missing in refused.stderr or "is a folder, not a file" in refused.stderr, args
    # A pipe (`-i <(zcat dump.gz)`) is checked without being opened: what it holds is all read.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    record = {"id": "0c8f2a51-5b1d-4c52-9a3f-0e3c3d2a1b10", "name": "piped", "title": "Through a pipe"}

    def write() -> None:
        with open(fifo, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    exported = cli(None, *nowhere, "export", "dcat", "-i", str(fifo), "--base-url", "https://portal.example")
    writer.join(10)
    assert "Through a pipe" in exported.stdout
