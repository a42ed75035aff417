"""``ckan-api-client action``: call any action, with ckanapi's argument forms; ``batch``: many, from a file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..core.streams import is_regular_target, open_input
from ..engines.batch import batch as run_batch
from .app import ERROR_LOG, EXIT_OK, INPUT, OUTPUT, Settings, finish, logged_report, main, progress_bar


def parse_action_args(args: tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` (a string), ``key:=json`` or ckanapi's ``key:json`` (any JSON), ``key@file`` (a file to upload)."""
    data: dict[str, Any] = {}
    for arg in args:
        key, kind, value = _split(arg)
        if kind == "=":
            data[key] = value
        elif kind == "@":
            data[key] = ("@file", value)
        else:
            try:
                data[key] = json.loads(value)
            except ValueError as error:
                raise click.UsageError(f"{arg}: the value after {kind} must be JSON ({error}); for a plain string "
                                       f"write {key}={value}") from None
    return data


def _split(arg: str) -> tuple[str, str, str]:
    """The key, the separator that comes first (``:=``, ``=``, ``:``, ``@``) and the value."""
    marks = [(arg.find(mark), mark) for mark in (":=", "=", ":", "@") if arg.find(mark) > 0]
    if not marks:
        raise click.UsageError(f"{arg}: give key=value, key:=json (or ckanapi's key:json) or key@file")
    position, mark = min(marks, key=lambda found: (found[0], -len(found[1])))
    return arg[:position], mark, arg[position + len(mark):]


@main.command()
@click.argument("name")
@click.argument("args", nargs=-1)
@click.option("--get", "-g", "--get-request", "use_get", is_flag=True,
              help="Send with GET (for side-effect-free actions).")
@click.option("-i", "--input-json", "stdin_json", is_flag=True, help="Read the data as one JSON object from stdin.")
@click.option("-I", "--input", "input_path", type=INPUT, help="Read the data as one JSON object from this file.")
@click.option("--compact", "--output-json", "compact", is_flag=True, help="The result as JSON on one line.")
@click.option("-J", "--jsonl", "--output-jsonl", "jsonl", is_flag=True,
              help="A list result as JSON Lines, an item per line (other results on one line).")
@click.pass_obj
def action(settings: Settings, name: str, args: tuple[str, ...], use_get: bool, stdin_json: bool,
           input_path: Path | None, compact: bool, jsonl: bool) -> int:
    """Call any action: key=value (a string), key:=json or key:json (any JSON), key@file (upload a file).

    \b
    Examples:
      ckan-api-client action status_show
      ckan-api-client action package_show id=my-data
      ckan-api-client action package_search rows:2 'fq=organization:my-org'
      ckan-api-client action package_patch id=my-data 'tags:=[{"name": "air"}]'
      ckan-api-client action resource_create package_id=my-data upload@data.csv
      echo '{"id": "my-data"}' | ckan-api-client action package_show -i
      ckan-api-client action package_list -J | wc -l
    """
    data: dict[str, Any] = {}
    if stdin_json or input_path is not None:
        data = _read_object(Path("-") if stdin_json else input_path)  # type: ignore[arg-type]
    data.update(parse_action_args(args))
    files = {k: v[1] for k, v in data.items() if isinstance(v, tuple)}
    for key in files:
        del data[key]
    result = settings.client().call_action(name, data, method="GET" if use_get else "POST", files=files or None)
    if jsonl and isinstance(result, list):
        for item in result:
            click.echo(json.dumps(item, ensure_ascii=False))
    else:
        click.echo(json.dumps(result, ensure_ascii=False, indent=None if compact or jsonl else 2))
    return EXIT_OK


def _read_object(path: Path) -> dict[str, Any]:
    where = "stdin" if str(path) == "-" else str(path)
    if str(path) == "-" and sys.stdin.isatty():
        raise click.UsageError("-i reads the action's data as JSON from stdin: pipe it in, or give -I FILE")
    with open_input(path) as fh:
        text = fh.read()
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError as error:
        raise click.UsageError(f"{where} is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise click.UsageError(f"{where} holds a JSON {type(value).__name__}: an action's data is one JSON object")
    return value


@main.command()
@click.option("-i", "--input", "-I", "input_path", type=INPUT, default="-", show_default=True,
              help="JSON Lines of actions (.gz too; -: stdin).")
@click.option("-o", "--output", type=OUTPUT, default="-", show_default=True,
              help="Where each result goes, as JSON Lines in the input's order (.gz: gzip; -: stdout).")
@click.option("--local-files", is_flag=True, help="Let lines upload files of this machine (\"files\": {...}).")
@click.option("--resume", is_flag=True, help="Skip the lines a previous run finished; the results file goes on.")
@click.option("--checkpoint", type=click.Path(path_type=Path), help="Checkpoint file (default: INPUT.checkpoint).")
@ERROR_LOG
@click.pass_obj
def batch(settings: Settings, input_path: Path, output: Path, local_files: bool, resume: bool, checkpoint: Path | None,
          error_log: Path | None) -> int:
    """Run many actions, one per line: {"action": NAME, "data": {...}} (ckanapi's batch).

    The lines run in order, one after another (a line may need what an earlier one made); -j N runs N
    at once, for lines that do not depend on each other. A line may name files to upload,
    {"files": {"upload": "data.csv"}}, with --local-files. Actions that may be repeated are retried
    through faults; a write is sent once. A line that is not an action, or that the portal refuses, is
    named (and kept with --error-log); the others run.

    \b
    Examples:
      ckan-api-client batch -i actions.jsonl -o results.jsonl --error-log errors.jsonl
      jq -c '{action: "package_patch", data: {id: .id, private: false}}' ids.jsonl | ckan-api-client -j 8 batch
      ckan-api-client batch -i uploads.jsonl --local-files --resume
    """
    if str(input_path) == "-" and sys.stdin.isatty():
        raise click.UsageError("batch reads its actions as JSON Lines from stdin: pipe them in, or give -i FILE")
    root = click.get_current_context().find_root()
    in_order = root.get_parameter_source("jobs") is click.core.ParameterSource.DEFAULT
    with logged_report(error_log) as report, progress_bar(settings, "batch") as bar:
        run_batch(settings.client(check_token=False), input_path, output, concurrency=1 if in_order else settings.jobs,
                  resume=resume, checkpoint=checkpoint, local_files=local_files, progress=bar, report=report)
    return finish(report, settings, data_on_stdout=not is_regular_target(output))
